"""Alert channels behind one interface.

A :class:`Notifier` receives a :class:`Notification` (a batch's verdict, a retraining outcome)
and delivers it; :class:`LogNotifier` writes it to the log, which is what cron mails and
journald keep. A webhook channel is the next one: one class with the same ``notify`` method,
added to the list :func:`notifiers_for` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Severity = Literal["info", "warning", "critical"]
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


@dataclass(frozen=True)
class Notification:
    """What happened, how bad it is, the findings (each with its own severity), and where to
    look (run ids, files)."""

    subject: str
    severity: Severity
    findings: tuple[tuple[Severity, str], ...] = ()
    links: dict[str, str] = field(default_factory=dict)


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


def notifiers_for(_settings: object = None) -> list[Notifier]:
    """The channels configured for this deployment (today: the log)."""
    return [LogNotifier()]


def broadcast(notifiers: Sequence[Notifier], notification: Notification) -> None:
    """Deliver to every channel; one channel failing does not stop the others."""
    for notifier in notifiers:
        try:
            notifier.notify(notification)
        except Exception:  # a broken channel must not lose the verdict for the others
            logging.getLogger(__name__).exception("Notifier %s failed", type(notifier).__name__)
