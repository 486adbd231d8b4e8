"""SIGTERM and SIGINT as an exception in the main thread, so that a stopped command unwinds
like a failed one: the open run is marked FAILED (``interrupted by SIGTERM``), the batch
file goes back to the inbox, the lock is released; then one log line and exit code 143
(SIGTERM) or 130 (SIGINT).

The first signal raises :class:`~pipelines.errors.Interrupted` wherever the main thread is;
later ones, while that unwinds, are noted and ignored, so the clean-up itself is not cut
short.
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
    stopping: list[str] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stopping:
            logger.warning("%s received while stopping after %s: finishing the clean-up",
                           name, stopping[0])
            return
        stopping.append(name)
        raise Interrupted(name, exit_code(signum))

    previous: dict[int, Any] = {s: signal.signal(s, handler) for s in HANDLED}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
