"""Evaluate one production batch against the reference: performance, drift, quality, alerts.

Pure computation over frames and arrays; MLflow and files are handled by
:mod:`pipelines.monitor_performance`. The reference side (:class:`ReferenceContext`) is built
once per champion and reused for every batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import MonitoringSettings
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema
from pipelines.metrics import classification_metrics
from pipelines.monitoring.alerts import Alert, Decision, ScoreDrift, evaluate_alerts
from pipelines.monitoring.performance import (
    ConceptDriftFinding,
    assess_concept_drift,
    expected_roc_auc,
)
from pipelines.monitoring.quality import QualityReport, check_quality
from pipelines.stats import (
    CategoricalReference,
    DriftThresholds,
    FeatureDrift,
    NumericReference,
    ReferenceProfile,
    chi2_test,
    compute_feature_drift,
    fit_categorical_reference,
    fit_numeric_reference,
    ks_test,
    psi,
)


@dataclass(frozen=True)
class ReferenceContext:
    """What every batch is compared with: the fitted profile and the baseline performance."""

    schema: FeatureSchema
    profile: ReferenceProfile
    """Features only; the scores' reference is kept apart in ``score_reference``."""
    score_reference: NumericReference
    baseline: dict[str, float]
    expected_auc: float
    target_reference: CategoricalReference

    @classmethod
    def build(cls, schema: FeatureSchema, profile: ReferenceProfile, labels: np.ndarray,
              scores: np.ndarray, threshold: float) -> ReferenceContext:
        """``profile`` holds the features and, under ``SCORE_COLUMN``, the reference scores."""
        numeric = {k: v for k, v in profile.numeric.items() if k != SCORE_COLUMN}
        score_ref = profile.numeric.get(SCORE_COLUMN) or fit_numeric_reference(
            SCORE_COLUMN, np.asarray(scores, dtype=np.float64))
        return cls(
            schema=schema,
            profile=replace(profile, numeric=numeric),
            score_reference=score_ref,
            baseline=classification_metrics(labels, scores, threshold),
            expected_auc=expected_roc_auc(scores),
            target_reference=fit_categorical_reference(
                schema.target, np.asarray(labels).astype(int).astype(str)),
        )


@dataclass(frozen=True)
class MonitoringReport:
    batch_id: str
    n_rows: int
    has_labels: bool
    created_at: str
    performance: dict[str, float] | None
    baseline: dict[str, float]
    feature_drift: tuple[FeatureDrift, ...]
    drift_share: float
    prediction_drift: ScoreDrift
    target_drift: ScoreDrift | None
    concept_drift: ConceptDriftFinding | None
    quality: QualityReport
    decision: Decision
    settings: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.feature_drift if f.drifted)

    @property
    def status(self) -> str:
        return self.decision.status

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return self.decision.alerts

    @property
    def retraining_recommended(self) -> bool:
        return self.decision.retraining_recommended

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "batch_id": self.batch_id,
            "created_at": self.created_at,
            "n_rows": self.n_rows,
            "has_labels": self.has_labels,
            "status": self.status,
            "retraining_recommended": self.retraining_recommended,
            "retraining_reasons": list(self.decision.reasons),
            "alerts": [a.to_dict() for a in self.alerts],
            "performance": self.performance,
            "baseline": self.baseline,
            "drift": {
                "drift_share": self.drift_share,
                "n_drifted_features": len(self.drifted_features),
                "n_features": len(self.feature_drift),
                "drifted_features": list(self.drifted_features),
                "features": [_feature_dict(f) for f in self.feature_drift],
            },
            "prediction_drift": self.prediction_drift.to_dict(),
            "target_drift": self.target_drift.to_dict() if self.target_drift else None,
            "concept_drift": self.concept_drift.to_dict() if self.concept_drift else None,
            "data_quality": self.quality.to_dict(),
            "settings": self.settings,
            "context": self.context,
        })


def _feature_dict(f: FeatureDrift) -> dict[str, Any]:
    return {k: getattr(f, k) for k in f.__dataclass_fields__}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers, tuples lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def drift_thresholds(settings: MonitoringSettings) -> DriftThresholds:
    return DriftThresholds(p_value=settings.drift_p_value, correction=settings.correction,
                           min_psi=settings.min_psi, min_cramers_v=settings.min_cramers_v)


def prediction_drift(ref: ReferenceContext, scores: np.ndarray,
                     settings: MonitoringSettings) -> ScoreDrift:
    score_ref = ref.score_reference
    ks = ks_test(score_ref, scores)
    effect = psi(score_ref, scores)
    drifted = ks.pvalue < settings.drift_p_value and effect >= settings.prediction_min_psi
    return ScoreDrift("ks", ks.statistic, ks.pvalue, effect, "psi", bool(drifted))


def target_drift(ref: ReferenceContext, labels: np.ndarray,
                 settings: MonitoringSettings) -> ScoreDrift:
    res = chi2_test(ref.target_reference, np.asarray(labels, dtype=np.int8))  # labels '0', '1'
    drifted = res.pvalue < settings.drift_p_value and res.cramers_v >= settings.target_min_cramers_v
    return ScoreDrift("chi2", res.statistic, res.pvalue, res.cramers_v, "cramers_v",
                      bool(drifted))


def evaluate_batch(
    batch: pd.DataFrame,
    scores: np.ndarray,
    labels: np.ndarray | None,
    ref: ReferenceContext,
    settings: MonitoringSettings,
    *,
    batch_id: str,
    decision_threshold: float = 0.5,
    context: dict[str, Any] | None = None,
) -> MonitoringReport:
    """The full monitoring verdict for one batch. ``labels`` None: drift and quality only."""
    features = compute_feature_drift(ref.profile, batch, drift_thresholds(settings))
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    pred = prediction_drift(ref, scores, settings)
    quality = check_quality(batch, ref.schema, ref.profile, settings)
    performance = tgt = concept = None
    if labels is not None:
        performance = classification_metrics(labels, scores, decision_threshold)
        tgt = target_drift(ref, labels, settings)
        concept = assess_concept_drift(
            performance["roc_auc"], scores, ref.baseline["roc_auc"], ref.expected_auc,
            share, settings.concept_drift_auc_drop)
    decision = evaluate_alerts(
        performance=performance, feature_drift=features, drift_share=share,
        prediction_drift=pred, target_drift=tgt, concept=concept, quality=quality,
        settings=settings)
    return MonitoringReport(
        batch_id=batch_id, n_rows=len(batch), has_labels=labels is not None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        performance=performance, baseline=ref.baseline, feature_drift=tuple(features),
        drift_share=share, prediction_drift=pred, target_drift=tgt, concept_drift=concept,
        quality=quality, decision=decision, settings=settings.model_dump(),
        context=dict(context or {}),
    )
