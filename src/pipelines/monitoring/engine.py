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
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.performance import assess_concept_drift
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.quality import check_quality
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import MonitoringReport
from pipelines.stats import chi2_test, compute_feature_drift
from pipelines.stats.classification import classification_metrics
from pipelines.stats.estimation import estimate_performance
from pipelines.stats.methods import NumericSample, get_statistic


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
    """Chi-square test and Cramér's V of the batch's labels against the reference labels."""
    res = chi2_test(ref.target_reference, np.asarray(labels, dtype=np.int8))  # labels '0', '1'
    return ScoreDrift("chi2", res.statistic, res.pvalue, res.cramers_v, "cramers_v",
                      policy.target_drift.drifted(res.pvalue, res.cramers_v))


def evaluate_batch(
    batch: PreparedBatch,
    scores: np.ndarray,
    ref: ReferenceContext,
    policy: MonitoringPolicy,
    *,
    context: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> MonitoringReport:
    """The full monitoring verdict for one batch; without labels, drift and quality only."""
    features = compute_feature_drift(ref.profile, batch, policy.drift)
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    pred = prediction_drift(ref, scores, policy)
    quality = check_quality(batch, ref.profile, policy.quality)
    labels = batch.labels
    performance = tgt = concept = None
    sample_problem = None
    estimated = estimate_performance(scores, ref.calibration.apply(scores),
                                     policy.decision_threshold)
    if labels is not None:
        sample_problem = policy.sample_problem(labels)
        performance = classification_metrics(labels, scores, policy.decision_threshold)
        tgt = target_drift(ref, labels, policy)
        # the same estimator on both sides: the batch's estimate against the reference's
        concept = assess_concept_drift(
            performance["roc_auc"], scores, ref.baseline["roc_auc"], ref.calibrated_expected_auc,
            share, policy.concept_drift_auc_drop, expected_auc=estimated["roc_auc"].value)
    verdict = evaluate_alerts(
        performance=performance, feature_drift=features, drift_share=share,
        prediction_drift=pred, target_drift=tgt, concept=concept, quality=quality,
        policy=policy, sample_problem=sample_problem, estimated=estimated)
    return MonitoringReport(
        batch_id=batch.batch.batch_id, n_rows=batch.n_rows, has_labels=labels is not None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        performance=performance, baseline=ref.baseline, feature_drift=tuple(features),
        drift_share=share, prediction_drift=pred, target_drift=tgt, concept_drift=concept,
        quality=quality, verdict=verdict, settings=dict(settings or {}),
        context=dict(context or {}), estimated=estimated,
    )
