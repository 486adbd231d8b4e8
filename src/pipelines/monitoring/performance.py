"""Performance with labels, and the evidence for concept drift: pure, no I/O.

Concept drift means P(y | x) changed. Its signature is a drop in realised ROC-AUC that the
model's own scores do not predict. If the model is calibrated, the ROC-AUC *expected* on a
batch follows from its scores alone (each row is a positive with probability equal to its
score, as in NannyML's confidence-based performance estimation). Covariate shift moves the
expected and the realised ROC-AUC together; concept drift moves only the realised one. We
compare the gap (realised - expected) on the batch with the same gap on the reference, so a
model that is not perfectly calibrated is judged against itself.

The other problem types follow the same idea with their own label-free estimate (the same
estimator on the batch and on the reference): multiclass compares realized accuracy with the
calibrated class-probability estimate (:func:`assess_accuracy_concept_drift`), regression the
realized RMSE with the direct-loss estimate (:func:`assess_rmse_concept_drift`, relative).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipelines.stats.estimation import expected_auc_sorted


def expected_roc_auc(scores: np.ndarray) -> float:
    """ROC-AUC expected if labels were drawn as Bernoulli(score): E[concordant] / E[pairs]
    (the raw scores taken as probabilities; see :func:`pipelines.stats.estimation.expected_auc`)."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.sort(s[np.isfinite(s)])
    return expected_auc_sorted(s, s)


@dataclass(frozen=True)
class ConceptDriftFinding:
    """The concept-drift evidence. Binary: ROC-AUC. For the other types the ``*_auc`` fields
    hold the metric named by ``metric`` (``accuracy`` for multiclass, ``rmse`` for
    regression; the names stay for the readers of reports); ``unexplained_drop`` is always
    "worse than the estimate explains" (regression: the relative RMSE rise)."""

    detected: bool
    realised_auc: float
    expected_auc: float
    reference_auc: float
    reference_expected_auc: float
    unexplained_drop: float
    threshold: float
    drift_share: float
    explanation: str
    metric: str = "roc_auc"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess_concept_drift(
    realised_auc: float,
    current_scores: np.ndarray,
    reference_auc: float,
    reference_expected_auc: float,
    drift_share: float,
    threshold: float,
    expected_auc: float | None = None,
) -> ConceptDriftFinding | None:
    """Concept drift when realised ROC-AUC fell more than ``threshold`` below what the scores
    predict, relative to the reference's own realised-vs-expected gap. None without a
    defined ROC-AUC (no labels or one class). ``expected_auc``: the label-free estimate for
    the batch (calibrated, :mod:`pipelines.stats.estimation`); default: the raw scores taken
    as probabilities."""
    if not (math.isfinite(realised_auc) and math.isfinite(reference_auc)):
        return None
    expected = expected_roc_auc(current_scores) if expected_auc is None else expected_auc
    unexplained = (reference_auc - reference_expected_auc) - (realised_auc - expected)
    detected = bool(unexplained > threshold and realised_auc < reference_auc - threshold)
    if detected:
        explanation = (
            f"ROC-AUC {realised_auc:.3f} vs {expected:.3f} expected from the scores "
            f"(reference {reference_auc:.3f} vs {reference_expected_auc:.3f}): "
            f"{unexplained:.3f} of the drop is not explained by the inputs "
            f"(drifted-feature share {drift_share:.0%})"
        )
    else:
        explanation = (
            f"realised ROC-AUC {realised_auc:.3f} is within {threshold:.3f} of what the scores "
            f"predict ({expected:.3f}), relative to the reference"
        )
    return ConceptDriftFinding(
        detected=detected, realised_auc=realised_auc, expected_auc=expected,
        reference_auc=reference_auc, reference_expected_auc=reference_expected_auc,
        unexplained_drop=unexplained, threshold=threshold, drift_share=drift_share,
        explanation=explanation,
    )


def assess_accuracy_concept_drift(
    realised: float, estimated: float, reference: float, reference_estimated: float,
    drift_share: float, threshold: float,
) -> ConceptDriftFinding | None:
    """Multiclass: concept drift when realized accuracy fell more than ``threshold`` below
    the label-free estimate, relative to the reference's own realized-vs-estimated gap, and
    below the reference's accuracy by more than ``threshold``. None when a value is
    undefined."""
    values = (realised, estimated, reference, reference_estimated)
    if not all(math.isfinite(v) for v in values):
        return None
    unexplained = (reference - reference_estimated) - (realised - estimated)
    detected = bool(unexplained > threshold and realised < reference - threshold)
    if detected:
        explanation = (
            f"accuracy {realised:.3f} vs {estimated:.3f} estimated from the class "
            f"probabilities (reference {reference:.3f} vs {reference_estimated:.3f}): "
            f"{unexplained:.3f} of the drop is not explained by the inputs "
            f"(drifted-feature share {drift_share:.0%})")
    else:
        explanation = (
            f"realized accuracy {realised:.3f} is within {threshold:.3f} of the estimate "
            f"({estimated:.3f}), relative to the reference")
    return ConceptDriftFinding(
        detected=detected, realised_auc=realised, expected_auc=estimated,
        reference_auc=reference, reference_expected_auc=reference_estimated,
        unexplained_drop=unexplained, threshold=threshold, drift_share=drift_share,
        explanation=explanation, metric="accuracy")


def assess_rmse_concept_drift(
    realised: float, estimated: float, reference: float, reference_estimated: float,
    drift_share: float, threshold: float,
) -> ConceptDriftFinding | None:
    """Regression: concept drift when realized RMSE / estimated RMSE rose more than
    ``threshold`` (relative) above the reference's realized / estimated ratio, and the
    realized RMSE is above the reference's. The estimate (direct loss estimation) follows
    the inputs, so covariate shift moves both; only a changed P(y | x) moves the realized
    RMSE alone, except where the model extrapolates: features moved beyond the reference
    raise the error in ways the estimate (fitted on the reference) cannot see, so with
    drifted features the message says the rise may be that. None when a value is undefined
    or an estimate is zero."""
    values = (realised, estimated, reference, reference_estimated)
    if not all(math.isfinite(v) for v in values) or estimated <= 0 or reference_estimated <= 0:
        return None
    ratio = realised / estimated
    reference_ratio = reference / reference_estimated
    rise = ratio / reference_ratio - 1.0 if reference_ratio > 0 else math.nan
    detected = bool(rise > threshold and realised > reference)
    if detected:
        explanation = (
            f"RMSE {realised:.4g} vs {estimated:.4g} estimated from the features and "
            f"predictions (reference {reference:.4g} vs {reference_estimated:.4g}): "
            f"{rise:.0%} above what the inputs explain (drifted-feature share "
            f"{drift_share:.0%})")
        if drift_share > 0:
            explanation += ("; with drifted features part of the rise may be the model "
                            "extrapolating beyond the reference, which the estimate cannot see")
    else:
        explanation = (
            f"realized RMSE {realised:.4g} is within {threshold:.0%} of the estimate "
            f"({estimated:.4g}), relative to the reference")
    return ConceptDriftFinding(
        detected=detected, realised_auc=realised, expected_auc=estimated,
        reference_auc=reference, reference_expected_auc=reference_estimated,
        unexplained_drop=rise, threshold=threshold, drift_share=drift_share,
        explanation=explanation, metric="rmse")
