"""Faults 4 and 5 with real kills: the orchestrator process is killed with SIGKILL at the
exact step of a promotion (between the two alias moves; after the champion moved, before the
parent run got its verdict), then the next cycle runs as its own process.

The kill comes from inside the dying process (a wrapper around the registry call sends
SIGKILL to its own pid), so it lands at that step every time: no ``finally`` block, no lock
release, no run ended, exactly as ``kill -9`` or a power cut would leave things.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.config import Settings
from pipelines.data.generator import NUMERIC_FEATURES, generate_batch
from pipelines.store import alias_version, connect
from pipelines.store import contract as c
from pipelines.store.audit import history
from pipelines.store.searches import retraining_parents
from tests.conftest import PASSTHROUGH_ENV

from .conftest import SettingsFactory, monitor_batches, weak_baseline

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

KILLED_AT = textwrap.dedent("""
    import os, signal, sys
    from mlflow.tracking import MlflowClient
    real = MlflowClient.set_registered_model_alias
    when = sys.argv[1]

    def set_alias_then_die(self, name, alias, version):
        if alias == "champion" and when == "before-champion":
            os.kill(os.getpid(), signal.SIGKILL)
        real(self, name, alias, version)
        if alias == "champion" and when == "after-champion":
            os.kill(os.getpid(), signal.SIGKILL)

    MlflowClient.set_registered_model_alias = set_alias_then_die
    if sys.argv[2] == "trigger_retraining":
        from pipelines.trigger_retraining import main
    else:
        from pipelines.run_monitoring import main
    sys.exit(main(sys.argv[3:]))
