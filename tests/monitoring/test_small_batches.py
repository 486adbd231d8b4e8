"""A batch of a few rows says so, labelled or not, and never recommends retraining alone."""

from __future__ import annotations

import pytest

from pipelines.config import MonitoringSettings
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.quality import QualityReport
from pipelines.stats import FeatureDrift

POLICY = MonitoringPolicy.from_settings(MonitoringSettings())  # min_rows_for_performance 200


def _drift(name: str, drifted: bool, n: int) -> FeatureDrift:
    return FeatureDrift(name, "numeric", "ks", 0.9 if drifted else 0.1, 1e-9 if drifted else 0.5,
                        1e-8 if drifted else 0.6, 0.5 if drifted else 0.01, "psi", drifted,
                        1000, n)


def _verdict(n_rows: int, drifted: int, sample_problem: str | None = None):
    return evaluate_alerts(
        performance=None if sample_problem is None else {"roc_auc": 0.5},
        feature_drift=[_drift(f"f{i}", i < drifted, n_rows) for i in range(4)],
        drift_share=drifted / 4, prediction_drift=ScoreDrift("ks", 0.1, 0.5, 0.01, "psi", False),
        target_drift=None, concept=None, quality=QualityReport(n_rows=n_rows, columns=()),
        policy=POLICY, sample_problem=sample_problem)


@pytest.mark.parametrize(("drifted", "status"), [(0, "warning"), (2, "critical")])
def test_a_small_unlabelled_batch_gets_a_low_sample_caveat(drifted: int, status: str) -> None:
    verdict = _verdict(10, drifted)
    (low,) = [a for a in verdict.alerts if a.rule == "low_sample"]
    assert low.severity == "warning"
    assert "10 rows without labels is below min_rows_for_performance (200)" in low.message
    assert (low.value, low.threshold) == (10.0, 200.0)
    assert verdict.status == status  # the drift alerts still count for the status
    assert not verdict.retraining_recommended  # not on ten rows alone
    assert verdict.reasons == ()


def test_a_small_labelled_batch_does_not_recommend_retraining_on_drift_either() -> None:
    problem = POLICY.sample_problem_of_counts(60, 90)
    verdict = _verdict(150, 2, problem)
    assert [a.rule for a in verdict.alerts].count("low_sample") == 1
    assert "not recommended on this batch alone" in problem
    assert verdict.status == "critical"
    assert not verdict.retraining_recommended


def test_an_unlabelled_batch_of_enough_rows_has_no_caveat_and_may_recommend() -> None:
    verdict = _verdict(200, 2)
    assert "low_sample" not in {a.rule for a in verdict.alerts}
    assert verdict.retraining_recommended
