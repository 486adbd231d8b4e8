"""Retraining end to end against a temporary SQLite store (tiny data and models)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from pipelines.config import Settings, with_overrides
from pipelines.data.batch import Batch
from pipelines.data.generator import generate_batch
from pipelines.errors import ModelNotFoundError
from pipelines.store import alias_version, connect, load_champion
from pipelines.trigger_retraining import main
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.monitor import Monitor
from pipelines.workflows.retrain import collect_labelled_batches, retrain

from .conftest import SettingsFactory, monitor_batches, weak_baseline

CANDIDATES = {"random_forest", "xgboost"}


def _aliases(client: MlflowClient, settings: Settings) -> tuple[str | None, str | None]:
    t = settings.tracking
    store = connect(t)
    champ = alias_version(store, t.champion_alias)
    prev = alias_version(store, t.previous_alias)
    return (str(champ.version) if champ else None, str(prev.version) if prev else None)


def _versions(client: MlflowClient, settings: Settings) -> list[str]:
    name = settings.tracking.registered_model_name
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))


def _children(client: MlflowClient, parent_run_id: str) -> list:
    parent = client.get_run(parent_run_id)
    return client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")


@pytest.mark.slow
def test_promotes_a_candidate_that_beats_a_weak_champion(make_settings: SettingsFactory,
                                                         tmp_path: Path) -> None:
    settings = make_settings()
    base = weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 3)
    monitor_batches(settings, "concept_drift", 1, seed=200, first_day="2026-02-10",
                    labelled=False)
    client = connect(settings.tracking).client

    summary = retrain(settings, reason="test-promotion", extra_tags={"orchestrator": "test"})

    # decision and aliases
    assert summary.decision == "promoted", summary.message
    assert summary.champion_version_before == base.model_version == "1"
    assert summary.new_version == "2"
    assert _aliases(client, settings) == ("2", "1")
    gate = summary.gate
    assert gate is not None
    assert gate["promote"] is True
    assert gate["candidate_auc"] > gate["champion_auc"] + settings.retraining.promotion_margin
    # only the three labelled batches joined; the holdout is the newest batch's latest 30%
    assert summary.data["n_batches"] == 3
    assert summary.data["n_production_rows"] == 3000
    assert summary.data["n_holdout"] == 300
    assert {c["name"] for c in summary.candidates} == CANDIDATES
    assert all(set(c["holdout"]) >= {"roc_auc", "accuracy", "precision", "recall", "f1"}
               for c in summary.candidates)

    # the parent run and its nested candidate runs
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["decision"] == "promoted"
    assert tags["pipeline.step"] == "retrain"
    assert tags["retraining.role"] == "parent"
    assert tags["retraining.reason"] == "test-promotion"
    assert tags["orchestrator"] == "test"
    assert tags["new_version"] == "2"
    assert tags["champion_version_before"] == "1"
    assert "PROMOTED" in tags["decision.message"]
    assert parent.info.run_name == f"PROMOTED v2 {gate['candidate_auc']:.2f}"
    assert "paired test passed" in tags["decision.message"]
    metrics = parent.data.metrics
    assert metrics["promotion_pvalue"] < 0.05
    assert metrics["promotion_margin_gain"] == pytest.approx(
        gate["candidate_auc"] - gate["champion_auc"])
    assert "delong_test.json" in {f.path for f in client.list_artifacts(summary.parent_run_id)}
    exp = client.get_experiment(parent.info.experiment_id)
    assert exp.name == settings.tracking.retraining_experiment
    m = parent.data.metrics
    assert m["best_candidate_holdout_roc_auc"] > m["champion_holdout_roc_auc"] + m["margin"]
    children = _children(client, summary.parent_run_id)
    assert {r.data.tags["model_type"] for r in children} == CANDIDATES
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == summary.parent_run_id
        assert child.data.tags["retraining.role"] == "candidate"
        assert child.info.experiment_id == parent.info.experiment_id
        assert {"val_roc_auc", "holdout_roc_auc", "holdout_f1"} <= set(child.data.metrics)
        files = {f.path for f in client.list_artifacts(child.info.run_id, "reference")}
        assert {"reference/reference.parquet", "reference/context.npz"} <= files
    artifacts = {f.path for f in client.list_artifacts(summary.parent_run_id)}
    assert {"comparison.csv", "comparison.json", "retraining_summary.json"} <= artifacts

    # evidence on the new version
    vtags = client.get_model_version(settings.tracking.registered_model_name, "2").tags
    best = summary.best_candidate
    assert best is not None
    assert vtags["source_run_id"] == best["run_id"]
    assert vtags["parent_run_id"] == summary.parent_run_id
    assert vtags["margin_mode"] == "absolute"
    assert float(vtags["margin"]) == 0.01
    # tags a person reads: 4 significant digits (the gate artifact and metrics keep all)
    assert vtags["candidate_roc_auc"] == f"{gate['candidate_auc']:.4g}"
    assert vtags["champion_roc_auc"] == f"{gate['champion_auc']:.4g}"
    assert vtags["required_roc_auc"] == f"{gate['required_auc']:.4g}"
    assert datetime.fromisoformat(vtags["promoted_at"]).tzinfo is not None
    assert vtags["promotion_status"] == "promoted"
    # the new champion's reference is the regime it was promoted for: the newest batch
    assert vtags["reference_batches"].startswith("concept_drift-l2@")
    assert vtags["reference_rows"] == "300"

    # summary file
    path = Path(summary.summary_path or "")
    assert path.parent == tmp_path / "out"
    assert path.name.startswith("retraining_summary_")
    on_disk = json.loads(path.read_text())
    assert on_disk["decision"] == "promoted"
    assert on_disk["new_version"] == "2"
    assert on_disk == summary.to_dict()

    # the new champion scores P(churn) well on fresh concept data, and monitoring can use it
    champion = load_champion(connect(settings.tracking))
    assert champion.version == "2"
    fresh = generate_batch("concept_drift", 1500, 999, start_time=pd.Timestamp("2026-03-01"))
    auc = roc_auc_score(fresh["churn"], champion.score(fresh))
    assert auc > gate["champion_auc"]
    report, _, _ = Monitor(settings).evaluate(Batch(fresh, "after", "tests"))
    assert report.performance is not None
    assert report.performance["roc_auc"] == pytest.approx(auc)


@pytest.mark.slow
def test_rejects_when_no_candidate_can_pass_the_margin(make_settings: SettingsFactory,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings({"retraining.promotion_margin": 0.5})
    train_baseline(settings)
    monitor_batches(settings, "no_drift", 1, rows=800)
    monitor_batches(settings, "no_drift", 1, rows=300, seed=300, labelled=False)
    no_artifact = monitor_batches(with_overrides(settings, {"monitoring.store_batch": False}),
                                  "covariate_shift", 1, rows=300, seed=400)
    client = connect(settings.tracking).client
    now = datetime.now(UTC)

    # labelled batches only; a run without its batch artifact is skipped with a warning
    with caplog.at_level(logging.WARNING, logger="pipelines.workflows.retrain"):
        found = collect_labelled_batches(connect(settings.tracking), settings, now)
    assert [b.batch_id for b in found] == ["no_drift-l0"]
    assert any(no_artifact[0] in r.getMessage() and "batch/batch.parquet" in r.getMessage()
               for r in caplog.records)
    later = now + timedelta(days=settings.retraining.window_days + 1)
    assert collect_labelled_batches(connect(settings.tracking), settings, later) == []

    summary = retrain(settings, now=now)
    assert summary.decision == "rejected"
    assert summary.new_version is None
    assert "REJECTED" in summary.message
    assert _aliases(client, settings) == ("1", None)
    assert _versions(client, settings) == ["1"]
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["decision"] == "rejected"
    assert parent.data.tags["new_version"] == ""
    assert len(_children(client, summary.parent_run_id)) == 2
    saved = json.loads(Path(summary.summary_path or "").read_text())
    assert saved["decision"] == "rejected"
    assert saved["gate"]["promote"] is False


def test_invalid_data_trains_nothing(make_settings: SettingsFactory,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings({"retraining.min_rows": 1_000_000})
    train_baseline(settings)
    client = connect(settings.tracking).client

    summary = retrain(settings)
    assert summary.decision == "invalid_data"
    assert any("at least 1000000" in p for p in summary.problems)
    assert summary.new_version is None
    assert summary.candidates == []
    assert _aliases(client, settings) == ("1", None)
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["decision"] == "invalid_data"
    assert "at least 1000000" in parent.data.tags["invalid_data.reasons"]
    assert _children(client, summary.parent_run_id) == []
    assert json.loads(Path(summary.summary_path or "").read_text())["decision"] == "invalid_data"

    # the command line reports the same and exits 1
    code = main(["--tracking-uri", settings.tracking.uri,
                 "--set", "retraining.min_rows=1000000",
                 "--set", f"paths.output_dir={settings.paths.output_dir}", "--reason", "cli"])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["decision"] == "invalid_data"
    assert _versions(client, settings) == ["1"]


@pytest.mark.slow
def test_crash_between_registration_and_alias_move_keeps_champion(
        make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)
    client = connect(settings.tracking).client
    real = MlflowClient.set_registered_model_alias

    def crash_on_champion(self: MlflowClient, name: str, alias: str, version: str) -> None:
        if alias == settings.tracking.champion_alias:
            raise RuntimeError("injected crash before the champion alias moved")
        real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", crash_on_champion)
    with pytest.raises(RuntimeError, match="injected crash"):
        retrain(settings)
    monkeypatch.undo()

    # the candidate was registered, the champion never moved
    name = settings.tracking.registered_model_name
    assert _versions(client, settings) == ["1", "2"]
    assert _aliases(client, settings)[0] == "1"
    assert client.get_model_version(name, "2").tags["promotion_status"] == "failed"
    # models:/<name>@champion still loads and scores
    model = mlflow.pyfunc.load_model(f"models:/{name}@{settings.tracking.champion_alias}")
    champion = load_champion(connect(settings.tracking))
    frame = generate_batch("no_drift", 200, 5)
    scores = np.asarray(model.predict(frame))
    assert scores.shape == (200,)
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(champion.score(frame), scores)
    # the parent run ended FAILED and says which version was left unpromoted
    runs = client.search_runs(
        [client.get_experiment_by_name(settings.tracking.retraining_experiment).experiment_id],
        filter_string="tags.`retraining.role` = 'parent'")
    assert len(runs) == 1
    assert runs[0].info.status == "FAILED"
    assert runs[0].data.tags["new_version"] == "2"
    assert "decision" not in runs[0].data.tags


def test_no_champion_raises(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    with pytest.raises(ModelNotFoundError, match=r"No model behind churn-model@champion"):
        retrain(settings)


@pytest.mark.slow
def test_retraining_after_concept_drift_learns_the_new_regime(
        make_settings: SettingsFactory) -> None:
    """The loop does its job: after a concept-drift batch the promoted model is about as good
    on fresh post-drift data as a model trained on 20,000 post-drift rows."""
    from pipelines.config import TrainingSettings
    from pipelines.data.generator import CATEGORICAL_FEATURES, CATEGORY_LEVELS, NUMERIC_FEATURES
    from pipelines.data.schema import FeatureSchema
    from pipelines.retraining.candidates import fit_candidate, positive_scores

    settings = make_settings({"data.demo_rows": 20000, "training.xgb_n_estimators": 300,
                              "training.rf_n_estimators": 100, "training.n_jobs": 2})
    train_baseline(settings)
    monitor_batches(settings, "no_drift", 2, rows=5000, seed=300, first_day="2026-01-02")
    (trigger,) = monitor_batches(settings, "concept_drift", 1, rows=10000, seed=310,
                                 first_day="2026-01-04")
    summary = retrain(settings, reason="concept drift")
    assert summary.decision == "promoted", summary.message
    # issue 24: each candidate's importances recorded with it and compared with the champion's
    client = connect(settings.tracking).client
    for candidate in summary.candidates:
        run = client.get_run(candidate["run_id"])
        assert -1.0 <= run.data.metrics["importance/spearman"] <= 1.0
        assert {a.path for a in client.list_artifacts(candidate["run_id"])} >= {
            "importance_stability.json"}
        assert "reference/importance.json" in {
            a.path for a in client.list_artifacts(candidate["run_id"], "reference")}

    fresh = generate_batch("concept_drift", 20000, 999)  # a seed no step trained on
    champion = load_champion(connect(settings.tracking))
    new_auc = roc_auc_score(fresh["churn"], champion.score(fresh))
    oracle_rows = generate_batch("concept_drift", 20000, 500)
    schema = FeatureSchema("churn", tuple(NUMERIC_FEATURES), tuple(CATEGORICAL_FEATURES),
                           {c: tuple(CATEGORY_LEVELS[c]) for c in CATEGORICAL_FEATURES})
    oracle = fit_candidate("xgboost", oracle_rows, oracle_rows["churn"].to_numpy(), schema,
                           TrainingSettings())
    oracle_auc = roc_auc_score(fresh["churn"],
                               positive_scores(oracle.estimator, "xgboost", fresh, schema))
    assert new_auc >= oracle_auc - 0.02, (new_auc, oracle_auc)

    # the holdout was the regime that triggered: the old champion scores there as it did on
    # the triggering batch (3,000 holdout rows: ROC-AUC standard error about 0.011)
    triggered_auc = connect(settings.tracking).client.get_run(trigger).data.metrics["roc_auc"]
    assert summary.champion_holdout_metrics["roc_auc"] == pytest.approx(triggered_auc, abs=0.035)
    assert summary.data["n_holdout"] == 3000
