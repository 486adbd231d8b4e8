"""Fixtures of the PostgreSQL suite: one throw-away cluster per test session (per pytest-xdist
worker), an empty MLflow schema and a trained baseline made once in it as template databases,
and a database of its own per test (``CREATE DATABASE ... TEMPLATE``: a fraction of a second).

Every test here skips, saying why, where PostgreSQL's binaries or the psycopg driver are
missing; ``.ci/run`` installs Debian's ``postgresql`` so CI runs them.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from tests.conftest import free_port, make_settings
from tests.postgres_cluster import PostgresCluster, missing_reason, running_cluster

EMPTY, TRAINED = "mlflow_empty", "mlflow_trained"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
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
