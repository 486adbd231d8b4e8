"""The promotion gate: does a candidate beat the champion by *more than* a margin?

Modelled on MLflow's ``MetricThreshold`` (``mlflow/models/evaluation/validation.py``): the
gate checks its own arguments and its decision explains itself (candidate, champion, margin,
verdict). Unlike ``MetricThreshold``, which passes on equality, the comparison is strict.

The metric is the problem type's primary one (:func:`pipelines.problems.problem`): ROC-AUC
(binary) and macro F1 (multiclass), higher is better; RMSE (regression), lower is better.

* higher is better, ``absolute``: promote iff ``candidate > champion + margin``;
* higher is better, ``relative``: promote iff ``candidate > champion * (1 + margin)``;
* lower is better (RMSE), ``absolute``: promote iff ``candidate < champion - margin`` (the
  margin in the target's units);
* lower is better (RMSE), ``relative``: promote iff ``candidate < champion * (1 - margin)``
  (``margin`` 0.01: a 1 % lower RMSE).

The configured ``retraining.promotion_margin`` (default 0.01) is in AUC points; in the
target's units an absolute margin rarely fits a regression model, so the retraining workflow
uses the *relative* mode for regression unless ``retraining.margin_mode`` is set explicitly
(:func:`margin_mode_for`).

With a level ``alpha`` the candidate must also win a paired one-sided test on the same holdout
rows: DeLong (binary), a paired t-test on the per-row squared errors (regression), a paired
bootstrap of macro F1 (multiclass); the message names the test and says why it fits.

Pure: no MLflow, no files.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any, ClassVar, Literal, Protocol

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
from pipelines.problems import PROBLEM_TYPES, Problem, problem

MarginMode = Literal["absolute", "relative"]
#: A ROC-AUC (or macro F1) handed to the gate: in [0, 1], or NaN (undefined).
AUC = Interval(float, 0.0, 1.0)
#: An RMSE handed to the gate: finite and non-negative, or NaN.
LOSS = Interval(float, 0.0, None)
#: Differences below this are float noise: ``0.8 + 0.01`` must equal ``0.81``, so a candidate
#: at exactly the required AUC is *not* promoted whatever the rounding of the sum.
FLOAT_TOLERANCE: float = 1e-12

#: The paired test each problem type's gate reads, named as its ``PairedTest`` is, and in words.
TEST_NAMES: dict[str, str] = {"binary": "delong", "regression": "paired_t_squared_error",
                              "multiclass": "paired_bootstrap_macro_f1"}
TEST_WORDS: dict[str, str] = {
    "binary": "paired DeLong test",
    "regression": "paired one-sided t-test on the holdout rows' squared errors",
    "multiclass": "paired one-sided bootstrap of the holdout rows' macro F1",
}
#: Keys of :meth:`GateDecision.to_dict` that only a binary (ROC-AUC) decision carries.
AUC_KEYS: tuple[str, ...] = ("candidate_auc", "champion_auc", "required_auc")
#: Keys only the other types' decisions carry (a binary decision keeps its legacy keys).
GENERIC_KEYS: tuple[str, ...] = ("metric", "candidate_value", "champion_value",
                                 "required_value", "test")


class PairedTestLike(Protocol):
    """What the gate reads of a paired test (``stats.paired.PairedTest``)."""

    name: str
    pvalue: float
    detail: str


@dataclass(frozen=True)
class GateDecision:
    """The verdict of :meth:`PromotionGate.decide`, with everything needed to explain it.

    ``candidate_value``/``champion_value``/``required_value`` are the primary ``metric``'s
    (any type); ``candidate_auc``/``champion_auc``/``required_auc`` the same numbers for a
    binary decision (ROC-AUC), NaN for the other types."""

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
    """One-sided p-value of "candidate better than champion" (DeLong, paired t-test or paired
    bootstrap by type), when tested."""
    test_passed: bool | None = None
    comparisons: int = 1
    """Candidates the best was chosen from on the gate's own holdout: ``pvalue`` is the
    paired test's one-sided p-value times this (Bonferroni), capped at 1."""
    metric: str = "roc_auc"
    """The primary metric compared (``roc_auc``, ``macro_f1``, ``rmse``)."""
    candidate_value: float = math.nan
    champion_value: float = math.nan
    required_value: float = math.nan
    """The value the candidate had to beat strictly (above it, or below it for RMSE)."""
    test: str | None = None
    """The paired test's name (``delong``, ``paired_t_squared_error``,
    ``paired_bootstrap_macro_f1``); None without a level."""

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "rmse"

    @property
    def margin_gain(self) -> float:
        """How much better the candidate is than the champion, in the metric's units
        (candidate minus champion; champion minus candidate for RMSE)."""
        if self.metric == "roc_auc":
            return self.candidate_auc - self.champion_auc
        gain = self.candidate_value - self.champion_value
        return gain if self.higher_is_better else -gain

    def to_dict(self) -> dict[str, Any]:
        """A binary decision: its historical keys (``candidate_auc``...), unchanged; the other
        types: ``metric``, ``candidate_value``, ``champion_value``, ``required_value``,
        ``test`` instead of the ``*_auc`` keys. :func:`gate_values` reads either."""
        out = {**asdict(self), "margin_gain": self.margin_gain}
        drop = GENERIC_KEYS if self.metric == "roc_auc" else AUC_KEYS
        return {k: v for k, v in out.items() if k not in drop}


