"""SIGTERM and SIGINT as an exception in the main thread, so that a stopped command unwinds
like a failed one: the open run is marked FAILED (``interrupted by SIGTERM``), the batch
file goes back to the inbox, the lock is released; then one log line and exit code 143
(SIGTERM) or 130 (SIGINT).

The first signal raises :class:`~pipelines.errors.Interrupted` in the main thread, but never
inside a call to MLflow or its database layer (SQLAlchemy, sqlite3): an exception raised
half-way through a transaction or a pool check-in can leave a connection holding SQLite's
write lock (every later write of the clean-up would wait for it), one raised inside
MLflow's ``end_run`` a run RUNNING. There the interruption is deferred, checked again every
:data:`RECHECK_SECONDS`, and raised as soon as that call returned (a call takes seconds at
most; uploads run in another thread). Later signals, while the first unwinds, are noted and
ignored, so the clean-up itself is not cut short.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from pipelines.errors import Interrupted

logger = logging.getLogger(__name__)

HANDLED = (signal.SIGTERM, signal.SIGINT)


#: Packages whose interruption could leave a database connection in a transaction or a run
#: half ended (by module name, not file path: a project may live in a folder named mlflow).
UNSAFE_MODULES = ("mlflow", "sqlalchemy", "sqlite3", "psycopg")
RECHECK_SECONDS = 0.02


def _in_unsafe_code(frame: FrameType | None) -> bool:
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".", 1)[0] in UNSAFE_MODULES:
            return True
        frame = frame.f_back
    return False


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + the signal number (143 for SIGTERM, 130 for SIGINT)."""
    return 128 + signum


@contextmanager
def interruptible() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Interrupted` (once); the previous
    handlers come back afterwards. Does nothing outside the main thread (where Python
    cannot install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []  # the first signal
    raised: list[bool] = []

    def interrupt(frame: FrameType | None) -> None:
        if raised:
            return
        if _in_unsafe_code(frame):  # not half-way through a transaction: a little later
            signal.setitimer(signal.ITIMER_REAL, RECHECK_SECONDS)
            return
        raised.append(True)
        signum = received[0]
        raise Interrupted(signal.Signals(signum).name, exit_code(signum))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received:
            logger.warning("%s received while stopping after %s: finishing the clean-up",
                           signal.Signals(signum).name, signal.Signals(received[0]).name)
            return
        received.append(signum)
        interrupt(frame)

    def on_recheck(_signum: int, frame: FrameType | None) -> None:
        interrupt(frame)

    previous: dict[int, Any] = {s: signal.signal(s, on_signal) for s in HANDLED}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_recheck)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, old in previous.items():
            signal.signal(signum, old)
