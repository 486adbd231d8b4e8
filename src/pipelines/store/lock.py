"""A cross-process, cross-machine lease lock kept in the MLflow model registry.

The only atomic operation every MLflow store offers is creating a registered model under a
name nobody has used: exactly one of several concurrent creators succeeds. The lock is a
sequence of such names, ``<lock>.<epoch>`` (``<model>.orchestrator-lock.1``, ``.2``, ...):

* **acquire**: read the newest epoch; when it is free (released, its lease expired, or its
  holder provably dead: same host, process gone) create the next epoch. Of two contenders
  only one creates it; the other sees a live lock and waits or skips. Nobody ever deletes or
  overwrites another holder's epoch, so breaking a stale lock cannot hit a live one.
* **lease**: the holder's epoch carries ``lock.lease_until``, renewed by a heartbeat thread
  every third of the lease while the ``with`` block runs; a holder that froze or lost the
  store stops renewing and its lease runs out in ``lease`` seconds (minutes, not hours).
* **release**: the holder marks its own epoch released (tags only it writes); old epochs
  are pruned, never the newest two.

**Kept out of the reviewer's model list.** Each epoch is created as an entry of MLflow's prompt
registry (``MlflowClient.create_prompt``): a registered model whose tag
``mlflow.prompt.is_prompt = true`` is written in the same INSERT transaction as the name, so the
creation stays the one atomic step it was (a taken name fails with RESOURCE_ALREADY_EXISTS, as
for a model). MLflow 3.17.2 leaves such entries out of ``search_registered_models()`` (the client
adds ``tag.`mlflow.prompt.is_prompt` != 'true'``, the SQL store excludes prompts unless asked)
and so out of the UI's "Registered models" list, which the server fills from the same search.
They show on the Prompts page instead (GenAI side of the UI), each saying it is the lock. Other
atomic primitives were weighed: an experiment name is unique too, but experiments are the
reviewer's first list; runs, tags and aliases can be overwritten, so none is a lock.

**Older stores.** Versions before this one created plain registered models named
``<lock>.<n>``. They still count as epochs (numbering continues after them, a live one still
holds the lock), and the first holder of a new epoch deletes those below its own number on
release: they were free when it acquired, so no live holder is broken. Running an old and a new
version of the orchestrator against one store at the same time is not supported.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.errors import TrackingError
from pipelines.store.client import Store, tracking_outage

logger = logging.getLogger(__name__)

#: Epochs kept behind the newest (older ones are pruned on release).
KEEP_EPOCHS = 2
#: What an epoch says about itself on the Prompts page, where MLflow lists it.
EPOCH_DESCRIPTION = ("Not a prompt: an epoch of the churn-monitoring orchestrator's lock (one "
                     "per cycle, the newest three kept; see pipelines.store.lock). Leave it.")


@dataclass(frozen=True)
class LockInfo:
    acquired: bool
    holder: str
    since: str
    message: str
    epoch: int = 0
    took_over: str | None = None
    """The epoch (``<lock>.<n>``) of a holder that died or whose lease expired without
    releasing: its unfinished work is the new holder's to clean up."""
    check: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def epoch_name(self, lock: str) -> str:
        return f"{lock}.{self.epoch}"

    def ensure_held(self) -> None:
        """Raise :class:`TrackingError` unless this holder's epoch is still the newest: the
        fence to pass before an irreversible step (moving the champion alias)."""
        if self.check is not None:
            self.check()


@dataclass(frozen=True)
class _Epoch:
    number: int
    holder: str
    host: str
    pid: int
    pid_start: str
    token: str
    acquired_at: float
    lease_until: float
    released: bool
    legacy: bool = False
    """A plain registered model written by a version before the lock moved to the prompt
    registry (visible in the model list): pruned once a newer epoch is released."""


