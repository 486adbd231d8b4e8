"""The monitoring policy: every threshold a batch is judged by, as objects built once from the
configuration (no rule compares against the settings object inline).

A :class:`Threshold` knows its limit, which side of it is bad, and how to say so; a
:class:`ScoreDriftRule` is a two-sample test's level plus an effect-size floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.config import MonitoringSettings
from pipelines.stats import DriftThresholds


@dataclass(frozen=True)
class Threshold:
    """A limit; ``bad`` says which side of it raises an alert (strictly beyond the limit)."""

    limit: float
    bad: Literal["below", "above"]

    def breached(self, value: float) -> bool:
        """True when ``value`` lies on the bad side (NaN never breaches)."""
        if value != value:  # NaN
            return False
        return value < self.limit if self.bad == "below" else value > self.limit


@dataclass(frozen=True)
class ScoreDriftRule:
    """One column's drift (scores, labels): adjusted for nothing, significant below
    ``p_value`` and large enough at ``min_effect``."""

    p_value: float
    min_effect: float

    def drifted(self, pvalue: float, effect: float) -> bool:
        return pvalue < self.p_value and effect >= self.min_effect


@dataclass(frozen=True)
class QualityPolicy:
    missing_share_increase: Threshold
    out_of_range_share: Threshold
    unseen_category_share: Threshold


@dataclass(frozen=True)
class MonitoringPolicy:
    """Everything :func:`~pipelines.monitoring.engine.evaluate_batch` judges a batch by."""

    drift: DriftThresholds
    roc_auc: Threshold
    drift_share: Threshold
    prediction_drift: ScoreDriftRule
    target_drift: ScoreDriftRule
    concept_drift_auc_drop: float
    quality: QualityPolicy
    decision_threshold: float = 0.5
    min_rows_for_performance: int = 200
    min_class_rows: int = 20

    def sample_problem(self, labels: object) -> str | None:
        """Why the labels cannot support a performance verdict, or None when they can."""
        import numpy as np

        y = np.asarray(labels)
        n_pos = int((y == 1).sum())
        return self.sample_problem_of_counts(n_pos, int(y.size - n_pos))

    def sample_problem_of_counts(self, n_pos: int, n_neg: int) -> str | None:
        """:meth:`sample_problem` from the numbers of positive and negative labels."""
        n = n_pos + n_neg
        if n_pos == 0 or n_neg == 0:
            only = "1" if n_pos else "0"
            return (f"the labels hold one class only ({n} x {only}): ROC-AUC cannot be "
                    "checked, performance is not judged")
        if n < self.min_rows_for_performance or min(n_pos, n_neg) < self.min_class_rows:
            few = ("; retraining is not recommended on this batch alone"
                   if n < self.min_rows_for_performance else "")
            return (f"low sample: {n} labelled rows ({n_pos} positive, {n_neg} negative) "
                    f"is below {self.min_rows_for_performance} rows or {self.min_class_rows} "
                    f"of a class: performance is logged, not judged{few}")
        return None

    @classmethod
    def from_settings(cls, settings: MonitoringSettings,
                      decision_threshold: float = 0.5) -> MonitoringPolicy:
        return cls(
            drift=drift_thresholds(settings),
            roc_auc=Threshold(settings.roc_auc_floor, "below"),
            drift_share=Threshold(settings.drift_share, "above"),
            prediction_drift=ScoreDriftRule(settings.drift_p_value, settings.prediction_min_psi),
            target_drift=ScoreDriftRule(settings.drift_p_value, settings.target_min_psi),
            concept_drift_auc_drop=settings.concept_drift_auc_drop,
            quality=QualityPolicy(
                missing_share_increase=Threshold(settings.max_missing_share_increase, "above"),
                out_of_range_share=Threshold(settings.max_out_of_range_share, "above"),
                unseen_category_share=Threshold(settings.max_unseen_category_share, "above"),
            ),
            decision_threshold=decision_threshold,
            min_rows_for_performance=settings.min_rows_for_performance,
            min_class_rows=settings.min_class_rows,
        )


def drift_thresholds(settings: MonitoringSettings) -> DriftThresholds:
    """The per-feature drift verdict's thresholds and the configured extra statistics."""
    return DriftThresholds(
        p_value=settings.drift_p_value, correction=settings.correction,  # type: ignore[arg-type]
        min_psi=settings.min_psi, min_categorical_psi=settings.min_categorical_psi,
        numeric_statistics=settings.numeric_statistics,
        categorical_statistics=settings.categorical_statistics)
