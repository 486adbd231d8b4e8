"""The promotion gate: does a candidate beat the champion by *more than* a margin?

Modelled on MLflow's ``MetricThreshold`` (``mlflow/models/evaluation/validation.py``): the
gate checks its own arguments and its decision explains itself (candidate, champion, margin,
verdict). Unlike ``MetricThreshold``, which passes on equality, the comparison is strict:

* ``absolute``: promote iff ``candidate_auc > champion_auc + margin``;
* ``relative``: promote iff ``candidate_auc > champion_auc * (1 + margin)``.

Pure: no MLflow, no files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any, ClassVar, Literal

from pipelines.constraints import (
    MARGIN,
    MARGIN_MODES,
    OPEN_UNIT,
    Constraint,
    Interval,
    Options,
    message,
    validate_object,
)
from pipelines.errors import DataError

MarginMode = Literal["absolute", "relative"]
#: A ROC-AUC handed to the gate: in [0, 1], or NaN (undefined on a one-class holdout).
AUC = Interval(float, 0.0, 1.0)
#: Differences below this are float noise: ``0.8 + 0.01`` must equal ``0.81``, so a candidate
#: at exactly the required AUC is *not* promoted whatever the rounding of the sum.
FLOAT_TOLERANCE: float = 1e-12


@dataclass(frozen=True)
class GateDecision:
    """The verdict of :meth:`PromotionGate.decide`, with everything needed to explain it."""

    promote: bool
    candidate_auc: float
    champion_auc: float
    required_auc: float
    margin: float
    mode: MarginMode
    message: str
    margin_passed: bool = False
    alpha: float | None = None
    """Level of the paired test; None when the gate does not ask for one."""
    pvalue: float | None = None
    """One-sided p-value of "candidate better than champion" (DeLong), when tested."""
    test_passed: bool | None = None
    comparisons: int = 1
    """Candidates the best was chosen from on the gate's own holdout: ``pvalue`` is the
    paired test's one-sided p-value times this (Bonferroni), capped at 1."""

    @property
    def margin_gain(self) -> float:
        """Candidate ROC-AUC minus champion ROC-AUC."""
        return self.candidate_auc - self.champion_auc

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "margin_gain": self.margin_gain}


@dataclass(frozen=True)
class PromotionGate:
    """Promote a candidate only if its ROC-AUC beats the champion's by more than ``margin``.

    ``margin``: a finite number in [0, 1). ``mode``: ``"absolute"`` (AUC points) or
    ``"relative"`` (share of the champion's AUC).
    """

    margin: float
    mode: MarginMode = "absolute"
    alpha: float | None = None
    """With a level, the candidate must also beat the champion in a paired one-sided test on
    the same holdout rows (DeLong) at that level; None: the margin alone decides."""

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "margin": [MARGIN],
        "mode": [Options(MARGIN_MODES)],
        "alpha": [OPEN_UNIT, Options((None,))],
    }

    def __post_init__(self) -> None:
        validate_object(self, self._parameter_constraints)

    def required_auc(self, champion_auc: float) -> float:
        """The AUC a candidate must exceed (strictly) to replace a champion at ``champion_auc``."""
        if self.mode == "absolute":
            return float(champion_auc) + self.margin
        return float(champion_auc) * (1.0 + self.margin)

    def decide(self, candidate_auc: float, champion_auc: float,
               pvalue: float | None = None, comparisons: int = 1) -> GateDecision:
        """Compare ``candidate_auc`` with ``champion_auc`` (and, when the gate has an
        ``alpha``, the paired test's one-sided ``pvalue``); NaN on either side never promotes.
        ``comparisons`` > 1: the candidate is the best of that many chosen on the same
        holdout, so ``pvalue`` is multiplied by it (Bonferroni) before the test, and the
        message says so. The message says which condition failed."""
        if isinstance(comparisons, bool) or not isinstance(comparisons, int) or comparisons < 1:
            raise DataError(message("comparisons", "PromotionGate.decide",
                                    "an int of at least 1", comparisons))
        if pvalue is not None and math.isfinite(pvalue) and comparisons > 1:
            pvalue = min(1.0, pvalue * comparisons)
        candidate = _check_auc("candidate_auc", candidate_auc)
        champion = _check_auc("champion_auc", champion_auc)
        required = self.required_auc(champion)
        rule = ("champion + margin" if self.mode == "absolute"
                else "champion * (1 + margin)")
        head = (f"candidate ROC-AUC {candidate:.4f} vs champion ROC-AUC {champion:.4f}, "
                f"{self.mode} margin {self.margin:g}")
        if self.alpha is not None:
            head += f", paired DeLong test at alpha {self.alpha:g}"
        test_passed: bool | None = None
        if self.alpha is not None:
            test_passed = pvalue is not None and math.isfinite(pvalue) and pvalue < self.alpha
        if math.isnan(candidate) or math.isnan(champion):
            which = "candidate" if math.isnan(candidate) else "champion"
            margin_passed = False
            verdicts = [f"the {which} ROC-AUC is undefined (NaN; the holdout holds one class "
                        "only?), so no comparison is possible"]
        else:
            margin_passed = candidate > required + FLOAT_TOLERANCE
            verdicts = [f"margin {'passed' if margin_passed else 'failed'}: {candidate:.4f} "
                        f"{'>' if margin_passed else 'is not more than'} {required:.4f} ({rule})"]
            if self.alpha is not None:
                shown = "not computed" if pvalue is None else f"p = {pvalue:.3g}"
                if pvalue is not None and comparisons > 1:
                    shown += f" (Bonferroni-corrected for {comparisons} candidates)"
                verdicts.append(f"paired test {'passed' if test_passed else 'failed'}: {shown} "
                                f"{'<' if test_passed else 'is not below'} {self.alpha:g}")
        promote = margin_passed and test_passed is not False
        verdict = ("PROMOTED: " if promote else "REJECTED: ") + "; ".join(verdicts)
        return GateDecision(
            promote=promote, candidate_auc=candidate, champion_auc=champion,
            required_auc=required, margin=float(self.margin), mode=self.mode,
            message=f"{head}: {verdict}.", margin_passed=margin_passed, alpha=self.alpha,
            pvalue=pvalue, test_passed=test_passed, comparisons=comparisons,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"margin": float(self.margin), "mode": self.mode, "alpha": self.alpha}


def _check_auc(name: str, value: object) -> float:
    """A ROC-AUC in [0, 1] or NaN; anything else is a caller's bug worth a clear error."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isnan(value):
        return math.nan
    if not AUC.is_satisfied_by(value):
        raise DataError(message(name, "PromotionGate.decide", "a float in the range [0, 1] or "
                                "NaN", value))
    return float(value)  # type: ignore[arg-type]
