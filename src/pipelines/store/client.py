"""The connection to one MLflow tracking store, and the run-level calls every step uses.

:class:`Store` is opened once per entry point (:func:`connect`) and handed to every workflow;
nothing else creates clients. MLflow's model-logging helpers work on the *fluent* API, whose
tracking URI is process-global: every method here that reaches it first points it at this
store (:meth:`Store.use`), so two stores in one process (tests) never write into each other.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import math
import os
import re
import sqlite3
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import requests
import sqlalchemy
from mlflow.entities import Metric, Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.config import TrackingSettings
from pipelines.data.io import json_text
from pipelines.errors import (
    ConfigError,
    StoreLocked,
    StoreWriteFailed,
    TrackingError,
    TrackingUnavailable,
)
from pipelines.redact import redact_mapping, without_secrets
from pipelines.store import contract, database, landing

logger = logging.getLogger(__name__)

#: Rows hashed for a logged data set's digest (as MLflow does) and read for its schema
#: (MLflow's inference checks every value in Python).
DATASET_DIGEST_ROWS = 10_000
DATASET_SCHEMA_ROWS = 1_000


def _sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0])


#: Busy timeout (ms) per SQLite file (resolved path), from ``tracking.sqlite_busy_timeout_seconds``.
_BUSY_TIMEOUT_MS: dict[str, int] = {}
_MLFLOW_BUSY_PRAGMA = "PRAGMA busy_timeout"


def _busy_timeout_ms(database: str | None) -> int | None:
    if not database or database == ":memory:":
        return None
    return _BUSY_TIMEOUT_MS.get(str(Path(database).resolve()))


def _drop_reraised_database_errors(record: logging.LogRecord) -> bool:
    """MLflow logs every SQLAlchemy operational error with its traceback, then raises it
    again as an MlflowException: the raised one is reported (a locked store in one line),
    the logged copy would bury that line under a hundred."""
    return not record.getMessage().startswith("SQLAlchemy database error")


logging.getLogger("mlflow.store.db.utils").addFilter(_drop_reraised_database_errors)


@sqlalchemy.event.listens_for(sqlalchemy.pool.Pool, "connect")
def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """A new SQLite connection to a store opened by :func:`connect` waits for another
    writer's lock up to the configured busy timeout (pysqlite's default is 5 s)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()
    ms = _busy_timeout_ms(row[2] if row else None)
    if ms is not None:
        dbapi_connection.execute(f"PRAGMA busy_timeout = {ms}")


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "before_cursor_execute", retval=True)
def _on_sqlite_statement(conn: Any, _cursor: Any, statement: str, parameters: Any,
                         _context: Any, _many: bool) -> tuple[str, Any]:
    """MLflow sets ``busy_timeout = 20000`` at the start of every session: ours instead."""
    if statement.startswith(_MLFLOW_BUSY_PRAGMA) and conn.engine.url.get_backend_name() == \
            "sqlite":
        ms = _busy_timeout_ms(conn.engine.url.database)
        if ms is not None:
            return f"{_MLFLOW_BUSY_PRAGMA} = {ms};", parameters
    return statement, parameters


def _probe_server(uri: str, timeout: float) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http only)
            if resp.status != 200:
                raise TrackingError(f"MLflow server {uri} answered {resp.status} on /health.")
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({exc}). Start it, or unset "
            "MLFLOW_TRACKING_URI / tracking.uri to use the embedded sqlite:///mlflow.db store."
        ) from exc


#: Retries of a failed HTTP call to the tracking server (MLflow's default retries for minutes).
HTTP_MAX_RETRIES = 2
HTTP_BACKOFF_FACTOR = 1


def _bound_http_calls(timeout: float) -> None:
    """Every later call to the tracking server gives up after ``timeout`` seconds per request
    and a few quick retries, so an outage ends a cycle in about a minute instead of hanging in
    MLflow's default retries. Variables the user set are kept. MLflow reads them per request,
    from the environment."""
    limits = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(HTTP_MAX_RETRIES),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(HTTP_BACKOFF_FACTOR),
    }
    for name, value in limits.items():
        os.environ.setdefault(name, value)


