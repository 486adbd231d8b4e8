"""A throw-away PostgreSQL cluster for the tests, and its fixtures (a pytest plugin loaded
by tests/conftest.py, so any test file may ask for them): ``initdb`` into a temporary folder,
``pg_ctl`` on a free port of 127.0.0.1 (password authentication, no Unix socket outside the
folder), removed afterwards. The binaries are Debian's ``postgresql`` package
(``/usr/lib/postgresql/<ver>/bin``, installed by ``.ci/run``); where they are missing the tests
that need them skip saying so.

Run as root, ``initdb`` refuses to start: the cluster then runs as the ``postgres`` system user
(which Debian's package creates), its folder owned by that user.

Fixtures: ``pg_cluster`` (one cluster per session and pytest-xdist worker), ``pg_empty`` and
``pg_trained`` (template databases made once: MLflow's empty schema; a trained baseline),
``pg_database`` (a URI: a fresh empty store of its own per test) and ``pg_store`` (settings on a
copy of the trained template: ``CREATE DATABASE ... TEMPLATE`` takes a fraction of a second).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings

EMPTY, TRAINED = "mlflow_empty", "mlflow_trained"
_numbers = itertools.count(1)
USER = "churnmon"
PASSWORD = "pg-secret-7f3a"  # the tests grep for it: it must never show in anything written
#: Speed over durability: the cluster is thrown away after the session.
FAST = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200 -c shared_buffers=64MB")


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<ver>/bin`` holding initdb and pg_ctl (or the folder
    named by ``CHURNMON_TEST_PG_BIN``), else None."""
    given = os.environ.get("CHURNMON_TEST_PG_BIN")
    candidates = [given] if given else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    for folder in candidates:
        if folder and all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(folder)
    return None


def missing_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    if binaries() is None:
        return ("PostgreSQL's binaries are not installed (no /usr/lib/postgresql/<ver>/bin/"
                "initdb): apt-get install postgresql, as .ci/run does")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' system user to run initdb as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed: pip install -e '.[postgres]'"
    return None


class PostgresCluster:
    """One running cluster; :meth:`uri` gives MLflow's SQLAlchemy URI of a database in it."""

    def __init__(self, port: int) -> None:
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError(missing_reason() or "no PostgreSQL binaries")
        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="churnmon-pg-"))
        self.data = self.folder / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            self._as = ["runuser", "-u", "postgres", "--"]
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.folder.chmod(0o700)

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}\n{done.stderr}")

    def start(self) -> None:
        pwfile = self.folder / "pw"
        pwfile.write_text(PASSWORD)
        if self._as:
            shutil.chown(pwfile, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER,
                  "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                  "--locale=C")
        pwfile.unlink()
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories='{self.folder}' {FAST}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.folder / "log"), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def uri(self, database: str, *, password: str = PASSWORD) -> str:
        return (f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}")

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement, outside a transaction (CREATE / DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                             dbname=database, autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template``: milliseconds); returns its URI."""
        if template:
            self.disconnect(template)  # a template must have no open connections
        self.execute(f'CREATE DATABASE "{name}"'
                     + (f' TEMPLATE "{template}"' if template else ""))
        return self.uri(name)

    def disconnect(self, database: str) -> None:
        """End every connection to ``database`` (MLflow's pooled ones included)."""
        self.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     f"WHERE datname = '{database}' AND pid <> pg_backend_pid()")


def running_cluster(free_port: Callable[[], int]) -> Iterator[PostgresCluster]:
    """Start a cluster, yield it, stop and remove it."""
    cluster = PostgresCluster(free_port())
    try:
        cluster.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                cluster.execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield cluster
    finally:
        cluster.stop()


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    from tests.conftest import free_port

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    yield from running_cluster(free_port)


@pytest.fixture(scope="session")
def pg_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact folder of the session's template databases (their experiments point
    here; each test's runs get folders of their own under it)."""
    return tmp_path_factory.mktemp("pg-artifacts")


@pytest.fixture(scope="session")
def pg_empty(pg_cluster: PostgresCluster, pg_artifacts: Path) -> str:
    """The name of a database holding MLflow's empty, fully migrated schema."""
    from mlflow.tracking import MlflowClient

    uri = pg_cluster.create_database(EMPTY)
    cwd = Path.cwd()
    os.chdir(pg_artifacts)  # MLflow's Default experiment points at ./mlruns: keep it in here
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    finally:
        os.chdir(cwd)
    return EMPTY


def pg_settings(uri: str, root: Path, artifacts: Path, **overrides: Any) -> Settings:
    """The tests' settings (tiny models, reports under ``root``) on the PostgreSQL store
    ``uri``, artifacts under ``artifacts``."""
    from tests.conftest import make_settings

    root.mkdir(parents=True, exist_ok=True)
    return make_settings(root, **{"tracking.uri": uri, "tracking.artifact_root": str(artifacts),
                                  **overrides})


@pytest.fixture(scope="session")
def pg_trained(pg_cluster: PostgresCluster, pg_empty: str, pg_artifacts: Path) -> tuple[str, Any]:
    """A baseline trained once per session into a template database: (its name, the result)."""
    from pipelines.workflows.baseline import train_baseline

    uri = pg_cluster.create_database(TRAINED, template=pg_empty)
    root = Path(tempfile.mkdtemp(prefix="pg-trained-", dir=pg_artifacts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(pg_settings(uri, root, pg_artifacts))
    return TRAINED, result


def new_database(cluster: PostgresCluster, template: str) -> str:
    """A fresh database copied from ``template``; its URI."""
    return cluster.create_database(f"t{os.getpid()}_{next(_numbers)}", template=template)


@pytest.fixture
def pg_store(pg_cluster: PostgresCluster, pg_trained: tuple[str, Any], pg_artifacts: Path,
             tmp_path: Path) -> tuple[Settings, Any]:
    """Settings on a PostgreSQL database of its own holding the session's trained baseline,
    and the baseline's result."""
    name, result = pg_trained
    uri = new_database(pg_cluster, name)
    return pg_settings(uri, tmp_path / "store", pg_artifacts), result


@pytest.fixture
def pg_database(pg_cluster: PostgresCluster, pg_empty: str) -> str:
    """The URI of a fresh PostgreSQL store of its own (MLflow's empty schema)."""
    return new_database(pg_cluster, pg_empty)
