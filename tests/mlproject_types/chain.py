"""Every MLproject entry point with an example configuration of another model type
(``-P config=examples/<type>.toml``), chained on one store as a user would: the demo story
first (``main``), then each step. One module per type, so the two run on separate workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pipelines.config import load_settings
from pipelines.data import generator
from pipelines.store import alias_version, connect
from tests.conftest import make_settings
from tests.test_mlproject import _env, _mlflow_run, _project_runs

REPO = Path(__file__).resolve().parents[2]


def _story(printed: str) -> dict[int, str]:
    """The demo summary's line per batch number."""
    lines = {}
    for line in printed.splitlines():
        if line.startswith("batch ") and "status " in line:
            lines[int(line.split()[1])] = line
    return lines


def external_predictions(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a model trained elsewhere's predictions: the generator's true function
    (regression: ``pred``; multiclass: ``pred_<class>``)."""
    out = frame.copy()
    if kind == "regression":
        out["pred"] = generator.expected_charges(frame)
    else:
        proba = generator.plan_probabilities(frame)
        for i, plan in enumerate(generator.PLANS):
            out[f"pred_{plan}"] = proba[:, i]
    return out


def run_chain(kind: str, tmp_path: Path) -> None:
    config = str(REPO / "examples" / f"{kind}.toml")
    example = load_settings(config, env={})
    prefix = example.tracking.experiment_prefix
    pipeline, monitoring, retraining = (f"{prefix}-Pipeline", f"{prefix}-Monitoring",
                                        f"{prefix}-Retraining")
    target = example.data.target
    declared = set(yaml.safe_load((REPO / "MLproject").read_text())["entry_points"])
    settings = make_settings(tmp_path / "store")
    env = _env(settings, tmp_path)
    env["CHURNMON_PATHS__INBOX_DIR"] = str(tmp_path / "inbox")
    store = connect(settings.tracking)
    client = store.client
    model = example.tracking.registered_model_name
    seen: set[str] = set()

    def run(entry: str, experiment: str, **params: str) -> str:
        seen.add(entry)
        return _mlflow_run(entry, experiment, {"config": config, **params}, env, tmp_path)

    def champion():  # noqa: ANN202
        return client.get_model_version_by_alias(model, "champion")

    # main: the demo story on a fresh store, as README shows it
    printed = run("main", monitoring, rows="1500")
    story = _story(printed)
    assert [story[i].split("status ")[1].split()[0].rstrip(";") for i in (1, 2, 3, 4, 5)] == [
        "ok", "ok", "warning", "critical", "ok"], printed[-3000:]
    assert "retraining promoted" in story[4]
    assert champion().tags["problem_type"] == kind
    assert str(champion().version) == "2"

    # simulate + monitor a stable labelled file: ok, the type's metrics. The champion is now
    # the one retrained on the concept-drift regime: that regime is its stable one
    out = tmp_path / "batches"
    printed = run("simulate", pipeline, scenario="concept_drift", rows="2000", seed="7",
                  out=str(out))
    (batch,) = out.glob("production_batch_*.csv")
    assert target in pd.read_csv(batch, nrows=3).columns
    run("monitor", monitoring, batch=str(batch))
    (monitor,) = _project_runs(client, monitoring, "monitor")
    assert monitor.info.status == "FINISHED"
    assert monitor.data.tags["problem_type"] == kind
    primary = {"regression": "rmse", "multiclass": "macro_f1"}[kind]
    assert primary in monitor.data.metrics
    assert monitor.data.tags["monitoring.status"] == "ok", monitor.info.run_name

    # an unlabelled batch, then its labels through register_labels: realized metrics
    frame = pd.read_csv(batch)
    frame["customer_id"] = "late-" + frame["customer_id"].astype(str)
    unlabelled = tmp_path / "unlabelled_batch.csv"
    frame.drop(columns=[target]).to_csv(unlabelled, index=False)
    run("monitor", monitoring, batch=str(unlabelled))
    late = client.search_runs(
        [client.get_experiment_by_name(monitoring).experiment_id],
        filter_string="tags.batch_id = 'unlabelled_batch'")[0]
    assert late.data.tags["has_labels"] == "false"
    assert f"estimated_{primary}" in late.data.metrics
    assert primary not in late.data.metrics
    labels = tmp_path / "late_labels.csv"
    frame[["customer_id", target]].to_csv(labels, index=False)
    run("register_labels", monitoring, labels=str(labels))
    assert primary in client.get_run(late.info.run_id).data.metrics

    # run_monitoring on the old regime (a concept change for this champion): retraining
    # recommended; the demo's retraining holds the cooldown, so force it; retrain by hand
    run("run_monitoring", monitoring, scenario="no_drift", rows="2000", force="true")
    (cycle,) = _project_runs(client, monitoring, "run_monitoring")
    assert cycle.data.tags["orchestrator.decision"] == "retrain"
    run("retrain", retraining, reason="test")
    (manual,) = _project_runs(client, retraining, "retrain")
    assert manual.info.status == "FINISHED"
    assert manual.data.tags["decision"] in ("promoted", "rejected", "awaiting_approval")

    # train: a new baseline version of the type; rollback; approve / reject; history
    run("train", pipeline, demo_rows="3000")
    now = champion()
    assert now.tags["problem_type"] == kind
    previous = str(client.get_model_version_by_alias(model, "previous-champion").version)
    version = str(now.version)
    printed = run("rollback", pipeline)
    assert f"version {version} -> {previous}" in printed
    from pipelines.store import set_alias, tag_version

    store_t = connect(load_settings(config, env={}, overrides={
        "tracking.uri": settings.tracking.uri}).tracking)
    for entry in ("reject", "approve"):
        set_alias(store_t, "challenger", version)
        tag_version(store_t, version, {"champion_version_at_gate": previous})
        printed = run(entry, pipeline, version=version, reason=f"by {entry}")
        done = {"reject": "rejected", "approve": "approved"}[entry]
        assert f"version {version} {done} by" in printed
    assert str(alias_version(store_t, "champion").version) == version
    printed = run("history", pipeline, limit="3")
    assert printed.splitlines()[0].split()[1] == "approve"

    # register_reference: a model trained elsewhere, with its own predictions; a stable batch
    # with them is monitored without false drift
    reference = external_predictions(kind, generator.generate_reference(3000, seed=5,
                                                                         task=kind))
    ref_path = tmp_path / "external_reference.parquet"
    reference.to_parquet(ref_path)
    run("register_reference", pipeline, data=str(ref_path), prediction_column="pred")
    external = champion()
    assert external.tags["model_origin"] == "external"
    assert external.tags["problem_type"] == kind
    stable = external_predictions(kind, generator.generate_batch("no_drift", 3000, seed=11,
                                                                 task=kind))
    stable_path = tmp_path / "external_stable.csv"
    stable.to_csv(stable_path, index=False)
    run("monitor", monitoring, batch=str(stable_path))
    ext_run = client.search_runs(
        [client.get_experiment_by_name(monitoring).experiment_id],
        filter_string="tags.batch_id = 'external_stable'")[0]
    assert ext_run.data.tags["monitoring.status"] == "ok", ext_run.info.run_name
    assert ext_run.data.tags["drifted_features"] == "none"
    # serve runs until stopped: tests/service/test_serve.py starts and stops it
    assert seen | {"serve"} == declared, declared - seen
    assert np.isfinite(ext_run.data.metrics[primary])
