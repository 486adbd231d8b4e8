"""Alert channels behind one interface.

A :class:`Notifier` receives a :class:`Notification` (a batch's verdict, a retraining outcome,
a promotion, a rollback, an orchestrator that is stuck or failing) and delivers it;
:class:`LogNotifier` writes it to the log, which is what cron mails and journald keep;
:class:`~pipelines.notify.webhook.WebhookNotifier` POSTs it (generic JSON or Slack) when
``notifications.webhook_url`` is set. A new channel is one class with the same ``notify``
method, added to the list :func:`notifiers_for` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Severity = Literal["info", "warning", "critical"]
Event = Literal["batch", "retraining", "promotion", "approval", "rollback", "orchestrator"]
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Notification:
    """What happened, how bad it is, the findings (each with its own severity), and where to
    look (run ids, files)."""

    subject: str
    severity: Severity
    findings: tuple[tuple[Severity, str], ...] = ()
    links: dict[str, str] = field(default_factory=dict)
    event: Event = "batch"


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None: ...


class LogNotifier:
    """Every notification as log records: the subject at its severity, each finding at its
    own (critical as ERROR, warning as WARNING), links at the subject's."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("pipelines.alerts")

    def notify(self, notification: Notification) -> None:
        level = _LEVELS[notification.severity]
        self.logger.log(level, "[%s] %s", notification.severity.upper(), notification.subject)
        for severity, text in notification.findings:
            self.logger.log(_LEVELS[severity], "  %s: %s", severity, text)
        for name, link in notification.links.items():
            self.logger.log(level, "  %s: %s", name, link)


def notifiers_for(settings: object = None, *, log: bool = True) -> list[Notifier]:
    """The channels configured for this deployment: the log (unless ``log`` is False, for
    events the caller has logged already), and the webhook when
    ``notifications.webhook_url`` is set."""
    channels: list[Notifier] = [LogNotifier()] if log else []
    config = getattr(settings, "notifications", None)
    if config is not None and config.webhook_url:
        from pipelines.notify.webhook import WebhookNotifier

        channels.append(WebhookNotifier.from_settings(config))
    return channels


def broadcast(notifiers: Sequence[Notifier], notification: Notification) -> list[str]:
    """Deliver to every channel; one channel failing does not stop the others (nor the
    caller). Returns what failed, one line per channel, for the caller to record."""
    failures = []
    for notifier in notifiers:
        try:
            notifier.notify(notification)
        except Exception as exc:  # a broken channel must not lose the verdict for the others
            failures.append(f"{type(notifier).__name__}: {exc}")
            logging.getLogger(__name__).error("Notification %r not delivered by %s: %s",
                                              notification.subject[:80],
                                              type(notifier).__name__, exc)
    return failures
