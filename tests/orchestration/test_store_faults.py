"""The store under real faults: commands that must not create a store, and a SQLite store
locked by another process (a second process holding SQLite's write or exclusive lock)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from pipelines import approve, history, reject, rollback
from pipelines.cli import run_cli
from pipelines.data.generator import generate_batch
from pipelines.store import connect
from pipelines.store import contract as c
from tests.conftest import PASSTHROUGH_ENV

Main = Callable[[Sequence[str] | None], int]


@pytest.mark.parametrize("main", [rollback.main, history.main, approve.main, reject.main],
                         ids=["rollback", "history", "approve", "reject"])
def test_commands_that_need_a_store_never_create_one(
        main: Main, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Before: `rollback` in an empty folder created an empty mlflow.db (and went on to say
    there was no champion). Now one line naming the missing file, exit 2, no file."""
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(main, ["--tracking-uri", "sqlite:///mlflow.db"])  # the default
    assert code == 2
    assert list(tmp_path.iterdir()) == []  # no mlflow.db, no mlruns, nothing
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert f"No MLflow store at {tmp_path / 'mlflow.db'}" in errors[0]


def test_a_missing_store_named_by_uri_is_not_created(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "elsewhere" / "mlflow.db"
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(rollback.main, ["--tracking-uri", f"sqlite:///{db}"])
    assert code == 2
    assert not db.parent.exists()
    assert "nothing to roll back" in caplog.text


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    from pathlib import Path
    db, mode, seconds, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute(f"BEGIN {mode}")
    if mode == "IMMEDIATE":  # a writer in the middle of its transaction
        connection.execute("CREATE TABLE IF NOT EXISTS other_writer (x)")
    ready.touch()
    time.sleep(seconds)
    connection.execute("ROLLBACK")
""")


@contextmanager
def _locked(db: Path, mode: str, seconds: float, tmp_path: Path) -> Iterator[None]:
    """Another process holds SQLite's ``mode`` lock (EXCLUSIVE: nobody reads or writes;
    IMMEDIATE: readers go on, writers wait) on ``db`` for ``seconds``."""
    ready = tmp_path / f"locked-{mode}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), mode, str(seconds),
                               str(ready)], stderr=subprocess.PIPE, text=True)
    try:
        give_up = time.monotonic() + 120  # a guard against a hang, not a speed check
        while not ready.exists():
            assert holder.poll() is None, holder.communicate()
            if time.monotonic() > give_up:
                pytest.fail("the process meant to hold the SQLite lock never took it")
            time.sleep(0.02)
        yield
    finally:
        holder.kill()
        holder.wait(timeout=30)


def _command(module: str, settings, *args: str, busy: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"pipelines.{module}", *args,
         "--tracking-uri", settings.tracking.uri,
         "--set", f"paths.output_dir={settings.paths.output_dir}",
         "--set", f"paths.inbox_dir={settings.paths.inbox_dir}",
         "--set", f"tracking.sqlite_busy_timeout_seconds={busy}"],
        capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV})


def _db(settings) -> Path:
    return Path(settings.tracking.uri.removeprefix("sqlite:///"))


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_store_locked_exclusively_waits_the_busy_timeout_then_says_so(
        trained_store, tmp_path: Path) -> None:
    """Before: the failure came inside connect() with an 86-line traceback (and, locked for
    longer, a 180-line SQLAlchemy traceback after ~20 s). Now: the configured wait, then one
    line and exit code 1; a lock released within the wait is simply waited for."""
    settings, _ = trained_store
    with _locked(_db(settings), "EXCLUSIVE", 60, tmp_path):
        locked = _command("history", settings, busy=1)
    assert locked.returncode == 1, locked.stderr
    assert "Traceback" not in locked.stderr
    lines = [line for line in locked.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, locked.stderr
    assert "stayed locked by another writer for 1 s" in lines[0]
    assert "tracking.sqlite_busy_timeout_seconds" in lines[0]

    with _locked(_db(settings), "EXCLUSIVE", 3, tmp_path):
        waited = _command("history", settings, busy=60)
    assert waited.returncode == 0, waited.stderr
    assert "Traceback" not in waited.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_writer_holding_the_store_mid_cycle_keeps_the_batch(trained_store,
                                                              tmp_path: Path) -> None:
    """Another writer holds SQLite's write lock while a cycle runs: reading works, the first
    write waits the busy timeout, then one line, exit 1, the batch back in the inbox; once the
    writer is gone the next cycle monitors it once."""
    settings, _ = trained_store
    inbox = settings.paths.inbox
    inbox.mkdir(parents=True)
    generate_batch("no_drift", 800, 5, start_time=pd.Timestamp("2026-02-01")).to_parquet(
        inbox / "b1.parquet")
    with _locked(_db(settings), "IMMEDIATE", 120, tmp_path):
        locked = _command("run_monitoring", settings, "--source", "inbox", busy=1)
    assert locked.returncode == 1, locked.stderr
    assert "Traceback" not in locked.stderr
    errors = [line for line in locked.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, locked.stderr
    assert "stayed locked by another writer for 1 s" in errors[0]
    assert (inbox / "b1.parquet").exists()

    again = _command("run_monitoring", settings, "--source", "inbox", busy=30)
    assert again.returncode == 0, again.stderr
    assert not (inbox / "b1.parquet").exists()
    store = connect(settings.tracking)
    experiment = store.experiment_id(settings.tracking.monitoring_experiment, create=False)
    runs = store.client.search_runs([experiment], f"tags.`{c.TAG_STEP}` = '{c.STEP_MONITOR}'")
    assert [r.info.status for r in runs] == ["FINISHED"]


def test_the_busy_timeout_is_applied_to_the_store(trained_store) -> None:
    settings, _ = trained_store
    store = connect(settings.tracking.model_copy(update={"sqlite_busy_timeout_seconds": 2.5}))
    engine = store.client._tracking_client.store.engine  # the SQLAlchemy engine MLflow made
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500


def test_a_run_that_fails_says_so_in_its_name_and_keeps_no_artifacts(settings) -> None:
    """Before: a FAILED run kept its verdict's name ("b0003 OK auc 0.86 stable"), had no
    failure.reason and kept the artifacts written before the failure."""
    store = connect(settings.tracking)
    opened = []

    def fail_mid_run() -> None:
        with store.start_run("faults", run_name="b0003 OK auc 0.86 stable",
                             tags={c.TAG_STEP: c.STEP_MONITOR}) as run:
            opened.append(run)
            store.log_text("{}", "monitoring_report.json")
            raise ValueError("scores out of range")

    with pytest.raises(ValueError, match="scores out of range"):
        fail_mid_run()
    (run,) = opened
    failed = store.client.get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.info.run_name == "b0003 FAILED ValueError"
    assert failed.data.tags[c.TAG_FAILURE_REASON] == "ValueError: scores out of range"
    assert store.client.list_artifacts(run.info.run_id) == []


def test_an_abandoned_run_is_renamed_and_cleaned(settings) -> None:
    """A run a dead cycle left RUNNING, failed by the next cycle (fail_run)."""
    store = connect(settings.tracking)
    experiment = store.experiment_id("faults")
    run = store.client.create_run(experiment, run_name="b0004 CRITICAL auc 0.61 drift",
                                  tags={c.TAG_STEP: c.STEP_MONITOR})
    store.client.log_text(run.info.run_id, "{}", "monitoring_report.json")
    store.fail_run(run.info.run_id, "abandoned: the cycle holding lock.3 died")
    failed = store.client.get_run(run.info.run_id)
    assert failed.info.status == "FAILED"
    assert failed.info.run_name == "b0004 FAILED abandoned"
    assert failed.data.tags[c.TAG_FAILURE_REASON] == "abandoned: the cycle holding lock.3 died"
    assert store.client.list_artifacts(run.info.run_id) == []
