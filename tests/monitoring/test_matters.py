"""Drift that matters (issue 24), the pure parts: the impact ranking where the truth is known,
consecutive drift telling a sudden shift from a gradual one, and the alerts' order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.monitoring.alerts import Alert, HealthVerdict
from pipelines.monitoring.consecutive import (
    FeatureCounts,
    consecutive_drift,
    feature_label,
)
from pipelines.monitoring.counts import BinnedColumn, CountsProfile, count_features
from pipelines.monitoring.impact import map_numeric, rank_impact, reference_output_mean
from pipelines.monitoring.matters import attach, html_section
from pipelines.stats import DriftThresholds, compute_feature_drift, fit_reference_profile
from pipelines.stats.drift import fit_numeric_reference
from pipelines.stats.estimation import Calibration


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0, plan_p=(0.6, 0.3, 0.1)
           ) -> pd.DataFrame:
    return pd.DataFrame({
        "a": rng.normal(shift, 1.0, n), "b": rng.normal(shift, 1.0, n),
        "calls": rng.poisson(3 + 2 * shift, n).astype(np.int64),
        "plan": rng.choice(["basic", "plus", "pro"], size=n, p=plan_p),
    })


def _binary(frame: pd.DataFrame) -> np.ndarray:
    """Relies on a strongly, on plan a little, ignores b and calls."""
    plan = frame["plan"].map({"basic": 0.0, "plus": 0.3, "pro": 0.6}).to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-(1.5 * frame["a"].to_numpy(dtype=float) + plan - 0.5)))


NUMERIC, CATEGORICAL = ("a", "b", "calls"), ("plan",)


def _setup(seed: int = 7):
    rng = np.random.default_rng(seed)
    reference = _frame(rng, 20_000)
    batch = _frame(rng, 30_000, shift=0.8, plan_p=(0.3, 0.3, 0.4))
    profile = fit_reference_profile(reference, NUMERIC, CATEGORICAL)
    drift = compute_feature_drift(profile, batch, DriftThresholds())
    return reference, batch, profile, drift


def test_impact_ranks_the_feature_the_model_relies_on_first() -> None:
    reference, batch, profile, drift = _setup()
    by_name = {f.feature: f for f in drift}
    assert all(by_name[n].drifted for n in ("a", "b", "calls", "plan"))
    # a and b drifted equally (same shift, same PSI within noise)
    assert by_name["a"].effect_size == pytest.approx(by_name["b"].effect_size, rel=0.15)
    score_ref = fit_numeric_reference("__score__", _binary(reference))
    ranking = rank_impact(batch, drift, profile, _binary, problem_type="binary",
                          reference_mean=reference_output_mean("binary", score_ref),
                          max_rows=10_000, seed=3)
    order = [f.feature for f in ranking.features]
    assert order[0] == "a"
    assert order[1] == "plan"
    impacts = ranking.by_feature()
    assert impacts["a"].shift > 0.15
    assert not impacts["a"].harmless
    assert impacts["b"].shift == 0.0
    assert impacts["b"].harmless
    assert impacts["calls"].harmless
    assert impacts["plan"].shift > 0.02
    # a's drift explains most of the score drift; together they explain about all of it
    assert 0.6 < impacts["a"].share < 1.0
    assert ranking.joint_shift == pytest.approx(ranking.total_shift, abs=0.02)
    assert ranking.rows_scored == 10_000
    words = ranking.summary()
    assert words.startswith("drift in a moves the mean score by +0.")
    assert "drift in b by +0.000 (harmless)" in words
    # seeded: the same ranking again
    again = rank_impact(batch, drift, profile, _binary, problem_type="binary",
                        reference_mean=reference_output_mean("binary", score_ref),
                        max_rows=10_000, seed=3)
    assert again == ranking


def test_impact_for_regression_and_multiclass_outputs() -> None:
    reference, batch, profile, drift = _setup(11)

    def regression(frame: pd.DataFrame) -> np.ndarray:
        return 10.0 * frame["a"].to_numpy(dtype=float) + 0.0 * frame["b"].to_numpy(dtype=float)

    def multiclass(frame: pd.DataFrame) -> np.ndarray:
        p = _binary(frame)
        return np.column_stack([p, 1.0 - p])

    ref_pred = fit_numeric_reference("__score__", regression(reference))
    ranking = rank_impact(batch, drift, profile, regression, problem_type="regression",
                          reference_mean=reference_output_mean("regression", ref_pred),
                          scale=ref_pred.std, harmless_below=0.02)
    assert ranking.features[0].feature == "a"
    assert ranking.features[0].shift == pytest.approx(0.8, abs=0.05)  # in sd units
    assert "by +0.8" in ranking.sentence("a")
    assert ranking.by_feature()["b"].harmless
    p_ref = multiclass(reference)
    class_refs = [fit_numeric_reference(f"__proba__{j}", p_ref[:, j]) for j in range(2)]
    ranking = rank_impact(batch, drift, profile, multiclass, problem_type="multiclass",
                          reference_mean=reference_output_mean("multiclass", ref_pred,
                                                               class_refs))
    assert ranking.features[0].feature == "a"
    assert ranking.features[0].shift > 0.15
    assert ranking.by_feature()["b"].harmless
    assert "mean class probabilities" in ranking.unit


def test_quantile_mapping_gives_the_reference_distribution() -> None:
    rng = np.random.default_rng(0)
    ref = np.sort(rng.poisson(3, 50_000).astype(float))
    values = rng.poisson(6, 20_000).astype(float)
    values[:100] = np.nan
    mapped = map_numeric(values, ref, np.random.default_rng(1))
    assert np.isnan(mapped[:100]).all()
    shares = np.bincount(mapped[100:].astype(int), minlength=15)[:15] / 19_900
    expected = np.bincount(ref.astype(int), minlength=15)[:15] / ref.size
    assert np.abs(shares - expected).max() < 0.002


def _counts_profile(profile) -> CountsProfile:
    score = fit_numeric_reference("__score__", np.linspace(0, 1, 101))
    return CountsProfile(
        numeric={n: BinnedColumn.fit(r, 1000) for n, r in profile.numeric.items()},
        categorical=dict(profile.categorical), score=BinnedColumn.fit(score, 10),
        calibration=Calibration.identity(), decision_threshold=0.5, ks_bins=1000)


def test_consecutive_drift_tells_sudden_from_gradual() -> None:
    rng = np.random.default_rng(5)
    reference = _frame(rng, 20_000)
    profile = fit_reference_profile(reference, NUMERIC, CATEGORICAL)
    bins = _counts_profile(profile)
    thresholds = DriftThresholds()

    def step(previous_frame: pd.DataFrame, current_frame: pd.DataFrame):
        before = compute_feature_drift(profile, previous_frame, thresholds)
        kept = FeatureCounts.from_json(FeatureCounts.of(
            count_features(bins, previous_frame), bins, before, "prev").to_json())
        now = compute_feature_drift(profile, current_frame, thresholds)
        return consecutive_drift(kept, count_features(bins, current_frame), bins, thresholds,
                                 now)

    def shifted(shift: float) -> pd.DataFrame:
        frame = _frame(rng, 8_000)
        frame["a"] += shift
        return frame

    sudden = step(shifted(0.0), shifted(1.0))  # a jumps from the reference to +1 sd
    gradual = step(shifted(0.45), shifted(0.55))  # a creeps on: +0.45 sd, then +0.55 sd
    assert sudden.computed
    assert gradual.computed
    assert sudden.label == "sudden"
    assert sudden.labelled("sudden") == ("a",)
    assert gradual.label == "gradual"
    assert gradual.labelled("gradual") == ("a",)
    a_sudden = next(f for f in sudden.features if f.feature == "a")
    a_gradual = next(f for f in gradual.features if f.feature == "a")
    assert a_sudden.drifted
    assert a_sudden.psi > 0.3
    assert not a_gradual.drifted
    assert a_gradual.psi < 0.05
    assert a_gradual.baseline_psi > a_gradual.previous_baseline_psi
    assert sudden.metrics()["consecutive/n_sudden"] == 1.0
    assert gradual.metrics()["consecutive/n_gradual"] == 1.0
    # the other features stayed where they were
    assert all(f.label == "stable" for f in sudden.features if f.feature != "a")
    # the same bins only: counts of another reference are not compared
    other = fit_reference_profile(_frame(rng, 5_000, shift=2.0), NUMERIC, CATEGORICAL)
    kept = FeatureCounts.of(count_features(_counts_profile(other), reference),
                            _counts_profile(other), [], "old")
    refused = consecutive_drift(kept, count_features(bins, reference), bins, thresholds, [])
    assert not refused.computed
    assert "another reference" in refused.note
    assert refused.metrics() == {}


def test_feature_labels() -> None:
    _, _, _, drift = _setup()
    base = drift[0]
    still = type(base)(**{**base.__dict__, "drifted": False})
    assert feature_label(base, base, 0.01) == "sudden"
    assert feature_label(still, base, None) == "changed"
    assert feature_label(base, still, base.effect_size / 2) == "gradual"
    assert feature_label(base, still, base.effect_size * 2) == "persistent"
    assert feature_label(still, still, None) == "stable"


def test_alerts_follow_the_impact_order_with_their_sentence() -> None:
    from pipelines.monitoring.consecutive import ConsecutiveDrift, ConsecutiveFeature
    from pipelines.monitoring.impact import FeatureImpact, ImpactRanking
    from pipelines.monitoring.report import MonitoringReport

    reference, batch, profile, drift = _setup()
    alerts = (
        Alert("drift_share", "critical", 1.0, 0.3, "4 of 4 features drifted"),
        *(Alert("feature_drift", "warning", 0.0, 0.05, f"{n}: ks ...", (n,))
          for n in ("b", "calls", "a")),
        Alert("prediction_drift", "warning", 0.0, 0.05, "model scores drifted"))
    ranking = ImpactRanking(computed=True, features=(
        FeatureImpact("a", "numeric", 0.07, 0.8, False, 0.3),
        FeatureImpact("calls", "numeric", 0.004, 0.05, True, 0.3),
        FeatureImpact("b", "numeric", 0.001, 0.01, True, 0.3)), harmless_below=0.005,
        total_shift=0.09, joint_shift=0.075, rows_scored=100)
    cons = ConsecutiveDrift(computed=True, label="sudden", previous_batch_id="b0001",
                            features=(ConsecutiveFeature("a", 0.3, 0.0, 0.5, True, 0.6, 0.0,
                                                         "sudden"),))
    report = MonitoringReport(
        batch_id="b0002", n_rows=10, has_labels=False, created_at="now", performance=None,
        baseline={}, feature_drift=tuple(drift), drift_share=1.0,
        prediction_drift=None, target_drift=None, concept_drift=None,  # type: ignore[arg-type]
        quality=None, verdict=HealthVerdict(alerts, "critical", True, ("x",)))  # type: ignore[arg-type]
    out = attach(report, impact=ranking, consecutive=cons)
    rules = [a.rule for a in out.alerts]
    assert rules == ["drift_share", "feature_drift", "feature_drift", "feature_drift",
                     "prediction_drift"]
    messages = [a.message for a in out.alerts if a.rule == "feature_drift"]
    assert messages[0].startswith("drift in a moves the mean score by +0.070 (80% of")
    assert messages[1].startswith("drift in calls moves the mean score by +0.004 (harmless)")
    assert messages[2].startswith("drift in b moves the mean score by +0.001 (harmless)")
    assert out.verdict.retraining_recommended
    assert out.status == "critical"
    with_alert = attach(report, consecutive=cons, consecutive_alerts=True)
    assert with_alert.alerts[-1].rule == "consecutive_drift"
    assert "sudden drift since batch b0001: a (PSI 0.50" in with_alert.alerts[-1].message
    page = html_section(out)
    assert "Drift that matters" in page
    assert "<b>sudden</b>" in page
    assert page.index(">a<") < page.index(">b<")
