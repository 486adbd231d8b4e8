"""Notifiers: each finding at its own level; a failing channel does not silence the others."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.notify import LogNotifier, Notification, broadcast, notifiers_for
from pipelines.notify.webhook import WebhookNotifier
from tests.conftest import free_port, make_settings


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
    failures = broadcast([Broken(), Collector()], note)
    assert received == [note]
    assert failures == ["Broken: webhook down"]
    assert "not delivered by Broken: webhook down" in caplog.text


class _Hook:
    """A real HTTP server on 127.0.0.1 that records what it receives and answers with the
    next status in ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[dict] = []
        self.statuses = list(statuses or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    server = _Hook()
    yield server
    server.close()


NOTE = Notification("batch b4: critical (retraining recommended)", "critical",
                    (("critical", "performance: ROC-AUC 0.58 is below the floor 0.75"),),
                    {"run": "abc"}, event="batch")


def test_generic_webhook_payload(hook: _Hook) -> None:
    WebhookNotifier(hook.url).notify(NOTE)
    (payload,) = hook.received
    assert payload["event"] == "batch"
    assert payload["severity"] == "critical"
    assert payload["subject"] == NOTE.subject
    assert payload["findings"] == [{"severity": "critical",
                                    "text": "performance: ROC-AUC 0.58 is below the floor 0.75"}]
    assert payload["links"] == {"run": "abc"}


def test_slack_webhook_payload_and_severity_filter(hook: _Hook) -> None:
    slack = WebhookNotifier(hook.url, format="slack", min_severity="warning")
    slack.notify(Notification("retraining rejected", "info", event="retraining"))
    assert hook.received == []  # below min_severity
    slack.notify(NOTE)
    (payload,) = hook.received
    assert list(payload) == ["text"]
    assert payload["text"].startswith(":rotating_light: *[CRITICAL]* batch b4: critical")
    assert "• _critical_: performance: ROC-AUC 0.58" in payload["text"]


def test_webhook_retries_a_server_error_then_delivers() -> None:
    server = _Hook(statuses=[503, 500])
    try:
        WebhookNotifier(server.url, retries=2, backoff=0.01).notify(NOTE)
        assert len(server.received) == 3  # two failures, then delivered
    finally:
        server.close()


def test_a_dead_endpoint_is_reported_without_its_secret_path() -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    with pytest.raises(OSError, match=r"webhook http://127\.0\.0\.1:\d+/… failed after 2") as err:
        WebhookNotifier(dead, retries=1, backoff=0.01, timeout=1).notify(NOTE)
    assert "secret-token" not in str(err.value)


@pytest.mark.slow
def test_a_dead_endpoint_does_not_fail_the_monitoring_run(trained_store, tmp_path: Path) -> None:
    from pipelines.data.generator import generate_batch
    from pipelines.store import connect
    from pipelines.workflows.monitor import monitor_batch

    base, _ = trained_store
    settings = make_settings(Path(base.tracking.uri.removeprefix("sqlite:///")).parent, **{
        "notifications.webhook_url": f"http://127.0.0.1:{free_port()}/hook",
        "notifications.retries": 1, "notifications.timeout_seconds": 1})
    assert [type(n).__name__ for n in notifiers_for(settings)] == ["LogNotifier",
                                                                    "WebhookNotifier"]
    outcome = monitor_batch(settings, generate_batch("covariate_shift", 2000, seed=3),
                            batch_id="b", source="test")
    run = connect(settings.tracking).client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert outcome.report.status != "ok"  # a warning at least: the webhook was called
    assert run.data.tags["notification.failed"].startswith("WebhookNotifier: webhook http://")


@pytest.mark.slow
def test_a_failing_orchestrator_is_notified(trained_store, hook: _Hook) -> None:
    from pipelines.config import with_overrides
    from pipelines.data.sources import BatchSource, Pending
    from pipelines.workflows.orchestrate import run_cycle

    class Failing(BatchSource):
        def pending(self) -> Iterator[Pending]:
            def load():  # noqa: ANN202
                raise RuntimeError("disk on fire")
            yield Pending("b9.csv", load)

    base, _ = trained_store
    settings = with_overrides(base, {"notifications.webhook_url": hook.url})
    cycle = run_cycle(settings, Failing())
    assert [b.status for b in cycle.batches] == ["failed"]
    (payload,) = hook.received
    assert payload["event"] == "orchestrator"
    assert payload["severity"] == "critical"
    assert "b9.csv: RuntimeError: disk on fire" in payload["subject"]
