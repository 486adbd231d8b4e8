"""Performance estimated without labels (confidence-based, as NannyML's CBPE): pure, no I/O.

If the calibrated probability of row i is p_i, its label is a Bernoulli(p_i) draw, so every
count of the confusion matrix has an expectation (and a variance) that follows from the
batch's scores alone:

* the decision ŷ_i = [s_i >= threshold] is the model's, on its raw score;
* E[TP] = Σ_{ŷ=1} p_i, E[FP] = Σ_{ŷ=1} (1 - p_i), E[FN] = Σ_{ŷ=0} p_i, E[TN] = Σ_{ŷ=0} (1 - p_i);
* accuracy, precision, recall and F1 are ratios of these expectations; ROC-AUC is
  E[concordant pairs] / E[pairs], ordering rows by their raw scores.

Calibration is fitted once on the reference: Platt scaling (two parameters) unless it is
worse than the raw scores out of sample, isotonic regression when it clearly beats Platt,
chosen by the Brier score under 2-fold cross-fitting (a small reference cannot overfit two
parameters; isotonic steps can). Under
covariate shift the calibration fitted on the reference may not hold on the batch; weighting
the reference rows by the density ratio batch/reference (:func:`density_ratio_weights`) fits
it for the batch's population instead.

What it cannot see: concept drift. P(y | x) changing leaves the scores, hence the estimate,
where they were; only labels reveal it (the estimate is then the "expected" side of the
concept-drift check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where fitted: scikit-learn (and the scipy it loads) is slow to import
    from sklearn.isotonic import IsotonicRegression

#: z for a two-sided 95 % band.
Z95 = 1.959963984540054
ESTIMATED_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class Calibration:
    """A monotone map from score to probability (isotonic steps, interpolated), or the
    identity when calibrating did not help."""

    x: np.ndarray
    y: np.ndarray
    kept: bool
    brier_raw: float
    brier_calibrated: float

    def apply(self, scores: np.ndarray) -> np.ndarray:
        s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
        if not self.kept or self.x.size == 0:
            return s
        return np.interp(s, self.x, self.y)

    def to_dict(self) -> dict[str, object]:
        """Strict-JSON data (NaN as None)."""
        def num(v: float) -> float | None:
            return v if math.isfinite(v) else None

        return {"x": self.x.tolist(), "y": self.y.tolist(), "kept": self.kept,
                "brier_raw": num(self.brier_raw), "brier_calibrated": num(self.brier_calibrated)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Calibration:
        def num(v: object) -> float:
            return math.nan if v is None else float(v)  # type: ignore[arg-type]

        return cls(np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], np.float64),
                   bool(data["kept"]), num(data["brier_raw"]), num(data["brier_calibrated"]))

    @classmethod
    def identity(cls) -> Calibration:
        return cls(np.empty(0), np.empty(0), False, math.nan, math.nan)


def _isotonic(scores: np.ndarray, labels: np.ndarray,
              weights: np.ndarray | None) -> IsotonicRegression:
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        scores, labels, sample_weight=weights)


def _logit(s: np.ndarray) -> np.ndarray:
    c = np.clip(s, 1e-6, 1 - 1e-6)
    return np.log(c / (1 - c))


#: Platt scaling is stored as its values on a grid dense in logit space (interpolated).
_PLATT_GRID = 1.0 / (1.0 + np.exp(-np.linspace(-14.0, 14.0, 2801)))


class _Platt:
    """p = sigmoid(a * logit(s) + b): two parameters, so it cannot overfit a reference."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray,
                 weights: np.ndarray | None) -> None:
        from sklearn.linear_model import LogisticRegression

        self.model = LogisticRegression(C=1e6, max_iter=1000).fit(
            _logit(scores)[:, None], labels, sample_weight=weights)

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(_logit(scores)[:, None])[:, 1]


def _brier(p: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.average((p - y) ** 2, weights=w))