def gate_values(gate: dict[str, Any]) -> tuple[str, float, float, float]:
    """``(metric, candidate, champion, required)`` of a :meth:`GateDecision.to_dict` (binary
    or not): what a summary's reader needs without knowing the type."""
    if "metric" in gate:
        return (str(gate["metric"]), gate["candidate_value"], gate["champion_value"],
                gate["required_value"])
    return "roc_auc", gate["candidate_auc"], gate["champion_auc"], gate["required_auc"]


def margin_mode_for(problem_type: str, mode: str, explicit: Collection[str] = ()) -> MarginMode:
    """The margin mode the gate uses: as configured, except that a regression gate uses
    ``relative`` while ``retraining.margin_mode`` is left at its default (the default margin,
    0.01, is in AUC points: as a share of the RMSE it means 1 %, in the target's units it would
    mean next to nothing). ``explicit``: :func:`pipelines.config.explicit_keys`."""
    if problem_type == "regression" and "retraining.margin_mode" not in explicit:
        return "relative"
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class PromotionGate:
    """Promote a candidate only if its primary metric beats the champion's by more than
    ``margin``.

    ``margin``: a finite number in [0, 1). ``mode``: ``"absolute"`` (metric units: AUC or F1
    points, the target's units for RMSE) or ``"relative"`` (share of the champion's value).
    ``problem_type``: ``binary`` (ROC-AUC, the default), ``multiclass`` (macro F1) or
    ``regression`` (RMSE, lower is better).
    """

    margin: float
    mode: MarginMode = "absolute"
    alpha: float | None = None
    """With a level, the candidate must also beat the champion in a paired one-sided test on
    the same holdout rows (by type, see the module) at that level; None: the margin alone
    decides."""
    problem_type: str = "binary"

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "margin": [MARGIN],
        "mode": [Options(MARGIN_MODES)],
        "alpha": [OPEN_UNIT, Options((None,))],
        "problem_type": [Options(PROBLEM_TYPES)],
    }

    def __post_init__(self) -> None:
        validate_object(self, self._parameter_constraints)

    @property
    def problem(self) -> Problem:
        return problem(self.problem_type)

    def required(self, champion: float) -> float:
        """The value a candidate must beat (strictly) to replace a champion at ``champion``:
        above it when higher is better, below it (RMSE) otherwise."""
        sign = 1.0 if self.problem.higher_is_better else -1.0
        if self.mode == "absolute":
            return float(champion) + sign * self.margin
        return float(champion) * (1.0 + sign * self.margin)

    def required_auc(self, champion_auc: float) -> float:
        """The AUC a candidate must exceed (strictly) to replace a champion at ``champion_auc``."""
        return self.required(champion_auc)

    def decide(self, candidate_auc: float, champion_auc: float,
               pvalue: float | None = None, comparisons: int = 1, *,
               test: PairedTestLike | None = None) -> GateDecision:
        """Compare the candidate's primary metric with the champion's (for a binary gate the
        ROC-AUCs, hence the names) and, when the gate has an ``alpha``, the paired test's
        one-sided ``pvalue`` (or ``test.pvalue``); NaN on either side never promotes.
        ``comparisons`` > 1: the candidate is the best of that many chosen on the same
        holdout, so the p-value is multiplied by it (Bonferroni) before the test, and the
        message says so. ``test``: the paired test's result; its ``detail`` (which test, on
        what, why it fits) ends the message. The message says which condition failed."""
        if isinstance(comparisons, bool) or not isinstance(comparisons, int) or comparisons < 1:
            raise DataError(message("comparisons", "PromotionGate.decide",
                                    "an int of at least 1", comparisons))
        if pvalue is None and test is not None:
            pvalue = float(test.pvalue)
        if pvalue is not None and math.isfinite(pvalue) and comparisons > 1:
            pvalue = min(1.0, pvalue * comparisons)
        p = self.problem
        binary = p.primary_metric == "roc_auc"
        candidate = _check_value("candidate_auc" if binary else f"candidate_{p.primary_metric}",
                                 candidate_auc, p)
        champion = _check_value("champion_auc" if binary else f"champion_{p.primary_metric}",
                                champion_auc, p)
        required = self.required(champion)
        if p.higher_is_better:
            rule = "champion + margin" if self.mode == "absolute" else "champion * (1 + margin)"
        else:
            rule = "champion - margin" if self.mode == "absolute" else "champion * (1 - margin)"
        shown = _formatter(p)
        head = (f"candidate {p.label} {shown(candidate)} vs champion {p.label} "
                f"{shown(champion)}, {self.mode} margin {self.margin:g}")
        if self.alpha is not None:
            head += f", {TEST_WORDS[self.problem_type]} at alpha {self.alpha:g}"
        test_passed: bool | None = None
        if self.alpha is not None:
            test_passed = pvalue is not None and math.isfinite(pvalue) and pvalue < self.alpha
        if math.isnan(candidate) or math.isnan(champion):
            which = "candidate" if math.isnan(candidate) else "champion"
            margin_passed = False
            why = ("(NaN; the holdout holds one class only?)" if binary else "(NaN)")
            verdicts = [f"the {which} {p.label} is undefined {why}, so no comparison is "
                        "possible"]
        else:
            if p.higher_is_better:
                margin_passed = candidate > required + FLOAT_TOLERANCE
                words = (">", "is not more than")
            else:
                margin_passed = candidate < required - FLOAT_TOLERANCE
                words = ("<", "is not less than")
            verdicts = [f"margin {'passed' if margin_passed else 'failed'}: {shown(candidate)} "
                        f"{words[0] if margin_passed else words[1]} {shown(required)} ({rule})"]
            if self.alpha is not None:
                said = "not computed" if pvalue is None else f"p = {pvalue:.3g}"
                if pvalue is not None and comparisons > 1:
                    said += f" (Bonferroni-corrected for {comparisons} candidates)"
                verdicts.append(f"paired test {'passed' if test_passed else 'failed'}: {said} "
                                f"{'<' if test_passed else 'is not below'} {self.alpha:g}")
        promote = margin_passed and test_passed is not False
        verdict = ("PROMOTED: " if promote else "REJECTED: ") + "; ".join(verdicts)
        text = f"{head}: {verdict}."
        detail = getattr(test, "detail", "") if test is not None else ""
        if detail:
            text += f" The test: {detail}."
        test_name = (str(test.name) if test is not None
                     else TEST_NAMES[self.problem_type] if self.alpha is not None else None)
        nan = math.nan
        return GateDecision(
            promote=promote, candidate_auc=candidate if binary else nan,
            champion_auc=champion if binary else nan, required_auc=required if binary else nan,
            margin=float(self.margin), mode=self.mode, message=text,
            margin_passed=margin_passed, alpha=self.alpha, pvalue=pvalue,
            test_passed=test_passed, comparisons=comparisons, metric=p.primary_metric,
            candidate_value=candidate, champion_value=champion, required_value=required,
            test=test_name,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"margin": float(self.margin), "mode": self.mode,
                               "alpha": self.alpha}
        if self.problem_type != "binary":
            out["problem_type"] = self.problem_type
        return out


def _formatter(p: Problem) -> Any:
    """How the gate's message shows a value: 4 decimals for a score in [0, 1], 4 significant
    digits for an RMSE (in the target's units)."""
    if p.higher_is_better:
        return lambda v: f"{v:.4f}"
    return lambda v: f"{v:.4g}"


def _check_value(name: str, value: object, p: Problem) -> float:
    """A ROC-AUC or macro F1 in [0, 1], an RMSE >= 0, or NaN; anything else is a caller's bug
    worth a clear error."""
    if isinstance(value, Real) and not isinstance(value, bool) and math.isnan(value):
        return math.nan
    bounds = AUC if p.higher_is_better else LOSS
    if not bounds.is_satisfied_by(value):
        rule = ("a float in the range [0, 1] or NaN" if p.higher_is_better
                else "a finite float of at least 0 or NaN")
        raise DataError(message(name, "PromotionGate.decide", rule, value))
    return float(value)  # type: ignore[arg-type]
