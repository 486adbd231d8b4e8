"""The monitoring workflow per problem type: batches read and stored per type, run names and
descriptions per type, late labels per type, the counts engines refusing other types; then,
with small stores, regression and multiclass models monitored end to end (stable -> ok,
concept drift -> critical with the right run name and metrics) and their labels back-filled.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipelines.data.batch import (
    PREDICTION_COLUMN,
    PROBA_PREFIX,
    Batch,
    output_columns,
    prepare_batch,
    stored_outputs,
)
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema
from pipelines.errors import ConfigError, DataError
from pipelines.monitoring import summary
from pipelines.monitoring.labels import clean_labels, join_labels, labels_digest
from pipelines.stats.estimation import Estimate
from tests import type_data
from tests.type_data import TARGETS

CLASSES = ("basic", "plus", "premium")


def _schema(problem_type: str) -> FeatureSchema:
    return FeatureSchema(target="y", numeric=("x",), categorical=("c",),
                         categories={"c": ("a", "b")}, id_column="id",
                         problem_type=problem_type,
                         classes=CLASSES if problem_type == "multiclass" else ())


def _frame(y: list[object] | None) -> pd.DataFrame:
    n = 3
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "x": [1.0, 2.0, 3.0],
                          "c": ["a", "b", "a"]})
    if y is not None:
        frame["y"] = y
    return frame


# --------------------------------------------------------------------------- batches


def test_batch_labels_are_read_as_the_models_type() -> None:
    regression = prepare_batch(Batch(_frame([1.5, 2.0, 40.25]), "b", "t.csv"),
                               _schema("regression"))
    assert regression.labels.dtype == np.float64
    assert regression.labels.tolist() == [1.5, 2.0, 40.25]
    multiclass = prepare_batch(Batch(_frame(["plus", "basic", "premium"]), "b", "t.csv"),
                               _schema("multiclass"))
    assert multiclass.labels.tolist() == [1, 0, 2]  # indices into schema.classes
    binary = prepare_batch(Batch(_frame([0, 0, 0]), "b", "t.csv"), _schema("binary"))
    assert binary.labels.dtype == np.int8  # one class alone: judged later, not refused
    assert prepare_batch(Batch(_frame(None), "b", "t.csv"), _schema("regression")).labels is None


def test_bad_labels_per_type_are_refused_with_a_clear_message() -> None:
    with pytest.raises(DataError, match=r"t.csv: target 'y' holds 1 row\(s\) with label\(s\) "
                                        r"the model was not trained on: 'gold'"):
        prepare_batch(Batch(_frame(["plus", "gold", "basic"]), "b", "t.csv"),
                      _schema("multiclass"))
    with pytest.raises(DataError, match="must be numeric"):
        prepare_batch(Batch(_frame([1.0, "lots", 2.0]), "b", "t.csv"), _schema("regression"))
    with pytest.raises(DataError, match="infinite"):
        prepare_batch(Batch(_frame([1.0, math.inf, 2.0]), "b", "t.csv"),
                      _schema("regression"))
    with pytest.raises(DataError, match="missing in 1 of 3 rows"):
        prepare_batch(Batch(_frame([1.0, None, 2.0]), "b", "t.csv"), _schema("regression"))


def test_the_stored_batch_keeps_the_outputs_per_type_and_gives_them_back() -> None:
    outputs = {
        "binary": np.array([0.1, 0.5, 0.9]),
        "regression": np.array([10.5, -2.0, 3.25]),
        "multiclass": np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.0, 0.1, 0.9]]),
    }
    labels = {"binary": [0, 1, 1], "regression": [10.0, -1.0, 3.0],
              "multiclass": ["plus", "basic", "premium"]}
    for kind, out in outputs.items():
        schema = _schema(kind)
        prepared = prepare_batch(Batch(_frame(labels[kind]), "b", "t"), schema)
        stored = prepared.stored_frame(out)
        names = list(output_columns(schema))
        assert names == {"binary": [SCORE_COLUMN], "regression": [PREDICTION_COLUMN],
                         "multiclass": [f"{PROBA_PREFIX}{c}" for c in CLASSES]}[kind]
        assert list(stored.columns) == ["id", "x", "c", "y", *names]
        np.testing.assert_array_equal(stored_outputs(stored, schema), out)
        # the labels as a batch carries them: a multiclass batch's class names, not indices
        assert stored["y"].tolist() == labels[kind]
        again = prepare_batch(Batch(stored.drop(columns=names), "b", "t"), schema)
        np.testing.assert_array_equal(again.labels, prepared.labels)
    with pytest.raises(DataError, match="lacks the output column"):
        stored_outputs(pd.DataFrame({SCORE_COLUMN: [0.5]}), _schema("regression"))


def test_prediction_columns_are_read_per_the_champions_type() -> None:
    from pipelines.workflows.monitor import batch_scores

    def champion(kind: str) -> SimpleNamespace:
        return SimpleNamespace(schema=_schema(kind), version="3",
                               score=lambda frame: np.full(len(frame), -1.0))

    frame = _frame(None).assign(pred=[1.0, 2.5, 1e6])
    prepared = prepare_batch(Batch(frame, "b", "t.csv"), _schema("regression"))
    out, by = batch_scores(prepared, champion("regression"), "pred")
    assert out.tolist() == [1.0, 2.5, 1e6]
    assert by == "column pred"
    bad = prepare_batch(Batch(frame.assign(pred=[1.0, math.inf, 2.0]), "b", "t.csv"),
                        _schema("regression"))
    with pytest.raises(DataError, match="'pred' has 1 value"):
        batch_scores(bad, champion("regression"), "pred")
    # multiclass: pred_<class>, rows summing to 1; absent -> the champion scores
    proba = {"pred_basic": [0.2, 0.6, 0.0], "pred_plus": [0.5, 0.3, 0.1],
             "pred_premium": [0.3, 0.1, 0.9]}
    schema = _schema("multiclass")
    prepared = prepare_batch(Batch(_frame(None).assign(**proba), "b", "t.csv"), schema)
    out, by = batch_scores(prepared, champion("multiclass"), "pred")
    assert out.shape == (3, 3)
    assert by == "columns pred_basic .. pred_premium"
    np.testing.assert_array_equal(out[:, 2], proba["pred_premium"])
    partial = prepare_batch(Batch(_frame(None).assign(pred_basic=[1.0, 1.0, 1.0]), "b",
                                  "t.csv"), schema)
    with pytest.raises(DataError, match="pred_plus, pred_premium"):
        batch_scores(partial, champion("multiclass"), "pred")
    off = prepare_batch(Batch(_frame(None).assign(**{**proba, "pred_basic": [0.9, 0.6, 0.0]}),
                              "b", "t.csv"), schema)
    with pytest.raises(DataError, match="do not sum to 1"):
        batch_scores(off, champion("multiclass"), "pred")
    plain = prepare_batch(Batch(_frame(None), "b", "t.csv"), schema)
    assert batch_scores(plain, champion("multiclass"), "pred")[1] == "champion v3"


def test_counts_engines_refuse_other_types_before_any_run() -> None:
    from pipelines.workflows.engines import check_counts_engine

    check_counts_engine("chunked", "binary")
    for kind in ("regression", "multiclass"):
        with pytest.raises(ConfigError, match=f"judges binary models only; the champion is a "
                                              f"{kind} model. Use engine.name = memory"):
            check_counts_engine("spark", kind)


# --------------------------------------------------------------------------- run names


def test_run_names_carry_the_types_primary_metric() -> None:
    def name(kind: str, status: str, value: float | None, guess: float | None,
             rules: set[str], labelled: bool = True) -> str:
        return summary.batch_name(4, status, summary.measured(value, guess, labelled, kind),
                                  rules, kind)

    assert name("regression", "critical", 41.23, None, {"concept_drift", "performance"}) == (
        "b0004 CRIT rmse 41.2 concept")
    assert name("multiclass", "critical", 0.4123, None, {"concept_drift", "performance"}) == (
        "b0004 CRIT f1 0.41 concept")
    assert name("regression", "warning", None, 38.04, {"performance_estimated"}, False) == (
        "b0004 WARN est rmse 38.0")
    assert name("multiclass", "ok", None, 0.81, set(), False) == "b0004 ok est f1 0.81"
    assert name("regression", "warning", 12.0, None, {"prediction_drift"}) == (
        "b0004 WARN rmse 12.0 preds")
    assert name("multiclass", "warning", 0.7, None, {"prediction_drift"}) == (
        "b0004 WARN f1 0.70 classes")
    assert name("regression", "ok", None, None, set(), False) == "b0004 ok no labels"
    # binary: unchanged
    assert name("binary", "critical", 0.58, None, {"concept_drift", "performance"}) == (
        "b0004 CRIT 0.58 concept")
    assert name("binary", "warning", 0.8, None, {"prediction_drift"}) == (
        "b0004 WARN 0.80 scores")
    for value, text in ((41.23, "41.2"), (5.678, "5.68"), (0.1234, "0.123"), (1234.5, "1234"),
                        (123456.0, "1.23e+05")):
        assert summary.metric_number(value, "regression") == text
    for kind in ("regression", "multiclass"):  # a few characters over the binary width
        for status in ("ok", "warning", "critical"):
            longest = name(kind, status, 123.4, None, {"low_sample"})
            assert len(longest) <= summary.NAME_WIDTH + 8, longest


def test_headlines_name_the_metric_and_its_direction() -> None:
    assert summary.headline({"performance"}, 0, 5, "regression") == "rmse above ceiling"
    assert summary.headline({"performance"}, 0, 5, "multiclass") == "macro f1 below floor"
    assert summary.headline({"performance_estimated"}, 0, 5, "regression") == (
        "estimated rmse above ceiling")
    assert summary.headline({"performance"}, 0, 5) == "auc below floor"
    assert summary.headline({"prediction_drift"}, 0, 5, "multiclass") == (
        "predicted-class drift")


def _report(kind: str, **changes: object) -> SimpleNamespace:
    """A stand-in for a MonitoringReport, with what the summary reads."""
    base = dict(problem_type=kind, status="critical", batch_id="b4", n_rows=2000,
                has_labels=True, performance=None, baseline={}, estimated={},
                settings={"rmse_ceiling": None, "rmse_ratio_ceiling": 1.25,
                          "macro_f1_floor": 0.5, "roc_auc_floor": 0.75},
                concept_drift=None, alerts=(), feature_drift=(), drifted_features=(),
                drift_share=0.0, retraining_recommended=True, tables={})
    base.update(changes)
    return SimpleNamespace(**base)


def test_description_facts_per_type() -> None:
    report = _report("regression", performance={"rmse": 41.23, "mae": 30.0},
                     baseline={"rmse": 24.0})
    facts = summary.performance_facts(report)
    assert facts == ["RMSE **41.23** (ceiling 30 = 1.25 x the reference, reference 24)"]
    fixed = _report("regression", performance={"rmse": 41.23},
                    baseline={"rmse": 24.0}, settings={"rmse_ceiling": 35.0})
    assert summary.performance_facts(fixed) == [
        "RMSE **41.23** (ceiling 35, reference 24)"]
    unlabelled = _report("regression", has_labels=False, baseline={"rmse": 24.0},
                         estimated={"rmse": Estimate.unbounded(25.5, 0.5)})
    assert summary.performance_facts(unlabelled) == [
        "no labels yet", "estimated RMSE 25.5 (95% 24.52-26.48)",
        "reference RMSE 24 (ceiling 30 = 1.25 x the reference)"]
    multi = _report("multiclass", performance={"macro_f1": 0.4123, "accuracy": 0.5},
                    baseline={"macro_f1": 0.8})
    assert summary.performance_facts(multi) == [
        "macro F1 **0.412** (floor 0.5, reference 0.800)"]
    assert summary.run_name(multi, 4) == "b0004 CRIT f1 0.41"


def test_confusion_table_rows_are_actual_classes() -> None:
    report = _report("multiclass", tables={"confusion_matrix": {
        "classes": list(CLASSES), "counts": [[5, 1, 0], [2, 6, 2], [0, 0, 0]]}})
    table = summary.confusion_table(report)
    assert list(table.columns) == ["actual", "predicted basic", "predicted plus",
                                   "predicted premium", "rows", "recall"]
    assert table["actual"].tolist() == list(CLASSES)
    assert table["rows"].tolist() == [6, 10, 0]
    assert table["recall"].iloc[1] == pytest.approx(0.6)
    assert math.isnan(table["recall"].iloc[2])
    assert summary.confusion_table(_report("regression")) is None


# --------------------------------------------------------------------------- late labels


def test_late_labels_per_type() -> None:
    numbers = clean_labels(pd.DataFrame({"id": ["a", "b", "b", "c"], "y": [1.5, 2, 2, "3e2"]}),
                           "id", "y", "l.csv", problem_type="regression")
    assert numbers.labels.to_dict() == {"a": 1.5, "b": 2.0, "c": 300.0}
    assert numbers.duplicates == 1
    with pytest.raises(DataError, match=r"2 label\(s\) in 'y' are not finite numbers "
                                        r"\(e.g. 'n/a', inf\)"):
        clean_labels(pd.DataFrame({"id": ["a", "b"], "y": ["n/a", math.inf]}), "id", "y",
                     "l.csv", problem_type="regression")
    classes = clean_labels(pd.DataFrame({"id": ["a", "b", "c", "c"],
                                         "y": ["plus", "basic", "plus", "premium"]}),
                           "id", "y", "l.csv", problem_type="multiclass", classes=CLASSES)
    assert classes.labels.to_dict() == {"a": 1, "b": 0}
    assert classes.conflicting_ids == ("c",)
    joined = join_labels(pd.Series(["b", "x", "a"]), classes)
    assert np.isnan(joined[1])
    assert classes.values(joined[[0, 2]]).tolist() == ["basic", "plus"]
    with pytest.raises(DataError, match=r"label\(s\) the model was not trained on: 'gold' "
                                        r"\(it knows 'basic', 'plus', 'premium'\)"):
        clean_labels(pd.DataFrame({"id": ["a", "b"], "y": ["gold", "plus"]}), "id", "y",
                     "l.csv", problem_type="multiclass", classes=CLASSES)
    # the digest tells different values apart (a binary digest would read 2.5 as 2)
    ids = pd.Series(["a", "b"])
    assert labels_digest(ids, np.array([1.0, 2.5]), "regression") != labels_digest(
        ids, np.array([1.0, 2.0]), "regression")
    assert labels_digest(ids, np.array([1.0, 0.0])) == labels_digest(ids, np.array([1.0, 0.0]),
                                                                     "binary")


def test_binary_reports_keep_their_names() -> None:
    """A binary report's run name and facts do not change with types (no metric word)."""
    report = _report("binary", performance={"roc_auc": 0.5764}, baseline={"roc_auc": 0.86})
    assert summary.run_name(report, 6) == "b0006 CRIT 0.58"
    assert summary.performance_facts(report) == [
        "ROC-AUC **0.576** (floor 0.75, reference 0.860)"]


