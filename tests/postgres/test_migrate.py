"""Moving a SQLite store to PostgreSQL (scripts/sqlite_to_postgres.py): the session's trained
SQLite store is copied into a new, empty PostgreSQL database, its artifact folder moved too
(``--artifacts OLD NEW``; the old folder is gone afterwards); the product then reads the
champion, the runs and the audit trail from PostgreSQL and monitors a batch there with the
champion from the new folder (new ids continue after the copied ones). A second copy into the
same database is refused."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from pipelines import churnmon
from pipelines.cli import run_cli
from pipelines.data.batch import Batch
from pipelines.data.generator import generate_batch
from pipelines.store import alias_version, connect
from pipelines.store.audit import history
from pipelines.workflows.monitor import Monitor
from tests.postgres_cluster import PASSWORD, pg_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("sqlite_to_postgres",
                                                  ROOT / "scripts" / "sqlite_to_postgres.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_trained_sqlite_store_moves_to_postgresql(
        trained_store, pg_cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    sqlite_settings, baseline = trained_store
    before = connect(sqlite_settings.tracking)
    runs_before = {r.info.run_id for r in before.client.search_runs(
        [e.experiment_id for e in before.client.search_experiments()])}
    pg_cluster.execute('CREATE DATABASE "moved"')
    target = pg_cluster.uri("moved")
    no_password = target.replace(f":{PASSWORD}@", "@")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    caplog.set_level(logging.INFO)

    old = Path(sqlite_settings.tracking.uri.removeprefix("sqlite:///")).parent / "mlartifacts"
    new = tmp_path / "moved-artifacts"
    shutil.copytree(old, new)

    script = _script()
    assert script.main(["--source", sqlite_settings.tracking.uri, "--target", no_password,
                        "--artifacts", str(old), str(new)]) == 0
    shutil.move(old, tmp_path / "old-artifacts-out-of-the-way")
    assert "rows copied" in caplog.text
    assert PASSWORD not in caplog.text

    settings = pg_settings(target, tmp_path / "pg", tmp_path / "pg-artifacts")
    store = connect(settings.tracking)
    assert str(alias_version(store, "champion").version) == "1"
    runs_after = {r.info.run_id for r in store.client.search_runs(
        [e.experiment_id for e in store.client.search_experiments()])}
    assert runs_after == runs_before
    assert [e["action"] for e in history(store)] == ["baseline"]
    assert store.client.get_run(baseline.run_id).data.metrics == \
        before.client.get_run(baseline.run_id).data.metrics

    # the product goes on in PostgreSQL: the champion (its files beside the SQLite store)
    # scores a batch, whose run lands in a new experiment with the next id
    frame = generate_batch("no_drift", 500, 3, start_time=pd.Timestamp("2026-05-01"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = Monitor(settings, store=store).run(Batch(frame, "after-move", "test"))
    run = store.client.get_run(outcome.run_id)
    assert store.client.get_run(baseline.run_id).info.artifact_uri.startswith(new.as_uri())
    ids = [int(e.experiment_id) for e in store.client.search_experiments()]
    assert int(run.info.experiment_id) == max(ids)
    assert len(ids) == len(set(ids))

    caplog.clear()
    # churnmon's subcommand is the same step: a target that holds data is one line, exit 2
    assert run_cli(churnmon.main, ["migrate-store", "--source", sqlite_settings.tracking.uri,
                                   "--target", target]) == 2
    assert "already holds runs" in caplog.text
    assert PASSWORD not in caplog.text
