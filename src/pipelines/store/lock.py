"""A cross-process, cross-machine lock kept in the MLflow model registry.

Registered-model names are unique in every MLflow store, so creating the registered model
named by :func:`pipelines.store.contract.lock_name` (``<model>.orchestrator-lock``) either
succeeds (we hold the lock) or fails because it exists (someone else does). Releasing deletes
it. A lock older than ``stale_after`` (its holder crashed) is broken.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.store.client import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockInfo:
    acquired: bool
    holder: str
    since: str
    message: str


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _try_create(client: MlflowClient, name: str) -> bool:
    try:
        client.create_registered_model(
            name, tags={"lock.holder": _holder(), "lock.acquired_at": str(time.time())},
            description="Orchestrator lock: exists while a monitoring/retraining cycle runs.")
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_ALREADY_EXISTS" or "already exists" in str(exc).lower():
            return False
        raise


def _current(client: MlflowClient, name: str) -> tuple[str, float] | None:
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    return model.tags.get("lock.holder", "?"), float(model.tags.get("lock.acquired_at", "0"))


@contextmanager
def registry_lock(store: Store, name: str, *, timeout: float = 0.0,
                  stale_after: float = 6 * 3600, poll: float = 1.0) -> Iterator[LockInfo]:
    """Hold ``name`` for the ``with`` block; yields ``LockInfo(acquired=False)`` if another
    holder keeps it beyond ``timeout`` seconds (the caller then skips and says so)."""
    client = store.client
    deadline = time.monotonic() + timeout
    waiting = False
    while True:
        if _try_create(client, name):
            info = LockInfo(True, _holder(), datetime.now(UTC).isoformat(timespec="seconds"),
                            f"lock {name} acquired")
            break
        current = _current(client, name)
        if current is not None and time.time() - current[1] > stale_after:
            logger.warning("Breaking stale lock %s held by %s since %s", name, current[0],
                           datetime.fromtimestamp(current[1], tz=UTC).isoformat())
            _release(client, name)
            continue
        if time.monotonic() >= deadline:
            holder, since = current or ("?", 0.0)
            since_iso = datetime.fromtimestamp(since, tz=UTC).isoformat(timespec="seconds")
            info = LockInfo(False, holder, since_iso,
                            f"another orchestrator ({holder}) holds {name} since {since_iso}")
            break
        if not waiting:
            waiting = True
            logger.info("Waiting up to %.0f s for lock %s held by %s", timeout, name,
                        current[0] if current else "?")
        time.sleep(poll)
    try:
        yield info
    finally:
        if info.acquired:
            _release(client, name)


def _release(client: MlflowClient, name: str) -> None:
    try:
        client.delete_registered_model(name)
    except MlflowException as exc:
        logger.warning("Could not release lock %s: %s", name, exc)