#: What a tracking call raises (anywhere in its exception chain) when the server is down,
#: unreachable or timing out, as opposed to refusing a request.
_OUTAGE_TYPES: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError,
    TimeoutError)
_GATEWAY_ERROR = re.compile(r"failed with error code (50[234])")
#: A database server (PostgreSQL) that went away: refused, dropped or shut down connections.
_DATABASE_GONE = re.compile(r"(Connection refused|server closed the connection unexpectedly|"
                            r"terminating connection due to administrator command|"
                            r"the database system is (?:shutting down|starting up))")
_SHORT_REASONS = (_DATABASE_GONE, re.compile(r"\[Errno -?\d+\] ([^'\")]+)"),
                  re.compile(r"(Remote end closed connection without response)"),
                  re.compile(r"(Read timed out)"), _GATEWAY_ERROR)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


#: OS errors that mean "this disk cannot take the file": full, read-only, refused, too large.
WRITE_ERRORS: dict[int, str] = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
                                errno.EROFS: "read-only file system",
                                errno.EACCES: "permission denied",
                                errno.EPERM: "operation not permitted",
                                errno.EFBIG: "file too large"}
_LOCKED = re.compile(r"database (table )?is locked")


def write_failure(exc: BaseException) -> OSError | None:
    """The OS error in ``exc``'s chain that says a disk refused a write, or None."""
    for cause in _chain(exc):
        if isinstance(cause, OSError) and cause.errno in WRITE_ERRORS:
            return cause
    return None


def refused_text(failed: OSError, where: str | None = None) -> str:
    """``Cannot write <path>: disk full (No space left on device)``; for a permission error,
    which reading can meet too, ``Cannot use <path>: permission denied (...)``."""
    verb = "use" if failed.errno in (errno.EACCES, errno.EPERM) else "write"
    return (f"Cannot {verb} {where or failed.filename or 'a file'}: "
            f"{WRITE_ERRORS[failed.errno]} ({failed.strerror or failed})")


def failure_reason(exc: BaseException) -> tuple[str, str]:
    """``(short, full)`` reason of a run that failed for another cause than a refused file
    or an outage (those are told apart before): a few words for its name (``interrupted by
    SIGTERM``, the exception's type) and the whole reason for its ``failure.reason`` tag."""
    if not isinstance(exc, Exception):  # Interrupted, KeyboardInterrupt, SystemExit
        text = str(exc) or type(exc).__name__
        return text, text
    return type(exc).__name__, f"{type(exc).__name__}: {exc}"


def tracking_outage(exc: BaseException, uri: str | None = None) -> TrackingUnavailable | None:
    """A :class:`TrackingUnavailable` naming ``uri`` (default: the tracking URI in use) and
    the cause in a few words when
    ``exc`` (or anything in its chain) means the tracking server stopped answering: refused
    or dropped connections, timeouts, 502/503/504 from a proxy. Also, as its subclasses: a
    SQLite store locked by another writer beyond the busy timeout (:class:`StoreLocked`), a
    disk that refuses a run's files (full, read-only: :class:`StoreWriteFailed`). None for
    any other error."""
    for cause in _chain(exc):
        if isinstance(cause, TrackingUnavailable):
            return cause
    failed = write_failure(exc)
    if failed is not None:
        return StoreWriteFailed(refused_text(failed))
    for cause in _chain(exc):
        if _LOCKED.search(str(cause)):
            uri = uri or mlflow.get_tracking_uri()
            db = _sqlite_path(uri)
            ms = _busy_timeout_ms(str(db)) if db is not None else None
            waited = f" for {ms / 1000:g} s" if ms is not None else ""
            return StoreLocked(f"The MLflow store {database.masked(uri)} stayed locked by "
                               f"another writer{waited} (tracking.sqlite_busy_timeout_seconds)")
    for cause in _chain(exc):
        text = str(cause)
        if isinstance(cause, _OUTAGE_TYPES) or _GATEWAY_ERROR.search(text) \
                or _DATABASE_GONE.search(text):
            everything = " ".join(str(e) for e in _chain(exc))
            short = next((m.group(1) for pattern in _SHORT_REASONS
                          if (m := pattern.search(everything))),
                         text[:80] or type(cause).__name__)
            if short.isdigit():
                short = f"HTTP {short}"
            uri = uri or mlflow.get_tracking_uri()
            return TrackingUnavailable(f"The MLflow tracking server {database.masked(uri)} "
                                       f"stopped answering ({short.strip().lower()})")
    return None


