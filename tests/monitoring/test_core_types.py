"""The monitoring core per problem type (regression, multiclass) on synthetic data with a
known rule: the model is the rule itself, so the tests check the statistics, the estimate and
the alert logic, not a particular trained model.

* regression: y = 3 x1 + 2 x2 + plan effect + noise whose spread grows with |x2|;
* multiclass: three plans whose logits are linear in the features; labels drawn from the
  model's own probabilities (the model is calibrated), concept drift draws them from a rule
  with two classes swapped.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import MonitoringSettings
from pipelines.data.batch import Batch, PreparedBatch, prepare_batch
from pipelines.data.schema import FeatureSchema, target_array
from pipelines.errors import ConfigError, DataError
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.engine import evaluate_batch, evaluate_counts
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.quality import QualityReport
from pipelines.monitoring.reference import (
    ReferenceContext,
    output_columns,
    outputs_from_frame,
)
from pipelines.monitoring.report import CHART_SECTION, MonitoringReport, report_metrics
from pipelines.stats.estimation import Estimate

SETTINGS = MonitoringSettings()
PLANS = ("a", "b", "c")
CLASSES = ("basic", "plus", "pro")
REGRESSION = FeatureSchema(target="charges", numeric=("x1", "x2"), categorical=("plan",),
                           categories={"plan": PLANS}, problem_type="regression")
MULTICLASS = FeatureSchema(target="next_plan", numeric=("x1", "x2"), categorical=("plan",),
                           categories={"plan": PLANS}, problem_type="multiclass",
                           classes=CLASSES)
PLAN_EFFECT = {"a": 0.0, "b": 1.0, "c": -1.0}


def _features(n: int, rng: np.random.Generator, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "x1": rng.normal(shift, 1.0, n),
        "x2": rng.normal(0.0, 1.0, n),
        "plan": rng.choice(PLANS, n, p=[0.5, 0.3, 0.2]),
    })


# --------------------------------------------------------------------------- regression


def _mean_charges(frame: pd.DataFrame, x1_weight: float = 3.0) -> np.ndarray:
    plan = frame["plan"].map(PLAN_EFFECT).to_numpy(dtype=np.float64)
    return 50.0 + x1_weight * frame["x1"].to_numpy() + 2.0 * frame["x2"].to_numpy() + plan


def _regression_frame(n: int, seed: int, *, shift: float = 0.0,
                      x1_weight: float = 3.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = _features(n, rng, shift=shift)
    spread = 0.5 + 0.8 * np.abs(frame["x2"].to_numpy())
    frame["charges"] = _mean_charges(frame, x1_weight) + rng.normal(0.0, 1.0, n) * spread
    return frame


def _predict(frame: pd.DataFrame) -> np.ndarray:
    return _mean_charges(frame)


@pytest.fixture(scope="module")
def reg_ctx() -> ReferenceContext:
    """Fitting the direct-loss estimator (XGBoost) takes seconds, and far longer on a busy
    machine: the tests using it are marked slow."""
    ref = _regression_frame(4000, seed=1)
    return ReferenceContext.fit(ref, REGRESSION, _predict(ref), n_bins=SETTINGS.psi_bins,
                                decision_threshold=0.5)


def _prepared(frame: pd.DataFrame, schema: FeatureSchema, *,
              labelled: bool = True) -> PreparedBatch:
    """The batch prepared without its target, the target then read per type (what
    prepare_batch gives once it reads every type's labels)."""
    prepared = prepare_batch(Batch(frame.drop(columns=[schema.target]), "b0001", "test"),
                             schema)
    labels = target_array(frame, schema, "test") if labelled else None
    return replace(prepared, labels=labels)


def _policy(schema: FeatureSchema) -> MonitoringPolicy:
    return MonitoringPolicy.from_settings(SETTINGS, problem_type=schema.problem_type)


def _regression_report(frame: pd.DataFrame, ctx: ReferenceContext, *,
                       labelled: bool = True) -> MonitoringReport:
    return evaluate_batch(_prepared(frame, REGRESSION, labelled=labelled), _predict(frame), ctx,
                          _policy(REGRESSION))


@pytest.mark.slow
def test_regression_context_holds_the_baseline_and_the_loss_estimator(reg_ctx) -> None:
    assert reg_ctx.problem_type == "regression"
    assert set(reg_ctx.baseline) == {"rmse", "mae", "mape", "r2", "bias"}
    assert reg_ctx.loss_estimator is not None
    # the estimate on the reference rows themselves is close to the realized RMSE
    assert reg_ctx.reference_estimated["rmse"] == pytest.approx(reg_ctx.baseline["rmse"],
                                                                rel=0.05)


@pytest.mark.slow
def test_regression_stable_batch_is_ok(reg_ctx) -> None:
    report = _regression_report(_regression_frame(2000, seed=11), reg_ctx)
    assert report.problem_type == "regression"
    assert report.status == "ok", [a.message for a in report.alerts]
    assert not report.prediction_drift.drifted
    assert report.target_drift is not None
    assert report.target_drift.test == "ks"
    assert not report.target_drift.drifted
    assert report.concept_drift is not None
    assert not report.concept_drift.detected
    assert report.concept_drift.metric == "rmse"
    assert set(report.estimated) == {"rmse", "mae"}
    assert report.performance is not None
    assert report.performance["rmse"] == pytest.approx(reg_ctx.baseline["rmse"], rel=0.1)


@pytest.mark.slow
def test_regression_covariate_shift_is_drift_not_concept_drift(reg_ctx) -> None:
    report = _regression_report(_regression_frame(2000, seed=12, shift=1.5), reg_ctx)
    assert "x1" in report.drifted_features
    assert report.prediction_drift.drifted  # the predictions follow x1
    rules = {a.rule for a in report.alerts}
    assert "drift_share" in rules  # 1 of 3 features > 30 %
    assert "concept_drift" not in rules
    assert "performance" not in rules
    assert report.concept_drift is not None
    assert not report.concept_drift.detected


@pytest.mark.slow
def test_regression_concept_drift_raises_concept_and_performance_alerts(reg_ctx) -> None:
    report = _regression_report(_regression_frame(2000, seed=13, x1_weight=4.5), reg_ctx)
    assert report.drifted_features == ()  # the features did not move
    assert report.concept_drift is not None
    assert report.concept_drift.detected
    alerts = {a.rule: a for a in report.alerts}
    assert {"concept_drift", "performance"} <= set(alerts)
    assert report.retraining_recommended
    ceiling = 1.25 * reg_ctx.baseline["rmse"]
    assert alerts["performance"].threshold == pytest.approx(ceiling)
    message = alerts["performance"].message
    assert message.startswith("RMSE ")
    assert "is above the ceiling" in message
    assert "(1.25 x reference" in message


@pytest.mark.slow
def test_regression_unlabelled_batch_gets_the_estimate_and_its_alert(reg_ctx) -> None:
    # covariate shift into the noisy region: the estimate rises past the ceiling
    rng = np.random.default_rng(14)
    frame = _regression_frame(2000, seed=14)
    frame["x2"] = rng.normal(0.0, 3.0, len(frame))
    report = _regression_report(frame, reg_ctx, labelled=False)
    assert report.performance is None
    assert report.target_drift is None
    guess = report.estimated["rmse"]
    assert guess.value > 1.25 * reg_ctx.baseline["rmse"]
    alerts = {a.rule: a for a in report.alerts}
    assert "performance_estimated" in alerts
    assert alerts["performance_estimated"].message.startswith("estimated RMSE ")
    assert "no labels yet" in alerts["performance_estimated"].message


def test_regression_absolute_ceiling_from_settings() -> None:
    settings = MonitoringSettings(rmse_ceiling=30.0)
    policy = MonitoringPolicy.from_settings(settings, problem_type="regression")
    assert policy.primary.limit == 30.0
    assert policy.primary.bad == "above"
    assert policy.for_reference({"rmse": 10.0}).primary.limit == 30.0
    relative = MonitoringPolicy.from_settings(SETTINGS, problem_type="regression",
                                              reference_primary=24.0)
    assert relative.primary.limit == pytest.approx(30.0)
    assert relative.performance_basis == "1.25 x reference 24.0"


@pytest.mark.slow
def test_regression_estimate_within_five_percent_over_ten_stable_batches(reg_ctx) -> None:
    """The issue's "Done when": mean |estimated - realized RMSE| <= 5 % of the realized RMSE
    over 10 unlabelled stable batches."""
    errors, realized = [], []
    for seed in range(100, 110):
        frame = _regression_frame(2000, seed=seed)
        report = _regression_report(frame, reg_ctx, labelled=False)
        actual = math.sqrt(float(np.mean((frame["charges"].to_numpy() - _predict(frame)) ** 2)))
        errors.append(abs(report.estimated["rmse"].value - actual))
        realized.append(actual)
    assert np.mean(errors) <= 0.05 * np.mean(realized), (np.mean(errors), np.mean(realized))


# --------------------------------------------------------------------------- multiclass

_WEIGHTS = np.array([[0.0, 0.0], [2.0, 0.5], [0.5, 2.5]])  # per class: x1, x2
_PLAN_LOGIT = {"a": (0.0, 0.0, 0.0), "b": (0.0, 0.8, 0.0), "c": (0.0, 0.0, 0.8)}


def _class_probabilities(frame: pd.DataFrame) -> np.ndarray:
    x = frame[["x1", "x2"]].to_numpy(dtype=np.float64)
    logits = x @ _WEIGHTS.T + np.array([_PLAN_LOGIT[p] for p in frame["plan"]])
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def _multiclass_frame(n: int, seed: int, *, shift: float = 0.0,
                      concept: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = _features(n, rng, shift=shift)
    p = _class_probabilities(frame)
    if concept:  # plus and pro swap: P(y | x) changes, the features do not
        p = p[:, [0, 2, 1]]
    u = rng.random(n)[:, None]
    idx = (u > np.cumsum(p, axis=1)).sum(axis=1).clip(0, len(CLASSES) - 1)
    frame["next_plan"] = np.asarray(CLASSES, dtype=object)[idx]
    return frame


@pytest.fixture(scope="module")
def mc_ctx() -> ReferenceContext:
    ref = _multiclass_frame(6000, seed=2)
    return ReferenceContext.fit(ref, MULTICLASS, _class_probabilities(ref),
                                n_bins=SETTINGS.psi_bins, decision_threshold=0.5)


def _multiclass_report(frame: pd.DataFrame, ctx: ReferenceContext, *,
                       labelled: bool = True) -> MonitoringReport:
    return evaluate_batch(_prepared(frame, MULTICLASS, labelled=labelled),
                          _class_probabilities(frame), ctx, _policy(MULTICLASS))


def test_multiclass_context_holds_class_shares_and_calibration(mc_ctx) -> None:
    assert mc_ctx.problem_type == "multiclass"
    assert mc_ctx.prediction_classes is not None
    assert set(mc_ctx.prediction_classes.categories) == set(CLASSES)
    assert len(mc_ctx.class_references) == 3
    assert mc_ctx.target_reference.name == "next_plan"
    assert set(mc_ctx.target_reference.categories) == set(CLASSES)  # type: ignore[union-attr]
    assert {"accuracy", "macro_f1", "recall_pro"} <= set(mc_ctx.baseline)
    assert mc_ctx.multiclass_calibration is not None
    assert mc_ctx.reference_estimated["accuracy"] == pytest.approx(
        mc_ctx.baseline["accuracy"], abs=0.02)


def test_multiclass_stable_batch_is_ok_with_a_confusion_matrix(mc_ctx) -> None:
    frame = _multiclass_frame(3000, seed=21)
    report = _multiclass_report(frame, mc_ctx)
    assert report.status == "ok", [a.message for a in report.alerts]
    assert report.prediction_drift.test == "chi2"
    assert not report.prediction_drift.drifted
    assert [d["class"] for d in report.output_drift_detail] == list(CLASSES)
    assert not any(d["drifted"] for d in report.output_drift_detail)
    table = report.tables["confusion_matrix"]
    assert table["classes"] == list(CLASSES)
    counts = np.array(table["counts"])
    assert counts.shape == (3, 3)
    assert counts.sum() == len(frame)
    # rows are the true class
    truth = pd.Series(frame["next_plan"]).value_counts()
    assert counts.sum(axis=1).tolist() == [int(truth.get(c, 0)) for c in CLASSES]
    assert report.performance is not None
    assert report.performance["accuracy"] == pytest.approx(np.trace(counts) / counts.sum())
    assert report.concept_drift is not None
    assert report.concept_drift.metric == "accuracy"
    assert not report.concept_drift.detected


def test_multiclass_covariate_shift_drifts_the_predicted_class_shares(mc_ctx) -> None:
    report = _multiclass_report(_multiclass_frame(3000, seed=22, shift=1.5), mc_ctx)
    assert "x1" in report.drifted_features
    assert report.prediction_drift.drifted
    assert any(d["drifted"] for d in report.output_drift_detail)
    rules = {a.rule for a in report.alerts}
    assert "prediction_drift" in rules
    assert "concept_drift" not in rules
    message = next(a.message for a in report.alerts if a.rule == "prediction_drift")
    assert message.startswith("predicted-class shares drifted: chi-square")


def test_multiclass_concept_drift_raises_concept_and_performance_alerts(mc_ctx) -> None:
    report = _multiclass_report(_multiclass_frame(3000, seed=23, concept=True), mc_ctx)
    assert report.drifted_features == ()
    assert report.concept_drift is not None
    assert report.concept_drift.detected
    alerts = {a.rule: a for a in report.alerts}
    assert {"concept_drift", "performance"} <= set(alerts)
    assert alerts["performance"].message.startswith("macro F1 ")
    assert "is below the floor 0.50" in alerts["performance"].message
    assert report.retraining_recommended


def test_multiclass_rare_class_is_a_warning_not_a_refusal(mc_ctx) -> None:
    frame = _multiclass_frame(3000, seed=24)
    keep = (frame["next_plan"] != "pro") | (np.arange(len(frame)) % 200 == 0)
    report = _multiclass_report(frame.loc[keep].reset_index(drop=True), mc_ctx)
    low = [a for a in report.alerts if a.rule == "low_sample"]
    assert len(low) == 1
    assert "pro" in low[0].message
    assert report.performance is not None
    assert report.concept_drift is not None


@pytest.mark.slow
def test_multiclass_estimate_within_one_point_over_ten_stable_batches(mc_ctx) -> None:
    """The issue's "Done when": mean |estimated - realized accuracy| <= 0.01 over 10
    unlabelled stable batches."""
    errors = []
    for seed in range(200, 210):
        frame = _multiclass_frame(5000, seed=seed)
        report = _multiclass_report(frame, mc_ctx, labelled=False)
        decided = np.asarray(CLASSES, dtype=object)[
            np.argmax(_class_probabilities(frame), axis=1)]
        actual = float(np.mean(decided == frame["next_plan"].to_numpy()))
        errors.append(abs(report.estimated["accuracy"].value - actual))
    assert np.mean(errors) <= 0.01, errors


# --------------------------------------------------------------------------- store, guards


def _assert_round_trip(tmp_path: Path, name: str, ctx: ReferenceContext,
                       frame: pd.DataFrame, outputs) -> None:
    if True:
        path = tmp_path / f"{name}.npz"
        ctx.save(path)
        loaded = ReferenceContext.load(path)
        assert loaded.problem_type == ctx.problem_type
        assert loaded.baseline.keys() == ctx.baseline.keys()
        schema = ctx.schema
        before = evaluate_batch(_prepared(frame, schema), outputs(frame), ctx, _policy(schema))
        after = evaluate_batch(_prepared(frame, schema), outputs(frame), loaded,
                               _policy(schema))
        assert after.to_dict()["drift"] == before.to_dict()["drift"]
        assert after.prediction_drift == before.prediction_drift
        assert after.target_drift == before.target_drift
        for metric, guess in before.estimated.items():
            assert after.estimated[metric].value == pytest.approx(guess.value, rel=1e-9)


def test_multiclass_context_round_trips_through_npz(tmp_path: Path, mc_ctx) -> None:
    _assert_round_trip(tmp_path, "mc", mc_ctx, _multiclass_frame(500, seed=32),
                       _class_probabilities)


@pytest.mark.slow
def test_regression_context_round_trips_through_npz(tmp_path: Path, reg_ctx) -> None:
    _assert_round_trip(tmp_path, "reg", reg_ctx, _regression_frame(500, seed=31), _predict)


def test_regression_without_an_estimator_is_judged_on_realized_rmse() -> None:
    """A reference too small for the loss estimator (< 100 rows): no estimate, no concept
    verdict, the realized RMSE still judged against the relative ceiling."""
    ref = _regression_frame(90, seed=3)
    ctx = ReferenceContext.fit(ref, REGRESSION, _predict(ref), n_bins=5,
                               decision_threshold=0.5)
    assert ctx.loss_estimator is None
    assert ctx.reference_estimated == {}
    report = _regression_report(_regression_frame(400, seed=33, x1_weight=6.0), ctx)
    assert report.estimated == {}
    assert report.concept_drift is None
    alerts = {a.rule: a for a in report.alerts}
    assert alerts["performance"].threshold == pytest.approx(1.25 * ctx.baseline["rmse"])
    assert report.performance is not None
    assert report.performance["rmse"] > alerts["performance"].threshold


def test_old_binary_context_loads_unchanged(tmp_path: Path) -> None:
    """A context written before problem types (format /1, schema without a type) is binary."""
    rng = np.random.default_rng(5)
    frame = _features(400, rng)
    scores = 1 / (1 + np.exp(-frame["x1"].to_numpy()))
    frame["churn"] = (rng.random(400) < scores).astype(int)
    schema = FeatureSchema(target="churn", numeric=("x1", "x2"), categorical=("plan",),
                           categories={"plan": PLANS})
    ctx = ReferenceContext.fit(frame, schema, scores, n_bins=10, decision_threshold=0.5)
    path = tmp_path / "old.npz"
    ctx.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["metadata"]))
    meta["extra"]["format"] = "reference-context/1"
    for key in ("problem_type", "reference_estimated"):
        meta["extra"].pop(key)
    for key in ("problem_type", "classes"):
        meta["extra"]["schema"].pop(key)
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    loaded = ReferenceContext.load(path)
    assert loaded.problem_type == "binary"
    assert loaded.baseline == ctx.baseline
    assert loaded.target_reference == ctx.target_reference
    assert loaded.calibration.kept == ctx.calibration.kept


