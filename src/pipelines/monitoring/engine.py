"""Evaluate one production batch against the reference: performance, drift, quality, alerts.

Pure computation over a :class:`~pipelines.data.batch.PreparedBatch` and the champion's
:class:`~pipelines.monitoring.reference.ReferenceContext` (fitted once per model version),
judged by a :class:`~pipelines.monitoring.policy.MonitoringPolicy`. MLflow and files are the
workflows' business (:mod:`pipelines.workflows.monitor`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from pipelines.data.batch import PreparedBatch
from pipelines.errors import DataError
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.counts import (
    ABOVE,
    ALL,
    ATOMS,
    BELOW,
    INF,
    NAN,
    NEGATIVE,
    P_SUM,
    POSITIVE,
    PQ_SUM,
    Q_SUM,
    BatchCounts,
    BinnedColumn,
    CountsProfile,
)
from pipelines.monitoring.performance import assess_concept_drift
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.quality import QualityReport, check_quality, quality_from_counts
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import MonitoringReport
from pipelines.monitoring.timing import Stopwatch
from pipelines.stats import CategoricalReference, FeatureDrift, chi2_test, compute_feature_drift
from pipelines.stats.binned import (
    aggregate,
    auc_from_histograms,
    expected_auc_from_bins,
    ks_from_counts,
    psi_from_counts,
    wasserstein_from_counts,
)
from pipelines.stats.classification import classification_metrics, metrics_from_counts
from pipelines.stats.drift import _chi2_from_counts
from pipelines.stats.estimation import Estimate, estimate_from_scores, estimates_from_sums
from pipelines.stats.methods import NumericSample, get_statistic
from pipelines.stats.profile import DriftThresholds, _adjust


def prediction_drift(ref: ReferenceContext, scores: np.ndarray,
                     policy: MonitoringPolicy) -> ScoreDrift:
    """KS test and PSI of the batch's scores against the reference scores."""
    sample = NumericSample.prepare(ref.score_reference, scores)
    ks = get_statistic("numeric", "ks").compute(ref.score_reference, sample)  # type: ignore[attr-defined]
    effect = get_statistic("numeric", "psi").compute(ref.score_reference, sample)  # type: ignore[attr-defined]
    pvalue = float(ks.pvalue if ks.pvalue is not None else 1.0)
    return ScoreDrift("ks", ks.value, pvalue, effect.value, "psi",
                      policy.prediction_drift.drifted(pvalue, effect.value))


def target_drift(ref: ReferenceContext, labels: np.ndarray,
                 policy: MonitoringPolicy) -> ScoreDrift:
    """Chi-square test and PSI of the batch's labels against the reference labels."""
    res = chi2_test(ref.target_reference, np.asarray(labels, dtype=np.int8))  # labels '0', '1'
    return ScoreDrift("chi2", res.statistic, res.pvalue, res.psi, "psi",
                      policy.target_drift.drifted(res.pvalue, res.psi))


def evaluate_batch(
    batch: PreparedBatch,
    scores: np.ndarray,
    ref: ReferenceContext,
    policy: MonitoringPolicy,
    *,
    context: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    timer: Stopwatch | None = None,
) -> MonitoringReport:
    """The full monitoring verdict for one batch; without labels, drift and quality only.
    ``timer``: a :class:`~pipelines.monitoring.timing.Stopwatch` told each phase's time."""
    timer = timer or Stopwatch()
    samples: dict[str, Any] = {}  # the drift's sorted values and counts, reused by quality
    with timer("drift"):
        features = compute_feature_drift(ref.profile, batch, policy.drift, samples)
    with timer("prediction drift"):
        prediction = prediction_drift(ref, scores, policy)
    with timer("quality"):
        quality = check_quality(batch, ref.profile, policy.quality, samples)
    labels = batch.labels
    with timer("performance"):
        estimated = estimate_from_scores(scores, ref.calibration, policy.decision_threshold)
        performance = tgt = None
        if labels is not None:
            performance = classification_metrics(labels, scores, policy.decision_threshold)
            tgt = target_drift(ref, labels, policy)
    with timer("alerts"):
        return _report(
            batch_id=batch.batch.batch_id, n_rows=batch.n_rows, features=features,
            prediction=prediction, quality=quality, performance=performance, target=tgt,
            sample_problem=None if labels is None else policy.sample_problem(labels),
            estimated=estimated, ref=ref, policy=policy, context=context, settings=settings)