""")


def _options(settings: Settings) -> list[str]:
    overrides = {"paths.output_dir": settings.paths.output_dir,
                 "paths.inbox_dir": settings.paths.inbox_dir,
                 "training.rf_n_estimators": 30, "training.xgb_n_estimators": 50,
                 "training.n_jobs": 1}
    options = ["--tracking-uri", settings.tracking.uri]
    for key, value in overrides.items():
        options += ["--set", f"{key}={value}"]
    return options


def _orchestrator(settings: Settings, *args: str, killed_at: str | None = None,
                  entry: str = "run_monitoring") -> subprocess.CompletedProcess:
    command = ([sys.executable, "-c", KILLED_AT, killed_at, entry] if killed_at else
               [sys.executable, "-m", f"pipelines.{entry}"])
    return subprocess.run([*command, *args, *_options(settings)], capture_output=True,
                          text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                               **PASSTHROUGH_ENV})


def _aliases(settings: Settings) -> tuple[str | None, str | None]:
    store = connect(settings.tracking)
    found = [alias_version(store, a) for a in ("champion", "previous-champion")]
    return tuple(str(v.version) if v else None for v in found)  # type: ignore[return-value]


def _running(settings: Settings) -> list[str]:
    store = connect(settings.tracking)
    experiments = [e.experiment_id for e in store.client.search_experiments()]
    return [r.info.run_id for r in store.client.search_runs(
        experiments, "attributes.status = 'RUNNING'")]


def _promotions(settings: Settings) -> list[dict[str, tuple[str | None, str | None]]]:
    """The audit trail's records that moved the champion, oldest first, as
    ``{alias: (from, to)}``."""
    events = reversed(history(connect(settings.tracking)))
    moves = [{m.alias: (m.from_version, m.to_version) for m in e["moves"]} for e in events]
    return [m for m in moves if "champion" in m]


def _champion_scores(settings: Settings) -> np.ndarray:
    mlflow.set_tracking_uri(settings.tracking.uri)
    mlflow.set_registry_uri(settings.tracking.uri)
    model = mlflow.pyfunc.load_model("models:/churn-model@champion")
    frame = generate_batch("no_drift", 50, 3).drop(columns=[settings.data.target])
    return np.asarray(model.predict(frame), dtype=float)


def _killed_mid_promotion(settings: Settings, when: str,
                          entry: str = "run_monitoring") -> None:
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)
    args = (["--reason", "by hand"] if entry == "trigger_retraining" else
            ["--source", "simulate", "--scenario", "concept_drift", "--rows", "1500",
             "--seed", "21"])
    killed = _orchestrator(settings, *args, killed_at=when, entry=entry)
    assert killed.returncode == -9, killed.stderr  # died at the step, no clean-up ran
    (parent,) = retraining_parents(connect(settings.tracking))
    assert parent.info.status == "RUNNING"
    assert c.TAG_VERDICT not in parent.data.tags
    assert parent.data.tags[c.TAG_PROMOTION_INTENT] == "2"  # recorded before any alias moved


@pytest.mark.parametrize("entry", ["run_monitoring", "trigger_retraining"])
def test_killed_between_the_alias_moves(make_settings: SettingsFactory, entry: str) -> None:
    """Fault 4: previous-champion moved, champion did not; the next cycle completes the
    promotion (before: v2 left pending, the run RUNNING, the request lost). The same when
    the killed process was a retraining started by hand."""
    settings = make_settings()
    _killed_mid_promotion(settings, "before-champion", entry)
    assert _aliases(settings) == ("1", "1")  # the champion still serves v1 ...
    assert _champion_scores(settings).shape == (50,)  # ... and loads

    rerun = _orchestrator(settings, "--source", "simulate", "--scenario", "no_drift",
                          "--rows", "600", "--seed", "22")
    assert rerun.returncode == 0, rerun.stderr  # not 75: the dead holder's lock taken over
    assert "promotion of version 2 (replacing 1) completed by recovery" in rerun.stderr
    assert _aliases(settings) == ("2", "1")
    scores = _champion_scores(settings)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert _running(settings) == []
    store = connect(settings.tracking)
    (parent,) = retraining_parents(store)
    assert parent.info.status == "FAILED"  # the dead process's run, with the reason
    assert "abandoned" in parent.data.tags[c.TAG_FAILURE_REASON]
    assert parent.data.tags[c.TAG_VERDICT] == c.PROMOTED
    assert store.client.get_model_version("churn-model", "2").tags[
        c.VTAG_PROMOTION_STATUS] == c.PROMOTED

    # the audit trail has the whole promotion, the backup's move included (before: only
    # the champion's, the previous-champion move written before the kill was missing)
    assert _promotions(settings)[-1] == {"champion": ("1", "2"),
                                         "previous-champion": (None, "1")}

    again = _orchestrator(settings, "--source", "simulate", "--scenario", "no_drift",
                          "--rows", "600", "--seed", "23")
    assert again.returncode == 0, again.stderr
    assert "Recovery" not in again.stderr  # idempotent: nothing left to finish
    assert _aliases(settings) == ("2", "1")
    assert len(retraining_parents(store)) == 1
    assert len([p for p in _promotions(settings) if p["champion"] == ("1", "2")]) == 1


def test_killed_after_the_champion_moved(make_settings: SettingsFactory) -> None:
    """Fault 5: the champion moved, the parent never got its verdict; the cooldown still
    counts it (before: v3 promoted 62 s later inside the cooldown, v1 unreachable)."""
    settings = make_settings()
    _killed_mid_promotion(settings, "after-champion")
    assert _aliases(settings) == ("2", "1")

    settings.paths.inbox.mkdir(parents=True)
    generate_batch("covariate_shift", 2000, 24, start_time=pd.Timestamp("2026-03-01"),
                   shift_features=NUMERIC_FEATURES[:10]).to_parquet(
        settings.paths.inbox / "broad_shift.parquet")
    broad = _orchestrator(settings, "--source", "inbox")
    assert broad.returncode == 0, broad.stderr
    assert "Cycle decision: cooldown" in broad.stderr
    assert _aliases(settings) == ("2", "1")  # v1 still reachable by rollback
    (parent,) = retraining_parents(connect(settings.tracking))  # no second retraining
    assert parent.data.tags[c.TAG_VERDICT] == c.PROMOTED  # completed: the champion had moved
    assert _running(settings) == []
    # killed after the second alias write, before the audit record: recovery wrote it
    # (before: the champion had moved with no record of it), both moves, once
    assert _promotions(settings)[-1] == {"champion": ("1", "2"),
                                         "previous-champion": (None, "1")}

    third = _orchestrator(settings, "--source", "simulate", "--scenario", "no_drift",
                          "--rows", "600", "--seed", "25")
    assert third.returncode == 0, third.stderr
    assert len([p for p in _promotions(settings) if p["champion"] == ("1", "2")]) == 1
