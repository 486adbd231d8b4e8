"""Notifications POSTed to a webhook: a generic JSON document or a Slack incoming-webhook
message, with a timeout and bounded retries. Standard library only."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from pipelines.notify import SEVERITY_RANK, Notification
from pipelines.redact import redact_value, remember_url

logger = logging.getLogger(__name__)

_ANNOUNCED: set[str] = set()
_ICONS = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


def generic_payload(n: Notification) -> dict[str, Any]:
    return {"event": n.event, "severity": n.severity, "subject": n.subject,
            "findings": [{"severity": s, "text": t} for s, t in n.findings],
            "links": dict(n.links), "sent_at": datetime.now(UTC).isoformat(timespec="seconds")}


def slack_payload(n: Notification) -> dict[str, Any]:
    """Slack's incoming-webhook format: one ``text`` in Slack's markup."""
    lines = [f"{_ICONS[n.severity]} *[{n.severity.upper()}]* {n.subject}"]
    lines += [f"• _{s}_: {t}" for s, t in n.findings[:20]]
    lines += [f"{name}: `{link}`" for name, link in n.links.items()]
    return {"text": "\n".join(lines)}


class WebhookNotifier:
    """POST notifications at or above ``min_severity`` to ``url``."""

    def __init__(self, url: str, *, format: str = "generic", min_severity: str = "warning",
                 timeout: float = 5.0, retries: int = 2, backoff: float = 1.0) -> None:
        self.url, self.format, self.min_severity = url, format, min_severity
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        remember_url(url)  # its path and query never appear in what is written or sent
        if url not in _ANNOUNCED:  # once per process; the log filter masks the secret part
            _ANNOUNCED.add(url)
            logger.debug("Notifications at or above %s go to the webhook %s (%s)",
                         min_severity, url, format)

    @classmethod
    def from_settings(cls, config: Any) -> WebhookNotifier:
        return cls(config.webhook_url, format=config.format, min_severity=config.min_severity,
                   timeout=config.timeout_seconds, retries=config.retries)

    def notify(self, notification: Notification) -> None:
        """Deliver, retrying ``retries`` times; raises ``OSError`` naming the endpoint when
        every attempt failed (the caller logs and records it)."""
        if SEVERITY_RANK[notification.severity] < SEVERITY_RANK[self.min_severity]:
            return
        payload = (slack_payload if self.format == "slack" else generic_payload)(notification)
        body = json.dumps(redact_value(payload)).encode()  # no secret leaves in a message
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * attempt)
            request = urllib.request.Request(self.url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310
                    if 200 <= resp.status < 300:
                        return
                    last = OSError(f"HTTP {resp.status}")
            except urllib.error.HTTPError as exc:
                last = exc
                if 400 <= exc.code < 500 and exc.code != 429:
                    break  # the request itself is wrong: retrying will not help
            except (urllib.error.URLError, OSError) as exc:
                last = exc
        raise OSError(f"webhook {redact(self.url)} failed after {attempt + 1} attempt(s): "
                      f"{last}")


def redact(url: str) -> str:
    """The endpoint without its path (webhook paths are secrets: Slack's carry the token)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "<webhook>"
