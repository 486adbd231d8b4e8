"""The counts path against the in-memory path on the same 100k-row batches (engine level, no
tracking store): same verdicts and metric names; KS within 1e-3 of exact; PSI, chi-square and
ROC-AUC (on the same bins) within 1e-6."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.data.batch import Batch, prepare_batch
from pipelines.data.generator import generate_batch
from pipelines.errors import DataError
from pipelines.monitoring.counts import (
    KS_BINS,
    BatchCounts,
    BinnedColumn,
    CountsProfile,
    count_chunk,
    count_features,
    total,
)
from pipelines.monitoring.engine import (
    evaluate_batch,
    evaluate_counts,
    feature_drift_from_counts,
)
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import MonitoringReport, report_metrics
from pipelines.stats import (
    DriftThresholds,
    ReferenceProfile,
    compute_feature_drift,
    fit_categorical_reference,
    fit_numeric_reference,
)
from pipelines.stats.estimation import Calibration
from tests.monitoring.test_scenarios import POLICY, SCHEMA, _context, _scores

ROWS = 100_000


@pytest.fixture(scope="module")
def ctx() -> ReferenceContext:
    return _context(50_000)


@pytest.fixture(scope="module")
def profile(ctx: ReferenceContext) -> CountsProfile:
    return CountsProfile.from_context(ctx)


def _counts(frame: pd.DataFrame, profile: CountsProfile, parts: int) -> BatchCounts:
    """Counted in ``parts`` chunks, added up in reverse order."""
    pieces = []
    for chunk in np.array_split(np.arange(len(frame)), parts):
        part = frame.iloc[chunk]
        prepared = prepare_batch(Batch(part, "t", "test"), SCHEMA)
        pieces.append(count_chunk(profile, prepared, _scores(part)))
    return total(profile, pieces[::-1])


def _both(frame: pd.DataFrame, ctx: ReferenceContext, profile: CountsProfile,
          parts: int = 4) -> tuple[MonitoringReport, MonitoringReport]:
    memory = evaluate_batch(prepare_batch(Batch(frame, "t", "test"), SCHEMA), _scores(frame),
                            ctx, POLICY)
    counted = evaluate_counts(_counts(frame, profile, parts), profile, ctx, POLICY,
                              batch_id="t")
    return memory, counted


@pytest.mark.parametrize("scenario", ["no_drift", "covariate_shift", "label_shift",
                                      "concept_drift", "data_quality"])
def test_counts_and_memory_agree(scenario: str, ctx: ReferenceContext,
                                 profile: CountsProfile) -> None:
    frame = generate_batch(scenario, ROWS, seed=11)
    memory, counted = _both(frame, ctx, profile)
    assert counted.status == memory.status
    assert counted.drifted_features == memory.drifted_features
    assert [(a.rule, a.severity) for a in counted.alerts] == [
        (a.rule, a.severity) for a in memory.alerts]
    assert counted.retraining_recommended == memory.retraining_recommended
    assert set(report_metrics(counted)) == set(report_metrics(memory))
    for m, c in zip(memory.feature_drift, counted.feature_drift, strict=True):
        assert (m.feature, m.test, m.n_current) == (c.feature, c.test, c.n_current)
        if m.kind == "numeric":
            assert c.statistic <= m.statistic + 1e-12
            assert m.statistic - c.statistic < 1e-3
            assert m.statistic <= c.statistic + c.statistics["ks_bound"] + 1e-12
            assert c.effect_size == pytest.approx(m.effect_size, abs=1e-6)  # PSI
        else:
            assert c.statistic == pytest.approx(m.statistic, abs=1e-6)  # chi-square
            assert c.pvalue == pytest.approx(m.pvalue, abs=1e-6)
            assert c.effect_size == pytest.approx(m.effect_size, abs=1e-6)  # PSI
            assert c.statistics["cramers_v"] == pytest.approx(m.statistics["cramers_v"],
                                                              abs=1e-6)
    assert counted.prediction_drift.effect_size == pytest.approx(
        memory.prediction_drift.effect_size, abs=1e-6)
    assert abs(counted.prediction_drift.statistic - memory.prediction_drift.statistic) < 1e-3
    assert counted.target_drift is not None
    assert memory.target_drift is not None
    assert counted.target_drift.statistic == pytest.approx(memory.target_drift.statistic,
                                                           abs=1e-6)
    for name in ("accuracy", "precision", "recall", "f1", "log_loss", "brier"):
        assert counted.performance[name] == pytest.approx(memory.performance[name], abs=1e-9)
    for name, estimate in memory.estimated.items():
        if name != "roc_auc":
            assert counted.estimated[name].value == pytest.approx(estimate.value, abs=1e-9)
    assert [i.check for i in counted.quality.issues] == [
        i.check for i in memory.quality.issues if i.check != "duplicate_ids"]
    assert counted.quality.duplicate_ids is None
    assert "KS from 1000 reference-quantile bins" in counted.context["engine_note"]


def test_roc_auc_from_counts_is_the_in_memory_one_on_the_same_bins(
        ctx: ReferenceContext, profile: CountsProfile) -> None:
    frame = generate_batch("covariate_shift", ROWS, seed=12)
    memory, counted = _both(frame, ctx, profile, parts=7)
    labels = frame["churn"].to_numpy()
    binned_scores = np.searchsorted(profile.score.edges, _scores(frame), side="right")
    assert counted.performance["roc_auc"] == pytest.approx(
        roc_auc_score(labels, binned_scores), abs=1e-6)
    assert counted.performance["roc_auc"] == pytest.approx(memory.performance["roc_auc"],
                                                           abs=1e-3)
    assert counted.estimated["roc_auc"].value == pytest.approx(
        memory.estimated["roc_auc"].value, abs=1e-3)


def test_counts_do_not_depend_on_the_partitioning(ctx: ReferenceContext,
                                                  profile: CountsProfile) -> None:
    frame = generate_batch("data_quality", 20_000, seed=13)
    one, seven = _counts(frame, profile, 1), _counts(frame, profile, 7)
    for name in one.numeric:
        assert np.array_equal(one.numeric[name], seven.numeric[name])
    assert one.categorical == seven.categorical
    assert np.array_equal(one.scores, seven.scores)
    np.testing.assert_allclose(seven.probabilities, one.probabilities, rtol=1e-12)
    again = BatchCounts.from_json(seven.to_json())
    assert again.categorical == seven.categorical
    assert np.array_equal(again.scores, seven.scores)
    assert np.array_equal(again.probabilities, seven.probabilities)  # floats round-trip


def test_a_batch_labelled_in_some_chunks_only_is_refused(ctx: ReferenceContext,
                                                         profile: CountsProfile) -> None:
    frame = generate_batch("no_drift", 4_000, seed=14)
    frame["churn"] = frame["churn"].astype("float64")
    frame.loc[frame.index[2_000:], "churn"] = np.nan
    counts = _counts(frame, profile, 2)
    with pytest.raises(DataError, match="missing in 2000 of 4000 rows"):
        evaluate_counts(counts, profile, ctx, POLICY, batch_id="half")


def test_no_rows_is_refused(ctx: ReferenceContext, profile: CountsProfile) -> None:
    with pytest.raises(DataError, match="no rows"):
        evaluate_counts(profile.empty(), profile, ctx, POLICY, batch_id="empty")


def test_quality_from_the_drift_samples_is_the_quality_computed_afresh(
        ctx: ReferenceContext) -> None:
    from pipelines.monitoring.quality import check_quality
    from pipelines.stats import compute_feature_drift

    frame = generate_batch("data_quality", 20_000, seed=15)
    frame.loc[frame.index[:50], "monthly_charges"] = np.inf
    prepared = prepare_batch(Batch(frame, "t", "test"), SCHEMA)
    samples: dict = {}
    compute_feature_drift(ctx.profile, prepared, POLICY.drift, samples)
    assert set(samples) == set(SCHEMA.features)
    reused = check_quality(prepared, ctx.profile, POLICY.quality, samples)
    afresh = check_quality(prepared, ctx.profile, POLICY.quality)
    assert reused == afresh
    assert {i.check for i in reused.issues} >= {"out_of_range", "infinite_values"}


def _features_only(reference: dict[str, np.ndarray], numeric: tuple[str, ...]
                   ) -> tuple[ReferenceProfile, CountsProfile]:
    """The in-memory profile and the counts profile of a few feature columns (no model)."""
    profile = ReferenceProfile(
        numeric={n: fit_numeric_reference(n, reference[n]) for n in numeric},
        categorical={n: fit_categorical_reference(n, v) for n, v in reference.items()
                     if n not in numeric})
    score = fit_numeric_reference("score", np.linspace(0.0, 1.0, 101))
    counts = CountsProfile(
        numeric={n: BinnedColumn.fit(r, KS_BINS) for n, r in profile.numeric.items()},
        categorical=dict(profile.categorical), score=BinnedColumn.fit(score, 10),
        calibration=Calibration(np.empty(0), np.empty(0), False, 0.0, 0.0),
        decision_threshold=0.5, ks_bins=KS_BINS)
    return profile, counts


def test_the_drift_blind_spots_are_flagged_on_the_counts_path_as_in_memory() -> None:
    # issue 19, section 2: a constant reference that moves entirely (PSI was 0), a share
    # falling 10 % -> 1 % in a batch 1/100 of the reference (Cramér's V 0.03 < 0.1), a
    # many-valued feature whose batch values are all new (everything pooled, p = 1)
    n_ref, n_cur = 50_000, 500
    shares = {"a": 0.10, "b": 0.30, "c": 0.60}
    reference = {
        "year": np.full(n_ref, 2015.0),
        "plan": np.array([k for k, s in shares.items() for _ in range(round(s * n_ref))],
                         dtype=object),
        "city": np.array([f"v{i}" for i in range(5_000)] * 10, dtype=object),
    }
    batch = {
        "year": np.full(n_cur, 2016.0),
        "plan": np.array(["a"] * 5 + ["b"] * 165 + ["c"] * 330, dtype=object),
        "city": np.array([f"new{i}" for i in range(n_cur)], dtype=object),
    }
    profile, counts_profile = _features_only(reference, ("year",))
    thresholds = DriftThresholds()
    memory = compute_feature_drift(profile, batch, thresholds)
    halves = [{n: v[:200] for n, v in batch.items()}, {n: v[200:] for n, v in batch.items()}]
    counted = feature_drift_from_counts(
        counts_profile, total(counts_profile, (count_features(counts_profile, h)
                                               for h in halves)), thresholds)
    assert [f.feature for f in memory] == [f.feature for f in counted] == [
        "year", "plan", "city"]
    for m, c in zip(memory, counted, strict=True):
        assert m.drifted, m
        assert c.drifted, c
        assert c.effect_name == m.effect_name == "psi"
        assert c.effect_size == pytest.approx(m.effect_size, rel=1e-9)
        assert c.pvalue == pytest.approx(m.pvalue, rel=1e-6, abs=1e-300)
        assert m.effect_size > 0.2
        assert m.pvalue < 1e-8