def fit_calibration(scores: np.ndarray, labels: np.ndarray, *,
                    weights: np.ndarray | None = None, seed: int = 0,
                    min_gain: float = 1e-4) -> Calibration:
    """Calibration of ``labels`` on ``scores`` (optionally weighted), chosen by out-of-sample
    Brier score (2-fold cross-fit): Platt scaling (two parameters) when it is no worse than
    the raw scores, isotonic regression instead when it beats Platt by ``min_gain``, the raw
    scores when neither helps. Platt matters more than its Brier gain suggests: a slightly
    overconfident model's expected ROC-AUC is biased upwards."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(labels, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(y)
    s, y = s[ok], y[ok]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)[ok]
    if s.size < 200 or np.unique(y).size < 2:
        return Calibration.identity()
    fold = np.random.default_rng(seed).permutation(s.size) % 2 == 0
    cross_iso, cross_platt = np.empty_like(s), np.empty_like(s)
    for part in (fold, ~fold):
        wp = None if w is None else w[~part]
        cross_iso[part] = _isotonic(s[~part], y[~part], wp).predict(s[part])
        cross_platt[part] = _Platt(s[~part], y[~part], wp).predict(s[part])
    raw = _brier(s, y, w)
    iso, platt = _brier(cross_iso, y, w), _brier(cross_platt, y, w)
    if iso < min(platt, raw) - min_gain:
        full = _isotonic(s, y, w)
        return Calibration(np.asarray(full.X_thresholds_, dtype=np.float64),
                           np.asarray(full.y_thresholds_, dtype=np.float64), True, raw, iso)
    if platt <= raw + min_gain:
        return Calibration(_PLATT_GRID.copy(), _Platt(s, y, w).predict(_PLATT_GRID), True,
                           raw, platt)
    return Calibration(np.empty(0), np.empty(0), False, raw, min(iso, platt))


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its 95 % sampling band: where the realized value should fall
    once the labels arrive, if the calibration holds."""

    value: float
    lower: float
    upper: float

    @classmethod
    def of(cls, value: float, se: float) -> Estimate:
        if not (math.isfinite(value) and math.isfinite(se)):
            return cls(value, math.nan, math.nan)
        return cls(value, max(0.0, value - Z95 * se), min(1.0, value + Z95 * se))

    @classmethod
    def unbounded(cls, value: float, se: float) -> Estimate:
        """A band for a metric with no upper bound (an error such as RMSE or MAE): the upper
        end is not clipped to 1, the lower one is clipped at 0."""
        if not (math.isfinite(value) and math.isfinite(se)):
            return cls(value, math.nan, math.nan)
        return cls(value, max(0.0, value - Z95 * se), value + Z95 * se)


def expected_auc(scores: np.ndarray, probabilities: np.ndarray) -> float:
    """E[concordant pairs] / E[pairs] when row i is positive with probability p_i, rows
    ordered by their score (ties count one half). O(n log n)."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if s.size < 2:
        return math.nan
    order = np.argsort(s, kind="stable")
    return expected_auc_sorted(s[order], p[order])


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a sorted array, where its run of equal values starts and ends
    (exclusive): O(n), no search."""
    n = sorted_values.size
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_values[1:] != sorted_values[:-1]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    return np.repeat(starts, lengths), np.repeat(starts + lengths, lengths)


