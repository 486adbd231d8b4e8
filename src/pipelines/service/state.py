"""What the service knows of the store, kept fresh in the background.

:class:`ServiceState` reads a :class:`Snapshot` (:func:`pipelines.store.views.read_snapshot`)
every ``service.refresh_seconds`` in a thread of its own; requests only ever look at the newest
snapshot, so none waits on MLflow (except one batch's report, itself bounded). A read runs in a
worker thread; when the store has not answered any part of it (a page of runs, a report) for
``service.store_timeout_seconds``, or the read fails, the state says the store is unavailable
until a read succeeds again (a slow read still lands when it ends). A large store that keeps
answering is read as long as it takes, the previous snapshot served meanwhile. Never two reads
at once; never a write to the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib import metadata
from typing import Any

from pipelines.config import Settings
from pipelines.errors import TrackingError, TrackingUnavailable
from pipelines.service.redact import without_secrets
from pipelines.service.snapshot import Snapshot
from pipelines.store.client import Store, connect, tracking_outage
from pipelines.store.views import read_report, read_snapshot

logger = logging.getLogger(__name__)

#: Reports kept in memory (the newest asked for).
REPORT_CACHE_SIZE = 64
#: Share of the store timeout a read may spend downloading new reports (a big store's are
#: read over several refreshes, newest first, so each read ends in time).
DETAILS_SHARE = 0.5
PACKAGE = "churn-monitoring"


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


class ServiceState:
    """The newest snapshot of the store and the health of the reads that make it.

    ``store_factory``: opens the store (default: :func:`pipelines.store.connect` on
    ``settings.tracking``, read-only: a missing SQLite file is not created). Called in the
    reading thread, again after a read failed to open it.
    """

    def __init__(self, settings: Settings, *,
                 store_factory: Callable[[], Store] | None = None) -> None:
        self.settings = settings
        self._factory = store_factory or (
            lambda: connect(settings.tracking, create=False, purpose="serve"))
        self._timeout = settings.service.store_timeout_seconds
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._snapshot: Snapshot | None = None
        self._error: str | None = None
        self._reader: threading.Thread | None = None
        self._finished: threading.Thread | None = None  # the newest read that succeeded
        self._answered_at = time.monotonic()  # when the store last answered a part of a read
        self._refresher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._reports: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._reads = 0
        self._failures = 0
        self._last_attempt_at: float | None = None
        self._version = package_version()

    # ------------------------------------------------------------------------- life

    def start(self) -> None:
        """Read once now (bounded by the store timeout), then every ``refresh_seconds`` in
        the background until :meth:`stop`."""
        if self._refresher is not None:
            return
        self._stopping.clear()
        self.refresh()
        self._refresher = threading.Thread(target=self._refresh_loop, name="snapshot-refresher",
                                           daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        """Stop refreshing (a read under way is left to end on its own: it is bounded by the
        tracking settings' HTTP timeouts)."""
        self._stopping.set()
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.join(timeout=self._timeout + 1)

    def _refresh_loop(self) -> None:
        while not self._stopping.wait(self.settings.service.refresh_seconds):
            try:
                self.refresh()
            except Exception:  # never let the refresher die
                logger.exception("Snapshot refresh failed unexpectedly")

    # ------------------------------------------------------------------------- reads

    def refresh(self) -> bool:
        """One read of the store (a read still under way is waited for instead of starting
        another), given up once the store has not answered any part of it for
        ``store_timeout_seconds``. True when it succeeded."""
        with self._lock:
            self._last_attempt_at = time.time()
            reader = self._reader
            if reader is None or not reader.is_alive():
                reader = threading.Thread(target=self._read, name="snapshot-reader", daemon=True)
                self._reader = reader
                self._answered_at = time.monotonic()  # the store's time to answer starts now
                reader.start()
        # a large store takes longer than the timeout to read, answering all along (a page of
        # runs, a report at a time): that is no outage. Given up only after the timeout
        # without an answer; meanwhile requests get the previous snapshot.
        while reader.is_alive():
            with self._lock:
                remaining = self._timeout - (time.monotonic() - self._answered_at)
            if remaining <= 0:
                self._failed(f"The MLflow store {self._where()} did not answer within "
                             f"{self._timeout:g} s (service.store_timeout_seconds)", reader)
                return False
            reader.join(timeout=remaining)
        with self._lock:
            return self._error is None

    def _where(self) -> str:
        uri = self.settings.tracking.uri
        return uri.split("@", 1)[-1] if "://" in uri and "@" in uri else uri  # no credentials

    def _failed(self, message: str, reader: threading.Thread | None = None) -> None:
        """Note a failed read; ``reader``: a read that ran out of time, unless it ended (and
        stored its snapshot) meanwhile."""
        message = without_secrets(message)  # /health answers it without a token
        with self._lock:
            if reader is not None and reader is self._finished:
                return
            if self._error != message:
                logger.warning("Store read failed: %s", message)
            self._error = message
            self._failures += 1

    def _open(self) -> Store:
        with self._lock:
            store = self._store
        if store is None:
            store = self._factory()
            with self._lock:
                self._store = store
        return store

    def _answered(self) -> None:
        with self._lock:
            self._answered_at = time.monotonic()

    def _read(self) -> None:
        try:
            store = self._open()
            self._answered()  # connected (a first connection can take a while)
            with self._lock:
                previous = self._snapshot
            snapshot = read_snapshot(store, self.settings, previous,
                                     details_budget_seconds=self._timeout * DETAILS_SHARE,
                                     progress=self._answered)
        except Exception as exc:
            outage = tracking_outage(exc, self.settings.tracking.uri)
            self._failed(str(outage or exc))
            with self._lock:  # the next read connects afresh (a restored file, a new server)
                self._store = None
            return
        with self._lock:
            if self._error is not None:
                logger.info("Store read again: %d batches", len(snapshot.batches))
            self._snapshot = snapshot
            self._error = None
            self._reads += 1
            self._finished = threading.current_thread()

    # ------------------------------------------------------------------------- what requests see

    def snapshot(self) -> Snapshot:
        """The newest snapshot. Raises :class:`TrackingUnavailable` with the reason when the
        newest read failed (or timed out) or none has succeeded yet."""
        with self._lock:
            error, snapshot = self._error, self._snapshot
        if error is not None:
            raise TrackingUnavailable(error)
        if snapshot is None:
            raise TrackingUnavailable(f"The MLflow store {self._where()} has not been read "
                                      "yet")
        return snapshot

    def report(self, run_id: str, *, labels_at: str = "") -> dict[str, Any]:
        """The run's ``monitoring_report.json`` (the newest :data:`REPORT_CACHE_SIZE` kept),
        downloaded within ``store_timeout_seconds``. Raises
        :class:`pipelines.store.views.ReportNotFound` when the run has none,
        :class:`TrackingUnavailable` when the store does not answer in time."""
        # labels registered (again) at ``labels_at``: the report written then, cached apart
        key = f"{run_id}@{labels_at}" if labels_at else run_id
        with self._lock:
            if key in self._reports:
                self._reports.move_to_end(key)
                return self._reports[key]
        result: dict[str, Any] = {}

        def download() -> None:
            try:
                report = read_report(self._open(), run_id, labelled=bool(labels_at))
            except BaseException as exc:  # handed to the waiting request
                result["error"] = exc
                return
            result["report"] = report
            with self._lock:
                self._reports[key] = report
                self._reports.move_to_end(key)
                while len(self._reports) > REPORT_CACHE_SIZE:
                    self._reports.popitem(last=False)

        worker = threading.Thread(target=download, name=f"report-{run_id[:8]}", daemon=True)
        worker.start()
        worker.join(timeout=self._timeout)
        if worker.is_alive():
            raise TrackingUnavailable(f"The MLflow store {self._where()} did not send the report "
                                      f"of run {run_id} within {self._timeout:g} s "
                                      "(service.store_timeout_seconds)")
        if "error" in result:
            error = result["error"]
            if isinstance(error, TrackingError | LookupError):
                raise error
            raise TrackingError(f"Cannot read the report of run {run_id}: {error}") from error
        return result["report"]

    def health(self) -> dict[str, Any]:
        """The reads' health: ``ok`` (the newest read succeeded), ``message`` (why not),
        the snapshot's time and age, its number of batches, the model and this package's
        version, counts of reads and failures."""
        with self._lock:
            error, snapshot = self._error, self._snapshot
            reads, failures, attempted = self._reads, self._failures, self._last_attempt_at
            reading = self._reader is not None and self._reader.is_alive()
        ok = error is None and snapshot is not None
        message = error if error is not None else (
            None if snapshot is not None else f"The MLflow store {self._where()} has not been "
                                              "read yet")
        return {
            "ok": ok, "message": message,
            "taken_at": snapshot.taken_at if snapshot is not None else None,
            "snapshot_age_seconds": (time.time() - snapshot.taken_at
                                     if snapshot is not None else None),
            "read_seconds": snapshot.read_seconds if snapshot is not None else None,
            "batches": len(snapshot.batches) if snapshot is not None else 0,
            "model": self.settings.tracking.registered_model_name,
            "version": self._version,
            "reads": reads, "failures": failures, "last_attempt_at": attempted,
            "reading": reading,
        }