def connect(tracking: TrackingSettings, *, create: bool = True, purpose: str = "") -> Store:
    """Open the store at ``tracking.uri`` and check it answers. A SQLite store waits up to
    ``tracking.sqlite_busy_timeout_seconds`` for another writer's lock.

    ``create=False`` (commands that only read, or change what must already exist: rollback,
    history, approve, reject) never creates a SQLite file: a missing one raises
    :class:`TrackingError` naming it (``purpose`` says what could not be done).
    Raises :class:`TrackingError` naming the URI when the server cannot be reached,
    :class:`StoreLocked` when the store stays locked beyond the busy timeout.
    """
    uri = tracking.uri
    if uri.startswith(("http://", "https://")) and urllib.parse.urlsplit(uri).username:
        raise ConfigError(
            f"tracking.uri {uri} carries credentials: give the server's address alone and "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) in the environment (a URI ends up in shell history, "
            "process lists and logs)")
    db = _sqlite_path(uri)
    if db is not None:
        if not create and not db.is_file():
            raise TrackingError(
                f"No MLflow store at {db.resolve()} (tracking.uri {uri})"
                + (f": nothing to {purpose}" if purpose else "")
                + ". Run from the folder that holds it, or pass --tracking-uri.")
        if db.parent and not db.parent.exists():
            db.parent.mkdir(parents=True, exist_ok=True)
        _BUSY_TIMEOUT_MS[str(db.resolve())] = int(tracking.sqlite_busy_timeout_seconds * 1000)
    if uri.startswith(("http://", "https://")):
        _probe_server(uri, tracking.request_timeout_seconds)
        _bound_http_calls(tracking.request_timeout_seconds)
    if database.database_kind(uri):  # PostgreSQL: the right driver, and the server answers
        uri = database.driver_uri(uri)
        database.probe(uri, tracking.request_timeout_seconds)
        if uri != tracking.uri:
            tracking = tracking.model_copy(update={"uri": uri})
    try:
        store = Store(tracking, MlflowClient(tracking_uri=uri, registry_uri=uri))
        store.client.search_experiments(max_results=1)
    except Exception as exc:  # any failure here means the store is unusable
        locked = tracking_outage(exc, uri)
        if isinstance(locked, StoreLocked):
            raise locked from exc
        from pipelines.store.auth import permission_refusal

        refused = permission_refusal(exc, tracking.registered_model_name)
        if refused is not None:  # 401: no or wrong credentials in the environment
            raise refused from exc
        raise TrackingError(f"MLflow tracking store {database.masked(uri)} cannot be used: "
                            f"{without_secrets(str(exc))}") from exc
    store.use()
    return store