def _pid_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), '' elsewhere: a pid that
    was reused by another process has another start time."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _host() -> str:
    """This machine and process namespace: containers sharing a host name but not their
    processes must not judge each other's pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}" if namespace else socket.gethostname()


def _alive(epoch: _Epoch) -> bool:
    """False only when provably dead: on this host and process namespace, and the process is
    gone or its pid now belongs to another process. A holder elsewhere is judged by its lease
    alone."""
    if epoch.host != _host() or epoch.pid <= 0:
        return True
    try:
        os.kill(epoch.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not epoch.pid_start or _pid_start(epoch.pid) == epoch.pid_start


def _epochs(client: MlflowClient, base: str) -> list[_Epoch]:
    """Every epoch of lock ``base`` in the store (prompt-registry entries and older versions'
    plain registered models), newest first."""
    query = f"name LIKE '{base}.%'"
    entries = [(prompt.name, prompt.tags, False)
               for prompt in client.search_prompts(filter_string=query)]
    entries += [(model.name, model.tags, True)
                for model in client.search_registered_models(filter_string=query)]
    found = []
    prefix = f"{base}."
    for entry, tags, legacy in entries:
        suffix = entry[len(prefix):]
        if not entry.startswith(prefix) or not suffix.isdigit():
            continue  # LIKE treats "_" as a wildcard: another model's name can match
        found.append(_Epoch(
            number=int(suffix), holder=tags.get("lock.holder", "?"),
            host=tags.get("lock.host", ""), pid=int(tags.get("lock.pid", "0") or 0),
            pid_start=tags.get("lock.pid_start", ""), token=tags.get("lock.token", ""),
            acquired_at=float(tags.get("lock.acquired_at", "0") or 0),
            lease_until=float(tags.get("lock.lease_until", "0") or 0),
            released="lock.released_at" in tags, legacy=legacy))
    return sorted(found, key=lambda e: e.number, reverse=True)


def epoch_tags(client: MlflowClient, base: str) -> dict[str, dict[str, str]]:
    """The tags of every epoch of lock ``base``, by entry name (for tests and diagnosis)."""
    query = f"name LIKE '{base}.%'"
    found = {p.name: dict(p.tags) for p in client.search_prompts(filter_string=query)}
    found.update({m.name: dict(m.tags)
                  for m in client.search_registered_models(filter_string=query)})
    return found


def _free(epoch: _Epoch | None, now: float) -> tuple[bool, str]:
    if epoch is None:
        return True, "no lock yet"
    if epoch.released:
        return True, "released"
    if now > epoch.lease_until:
        return True, f"lease of {epoch.holder} expired"
    if not _alive(epoch):
        return True, f"holder {epoch.holder} is dead"
    return False, "held"


def _try_create(client: MlflowClient, name: str, tags: dict[str, str]) -> bool:
    try:
        client.create_prompt(name, description=EPOCH_DESCRIPTION, tags=tags)
        return True
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_ALREADY_EXISTS" or "already exists" in str(exc).lower():
            return False
        raise


class _Heartbeat(threading.Thread):
    """Renews the lease of one epoch every third of the lease until stopped."""

    def __init__(self, client: MlflowClient, name: str, lease: float, uri: str) -> None:
        super().__init__(name=f"lease-{name}", daemon=True)
        self.client, self.lock_name, self.lease, self.uri = client, name, lease, uri
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            try:
                self.client.set_prompt_tag(self.lock_name, "lock.lease_until",
                                           str(time.time() + self.lease))
            except Exception as exc:  # the store is down: the lease runs out on its own
                logger.warning("Could not renew lock lease %s: %s", self.lock_name,
                               tracking_outage(exc, self.uri) or exc)


@contextmanager
def registry_lock(store: Store, name: str, *, timeout: float = 0.0, lease: float = 120.0,
                  poll: float = 1.0) -> Iterator[LockInfo]:
    """Hold lock ``name`` for the ``with`` block, its lease renewed meanwhile; yields
    ``LockInfo(acquired=False)`` if a live holder keeps it beyond ``timeout`` seconds (the
    caller then skips and says so)."""
    client = store.client
    deadline = time.monotonic() + timeout
    me = f"{socket.gethostname()}:{os.getpid()}"
    waiting = False
    while True:
        epochs = _epochs(client, name)
        newest = epochs[0] if epochs else None
        free, why = _free(newest, time.time())
        if free:
            number = (newest.number if newest else 0) + 1
            now = time.time()
            tags = {"lock.holder": me, "lock.host": _host(),
                    "lock.pid": str(os.getpid()), "lock.pid_start": _pid_start(os.getpid()),
                    "lock.token": uuid.uuid4().hex, "lock.acquired_at": str(now),
                    "lock.lease_until": str(now + lease)}
            if _try_create(client, f"{name}.{number}", tags):
                if _epochs(client, name)[0].number != number:
                    # a number pruned long ago, created again after a stall: not the newest
                    _release(client, name, number, store.uri)
                    continue
                took_over = None
                if newest is not None and not newest.released:
                    logger.warning("Took over lock %s: %s", name, why)
                    took_over = f"{name}.{newest.number}"
                info = LockInfo(True, me, datetime.now(UTC).isoformat(timespec="seconds"),
                                f"lock {name} acquired (epoch {number})", number, took_over)
                break
            continue  # another contender created that epoch first: look again
        holder = newest.holder if newest else "?"
        since = datetime.fromtimestamp(newest.acquired_at if newest else 0, tz=UTC)
        if time.monotonic() >= deadline:
            info = LockInfo(False, holder, since.isoformat(timespec="seconds"),
                            f"another orchestrator ({holder}) holds {name} since "
                            f"{since.isoformat(timespec='seconds')}")
            break
        if not waiting:
            waiting = True
            logger.info("Waiting up to %.0f s for lock %s held by %s", timeout, name, holder)
        time.sleep(poll)
    if not info.acquired:
        yield info
        return
    epoch_name = f"{name}.{info.epoch}"

    def check() -> None:
        newest = _epochs(client, name)[0]
        if newest.number != info.epoch or newest.released or time.time() > newest.lease_until:
            raise TrackingError(
                f"Lost lock {name}: epoch {info.epoch} is no longer the live holder (newest "
                f"epoch {newest.number}, its lease ran out or another cycle took over); "
                "stopping before anything irreversible.")

    info = dataclasses.replace(info, check=check)
    heartbeat = _Heartbeat(MlflowClient(tracking_uri=store.uri, registry_uri=store.uri),
                           epoch_name, lease, store.uri)
    heartbeat.start()
    try:
        yield info
    finally:
        try:
            heartbeat.stopped.set()
            heartbeat.join(timeout=5)
        finally:  # released even if a signal interrupts the wait for the heartbeat
            _release(client, name, info.epoch, store.uri)


def _release(client: MlflowClient, name: str, number: int, uri: str) -> None:
    """Mark our own epoch released, then prune epochs older than the newest few, and every
    older version's plain registered-model epoch below ours (free when we acquired)."""
    try:
        client.set_prompt_tag(f"{name}.{number}", "lock.released_at", str(time.time()))
    except MlflowException as exc:
        logger.warning("Could not release lock %s (epoch %d): %s; its lease will expire (or "
                       "the next cycle on this host takes it over at once)", name, number,
                       tracking_outage(exc, uri) or exc)
        return
    epochs = _epochs(client, name)
    stale = epochs[KEEP_EPOCHS + 1:] + [e for e in epochs[:KEEP_EPOCHS + 1]
                                        if e.legacy and e.number < number]
    for epoch in stale:
        try:
            if epoch.legacy:
                client.delete_registered_model(f"{name}.{epoch.number}")
            else:
                client.delete_prompt(f"{name}.{epoch.number}")
        except MlflowException:  # pruning is housekeeping: another process may be at it
            pass
