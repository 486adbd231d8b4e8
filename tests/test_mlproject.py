"""Every MLproject entry point through `mlflow run . -e <step> --env-manager local`, chained
on one store as a user would: train, simulate, monitor, run_monitoring, retrain, train again,
rollback, main."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipelines.store import alias_version, connect
from tests.conftest import PASSTHROUGH_ENV, make_settings

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

REPO = Path(__file__).resolve().parents[1]
MONITORING = "ChurnPrediction-Monitoring"
RETRAINING = "ChurnPrediction-Retraining"
PIPELINE = "ChurnPrediction-Pipeline"


def _env(settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(PASSTHROUGH_ENV)
    env.update({
        "MLFLOW_TRACKING_URI": settings.tracking.uri,
        "CHURNMON_PATHS__OUTPUT_DIR": str(tmp_path / "monitoring"),
        "CHURNMON_TRAINING__RF_N_ESTIMATORS": "30",
        "CHURNMON_TRAINING__XGB_N_ESTIMATORS": "60",
        "CHURNMON_DATA__DEMO_ROWS": "3000",
    })
    return env


def _mlflow_run(entry: str, experiment: str, params: dict[str, str], env: dict[str, str],
                cwd: Path) -> str:
    cmd = [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", entry, "--env-manager",
           "local", "--experiment-name", experiment]
    for k, v in params.items():
        cmd += ["-P", f"{k}={v}"]
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (entry, proc.stdout[-2000:], proc.stderr[-4000:])
    return proc.stdout


def _project_runs(client, experiment: str, entry: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    return [r for r in runs if r.data.tags.get("mlflow.project.entryPoint") == entry]


def test_every_entry_point_runs_through_mlflow_run(tmp_path: Path) -> None:
    declared = set(yaml.safe_load((REPO / "MLproject").read_text())["entry_points"])
    settings = make_settings(tmp_path / "store")
    env = _env(settings, tmp_path)
    client = connect(settings.tracking).client
    seen: set[str] = set()

    # train: the declared empty `target` is resolved from the configuration, not refused
    _mlflow_run("train", PIPELINE, {"demo_rows": "3000"}, env, tmp_path)
    (train,) = _project_runs(client, PIPELINE, "train")
    assert train.info.status == "FINISHED"
    assert train.data.params["target"] in ("", "''")  # as mlflow run logged it
    assert train.data.params["resolved.target"] == "churn"
    assert str(alias_version(connect(settings.tracking), "champion").version) == "1"
    seen.add("train")

    # simulate: a batch file where -P out says
    out = tmp_path / "batches"
    printed = _mlflow_run("simulate", PIPELINE, {"scenario": "covariate_shift", "rows": "2000",
                                                 "seed": "3", "out": str(out)}, env, tmp_path)
    (batch,) = out.glob("production_batch_*.csv")
    assert str(batch) in printed
    seen.add("simulate")

    # monitor that file
    _mlflow_run("monitor", MONITORING, {"batch": str(batch)}, env, tmp_path)
    (monitor,) = _project_runs(client, MONITORING, "monitor")
    assert monitor.info.status == "FINISHED"
    assert monitor.data.tags["batch_id"] == batch.stem
    assert monitor.data.tags["monitoring.status"] in ("warning", "critical")
    assert set(monitor.data.tags["drifted_features"].split(",")) >= {"monthly_charges"}
    # the same file through the chunked engine: -P engine=chunked, the same verdict
    _mlflow_run("monitor", MONITORING, {"batch": str(batch), "engine": "chunked"}, env,
                tmp_path)
    (chunked,) = [r for r in _project_runs(client, MONITORING, "monitor")
                  if r.info.run_id != monitor.info.run_id]
    assert chunked.info.status == "FINISHED"
    assert chunked.data.tags["engine"] == "chunked"
    # the project run is named as its verdict, as any monitoring run
    assert chunked.info.run_name.startswith("b0002 ")
    for tag in ("monitoring.status", "drifted_features", "batch_digest"):
        assert chunked.data.tags[tag] == monitor.data.tags[tag]
    # apart by design: the impact ranking (memory only) and consecutive drift (the chunked run
    # has the first one before it)
    apart = ("ops/", "impact/", "consecutive/")
    verdict = {k for k in monitor.data.metrics if not k.startswith(apart)}
    assert {k for k in chunked.data.metrics if not k.startswith(apart)} == verdict
    assert any(k.startswith("consecutive/") for k in chunked.data.metrics)
    # each engine times its own phases (ops/read_seconds, ops/counting_seconds: chunked)
    assert {"ops/total_seconds", "ops/read_seconds"} <= set(chunked.data.metrics)
    seen.add("monitor")

    # run_monitoring: the project run is the batch's monitoring run; retraining gets its own
    _mlflow_run("run_monitoring", MONITORING, {"scenario": "concept_drift", "rows": "3000"},
                env, tmp_path)
    (cycle,) = _project_runs(client, MONITORING, "run_monitoring")
    assert cycle.data.tags["pipeline.step"] == "monitor"
    assert cycle.data.tags["orchestrator.decision"] == "retrain"
    parent_id = cycle.data.tags["orchestrator.retraining_run_id"]
    parent = client.get_run(parent_id)
    assert client.get_experiment(parent.info.experiment_id).name == RETRAINING
    assert parent.data.tags["decision"] in ("promoted", "rejected")
    seen.add("run_monitoring")

    # retrain by hand: one parent (the project run) with one nested run per candidate
    _mlflow_run("retrain", RETRAINING, {"reason": "test"}, env, tmp_path)
    (manual,) = _project_runs(client, RETRAINING, "retrain")
    assert manual.info.status == "FINISHED"
    assert manual.data.tags["retraining.reason"] == "test"
    exp = client.get_experiment_by_name(RETRAINING)
    children = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{manual.info.run_id}'")
    assert {c.data.tags["retraining.role"] for c in children} == {"candidate"}
    assert len(children) == 2
    seen.add("retrain")

    # a second baseline (trained in-process: the train step was run above) becomes champion,
    # the first one the fallback; rollback swaps them
    store = connect(settings.tracking)
    from pipelines.config import with_overrides
    from pipelines.workflows.baseline import train_baseline

    train_baseline(with_overrides(settings, {"training.candidates": ["xgboost"]}), store)
    champion = str(alias_version(store, "champion").version)
    previous = str(alias_version(store, "previous-champion").version)
    assert champion != previous
    printed = _mlflow_run("rollback", PIPELINE, {}, env, tmp_path)
    assert f"version {champion} -> {previous}" in printed
    assert str(alias_version(store, "champion").version) == previous
    assert str(alias_version(store, "previous-champion").version) == champion
    seen.add("rollback")

    # approve / reject: a version waiting as @challenger (placed by hand here: whether the
    # gate passes is the retraining tests' business), compared with the current champion
    from pipelines.store import set_alias, tag_version

    waiting = champion  # the demoted baseline waits again, compared with the serving one
    for entry in ("reject", "approve"):
        set_alias(store, "challenger", waiting)
        tag_version(store, waiting, {"champion_version_at_gate": previous})
        printed = _mlflow_run(entry, PIPELINE, {"version": waiting, "reason": f"by {entry}"},
                              env, tmp_path)
        done = {"reject": "rejected", "approve": "approved"}[entry]
        assert f"version {waiting} {done} by" in printed
        assert alias_version(store, "challenger") is None
        seen.add(entry)
    assert str(alias_version(store, "champion").version) == waiting
    printed = _mlflow_run("history", PIPELINE, {"limit": "3"}, env, tmp_path)
    assert printed.splitlines()[0].split()[1] == "approve"
    assert "by approve" in printed
    seen.add("history")

    # register_labels: ids no stored batch knows are counted and written out, not dropped
    labels = tmp_path / "late_labels.csv"
    labels.write_text("customer_id,churn\nnobody-1,1\nnobody-2,0\n")
    printed = _mlflow_run("register_labels", MONITORING, {"labels": str(labels)}, env, tmp_path)
    assert '"unknown": 2' in printed
    seen.add("register_labels")

    # main: the demo, continuing from the stored state
    printed = _mlflow_run("main", MONITORING, {"rows": "1500"}, env, tmp_path)
    assert "=== Demo summary ===" in printed
    assert "continuing from the stored state" in printed
    assert printed.count("batch ") >= 5
    seen.add("main")

    # register_reference (last: the champion becomes a model scored elsewhere)
    import numpy as np

    from pipelines.data.generator import churn_probability, generate_reference

    reference = generate_reference(2000, seed=5)
    reference["y_score"] = np.nan_to_num(churn_probability(reference), nan=0.27)
    ref_path = tmp_path / "external_reference.parquet"
    reference.to_parquet(ref_path)
    printed = _mlflow_run("register_reference", PIPELINE, {
        "data": str(ref_path), "prediction_column": "y_score"}, env, tmp_path)
    assert "as champion: 2,000 reference rows" in printed
    assert alias_version(store, "champion").tags["model_origin"] == "external"
    seen.add("register_reference")

    # serve runs until stopped: tests/service/test_serve.py starts it with `mlflow run` and
    # stops it
    assert seen | {"serve"} == declared
