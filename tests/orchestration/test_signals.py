"""SIGTERM / SIGINT in the middle of a batch, sent by `os.kill` to a real orchestrator
process once its monitoring run is open: the step unwinds like a failure, then the next
cycle monitors the batch once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow.entities import Run

from pipelines.data.generator import generate_batch
from pipelines.store import connect
from pipelines.store import contract as c
from pipelines.store.lock import epoch_tags
from pipelines.store.searches import retraining_parents
from tests.conftest import PASSTHROUGH_ENV

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _cycle(settings) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.run_monitoring", "--source", "inbox",
         "--tracking-uri", settings.tracking.uri,
         "--set", f"paths.output_dir={settings.paths.output_dir}",
         "--set", f"paths.inbox_dir={settings.paths.inbox_dir}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _monitoring_runs(settings) -> list[Run]:
    store = connect(settings.tracking)
    experiment = store.experiment_id(settings.tracking.monitoring_experiment, create=False)
    if experiment is None:
        return []
    return list(store.client.search_runs([experiment],
                                         f"tags.`{c.TAG_STEP}` = '{c.STEP_MONITOR}'"))


def _lock_epochs(settings) -> dict[str, dict[str, str]]:
    store = connect(settings.tracking)
    name = c.lock_name(settings.tracking.registered_model_name)
    return epoch_tags(store.client, name)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_batch_unwinds_then_the_batch_is_monitored_once(
        trained_store, signum: int, code: int) -> None:
    """Before: exit 143 within 0.5 s and no log line; the run stayed RUNNING, the lock held,
    the file in .processing/. Now the run is FAILED and says why, the file is back in the
    inbox, the lock released, one line, exit 143 (SIGTERM) / 130 (SIGINT)."""
    settings, _ = trained_store
    name = signal.Signals(signum).name
    inbox = settings.paths.inbox
    inbox.mkdir(parents=True)
    generate_batch("no_drift", 300_000, 11, start_time=pd.Timestamp("2026-02-01")).to_parquet(
        inbox / "b1.parquet")

    first = _cycle(settings)
    deadline = time.monotonic() + 180
    while not [r for r in _monitoring_runs(settings) if r.info.status == "RUNNING"]:
        assert first.poll() is None, first.communicate()  # still mid-batch when signalled
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(first.pid, signum)
    _, err = first.communicate(timeout=120)

    assert first.returncode == code, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err
    assert f"Stopped: interrupted by {name}" in errors[0]
    (run,) = _monitoring_runs(settings)
    assert run.info.status == "FAILED"
    assert run.data.tags[c.TAG_FAILURE_REASON] == f"interrupted by {name}"
    assert run.info.run_name == f"b0001 FAILED interrupted by {name}"
    store = connect(settings.tracking)
    assert store.client.list_artifacts(run.info.run_id) == []  # partial artifacts removed
    assert (inbox / "b1.parquet").exists()
    assert not list((inbox / ".processing").iterdir())
    epochs = _lock_epochs(settings)
    assert epochs
    assert all("lock.released_at" in tags for tags in epochs.values())

    again = _cycle(settings)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "Took over lock" not in err  # it had been released, not left to a dead holder
    assert not (inbox / "b1.parquet").exists()
    statuses = sorted(r.info.status for r in _monitoring_runs(settings))
    assert statuses == ["FAILED", "FINISHED"]  # monitored once more, once


STOPPED_BEFORE_DECIDING = textwrap.dedent("""
    import os, signal, sys
    from pipelines.cli import exit_with
    from pipelines.run_monitoring import main
    from pipelines.workflows import orchestrate
    real = orchestrate.decide_and_retrain

    def decide_after_sigterm(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the batch's run is FINISHED, nothing decided
        return real(*args, **kwargs)

    orchestrate.decide_and_retrain = decide_after_sigterm
    exit_with(main)
""")


def test_a_recommendation_survives_a_cycle_stopped_before_deciding(trained_store) -> None:
    """SIGTERM between the verdict (run FINISHED, file archived) and the decision: before,
    the recommendation was lost (the next cycle found nothing new: no decision, no
    retraining, ever). Now the next cycle decides on it (and retrains), once."""
    settings, _ = trained_store
    inbox = settings.paths.inbox
    inbox.mkdir(parents=True)
    generate_batch("concept_drift", 2000, 5, start_time=pd.Timestamp("2026-02-01")).to_parquet(
        inbox / "b1.parquet")
    options = ["--source", "inbox", "--tracking-uri", settings.tracking.uri]
    for key, value in {"paths.output_dir": settings.paths.output_dir,
                       "paths.inbox_dir": settings.paths.inbox_dir, "data.demo_rows": 3000,
                       "training.rf_n_estimators": 30, "training.xgb_n_estimators": 50,
                       "training.n_jobs": 1}.items():
        options += ["--set", f"{key}={value}"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV}
    stopped = subprocess.run([sys.executable, "-c", STOPPED_BEFORE_DECIDING, *options],
                             capture_output=True, text=True, timeout=600, env=env)
    assert stopped.returncode == 143, stopped.stderr
    (run,) = _monitoring_runs(settings)
    assert run.info.status == "FINISHED"
    assert run.data.tags[c.TAG_RETRAINING_RECOMMENDED] == "true"
    assert c.TAG_CYCLE_DECISION not in run.data.tags

    nothing_new = subprocess.run([sys.executable, "-m", "pipelines.run_monitoring", *options],
                                 capture_output=True, text=True, timeout=600, env=env)
    assert nothing_new.returncode == 0, nothing_new.stderr
    assert "its cycle ended before deciding: decided now" in nothing_new.stderr
    (run,) = _monitoring_runs(settings)
    assert run.data.tags[c.TAG_CYCLE_DECISION] == "retrain"
    store = connect(settings.tracking)
    assert len(retraining_parents(store)) == 1

    again = subprocess.run([sys.executable, "-m", "pipelines.run_monitoring", *options],
                           capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr
    assert "decided now" not in again.stderr  # once
    assert len(retraining_parents(store)) == 1


def test_the_interruption_waits_for_a_database_call_to_return(settings) -> None:
    """A signal that arrives inside SQLite/SQLAlchemy/MLflow code is raised once that call
    returned, never half-way through a transaction; the handlers are restored afterwards."""
    from pipelines.errors import Interrupted
    from pipelines.signals import interruptible

    store = connect(settings.tracking)
    before = signal.getsignal(signal.SIGTERM)
    mlflow_store = store.client._tracking_client.store
    real = mlflow_store.search_experiments
    returned = []

    def signalled_inside(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        os.kill(os.getpid(), signal.SIGTERM)  # delivered while MLflow's store runs
        result = real(*args, **kwargs)
        returned.append(True)
        return result

    def call_then_wait() -> None:
        with interruptible():
            store.client.search_experiments()
            time.sleep(5)  # the interruption lands here, after the call returned

    mlflow_store.search_experiments = signalled_inside
    try:
        with pytest.raises(Interrupted, match="interrupted by SIGTERM") as caught:
            call_then_wait()
    finally:
        del mlflow_store.search_experiments
    assert returned == [True]
    assert caught.value.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) is before
