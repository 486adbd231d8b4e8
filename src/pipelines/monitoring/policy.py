"""The monitoring policy: every threshold a batch is judged by, as objects built once from the
configuration (no rule compares against the settings object inline).

A :class:`Threshold` knows its limit, which side of it is bad, and how to say so; a
:class:`ScoreDriftRule` is a two-sample test's level plus an effect-size floor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from pipelines.config import MonitoringSettings
from pipelines.problems import problem
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
    problem_type: str = "binary"
    performance: Threshold | None = None
    """The limit of the problem type's primary metric (:mod:`pipelines.problems`): binary the
    ROC-AUC floor (``roc_auc`` above), multiclass the macro-F1 floor, regression the RMSE
    ceiling. A regression ceiling relative to the reference is NaN (never breached) until
    :meth:`for_reference` resolves it."""
    performance_ratio: float | None = None
    """Regression without an absolute ceiling: the ceiling is this many times the
    reference's RMSE (resolved by :meth:`for_reference`)."""
    performance_basis: str = ""
    """How a resolved relative limit came about (``1.25 x reference 24.0``), for messages."""
    concept_drift_accuracy_drop: float = 0.05
    concept_drift_rmse_increase: float = 0.10

    def __post_init__(self) -> None:
        if self.performance is None:
            object.__setattr__(self, "performance", self.roc_auc)

    @property
    def primary(self) -> Threshold:
        """:attr:`performance`, never None after construction."""
        assert self.performance is not None
        return self.performance

    def for_reference(self, baseline: Mapping[str, float]) -> MonitoringPolicy:
        """This policy with a relative RMSE ceiling resolved against the reference's
        ``baseline`` metrics (unchanged when the limit is absolute or the type has none)."""
        if self.performance_ratio is None or self.problem_type != "regression":
            return self
        reference = float(baseline.get("rmse", math.nan))
        return replace(self, performance=Threshold(self.performance_ratio * reference, "above"),
                       performance_basis=f"{self.performance_ratio:g} x reference "
                                         f"{format_value(reference)}")

    def sample_problem(self, labels: object) -> str | None:
        """Why the labels cannot support a performance verdict, or None when they can
        (binary; :meth:`sample_problem_of_type` for the others)."""
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

    def sample_problem_of_type(self, labels: object, n_classes: int = 0) -> str | None:
        """:meth:`sample_problem` for the policy's problem type: binary as there; regression
        and multiclass judge no batch of fewer than ``min_rows_for_performance`` labelled
        rows, nor (multiclass) one whose labels hold a single class."""
        import numpy as np

        if self.problem_type == "binary":
            return self.sample_problem(labels)
        y = np.asarray(labels)
        n = int(y.size)
        if self.problem_type == "multiclass":
            present = int(np.unique(y).size)
            if present < 2:
                return (f"the labels hold one class only ({n} rows): macro F1 and ROC-AUC "
                        "cannot be checked, performance is not judged")
        if n < self.min_rows_for_performance:
            return (f"low sample: {n} labelled rows is below {self.min_rows_for_performance}: "
                    "performance is logged, not judged; retraining is not recommended on "
                    "this batch alone")
        return None

    def class_shortage(self, labels: object, classes: tuple[str, ...]) -> str | None:
        """Multiclass: the classes with fewer than ``min_class_rows`` labelled rows in the
        batch (a warning: their recall and F1 rest on few rows), or None."""
        import numpy as np

        if self.problem_type != "multiclass" or not classes:
            return None
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        few = [f"{c} ({int(counts[i])})" for i, c in enumerate(classes)
               if counts[i] < self.min_class_rows]
        if not few:
            return None
        return (f"low sample: class(es) {', '.join(few)} have fewer than "
                f"{self.min_class_rows} labelled rows: their recall and F1 rest on few rows")

    @classmethod
    def from_settings(cls, settings: MonitoringSettings, decision_threshold: float = 0.5,
                      problem_type: str = "binary",
                      reference_primary: float | None = None) -> MonitoringPolicy:
        """The policy for a model of ``problem_type`` (the champion's, not the
        configuration's). ``reference_primary``: the reference's RMSE, resolving a relative
        regression ceiling now (else :meth:`for_reference` does, from the context)."""
        kind = problem(problem_type).name
        performance, ratio = _performance_threshold(settings, kind)
        policy = cls(
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
            problem_type=kind,
            performance=performance,
            performance_ratio=ratio,
            concept_drift_accuracy_drop=settings.concept_drift_accuracy_drop,
            concept_drift_rmse_increase=settings.concept_drift_rmse_increase,
        )
        if reference_primary is not None:
            return policy.for_reference({"rmse": reference_primary})
        return policy


def _performance_threshold(settings: MonitoringSettings,
                           kind: str) -> tuple[Threshold, float | None]:
    """The primary metric's limit and, for a relative RMSE ceiling, its ratio."""
    if kind == "multiclass":
        return Threshold(settings.macro_f1_floor, "below"), None
    if kind == "regression":
        if settings.rmse_ceiling is not None:
            return Threshold(float(settings.rmse_ceiling), "above"), None
        return Threshold(math.nan, "above"), settings.rmse_ratio_ceiling
    return Threshold(settings.roc_auc_floor, "below"), None


def format_value(value: float) -> str:
    """A metric in the target's units, short: ``1234``, ``41.2``, ``1.94``, ``0.0123``."""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def drift_thresholds(settings: MonitoringSettings) -> DriftThresholds:
    """The per-feature drift verdict's thresholds and the configured extra statistics."""
    return DriftThresholds(
        p_value=settings.drift_p_value, correction=settings.correction,  # type: ignore[arg-type]
        min_psi=settings.min_psi, min_categorical_psi=settings.min_categorical_psi,
        numeric_statistics=settings.numeric_statistics,
        categorical_statistics=settings.categorical_statistics)
