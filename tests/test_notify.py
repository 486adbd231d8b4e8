"""Notifiers: each finding at its own level; a failing channel does not silence the others."""

from __future__ import annotations

import logging

import pytest

from pipelines.notify import LogNotifier, Notification, broadcast


def test_log_notifier_logs_each_finding_at_its_own_level(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    note = Notification("batch b7: critical", "critical",
                        (("critical", "performance: ROC-AUC 0.61"), ("warning", "drift: x")),
                        {"run": "abc"})
    with caplog.at_level(logging.INFO, logger="pipelines.alerts"):
        LogNotifier().notify(note)
    levels = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert levels == [(logging.ERROR, "[CRITICAL] batch b7: critical"),
                      (logging.ERROR, "  critical: performance: ROC-AUC 0.61"),
                      (logging.WARNING, "  warning: drift: x"),
                      (logging.ERROR, "  run: abc")]


def test_a_failing_channel_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    received: list[Notification] = []

    class Broken:
        def notify(self, notification: Notification) -> None:
            raise ConnectionError("webhook down")

    class Collector:
        def notify(self, notification: Notification) -> None:
            received.append(notification)

    note = Notification("retraining promoted", "info")
    broadcast([Broken(), Collector()], note)
    assert received == [note]
    assert "Notifier Broken failed" in caplog.text