class Store:
    """One tracking store (runs, registry, artifacts) and the settings it was opened with."""

    def __init__(self, tracking: TrackingSettings, client: MlflowClient) -> None:
        self.tracking = tracking
        self.client = client
        self._presented = False

    @property
    def uri(self) -> str:
        return self.tracking.uri

    def use(self) -> None:
        """Point MLflow's fluent API (model logging, registration, downloads) at this store."""
        if mlflow.get_tracking_uri() != self.uri:
            mlflow.set_tracking_uri(self.uri)
        if mlflow.get_registry_uri() != self.uri:
            mlflow.set_registry_uri(self.uri)

    # ------------------------------------------------------------------------- experiments

    def artifact_location(self) -> str | None:
        """Artifact root for new experiments: beside the SQLite file; ``tracking.artifact_root``
        (a folder relative to the working directory) on a database server's store; a URI root
        (``s3://bucket/prefix``) as it is on any store but a tracking server (which keeps its
        own ``--artifacts-destination``); the tracking server's otherwise."""
        root_uri = self.tracking.artifact_root.strip()
        if "://" in root_uri and not self.uri.startswith(("http://", "https://")):
            return root_uri.rstrip("/")
        db = _sqlite_path(self.uri)
        if db is None:
            if database.database_kind(self.uri):
                return database.artifact_root_uri(self.tracking.artifact_root)
            return None
        root = Path(self.tracking.artifact_root)
        if not root.is_absolute():
            root = db.resolve().parent / root
        return root.resolve().as_uri()

    def experiment_id(self, name: str, *, create: bool = True) -> str | None:
        """The id of experiment ``name``; created (artifacts beside the DB) when missing and
        ``create``, else None. A family experiment opened with ``create`` gets what a reviewer
        meets first when missing (an older version's, or one ``mlflow run`` made): its kind
        tag and its description (see :mod:`pipelines.store.landing`)."""
        if create and not self._presented:
            self._presented = True
            self.present_family()  # once per store: an older store's other experiments too
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted" and create:
                self.client.restore_experiment(exp.experiment_id)
            if create:
                self._present(exp.experiment_id, name, exp.tags)
            return exp.experiment_id
        if not create:
            return None
        try:
            experiment_id = self.client.create_experiment(
                name, artifact_location=self.artifact_location(),
                tags={contract.TAG_EXPERIMENT_KIND: contract.EXPERIMENT_KIND})
        except MlflowException:
            exp = self.client.get_experiment_by_name(name)  # created by another process
            if exp is None:
                raise
            return exp.experiment_id
        self._present(experiment_id, name, {contract.TAG_EXPERIMENT_KIND: contract.EXPERIMENT_KIND})
        return experiment_id

    def _present(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> None:
        """Set the kind tag and the family description when missing or the project's own
        older text; a description a person wrote is left alone."""
        if contract.TAG_EXPERIMENT_KIND not in tags:
            self.client.set_experiment_tag(experiment_id, contract.TAG_EXPERIMENT_KIND,
                                           contract.EXPERIMENT_KIND)
        wanted = landing.experiment_description(self.tracking, name, experiment_id)
        if wanted is not None and landing.description_update(tags.get(contract.TAG_DESCRIPTION),
                                                              wanted):
            self.client.set_experiment_tag(experiment_id, contract.TAG_DESCRIPTION, wanted)

    def present_family(self) -> None:
        """Give the family's existing experiments their kind tag and description (a store
        written by an older version gets them at its next command); creates none."""
        t = self.tracking
        for name in (t.pipeline_experiment, t.monitoring_experiment, t.retraining_experiment,
                     t.audit_experiment):
            exp = self.client.get_experiment_by_name(name)
            if exp is not None and exp.lifecycle_stage == "active":
                self._present(exp.experiment_id, name, exp.tags)

    def experiment_name(self, ident: str) -> str:
        """An experiment name from an id or a name (names are created on first use)."""
        if not ident.isdigit():
            return ident
        try:
            return self.client.get_experiment(ident).name
        except MlflowException as exc:
            raise TrackingError(f"No experiment with id {ident} in {self.uri}.") from exc

    # ------------------------------------------------------------------------- runs

    @contextmanager
    def start_run(self, experiment: str, *, run_name: str | None = None,
                  tags: Mapping[str, str] | None = None, nested: bool = False) -> Iterator[Run]:
        """Start (or, inside ``mlflow run``, resume) a run. A failure marks the run FAILED.

        Inside ``mlflow run`` the first run is the project's, handed over through
        ``MLFLOW_RUN_ID`` in the experiment given to ``mlflow run --experiment-name``.
        """
        self.use()
        tags = redact_mapping(tags or {})
        if nested:
            parent = mlflow.active_run()
            if parent is None:
                raise TrackingError("a nested run needs an active parent run")
            # in the parent's experiment: start_run(nested=True) alone would use the default
            with mlflow.start_run(run_name=run_name, nested=True, tags=tags,
                                  experiment_id=parent.info.experiment_id) as run:
                with self._failing(run):
                    yield run
            return
        if os.environ.get("MLFLOW_RUN_ID") and mlflow.active_run() is None:
            # The run ``mlflow run`` handed over is this process's first run. start_run()
            # without run_id reads MLFLOW_RUN_ID, so it is claimed once: nested runs become
            # its children, and later runs (an orchestrator's retraining) are runs of their own.
            handed_over = os.environ.pop("MLFLOW_RUN_ID")
            with mlflow.start_run(run_id=handed_over) as run:
                named = {contract.TAG_RUN_NAME: run_name} if run_name else {}  # the verdict's name
                if tags or named:
                    mlflow.set_tags({**tags, **named})
                with self._failing(run):
                    yield run
            return
        with mlflow.start_run(experiment_id=self.experiment_id(experiment), run_name=run_name,
                              tags=tags) as run, self._failing(run):
            yield run

    @contextmanager
    def _failing(self, run: Run) -> Iterator[None]:
        """A run left by an exception (or a signal) says so before MLflow marks it FAILED:
        ``failure.reason``, the name ``<bNNNN> FAILED <short reason>``, a monitoring run's
        partial artifacts removed (:meth:`mark_failed`). Best effort, and skipped when the
        store itself is unreachable."""
        try:
            yield
        except BaseException as exc:
            failed = write_failure(exc)
            if failed is not None:  # a disk refused a file: say which, then clean up
                where = failed.filename or _local_path(run.info.artifact_uri)
                refused = StoreWriteFailed(f"{refused_text(failed, where)}; run "
                                           f"{run.info.run_id} marked FAILED")
                self.mark_failed(run.info.run_id, WRITE_ERRORS[failed.errno], str(refused),
                                 name=run.info.run_name)
                raise refused from exc
            if not isinstance(exc, GeneratorExit) and tracking_outage(exc, self.uri) is None:
                short, full = failure_reason(exc)
                self.mark_failed(run.info.run_id, short, full, name=run.info.run_name)
            raise

    def active_run_id(self) -> str:
        run = mlflow.active_run()
        if run is None:
            raise TrackingError("no active run to log to")
        return run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log ``params`` to the active run. ``mlflow run`` logs the entry point's declared
        parameters before the step starts and MLflow refuses to change a param: a key the run
        already has is left out when equal, and logged as ``resolved.<key>`` when the step
        resolved it to another value (an empty default replaced by the configuration)."""
        self.use()
        have = self.client.get_run(self.active_run_id()).data.params
        fresh: dict[str, Any] = {}
        for key, value in params.items():
            if key not in have:
                fresh[key] = value
            elif have[key] != without_secrets(str(value)):
                fresh[f"resolved.{key}"] = value
        if fresh:
            mlflow.log_params(redact_mapping(fresh))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Finite values only, in as few calls as MLflow allows."""
        finite = {k: float(v) for k, v in metrics.items()
                  if v is not None and np.isfinite(float(v))}
        if finite:
            self.use()
            mlflow.log_metrics(finite, step=step)

    def log_metrics_to(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        """Metrics onto ``run_id`` (which may be finished: late labels), one batched call."""
        now = int(time.time() * 1000)
        entries = [Metric(k, float(v), now, step) for k, v in metrics.items()
                   if v is not None and np.isfinite(float(v))]
        for start in range(0, len(entries), 1000):  # MLflow's limit per batch
            self.client.log_batch(run_id, metrics=entries[start:start + 1000])

    def log_parquet_to(self, run_id: str, frame: pd.DataFrame, artifact_file: str) -> None:
        """A table as Parquet into ``run_id``'s artifacts (replacing one of the same name)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            frame.to_parquet(path, index=False)
            parent = str(Path(artifact_file).parent)
            self.client.log_artifact(run_id, str(path), None if parent == "." else parent)

    def log_text_to(self, run_id: str, data: Any, artifact_file: str) -> None:
        """A JSON document into ``run_id``'s artifacts (a client call; the run may be finished)."""
        self.client.log_text(run_id, json_text(data), artifact_file)

    def set_tags(self, tags: Mapping[str, Any], run_id: str | None = None) -> None:
        """Tags on the active run, or on ``run_id`` (which may be finished)."""
        text = redact_mapping(tags)
        if run_id is None:
            self.use()
            mlflow.set_tags(text)
            return
        for key, value in text.items():
            self.client.set_tag(run_id, key, value)

    def append_description(self, run_id: str, markdown: str) -> None:
        """Add a paragraph to a run's description (the Markdown its page shows)."""
        current = self.client.get_run(run_id).data.tags.get(contract.TAG_DESCRIPTION, "")
        text = f"{current}\n\n{markdown}" if current else markdown
        self.client.set_tag(run_id, contract.TAG_DESCRIPTION, text[:contract.DESCRIPTION_LIMIT])

    def log_text(self, text: str, artifact_file: str) -> None:
        self.use()
        mlflow.log_text(text, artifact_file)

    def log_json(self, data: Any, artifact_file: str) -> None:
        self.log_text(json_text(data), artifact_file)

    def log_table(self, frame: pd.DataFrame, artifact_file: str) -> None:
        self.use()
        mlflow.log_table(data=frame, artifact_file=artifact_file)

    def log_artifact(self, run_id: str, path: Path, artifact_dir: str | None = None) -> None:
        """A local file into ``run_id``'s artifacts (a client call: safe from any thread)."""
        self.client.log_artifact(run_id, str(path), artifact_dir)

    def log_artifacts(self, folder: Path, artifact_dir: str) -> None:
        self.use()
        mlflow.log_artifacts(str(folder), artifact_path=artifact_dir)

    def fail_run(self, run_id: str, reason: str) -> None:
        """Mark a run a dead cycle abandoned FAILED (a client call): the reason as a tag, the
        name ``<bNNNN> FAILED abandoned``, a monitoring run's partial artifacts removed."""
        self.mark_failed(run_id, "abandoned", reason)
        self.client.set_terminated(run_id, status="FAILED")

    def mark_failed(self, run_id: str, short: str, reason: str, *,
                    name: str | None = None) -> None:
        """Tag and rename a run that failed (its status is set by the caller): a failed run
        must not look like a verdict. A monitoring run's partial artifacts are removed (its
        batch is monitored again); a retraining run keeps its own, which explain a promotion
        that recovery may still complete. Best effort: each step that fails is logged, the
        others still run."""
        monitoring, artifact_uri = True, None
        try:
            run = self.client.get_run(run_id)
            artifact_uri = run.info.artifact_uri
            name = name or run.info.run_name
            monitoring = run.data.tags.get(contract.TAG_STEP) == contract.STEP_MONITOR
            head = (name or "").split(" ", 1)[0]
            failed_name = f"{head} FAILED {short}" if head else f"FAILED {short}"
            self.client.set_tag(run_id, contract.TAG_FAILURE_REASON,
                                without_secrets(reason)[:contract.TAG_LIMIT])
            self.client.set_tag(run_id, contract.TAG_RUN_NAME, failed_name[:250])
        except Exception as exc:  # noqa: BLE001 (the run's status still gets set)
            logger.warning("Could not record why run %s failed: %s", run_id,
                           tracking_outage(exc, self.uri) or exc)
        if monitoring:
            self.remove_artifacts(run_id, artifact_uri)

    def remove_artifacts(self, run_id: str, artifact_uri: str | None = None) -> None:
        """Remove a failed run's artifacts (through MLflow's artifact repository: local
        folders, and the stores whose repository can delete). Where it cannot, they are
        left and a warning says so."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            uri = artifact_uri or self.client.get_run(run_id).info.artifact_uri
            repo = get_artifact_repository(uri)
            if not repo.list_artifacts():
                return
            repo.delete_artifacts()
        except NotImplementedError:
            logger.warning("Run %s failed; its artifact store cannot delete, its partial "
                           "artifacts are left", run_id)
        except Exception as exc:  # noqa: BLE001 (best effort: the run is FAILED anyway)
            logger.warning("Run %s failed; its partial artifacts could not be removed: %s",
                           run_id, tracking_outage(exc, self.uri) or exc)

    def download(self, run_id: str, artifact_path: str, dst: str | Path | None = None) -> Path:
        """One artifact of ``run_id`` as a local path. Raises :class:`TrackingError`."""
        self.use()
        try:
            return Path(mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=str(dst) if dst else None))
        except (MlflowException, OSError) as exc:
            raise TrackingError(f"Run {run_id} has no artifact {artifact_path}: {exc}") from exc

    def read_parquet_artifact(self, run_id: str, artifact_path: str) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as tmp:
            return pd.read_parquet(self.download(run_id, artifact_path, tmp))

    # ------------------------------------------------------------------------- data sets

    def log_dataset(self, frame: pd.DataFrame, source: str, name: str, target: str | None,
                    *, context: str) -> None:
        """Record ``frame`` as an input of the active run (digest, schema, row count).

        The schema is inferred from the first :data:`DATASET_SCHEMA_ROWS` rows and the digest
        hashes the first :data:`DATASET_DIGEST_ROWS`: MLflow's own inference and digest visit
        every cell in Python and dominated a 1M-row monitoring cycle.
        """
        from mlflow.data.pandas_dataset import PandasDataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # int-column / source-ambiguity hints
            dataset = mlflow.data.from_pandas(frame, source=_dataset_source(source), name=name,
                                              targets=target, digest=_dataset_digest(frame))
            sample = PandasDataset(frame.head(DATASET_SCHEMA_ROWS), source=dataset.source,
                                   name=name, targets=target, digest=dataset.digest)
            dataset.__dict__["schema"] = sample.schema  # fills MLflow's cached property
            self.use()
            mlflow.log_input(dataset, context=context)


def _local_path(uri: str) -> str:
    """A ``file://`` URI as its path; any other URI as it is."""
    return urllib.parse.unquote(urllib.parse.urlparse(uri).path) if uri.startswith("file:") \
        else uri


def _dataset_source(source: str) -> Any:
    """The file's resolved path when ``source`` is a file, else a code source carrying the
    description (generator call, in-memory frame)."""
    try:
        is_file = Path(source).is_file()
    except OSError:  # a description longer than a file name may be
        is_file = False
    if is_file:
        return str(Path(source).resolve())
    from mlflow.data.code_dataset_source import CodeDatasetSource

    return CodeDatasetSource(tags={"source": source})


def _dataset_digest(frame: pd.DataFrame) -> str:
    """What MLflow's pandas digest means to hash (the first rows, the length, the columns),
    without its pass over every cell of the whole frame (a minute at 1M rows)."""
    h = hashlib.md5(usedforsecurity=False)
    h.update(pd.util.hash_pandas_object(frame.head(DATASET_DIGEST_ROWS), index=False).values)
    h.update(np.int64(len(frame)).tobytes())
    for column in frame.columns:
        h.update(str(column).encode())
    return h.hexdigest()[:8]