def evaluate_counts(
    counts: BatchCounts,
    profile: CountsProfile,
    ref: ReferenceContext,
    policy: MonitoringPolicy,
    *,
    batch_id: str,
    context: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> MonitoringReport:
    """The verdict of :func:`evaluate_batch` from a batch's counts (chunked and Spark
    engines): the same statistics, KS and ROC-AUC from bins (see
    :mod:`pipelines.stats.binned`), duplicate ids not checked."""
    if counts.n_rows == 0:
        raise DataError(f"{batch_id}: the batch has no rows.")
    if 0 < counts.n_labelled < counts.n_rows:
        raise DataError(
            f"{batch_id}: target {ref.schema.target!r} is missing in "
            f"{counts.n_rows - counts.n_labelled} of {counts.n_rows} rows; send a batch with "
            "labels for every row, or drop the column.")
    features = feature_drift_from_counts(profile, counts, policy.drift)
    score = profile.score
    score_counts = counts.scores[ALL]
    ks = ks_from_counts(score.reference, score_counts, score.atoms, counts.scores[ATOMS])
    effect = psi_from_counts(score.psi_reference,
                             aggregate(score_counts, score.groups, score.psi_edges.size + 1), 0)
    prediction = ScoreDrift("ks", ks.statistic, ks.pvalue, effect, "psi",
                            policy.prediction_drift.drifted(ks.pvalue, effect))
    # the threshold is an edge: scores >= it fill the bins after it
    decided_bins = slice(int(np.searchsorted(score.edges, profile.decision_threshold)) + 1, None)
    prob = counts.probabilities
    estimated = estimates_from_sums(
        auc=expected_auc_from_bins(prob[P_SUM], prob[Q_SUM], prob[PQ_SUM]),
        n=float(counts.n_rows), predicted_positive=float(score_counts[decided_bins].sum()),
        tp=float(prob[P_SUM][decided_bins].sum()),
        fn=float(prob[P_SUM].sum() - prob[P_SUM][decided_bins].sum()),
        var_tp=float(prob[PQ_SUM][decided_bins].sum()),
        var_fn=float(prob[PQ_SUM].sum() - prob[PQ_SUM][decided_bins].sum()))
    performance = tgt = None
    sample_problem = None
    if counts.n_labelled:
        pos, neg = counts.scores[POSITIVE], counts.scores[NEGATIVE]
        tp, fp = int(pos[decided_bins].sum()), int(neg[decided_bins].sum())
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        performance = metrics_from_counts(
            tp=tp, fp=fp, fn=n_pos - tp, n=counts.n_rows,
            roc_auc=auc_from_histograms(pos, neg),
            log_loss_sum=float(counts.label_sums[0]), brier_sum=float(counts.label_sums[1]))
        res = _chi2_from_counts(ref.target_reference, ["0", "1"],
                                np.array([n_neg, n_pos], dtype=np.int64), 0)
        tgt = ScoreDrift("chi2", res.statistic, res.pvalue, res.psi, "psi",
                         policy.target_drift.drifted(res.pvalue, res.psi))
        sample_problem = policy.sample_problem_of_counts(n_pos, n_neg)
    numeric_counts = {name: (int(a[NAN]), int(a[INF]), int(a[BELOW] + a[ABOVE]))
                      for name, a in counts.numeric.items()}
    categorical_counts = {name: (counts.categorical[name], counts.categorical_missing[name])
                          for name in counts.categorical}
    quality = quality_from_counts(counts.n_rows, numeric_counts, categorical_counts,
                                  counts.dtypes, ref.profile, policy.quality)
    bounds = [f.statistics.get("ks_bound", 0.0) for f in features if f.kind == "numeric"]
    note = (f"Counts engine: KS from {profile.ks_bins} reference-quantile bins per feature, "
            f"each exact KS statistic at most {max(bounds, default=0.0):.2g} above the one "
            "shown; PSI and chi-square exact")
    if performance is not None:
        pos, neg = counts.scores[POSITIVE], counts.scores[NEGATIVE]
        tied = float(np.sum(pos * neg.astype(np.float64))) / max(
            float(pos.sum()) * float(neg.sum()), 1.0)
        note += f"; ROC-AUC with ties inside a score bin (within {tied / 2:.2g} of exact)"
    note += "; duplicate ids not checked."
    return _report(
        batch_id=batch_id, n_rows=counts.n_rows, features=features, prediction=prediction,
        quality=quality, performance=performance, target=tgt, sample_problem=sample_problem,
        estimated=estimated, ref=ref, policy=policy,
        context={**(context or {}), "engine_note": note}, settings=settings)


def feature_drift_from_counts(profile: CountsProfile, counts: BatchCounts,
                              thresholds: DriftThresholds) -> list[FeatureDrift]:
    """The counts path's :func:`~pipelines.stats.compute_feature_drift`: every feature's test,
    effect and adjusted p-value from the batch's counts."""
    return _adjust([
        *(_binned_numeric(column, counts, thresholds) for column in profile.numeric.values()),
        *(_binned_categorical(cat, counts, thresholds)
          for cat in profile.categorical.values()),
    ], thresholds)


def _binned_numeric(column: BinnedColumn, counts: BatchCounts,
                    thresholds: DriftThresholds) -> FeatureDrift:
    ints = counts.numeric[column.name]
    k = column.n_bins
    bins = ints[:k]
    ks = ks_from_counts(column.reference, bins, column.atoms, ints[k:2 * k])
    effect = psi_from_counts(column.psi_reference,
                             aggregate(bins, column.groups, column.psi_edges.size + 1),
                             int(ints[NAN] + ints[INF]))
    statistics = {"ks_bound": ks.bound}
    if "wasserstein" in thresholds.statistics("numeric"):
        n = max(int(bins.sum()), 1)
        excess = counts.excess[column.name]
        statistics["wasserstein"] = wasserstein_from_counts(
            column.edges, column.reference, bins, column.excess,
            (float(excess[0]) / n, float(excess[1]) / n), column.std)
    return FeatureDrift(
        feature=column.name, kind="numeric", test="ks", statistic=ks.statistic,
        pvalue=ks.pvalue, pvalue_adjusted=ks.pvalue, effect_size=effect, effect_name="psi",
        drifted=False, n_reference=int(column.reference.sum()), n_current=int(bins.sum()),
        statistics=statistics)


def _binned_categorical(ref: CategoricalReference, counts: BatchCounts,
                        thresholds: DriftThresholds) -> FeatureDrift:
    labels, values, missing = counts.category_counts(ref.name)
    res = _chi2_from_counts(ref, labels, values, missing)
    statistics = ({"cramers_v": res.cramers_v}
                  if "cramers_v" in thresholds.statistics("categorical") else {})
    return FeatureDrift(
        feature=ref.name, kind="categorical", test="chi2", statistic=res.statistic,
        pvalue=res.pvalue, pvalue_adjusted=res.pvalue, effect_size=res.psi,
        effect_name="psi", drifted=False, n_reference=ref.n + ref.n_missing,
        n_current=int(values.sum()) + missing, statistics=statistics)


def _report(*, batch_id: str, n_rows: int, features: list[FeatureDrift],
            prediction: ScoreDrift, quality: QualityReport,
            performance: dict[str, float] | None, target: ScoreDrift | None,
            sample_problem: str | None, estimated: dict[str, Estimate], ref: ReferenceContext,
            policy: MonitoringPolicy, context: dict[str, Any] | None,
            settings: dict[str, Any] | None) -> MonitoringReport:
    """Alerts and the report, the same for every engine."""
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    concept = None
    if performance is not None:
        # the same estimator on both sides: the batch's estimate against the reference's
        concept = assess_concept_drift(
            performance["roc_auc"], np.empty(0), ref.baseline["roc_auc"],
            ref.calibrated_expected_auc, share, policy.concept_drift_auc_drop,
            expected_auc=estimated["roc_auc"].value)
    verdict = evaluate_alerts(
        performance=performance, feature_drift=features, drift_share=share,
        prediction_drift=prediction, target_drift=target, concept=concept, quality=quality,
        policy=policy, sample_problem=sample_problem, estimated=estimated)
    return MonitoringReport(
        batch_id=batch_id, n_rows=n_rows, has_labels=performance is not None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        performance=performance, baseline=ref.baseline, feature_drift=tuple(features),
        drift_share=share, prediction_drift=prediction, target_drift=target,
        concept_drift=concept, quality=quality, verdict=verdict, settings=dict(settings or {}),
        context=dict(context or {}), estimated=estimated,
    )
