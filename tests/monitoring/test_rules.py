"""Pure pieces of the monitor on tiny inputs: expected ROC-AUC, concept drift, alerts, quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.config import MonitoringSettings
from pipelines.data.batch import Batch, prepare_batch
from pipelines.data.schema import FeatureSchema
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.performance import assess_concept_drift, expected_roc_auc
from pipelines.monitoring.policy import MonitoringPolicy, Threshold
from pipelines.monitoring.quality import QualityReport, check_quality
from pipelines.stats import FeatureDrift, fit_reference_profile

SETTINGS = MonitoringSettings()
POLICY = MonitoringPolicy.from_settings(SETTINGS)


def test_expected_roc_auc_matches_simulation_with_ties() -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(1500), 1)  # many ties
    simulated = [roc_auc_score(rng.random(scores.size) < scores, scores) for _ in range(400)]
    assert expected_roc_auc(scores) == pytest.approx(np.mean(simulated), abs=0.003)


def test_expected_roc_auc_degenerate() -> None:
    assert math.isnan(expected_roc_auc(np.array([0.5])))
    assert expected_roc_auc(np.full(10, 0.3)) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("realised", "reference", "detected"),
    [
        (0.60, 0.85, True),    # far below what the scores predict
        (0.83, 0.85, False),   # within the threshold
        (math.nan, 0.85, None),
    ],
)
def test_concept_drift_judged_against_the_reference_gap(realised, reference, detected) -> None:
    scores = np.random.default_rng(0).beta(2, 5, 2000)
    expected = expected_roc_auc(scores)
    finding = assess_concept_drift(realised, scores, reference, expected + 0.0, 0.1, 0.05)
    if detected is None:
        assert finding is None
    else:
        assert finding.detected is detected
        assert finding.drift_share == 0.1


def _drift(name: str, drifted: bool) -> FeatureDrift:
    return FeatureDrift(name, "numeric", "ks", 0.3, 1e-9 if drifted else 0.5,
                        1e-8 if drifted else 0.6, 0.4 if drifted else 0.01, "psi",
                        drifted, 100, 100, {"wasserstein": 0.2})


EMPTY_QUALITY = QualityReport(n_rows=100, columns=())


@pytest.mark.parametrize(
    ("auc", "drifted", "status", "rules", "retrain"),
    [
        (0.85, 0, "ok", set(), False),
        (0.85, 1, "warning", {"feature_drift"}, False),
        (0.70, 0, "critical", {"performance"}, True),
        (0.85, 2, "critical", {"feature_drift", "drift_share"}, True),  # 2/5 = 40% > 30%
    ],
)
def test_alert_rules_status_and_recommendation(auc, drifted, status, rules, retrain) -> None:
    features = [_drift(f"f{i}", i < drifted) for i in range(5)]
    decision = evaluate_alerts(
        performance={"roc_auc": auc}, feature_drift=features, drift_share=drifted / 5,
        prediction_drift=ScoreDrift("ks", 0.01, 0.5, 0.01, "psi", False), target_drift=None,
        concept=None, quality=EMPTY_QUALITY, policy=POLICY)
    assert decision.status == status
    assert {a.rule for a in decision.alerts} == rules
    assert decision.retraining_recommended is retrain
    limits = {"performance": 0.75, "drift_share": 0.30, "feature_drift": 0.05}
    for alert in decision.alerts:
        assert alert.threshold == limits[alert.rule]
        assert alert.message


@pytest.mark.parametrize(
    ("threshold", "value", "breached"),
    [
        (Threshold(0.75, "below"), 0.7499, True),
        (Threshold(0.75, "below"), 0.75, False),  # at the floor is not below it
        (Threshold(0.30, "above"), 0.30, False),
        (Threshold(0.30, "above"), 0.3001, True),
        (Threshold(0.30, "above"), math.nan, False),
    ],
)
def test_thresholds_are_strict_and_ignore_nan(threshold: Threshold, value: float,
                                              breached: bool) -> None:
    assert threshold.breached(value) is breached


def test_quality_checks_name_columns() -> None:
    ref = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50, "id": range(100)})
    schema = FeatureSchema("y", ("x",), ("c",), {"c": ("a", "b")}, id_column="id")
    profile = fit_reference_profile(ref, ["x"], ["c"])
    cur = pd.DataFrame({"x": [1.0, np.nan, np.nan, 500.0] * 25, "c": ["a", "z", None, "b"] * 25,
                        "id": [1, 1, 2, 3] * 25})
    report = check_quality(prepare_batch(Batch(cur, "b", "test"), schema), profile, POLICY.quality)
    checks = {(i.column, i.check) for i in report.issues}
    assert checks == {("x", "missing_values"), ("x", "out_of_range"), ("c", "missing_values"),
                      ("c", "unseen_categories"), ("id", "duplicate_ids")}
    col = {c.column: c for c in report.columns}
    assert col["x"].missing_share == 0.5
    assert col["x"].out_of_range_share == 0.25
    assert col["c"].unseen_categories == ("z",)
    assert report.duplicate_ids == 97
