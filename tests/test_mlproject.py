"""`mlflow run . -e <step> --env-manager local` works for the monitor and retrain steps."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from pipelines.store import connect
from tests.conftest import PASSTHROUGH_ENV, make_settings

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def _env(settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(PASSTHROUGH_ENV)
    env.update({
        "MLFLOW_TRACKING_URI": settings.tracking.uri,
        "CHURNMON_PATHS__OUTPUT_DIR": str(tmp_path / "monitoring"),
        "CHURNMON_TRAINING__RF_N_ESTIMATORS": "30",
        "CHURNMON_TRAINING__XGB_N_ESTIMATORS": "60",
    })
    return env


def _mlflow_run(entry: str, experiment: str, params: dict[str, str], env: dict[str, str]) -> None:
    cmd = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", entry, "--env-manager",
           "local", "--experiment-name", experiment]
    for k, v in params.items():
        cmd += ["-P", f"{k}={v}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])


def test_monitor_and_retrain_entry_points(tmp_path: Path) -> None:
    from pipelines.workflows.baseline import train_baseline

    settings = make_settings(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings)
    env = _env(settings, tmp_path)
    _mlflow_run("monitor", "ChurnPrediction-Monitoring",
                {"scenario": "concept_drift", "rows": "2500"}, env)
    client = connect(settings.tracking).client
    exp = client.get_experiment_by_name("ChurnPrediction-Monitoring")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.project.entryPoint"] == "monitor"
    assert run.data.tags["monitoring.status"] == "critical"
    assert run.data.params["scenario"] == "concept_drift"
    assert {"roc_auc", "drift_share", "prediction_drift_pvalue"} <= set(run.data.metrics)

    _mlflow_run("retrain", "ChurnPrediction-Retraining", {"reason": "test"}, env)
    exp = client.get_experiment_by_name("ChurnPrediction-Retraining")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("mlflow.project.entryPoint") == "retrain"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["decision"] in ("promoted", "rejected")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert {c.data.tags.get("retraining.role") for c in children} == {"candidate"}
    assert len(children) == 2, [(r.info.run_name, r.data.tags.get('mlflow.parentRunId'), r.data.tags.get('retraining.role')) for r in runs]
