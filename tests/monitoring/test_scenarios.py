"""The monitor's verdicts on the demo scenarios (engine level, no tracking store).

Scores come from the generator's known churn model, so the tests check the statistics and
the alert logic, not a particular trained model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.config import MonitoringSettings
from pipelines.data.batch import Batch, prepare_batch
from pipelines.data.generator import (
    CATEGORICAL_FEATURES,
    CATEGORY_LEVELS,
    FEATURES,
    ID_COLUMN,
    NUMERIC_FEATURES,
    TARGET,
    TIMESTAMP_COLUMN,
    churn_probability,
    generate_batch,
    generate_reference,
)
from pipelines.data.schema import FeatureSchema
from pipelines.monitoring.engine import MonitoringReport, evaluate_batch
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import ReferenceContext

SCHEMA = FeatureSchema(
    target=TARGET, numeric=tuple(NUMERIC_FEATURES), categorical=tuple(CATEGORICAL_FEATURES),
    categories={c: tuple(CATEGORY_LEVELS[c]) for c in CATEGORICAL_FEATURES},
    id_column=ID_COLUMN, timestamp_column=TIMESTAMP_COLUMN,
)
SETTINGS = MonitoringSettings()
POLICY = MonitoringPolicy.from_settings(SETTINGS)


def _scores(frame: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(churn_probability(frame), nan=0.27)


def _context(n: int, seed: int = 1) -> ReferenceContext:
    ref = generate_reference(n, seed=seed)
    scores = _scores(ref)
    return ReferenceContext.fit(ref, SCHEMA, scores, n_bins=SETTINGS.psi_bins,
                                decision_threshold=0.5)


@pytest.fixture(scope="module")
def ctx() -> ReferenceContext:
    return _context(20_000)


def _evaluate(batch: pd.DataFrame, ctx: ReferenceContext) -> MonitoringReport:
    prepared = prepare_batch(Batch(batch, "t", "test"), SCHEMA)
    return evaluate_batch(prepared, _scores(batch), ctx, POLICY)


def test_demo_schema_has_twenty_plus_features() -> None:
    assert len(FEATURES) >= 20


@pytest.mark.slow
def test_no_drift_at_100k_rows_is_ok_in_at_least_19_of_20_seeds() -> None:
    ctx = _context(100_000, seed=1)
    clean = 0
    for seed in range(100, 120):
        report = _evaluate(generate_batch("no_drift", 100_000, seed=seed), ctx)
        if report.status == "ok" and not report.drifted_features:
            clean += 1
    assert clean >= 19, clean


def test_covariate_shift_flags_exactly_the_shifted_features(ctx: ReferenceContext) -> None:
    shifted = ("monthly_charges", "support_calls", "contract")
    batch = generate_batch("covariate_shift", 10_000, seed=7, shift_features=shifted)
    report = _evaluate(batch, ctx)
    assert set(report.drifted_features) == set(shifted)
    assert report.drift_share == pytest.approx(3 / len(FEATURES))
    assert {a.rule for a in report.alerts} >= {"feature_drift"}
    per = {f.feature: f for f in report.feature_drift}
    assert per["monthly_charges"].test == "ks"
    assert per["contract"].test == "chi2"
    assert per["monthly_charges"].pvalue_adjusted >= per["monthly_charges"].pvalue


def test_label_shift_gives_target_drift(ctx: ReferenceContext) -> None:
    report = _evaluate(generate_batch("label_shift", 10_000, seed=8, label_rate=0.55), ctx)
    assert report.target_drift is not None
    assert report.target_drift.drifted
    assert "target_drift" in {a.rule for a in report.alerts}
    assert report.concept_drift is not None
    assert not report.concept_drift.detected


def test_concept_drift_is_critical_with_low_drift_share(ctx: ReferenceContext) -> None:
    report = _evaluate(generate_batch("concept_drift", 10_000, seed=9), ctx)
    rules = {a.rule: a for a in report.alerts}
    assert report.status == "critical"
    assert rules["performance"].severity == "critical"
    assert report.performance["roc_auc"] < SETTINGS.roc_auc_floor
    assert report.drift_share < SETTINGS.drift_share
    assert report.concept_drift.detected
    assert "concept_drift" in rules
    assert report.retraining_recommended
    assert any("ROC-AUC" in r for r in report.verdict.reasons)


def test_data_quality_faults_name_the_columns(ctx: ReferenceContext) -> None:
    report = _evaluate(generate_batch("data_quality", 10_000, seed=10), ctx)
    alert = next(a for a in report.alerts if a.rule == "data_quality")
    expected = {"satisfaction_score", "data_usage_gb", "paperless_billing", "payment_method",
                "tenure_months", "monthly_charges"}
    assert expected <= set(alert.columns)
    checks = {(i.column, i.check) for i in report.quality.issues}
    assert ("payment_method", "unseen_categories") in checks
    assert ("tenure_months", "out_of_range") in checks
    assert ("satisfaction_score", "missing_values") in checks
    assert "crypto" in alert.message


def test_batch_without_labels_gets_drift_but_no_performance(ctx: ReferenceContext) -> None:
    batch = generate_batch("covariate_shift", 5_000, seed=11).drop(columns=[TARGET])
    report = _evaluate(batch, ctx)
    assert report.performance is None
    assert report.target_drift is None
    assert report.concept_drift is None
    assert report.drifted_features  # drift still measured
    assert report.prediction_drift.pvalue < 0.05
    data = report.to_dict()
    assert data["performance"] is None
    assert data["has_labels"] is False


def test_report_is_json_safe(ctx: ReferenceContext) -> None:
    import json

    report = _evaluate(generate_batch("no_drift", 2_000, seed=12), ctx)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"status"' in text
    assert '"drift_share"' in text


def test_reference_context_round_trips_through_one_file(ctx: ReferenceContext, tmp_path) -> None:
    path = tmp_path / "context.npz"
    ctx.save(path)
    loaded = ReferenceContext.load(path)
    assert loaded.schema == ctx.schema
    assert loaded.profile == ctx.profile
    assert loaded.score_reference == ctx.score_reference
    assert loaded.target_reference == ctx.target_reference
    assert loaded.baseline == pytest.approx(ctx.baseline)
    assert loaded.expected_auc == ctx.expected_auc
    batch = generate_batch("covariate_shift", 3_000, seed=13)
    assert _evaluate(batch, loaded).to_dict()["drift"] == _evaluate(batch, ctx).to_dict()["drift"]


@pytest.mark.parametrize(
    ("rows", "mutate", "says"),
    [
        (150, lambda b: b, "low sample: 150 labelled rows"),
        (2000, lambda b: b.assign(churn=0), "one class only (2000 x 0): ROC-AUC cannot be"),
    ],
)
def test_small_or_one_class_batches_are_not_judged_on_performance(ctx: ReferenceContext,
                                                                  rows: int, mutate,
                                                                  says: str) -> None:
    batch = mutate(generate_batch("concept_drift", rows, seed=14))  # would be critical
    report = _evaluate(batch, ctx)
    rules = {a.rule for a in report.alerts}
    assert "low_sample" in rules
    assert not rules & {"performance", "concept_drift"}
    assert not report.retraining_recommended
    assert says in next(a.message for a in report.alerts if a.rule == "low_sample")
    assert report.performance is not None  # still logged


def test_infinite_values_are_named_as_infinite_not_missing(ctx: ReferenceContext) -> None:
    batch = generate_batch("no_drift", 2000, seed=15)
    batch.loc[:99, "monthly_charges"] = np.inf
    report = _evaluate(batch, ctx)
    issue = next(i for i in report.quality.issues if i.column == "monthly_charges")
    assert issue.check == "infinite_values"
    assert "5.0% of values are infinite" in issue.detail
    column = next(c for c in report.quality.columns if c.column == "monthly_charges")
    assert column.missing_share == 0.0