def test_outputs_stored_beside_rows_read_back(mc_ctx) -> None:
    frame = _multiclass_frame(50, seed=41)
    proba = _class_probabilities(frame)
    stored = frame.assign(**output_columns(MULTICLASS, proba))
    assert [c for c in stored.columns if c.startswith("__proba__")] == [
        f"__proba__{c}" for c in CLASSES]
    np.testing.assert_array_equal(outputs_from_frame(stored, MULTICLASS), proba)
    pred = np.arange(5.0)
    assert outputs_from_frame(pd.DataFrame(output_columns(REGRESSION, pred)),
                              REGRESSION).tolist() == pred.tolist()


def test_guards(mc_ctx) -> None:
    frame = _multiclass_frame(300, seed=51)
    prepared = _prepared(frame, MULTICLASS)
    with pytest.raises(DataError, match="one probability column per class"):
        evaluate_batch(prepared, _class_probabilities(frame)[:, :2], mc_ctx,
                       _policy(MULTICLASS))
    with pytest.raises(ConfigError, match="problem_type='multiclass'"):
        evaluate_batch(prepared, _class_probabilities(frame), mc_ctx,
                       MonitoringPolicy.from_settings(SETTINGS))
    with pytest.raises(ConfigError, match="engine.name = memory"):
        evaluate_counts(None, None, mc_ctx, _policy(MULTICLASS),  # type: ignore[arg-type]
                        batch_id="b")