def expected_auc_sorted(sorted_scores: np.ndarray, probabilities: np.ndarray) -> float:
    """:func:`expected_auc` of scores already sorted (probabilities in the same order)."""
    s = np.asarray(sorted_scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    if s.size < 2:
        return math.nan
    neg_prefix = np.concatenate(([0.0], np.cumsum(1.0 - p)))
    lo, hi = _runs(s)
    below = neg_prefix[lo]
    tied = neg_prefix[hi] - neg_prefix[lo] - (1.0 - p)  # other rows with the same score
    concordant = float(np.sum(p * (below + 0.5 * tied)))
    pairs = float(p.sum() * (1.0 - p).sum() - np.sum(p * (1.0 - p)))
    return concordant / pairs if pairs > 0 else math.nan


def _hanley_mcneil(auc: float, n_pos: float, n_neg: float) -> float:
    if not math.isfinite(auc) or n_pos < 1 or n_neg < 1:
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
           + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def estimate_performance(scores: np.ndarray, probabilities: np.ndarray,
                         threshold: float) -> dict[str, Estimate]:
    """ROC-AUC, accuracy, precision, recall and F1 expected on a batch from its raw ``scores``
    (the model's decisions) and calibrated ``probabilities`` (the chance each row is a
    positive), each with a 95 % band for the value its labels will give."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.asarray(probabilities, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(p)
    s, p = s[ok], p[ok]
    n = s.size
    if n == 0:
        return {m: Estimate(math.nan, math.nan, math.nan) for m in ESTIMATED_METRICS}
    decided = s >= threshold
    var_row = p * (1.0 - p)
    return estimates_from_sums(
        auc=expected_auc(s, p), n=float(n), predicted_positive=float(decided.sum()),
        tp=float(p[decided].sum()), fn=float(p[~decided].sum()),
        var_tp=float(var_row[decided].sum()), var_fn=float(var_row[~decided].sum()))


def estimate_from_scores(scores: np.ndarray, calibration: Calibration,
                         threshold: float) -> dict[str, Estimate]:
    """:func:`estimate_performance` with the probabilities given by ``calibration`` (monotone):
    the scores are sorted once, their probabilities follow in the same order."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.sort(s[np.isfinite(s)])
    if s.size == 0:
        return {m: Estimate(math.nan, math.nan, math.nan) for m in ESTIMATED_METRICS}
    p = calibration.apply(s)
    first = int(np.searchsorted(s, threshold, side="left"))  # decided positive from here
    var_row = p * (1.0 - p)
    return estimates_from_sums(
        auc=expected_auc_sorted(s, p), n=float(s.size), predicted_positive=float(s.size - first),
        tp=float(p[first:].sum()), fn=float(p[:first].sum()),
        var_tp=float(var_row[first:].sum()), var_fn=float(var_row[:first].sum()))


def estimates_from_sums(*, auc: float, n: float, predicted_positive: float, tp: float,
                        fn: float, var_tp: float, var_fn: float) -> dict[str, Estimate]:
    """The estimates of :func:`estimate_performance` from its sums: the expected ROC-AUC,
    the row count, the predicted positives, E[TP] = Σ_{ŷ=1} p and E[FN] = Σ_{ŷ=0} p and
    their variances Σ p (1 - p) (the chunked and Spark engines add these up per partition)."""
    if n == 0:
        return {m: Estimate(math.nan, math.nan, math.nan) for m in ESTIMATED_METRICS}
    pp = predicted_positive
    fp, tn = pp - tp, (n - pp) - fn
    out: dict[str, Estimate] = {}
    out["roc_auc"] = Estimate.of(auc, _hanley_mcneil(auc, tp + fn, fp + tn))
    out["accuracy"] = Estimate.of((tp + tn) / n, math.sqrt(var_tp + var_fn) / n)
    out["precision"] = (Estimate.of(tp / pp, math.sqrt(var_tp) / pp) if pp > 0
                        else Estimate(math.nan, math.nan, math.nan))
    positives = tp + fn
    if positives > 0:
        recall = tp / positives
        se = math.sqrt(fn * fn * var_tp + tp * tp * var_fn) / positives ** 2
        out["recall"] = Estimate.of(recall, se)
    else:
        out["recall"] = Estimate(math.nan, math.nan, math.nan)
    denominator = pp + positives
    if denominator > 0:
        f1 = 2 * tp / denominator
        d_tp, d_fn = 2 * (pp + fn) / denominator ** 2, -2 * tp / denominator ** 2
        out["f1"] = Estimate.of(f1, math.sqrt(d_tp ** 2 * var_tp + d_fn ** 2 * var_fn))
    else:
        out["f1"] = Estimate(math.nan, math.nan, math.nan)
    return out


def density_ratio_weights(reference: np.ndarray, batch: np.ndarray, *, seed: int = 0,
                          clip: float = 20.0) -> np.ndarray:
    """Weights for the reference rows that make them look like the batch: the odds
    P(batch | x) / P(reference | x) from a classifier told to separate the two (gradient
    boosting on the numeric matrix, missing values allowed), times n_ref / n_batch, clipped
    to ``clip`` and scaled to mean 1."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(batch, dtype=np.float64)
    x = np.vstack([ref, cur])
    y = np.concatenate([np.zeros(len(ref)), np.ones(len(cur))])
    model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                           early_stopping=False, random_state=seed)
    model.fit(x, y)
    prob = np.clip(model.predict_proba(ref)[:, 1], 1e-6, 1 - 1e-6)
    weights = prob / (1 - prob) * (len(ref) / len(cur))
    weights = np.minimum(weights, clip)
    return weights / weights.mean()
