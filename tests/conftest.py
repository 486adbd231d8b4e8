"""Shared fixtures: every test runs in its own temporary folder against its own store.

- Each test starts in its own ``tmp_path`` with no CHURNMON_* / MLFLOW_* variables, and
  MLflow's process-wide tracking and registry URIs pointed at a store inside that folder; both
  are restored afterwards, so nothing leaks between tests or into ``./mlruns``.
- Stores are never built twice: an empty migrated SQLite file is made once per session and
  copied for every new store; a trained store (one baseline) is made once per session and
  copied, artifacts included, for every test that uses it (:func:`copy_store`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pytest

from pipelines.config import Settings, load_settings

pytest_plugins = ("tests.postgres_cluster",)  # the PostgreSQL fixtures (pg_cluster, pg_store...)

#: Small, fast training settings for tests (the product defaults are larger).
FAST_TRAINING: dict[str, Any] = {
    "data.demo_rows": 3000,
    "training.rf_n_estimators": 30,
    "training.rf_max_depth": 8,
    "training.xgb_n_estimators": 60,
}
_EMPTY_DB: list[Path] = []  # the session's empty migrated store, once made


def _passthrough() -> dict[str, str]:
    """PYTHONPATH (absolute), if the tests run from a source tree without an installed
    package: subprocesses started by tests need it."""
    if "PYTHONPATH" not in os.environ:
        return {}
    parts = [str(Path(p).resolve()) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}


PASSTHROUGH_ENV = _passthrough()  # at import, before the autouse fixture changes directory


@pytest.fixture(scope="session", autouse=True)
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite database, made once per session: creating the
    schema takes seconds, copying the file milliseconds."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    cwd = Path.cwd()
    os.chdir(path.parent)  # MLflow's Default experiment points at ./mlruns: keep it in here
    try:
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments(max_results=1)
    finally:
        os.chdir(cwd)
    _EMPTY_DB[:] = [path]
    return path


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("CHURNMON_", "MLFLOW_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    tracking, registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    own = f"sqlite:///{tmp_path / 'fluent-default.db'}"  # created only if something uses it
    mlflow.set_tracking_uri(own)
    mlflow.set_registry_uri(own)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run("FAILED")
    for var in [v for v in os.environ if v.startswith(("CHURNMON_", "MLFLOW_"))]:
        monkeypatch.delenv(var)  # set by the code under test (HTTP limits): not for the next
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)


def make_settings(root: Path, **overrides: Any) -> Settings:
    """Settings on the store ``root/mlflow.db`` (a copy of the empty template when new), with
    reports under ``root/monitoring`` and tiny models; ``overrides`` (dotted keys) on top."""
    db = root / "mlflow.db"
    if _EMPTY_DB and not db.exists():
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_EMPTY_DB[0], db)
    values: dict[str, Any] = {
        "tracking.uri": f"sqlite:///{db}",
        "paths.output_dir": str(root / "monitoring"),
        "paths.inbox_dir": str(root / "monitoring" / "inbox"),
        **FAST_TRAINING,
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_settings(env={}, overrides=values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 (port fixed for its life, so it can be killed and
    started again at the same URI) in front of the SQLite file ``db``, artifacts under
    ``folder``; or in front of ``backend`` (a database URI), artifacts in ``artifacts`` (a
    folder or ``s3://``), with more ``args`` (``--app-name basic-auth``) and its own ``env``
    (default: this process's). Its output goes to ``folder/server.log``."""

    def __init__(self, folder: Path, db: Path | None = None, *, backend: str | None = None,
                 artifacts: str | None = None, args: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.db = folder, db or folder / "server.db"
        self.backend = backend or f"sqlite:///{self.db}"
        self.artifacts = artifacts or str(folder / "artifacts")
        self.args, self.env = tuple(args), env
        self.log = folder / "server.log"
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> str:
        """Start it; returns its URI once it answers /health."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                 "--port", str(self.port), "--backend-store-uri", self.backend,
                 "--artifacts-destination", self.artifacts, "--workers", "1", *self.args],
                cwd=self.folder, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return self.uri
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    pytest.fail("mlflow server did not start:\n"
                                + self.log.read_text(errors="replace")[-3000:])
                time.sleep(0.5)

    def kill(self) -> None:
        """`kill -9` the server and its workers (the whole process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def mlflow_server(folder: Path, db: Path | None = None, **options: Any) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 in front of its own SQLite file under ``folder``
    (or ``db``; ``options`` as :class:`MlflowServer`'s); yields its URI once it answers
    /health, stops it afterwards."""
    server = MlflowServer(folder, db, **options)
    try:
        yield server.start()
    finally:
        server.stop()


def copy_store(template: Path, root: Path) -> None:
    """Copy a store folder (``mlflow.db`` and its artifacts) to ``root``, rewriting every
    absolute path the database holds (artifact locations, model sources) to the copy's, so
    the copy reads and writes only its own files."""
    shutil.copytree(template, root)
    old, new = str(template.resolve()), str(root.resolve())
    with sqlite3.connect(root / "mlflow.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                name, kind = column[1], (column[2] or "").upper()
                if "CHAR" in kind or "TEXT" in kind:
                    db.execute(f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                               f'WHERE "{name}" LIKE ?', (old, new, f"%{old}%"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory,
                      _empty_store: Path) -> tuple[Path, Any]:
    """One baseline trained once per session into a template store."""
    from pipelines.workflows.baseline import train_baseline

    root = tmp_path_factory.mktemp("trained-template") / "store"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(make_settings(root))
    return root, result


@pytest.fixture
def trained_store(tmp_path: Path, trained_template: tuple[Path, Any]) -> tuple[Settings, Any]:
    """A store of its own with one trained baseline (a copy of the session's template), and
    the baseline's result."""
    template, result = trained_template
    copy_store(template, tmp_path / "store")
    return make_settings(tmp_path / "store"), result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that run the product in other processes first: under ``pytest -n 2 --dist
    loadfile`` (make test) their files start first and the other worker runs the many short
    tests meanwhile, instead of one long file finishing alone at the end."""
    items.sort(key=lambda item: not (item.get_closest_marker("subprocess")
                                     or item.get_closest_marker("server")))