def test_alert_messages_name_metric_and_direction() -> None:
    quality = QualityReport(n_rows=1000, columns=())
    calm = ScoreDrift("ks", 0.01, 0.5, 0.01, "psi", False)
    reg = MonitoringPolicy.from_settings(SETTINGS, problem_type="regression",
                                         reference_primary=24.0)
    verdict = evaluate_alerts(
        performance={"rmse": 41.2}, feature_drift=[], drift_share=0.0,
        prediction_drift=calm, target_drift=None, concept=None, quality=quality, policy=reg)
    [alert] = verdict.alerts
    assert (alert.rule, alert.message) == (
        "performance", "RMSE 41.2 is above the ceiling 30.0 (1.25 x reference 24.0)")
    mc = _policy(MULTICLASS)
    verdict = evaluate_alerts(
        performance={"macro_f1": 0.41}, feature_drift=[], drift_share=0.0,
        prediction_drift=calm, target_drift=None, concept=None, quality=quality, policy=mc)
    assert [(a.rule, a.message) for a in verdict.alerts] == [
        ("performance", "macro F1 0.410 is below the floor 0.50")]
    verdict = evaluate_alerts(
        performance=None, feature_drift=[], drift_share=0.0, prediction_drift=calm,
        target_drift=None, concept=None, quality=quality, policy=mc,
        estimated={"macro_f1": Estimate(0.4, 0.35, 0.45)})
    [alert] = verdict.alerts
    assert alert.rule == "performance_estimated"
    assert alert.message.startswith("estimated macro F1 0.400 (95% 0.350-0.450) is below")


