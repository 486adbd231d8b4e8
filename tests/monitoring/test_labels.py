"""Labels registered weeks later: joined by id to the stored batches, realized metrics
back-filled on the original runs at their step, alerts re-evaluated, coverage tagged;
unknown, duplicate and conflicting labels counted and written out; idempotent."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.batch import Batch
from pipelines.data.generator import ID_COLUMN, TARGET, generate_batch
from pipelines.errors import SchemaError
from pipelines.monitoring.labels import clean_labels
from pipelines.store import connect
from pipelines.workflows.labels import register_labels
from pipelines.workflows.monitor import Monitor


def test_clean_labels_counts_duplicates_and_conflicts() -> None:
    frame = pd.DataFrame({"id": ["a", "a", "b", "b", "c"], "y": [1, 1, 0, 1, "0"]})
    labels = clean_labels(frame, "id", "y", "t.csv")
    assert labels.n_rows == 5
    assert labels.duplicates == 1
    assert labels.conflicting_ids == ("b",)
    assert labels.labels.to_dict() == {"a": 1, "c": 0}
    with pytest.raises(SchemaError, match="missing: y"):
        clean_labels(frame.drop(columns="y"), "id", "y", "t.csv")
    with pytest.raises(ValueError, match=r"1 label\(s\) are not 0/1 \(e.g. 'maybe'\)"):
        clean_labels(pd.DataFrame({"id": ["a"], "y": ["maybe"]}), "id", "y", "t.csv")


@pytest.mark.slow
def test_late_labels_are_back_filled_once(trained_store, tmp_path: Path) -> None:
    settings, _ = trained_store
    monitor = Monitor(settings)
    frames, runs = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, scenario, seed, day in (("stable", "no_drift", 31, "2026-03-01"),
                                          ("drifted", "concept_drift", 32, "2026-03-02"),
                                          ("partial", "no_drift", 33, "2026-03-03")):
            frame = generate_batch(scenario, 2000, seed, start_time=pd.Timestamp(day))
            frames[name] = frame
            outcome = monitor.run(Batch(frame.drop(columns=[TARGET]), name, "test"))
            runs[name] = outcome.run_id
            guess = outcome.report.estimated["roc_auc"].value
            # by design the estimate stays near the reference's, concept drift or not
            assert abs(guess - monitor.reference.calibrated_expected_auc) < 0.03, (name, guess)
        labelled = generate_batch("no_drift", 500, 34, start_time=pd.Timestamp("2026-03-04"))
        monitor.run(Batch(labelled, "labelled", "test"))  # labels came with the batch
    client = connect(settings.tracking).client
    assert client.get_run(runs["drifted"]).data.tags["monitoring.status"] == "ok"

    truth = pd.concat([frames["stable"], frames["drifted"],
                       frames["partial"].sample(frac=0.3, random_state=0)])
    truth = pd.concat([truth, labelled])[[ID_COLUMN, TARGET]]  # those again: known, not unknown
    extra = pd.DataFrame({ID_COLUMN: [f"nobody-{i}" for i in range(5)], TARGET: 1})
    duplicates = truth.head(3)
    first = frames["stable"][ID_COLUMN].iloc[:2]
    conflicts = pd.DataFrame({ID_COLUMN: first, TARGET: 1 - frames["stable"][TARGET].iloc[:2]})
    path = tmp_path / "labels.csv"
    pd.concat([truth, extra, duplicates, conflicts]).to_csv(path, index=False)

    outcome = register_labels(settings, path)
    assert (outcome.duplicates, len(outcome.batches)) == (3, 4)
    assert [b.action for b in outcome.batches].count("labelled_at_monitoring") == 1
    assert outcome.conflicting == 2
    assert outcome.unknown == 5
    unknown_file = next(p for p in outcome.reports if "labels_unknown_" in p)
    assert sorted(pd.read_csv(unknown_file)[ID_COLUMN]) == sorted(extra[ID_COLUMN])
    by_name = {b.run_name.split()[0]: b for b in outcome.batches}
    assert len(by_name) == 4

    stable = client.get_run(runs["stable"])
    assert stable.data.tags["labels.coverage"] == f"{1998 / 2000:.4f}"  # 2 conflicts left out
    history = client.get_metric_history(runs["stable"], "roc_auc")
    sequence = int(stable.data.tags["monitoring.sequence"])
    assert [m.step for m in history] == [sequence]  # same step as the batch's other metrics
    assert stable.data.tags["monitoring.status"] == "ok"
    assert "**Labels registered**" in stable.data.tags["mlflow.note.content"]

    drifted = client.get_run(runs["drifted"])
    assert drifted.data.tags["monitoring.status"] == "critical"  # was ok before the labels
    assert "concept_drift" in drifted.data.tags["alerts"]
    assert drifted.data.tags["retraining_recommended"] == "true"
    assert drifted.data.metrics["roc_auc"] < drifted.data.metrics["estimated_roc_auc"] - 0.1
    auc = drifted.data.metrics["roc_auc"]
    assert drifted.info.run_name == f"b{drifted.data.tags['monitoring.sequence'].zfill(4)} " \
        f"CRIT {auc:.2f} concept"  # renamed as its new verdict, in the list's width
    assert drifted.data.metrics["health/roc_auc"] == auc  # the chart view's first section
    assert drifted.data.metrics["health/status_level"] == 2

    partial = client.get_run(runs["partial"])
    assert partial.data.tags["labels.coverage"] == "0.3000"
    assert "roc_auc" not in partial.data.metrics  # below label_coverage_min: coverage only

    # retraining uses the rows whose labels have arrived, and only those
    from datetime import UTC, datetime

    from pipelines.workflows.retrain import collect_labelled_batches

    batches = {b.batch_id: b.frame for b in collect_labelled_batches(
        connect(settings.tracking), settings, datetime.now(UTC))}
    assert {k: len(v) for k, v in batches.items()} == {"stable": 1998, "drifted": 2000,
                                                       "partial": 600, "labelled": 500}
    merged = batches["drifted"].merge(frames["drifted"][[ID_COLUMN, TARGET]], on=ID_COLUMN,
                                      suffixes=("", "_truth"))
    assert (merged[TARGET] == merged[f"{TARGET}_truth"]).all()

    again = register_labels(settings, path)  # the same file: nothing changes
    assert {b.action for b in again.batches} == {"unchanged", "labelled_at_monitoring"}
    assert len(client.get_metric_history(runs["stable"], "roc_auc")) == 1
    assert client.get_run(runs["drifted"]).data.tags == drifted.data.tags


@pytest.mark.slow
def test_the_estimate_meets_the_labels_when_they_arrive(tmp_path: Path) -> None:
    """Labels withheld, then registered: over 10 batches of 5,000 rows per scenario the
    estimated ROC-AUC logged at monitoring time is within 0.01 of the realized one on
    average (the original regime and a covariate shift), for the demo's baseline as
    configured (not the tiny test models: an estimate is only as good as the model's
    calibration where the batch lies)."""
    from pipelines.config import Settings as Defaults
    from pipelines.workflows.baseline import train_baseline
    from tests.conftest import make_settings

    defaults = Defaults()
    settings = make_settings(tmp_path / "store", **{
        "data.demo_rows": defaults.data.demo_rows,
        "training.rf_n_estimators": defaults.training.rf_n_estimators,
        "training.rf_max_depth": defaults.training.rf_max_depth,
        "training.xgb_n_estimators": defaults.training.xgb_n_estimators})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings)
    monitor = Monitor(settings)
    truth, runs = [], {"no_drift": [], "covariate_shift": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for scenario in runs:
            for i in range(10):
                frame = generate_batch(scenario, 5000, 700 + i + (50 if scenario != "no_drift"
                                                                   else 0))
                truth.append(frame[[ID_COLUMN, TARGET]])
                runs[scenario].append(monitor.run(Batch(
                    frame.drop(columns=[TARGET]), f"{scenario}-{i}", "test")).run_id)
    path = tmp_path / "labels.parquet"
    pd.concat(truth).to_parquet(path)
    outcome = register_labels(settings, path)
    assert {b.action for b in outcome.batches} == {"metrics"}
    client = connect(settings.tracking).client
    for scenario, ids in runs.items():
        errors = []
        for run_id in ids:
            metrics = client.get_run(run_id).data.metrics
            errors.append(abs(metrics["estimated_roc_auc"] - metrics["roc_auc"]))
        assert sum(errors) / len(errors) <= 0.01, (scenario, errors)