# --------------------------------------------------------------------------- end to end

def synthetic(task: str, n: int, seed: int, *, concept: bool = False,
              prefix: str = "c") -> pd.DataFrame:
    """:func:`tests.type_data.synthetic` with this module's classes."""
    return type_data.synthetic(task, n, seed, concept=concept, prefix=prefix, classes=CLASSES)


def _trained(task: str, root: object) -> object:
    """Settings on a store of its own with a baseline of ``task`` trained on synthetic data."""
    import warnings
    from pathlib import Path

    from pipelines.workflows.baseline import train_baseline
    from tests.conftest import make_settings

    root = Path(str(root))
    root.mkdir(parents=True, exist_ok=True)
    data = root / "train.csv"
    synthetic(task, 3000, seed=1).to_csv(data, index=False)
    settings = make_settings(root / "store", data__path=str(data), data__problem_type=task,
                             data__target=TARGETS[task], data__timestamp_column=None,
                             data__id_column="customer_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings)
    return settings


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_a_model_of_each_type_is_monitored_and_its_labels_back_filled(task: str,
                                                                       tmp_path: object) -> None:
    import re
    import warnings
    from pathlib import Path

    from pipelines.problems import problem
    from pipelines.store import connect
    from pipelines.workflows.labels import register_labels
    from pipelines.workflows.monitor import CONFUSION_TABLE_ARTIFACT, Monitor

    settings = _trained(task, tmp_path)
    target, info = TARGETS[task], problem(task)
    metric = info.primary_metric
    short = summary.METRIC_SHORT[task]
    monitor = Monitor(settings)
    assert monitor.problem_type == task
    client = connect(settings.tracking).client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stable = monitor.run(Batch(synthetic(task, 1500, seed=11), "stable", "test"))
        drifted = monitor.run(Batch(synthetic(task, 1500, seed=12, concept=True), "concept",
                                    "test"))
        unlabelled_frame = synthetic(task, 1500, seed=13, concept=True)
        unlabelled = monitor.run(Batch(unlabelled_frame.drop(columns=[target]), "later",
                                       "test"))

    assert stable.report.status == "ok", [a.message for a in stable.report.alerts]
    assert not stable.report.drifted_features
    run = client.get_run(stable.run_id)
    value = run.data.metrics[metric]
    assert run.info.run_name == f"b0001 ok {short} {summary.metric_number(value, task)}"
    assert set(info.metrics) <= set(run.data.metrics)
    assert f"reference_{metric}" in run.data.metrics
    params = run.data.params
    assert params["problem_type"] == task
    assert run.data.tags["problem_type"] == task  # late labels read the run's type
    assert ("rmse_ceiling" if task == "regression" else "macro_f1_floor") in params
    assert "roc_auc_floor" not in params
    note = run.data.tags["mlflow.note.content"]
    assert f"{info.label} **" in note

    report = drifted.report
    assert report.status == "critical"
    rules = {a.rule for a in report.alerts}
    assert {"performance", "concept_drift"} <= rules, [a.message for a in report.alerts]
    run = client.get_run(drifted.run_id)
    value = run.data.metrics[metric]
    assert run.info.run_name == (
        f"b0002 CRIT {short} {summary.metric_number(value, task)} concept")
    assert not info.better(value, run.data.metrics[f"reference_{metric}"])
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("### CRITICAL: concept drift")
    artifacts = {a.path for a in client.list_artifacts(drifted.run_id)}
    assert (CONFUSION_TABLE_ARTIFACT in artifacts) == (task == "multiclass")

    # the unlabelled batch: estimated only, then its labels arrive
    run = client.get_run(unlabelled.run_id)
    assert metric not in run.data.metrics
    assert f"estimated_{metric}" in run.data.metrics
    assert re.fullmatch(rf"b0003 (ok|WARN|CRIT) (no labels|est {short} [\d.]+)( \w+)?",
                        run.info.run_name), run.info.run_name
    labels = Path(str(tmp_path)) / "labels.csv"
    unlabelled_frame[["customer_id", target]].to_csv(labels, index=False)
    outcome = register_labels(settings, labels)
    done = {b.run_id: b for b in outcome.batches}
    assert done[unlabelled.run_id].action == "metrics"
    assert done[unlabelled.run_id].status_after == "critical"
    assert outcome.unknown == 0
    run = client.get_run(unlabelled.run_id)
    value = run.data.metrics[metric]
    assert run.data.metrics["label_coverage"] == 1.0
    assert run.info.run_name == (
        f"b0003 CRIT {short} {summary.metric_number(value, task)} concept")
    assert f"Realized {info.label} " in run.data.tags["mlflow.note.content"]
    stored = connect(settings.tracking).read_parquet_artifact(unlabelled.run_id,
                                                              "batch/labels.parquet")
    if task == "multiclass":  # stored as the class labels, as a batch carries them
        assert set(stored[target]) <= set(CLASSES)
    else:
        np.testing.assert_allclose(np.sort(stored[target].to_numpy()),
                                   np.sort(unlabelled_frame[target].to_numpy()))
    # the same file again changes nothing
    again = register_labels(settings, labels)
    assert {b.run_id: b.action for b in again.batches}[unlabelled.run_id] == "unchanged"
    # the counts engines judge binary models only: refused before any run is created
    from pipelines.workflows.engines import monitor_counted

    before = len(client.search_runs([stable.experiment_id]))
    batch_file = Path(str(tmp_path)) / "big.csv"
    synthetic(task, 50, seed=14).to_csv(batch_file, index=False)
    with pytest.raises(ConfigError, match="judges binary models only"):
        monitor_counted(settings, str(batch_file), "chunked")
    assert len(client.search_runs([stable.experiment_id])) == before
    # a label the model was never trained on refuses the file, naming it
    if task == "multiclass":
        bad = Path(str(tmp_path)) / "bad.csv"
        pd.DataFrame({"customer_id": ["x"], target: ["platinum"]}).to_csv(bad, index=False)
        with pytest.raises(DataError, match="'platinum'"):
            register_labels(settings, bad)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_an_external_model_of_each_type_is_monitored_without_false_drift(
        task: str, tmp_path: object) -> None:
    """A model trained elsewhere, registered with its own predictions (no training): a stable
    batch carrying the same kind of predictions is ok, nothing drifted."""
    import warnings
    from pathlib import Path

    from pipelines.problems import problem
    from pipelines.store import connect
    from pipelines.workflows.external import register_reference
    from pipelines.workflows.monitor import Monitor
    from tests.monitoring.test_external import _type_settings, _with_predictions
    from tests.retraining.test_training_types import synthetic as reference_rows

    root = Path(str(tmp_path))
    path = root / "reference.parquet"
    _with_predictions(task, reference_rows(task, 1500, seed=22)).to_parquet(path)
    settings = _type_settings(root, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_reference(settings, path, "pred")
        monitor = Monitor(settings)
        outcome = monitor.run(Batch(_with_predictions(task, reference_rows(task, 1500, seed=24)),
                                    "stable", "test"))
    report = outcome.report
    assert monitor.champion.external
    assert report.problem_type == task
    assert report.status == "ok", [a.message for a in report.alerts]
    assert not report.drifted_features
    assert not report.prediction_drift.drifted
    run = connect(settings.tracking).client.get_run(outcome.run_id)
    metric = problem(task).primary_metric
    assert run.info.run_name == (f"b0001 ok {summary.METRIC_SHORT[task]} "
                                 f"{summary.metric_number(run.data.metrics[metric], task)}")


def test_the_logged_limit_is_the_types() -> None:
    from pipelines.config import load_settings
    from pipelines.workflows.monitor import last_metric_tag, performance_params

    settings = load_settings(env={}, overrides={})
    assert performance_params(settings, "binary", {}) == {"roc_auc_floor": 0.75}
    assert performance_params(settings, "multiclass", {}) == {
        "problem_type": "multiclass", "macro_f1_floor": 0.5}
    assert performance_params(settings, "regression", {"rmse": 24.0}) == {
        "problem_type": "regression", "rmse_ratio_ceiling": 1.25, "rmse_ceiling": "30"}
    fixed = load_settings(env={}, overrides={"monitoring.rmse_ceiling": 35.5})
    assert performance_params(fixed, "regression", {"rmse": 24.0}) == {
        "problem_type": "regression", "rmse_ceiling": "35.5"}
    assert last_metric_tag("roc_auc") == "monitoring.last_roc_auc"
    assert last_metric_tag("rmse") == "monitoring.last_rmse"