@pytest.mark.slow
def test_logged_metrics_per_type(reg_ctx, mc_ctx) -> None:
    reg = report_metrics(_regression_report(_regression_frame(1000, seed=61), reg_ctx))
    assert {f"{CHART_SECTION}/{k}" for k in
            ("status_level", "rmse", "estimated_rmse", "drift_share")} <= set(reg)
    assert {"reference_rmse", "estimated_rmse_lower", "estimated_rmse_upper",
            "estimated_mae", "concept_drift_unexplained_drop"} <= set(reg)
    assert "expected_roc_auc" not in reg
    assert f"{CHART_SECTION}/roc_auc" not in reg
    mc = report_metrics(_multiclass_report(_multiclass_frame(1000, seed=62), mc_ctx))
    assert {f"{CHART_SECTION}/{k}" for k in
            ("status_level", "macro_f1", "estimated_macro_f1", "drift_share")} <= set(mc)
    assert {"recall_basic", "reference_macro_f1", "estimated_accuracy",
            "estimated_macro_f1_lower"} <= set(mc)


# --------------------------------------------------------------------------- the demo's data


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_generator_scenarios_per_task(task: str) -> None:
    """The simulator's tasks with a gradient-boosted model: stable -> ok, covariate shift ->
    feature and output drift, concept drift -> concept drift and a performance alert."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from pipelines.data.generator import (
        CATEGORICAL_FEATURES,
        CATEGORY_LEVELS,
        MULTICLASS_TARGET,
        NUMERIC_FEATURES,
        REGRESSION_TARGET,
        generate_batch,
        generate_reference,
    )
    from pipelines.data.schema import prepare_features, target_classes

    target = REGRESSION_TARGET if task == "regression" else MULTICLASS_TARGET
    ref = generate_reference(6000, seed=1, task=task)
    schema = FeatureSchema(
        target=target, numeric=tuple(NUMERIC_FEATURES), categorical=tuple(CATEGORICAL_FEATURES),
        categories={c: tuple(CATEGORY_LEVELS[c]) for c in CATEGORICAL_FEATURES},
        problem_type=task,
        classes=target_classes(ref, target, "ref") if task == "multiclass" else ())
    train, held = ref.iloc[:3000], ref.iloc[3000:].reset_index(drop=True)
    model_type = (HistGradientBoostingRegressor if task == "regression"
                  else HistGradientBoostingClassifier)
    model = model_type(categorical_features="from_dtype", max_iter=100, random_state=0)
    model.fit(prepare_features(train, schema), target_array(train, schema, "train"))

    def outputs(frame: pd.DataFrame) -> np.ndarray:
        x = prepare_features(frame, schema)
        return model.predict(x) if task == "regression" else model.predict_proba(x)

    ctx = ReferenceContext.fit(held, schema, outputs(held), n_bins=10, decision_threshold=0.5)
    policy = _policy(schema)

    def judge(scenario: str) -> MonitoringReport:
        batch = generate_batch(scenario, 2000, 11, task=task)
        return evaluate_batch(_prepared(batch, schema), outputs(batch), ctx, policy)

    stable = judge("no_drift")
    assert stable.status == "ok", [a.message for a in stable.alerts]
    shifted = judge("covariate_shift")
    rules = {a.rule for a in shifted.alerts}
    assert {"feature_drift", "prediction_drift"} <= rules
    if task == "multiclass":
        # the estimate follows the inputs: no concept drift claimed for covariate shift
        assert "concept_drift" not in rules
    # regression: the shifted features leave the reference's range and the model's error
    # rises where the estimate cannot see (extrapolation): concept_drift may fire, and says so
    concept = judge("concept_drift")
    rules = {a.rule for a in concept.alerts}
    assert {"concept_drift", "performance"} <= rules
    assert concept.drifted_features == ()
