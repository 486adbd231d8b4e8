"""The read-only service: REST API, dashboard and Prometheus metrics over the tracking store.

    python -m pipelines.serve [--host 127.0.0.1] [--port 8765]
    churnmon serve --tracking-uri http://mlflow:5000 --port 9000
    make serve                     mlflow run . -e serve -P port=9000

The dashboard is at http://HOST:PORT/, the API's documentation at /docs, Prometheus metrics
at /metrics. The store is re-read in the background every ``service.refresh_seconds``; answers
come from the newest read (their ``as_of``). It never writes to the store. With
``service.token`` set (CHURNMON_SERVICE__TOKEN), every request but /health needs
``Authorization: Bearer <token>``. SIGTERM or Ctrl-C stops it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pipelines.cli import (
    EXIT_FAILED,
    add_common_options,
    exit_with,
    settings_from_args,
    setup_logging,
    step_parser,
)

if TYPE_CHECKING:
    from pipelines.config import Settings

logger = logging.getLogger("pipelines.serve")


def port_arg(text: str) -> int | None:
    """A port number; empty (an MLproject default) means the configured one."""
    if not text.strip():
        return None
    value = float(text)
    if value != int(value) or not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1-65535, got {text!r}")
    return int(value)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("serve", __doc__, prog)
    p.add_argument("--host", default=None,
                   help="interface to listen on (default: service.host, 127.0.0.1; 0.0.0.0 "
                   "for every interface)")
    p.add_argument("--port", type=port_arg, default=None,
                   help="port (default: service.port, 8765)")
    add_common_options(p)
    return p


def resolve(settings: Settings) -> Settings:
    """``settings`` with what the experiment family remembers (the model name, columns a
    ``register_reference`` set), as the monitor sees them. A tracking server that does not
    answer now leaves the configured ones (the service starts anyway and answers 503 until
    it does); a SQLite store that does not exist is refused (:class:`TrackingError`)."""
    from pipelines.errors import TrackingError, TrackingUnavailable
    from pipelines.store import connect, tracking_outage
    from pipelines.workflows.family import resolve_settings

    remote = settings.tracking.uri.startswith(("http://", "https://"))
    try:
        store = connect(settings.tracking, create=False, purpose="serve")
        return resolve_settings(settings, store)
    except TrackingError as exc:
        if not (remote or isinstance(exc, TrackingUnavailable)):
            raise
        reason: BaseException = exc
    except Exception as exc:
        outage = tracking_outage(exc, settings.tracking.uri)
        if outage is None:
            raise
        reason = outage
    logger.warning("%s. Serving with the configured settings; /health answers 503 until the "
                   "store answers", str(reason).rstrip("."))
    return settings


def urls(host: str, port: int) -> tuple[str, str]:
    """The dashboard's and the API documentation's addresses, to open in a browser."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    return f"{base}/", f"{base}/docs"


@contextmanager
def _stopped_by_signal() -> Iterator[list[int]]:
    """uvicorn shuts down gracefully on SIGTERM / SIGINT, then raises the signal again for the
    handler it found: this one notes it, so the command ends normally (exit 0) instead of as
    an interrupted step."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def note(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args, {"service.host": args.host, "service.port": args.port})
    settings = resolve(settings)
    import uvicorn

    from pipelines.service.app import create_app
    from pipelines.service.redact import guard_logs, without_secrets

    # the dashboard's ?token= and a store URI's credentials never reach the log
    guard_logs("uvicorn.access", "uvicorn.error", "pipelines.serve",
               "pipelines.service.state")
    service = settings.service
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(
        app, host=service.host, port=service.port, log_config=None,
        log_level="debug" if args.verbose else "info", timeout_graceful_shutdown=10))
    dashboard, docs = urls(service.host, service.port)
    logger.info("Serving %s (store %s, re-read every %g s): dashboard %s, API docs %s%s",
                settings.tracking.registered_model_name, without_secrets(settings.tracking.uri),
                service.refresh_seconds, dashboard, docs,
                "; token required (service.token)" if service.token else "")
    with _stopped_by_signal() as received:
        server.run()
    if not server.started:
        logger.error("The service did not start (see above): nothing is listening on %s:%s",
                     service.host, service.port)
        return EXIT_FAILED
    if received:
        logger.info("Stopped by %s: the service shut down cleanly",
                    signal.Signals(received[0]).name)
    return 0


if __name__ == "__main__":
    exit_with(main)
