"""Paired tests of a candidate against the champion on the same holdout rows: pure, no I/O.

The promotion gate asks two things of a candidate: its primary metric beats the champion's by
a margin, and the difference is not chance. Both models predict the same rows, so the tests
are paired: each row's difference removes the rows' own difficulty from the comparison.

* Regression: :func:`paired_squared_error_test`, a one-sided paired t-test on the per-row
  squared-error differences (candidate minus champion). RMSE orders models as their mean
  squared error does, and the t-test tests exactly that mean. The Wilcoxon signed-rank test
  would test where the differences' median (their pseudo-median) lies instead: squared errors
  are skewed, so a candidate can win most rows by a little and lose its MSE on a few large
  errors, and Wilcoxon would then call it better. With the thousands of rows of a holdout the
  mean of the differences is close to normal (central limit theorem) even though the
  differences are not, which is what the t-test needs.
* Multiclass: :func:`paired_bootstrap_test`, a one-sided paired bootstrap of the difference in
  macro F1 (or accuracy): macro F1 is not a mean over rows, so no t-test applies; resampling
  the same rows for both models keeps the pairing. p = (1 + #{difference <= 0}) / (1 + B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipelines.stats.multiclass import (
    accuracy_from_confusion,
    check_multiclass,
    macro_f1_from_confusion,
)
from pipelines.stats.regression import squared_errors

#: Metrics :func:`paired_bootstrap_test` can resample (both from the confusion matrix).
BOOTSTRAP_METRICS: tuple[str, ...] = ("macro_f1", "accuracy")
_MAX_INDICES = 8_000_000


@dataclass(frozen=True)
class PairedTest:
    """A one-sided paired test (H1: the candidate is better). ``statistic`` is the test's
    own (t, or the observed metric difference for the bootstrap); ``detail`` is one sentence
    for a reviewer: which test, on what, and why it fits."""

    name: str
    statistic: float
    pvalue: float
    detail: str


def paired_squared_error_test(y_true: np.ndarray, pred_champion: np.ndarray,
                              pred_candidate: np.ndarray) -> PairedTest:
    """One-sided paired t-test that the candidate's squared errors are smaller on average than
    the champion's on the same rows (see the module's doc for why t and not Wilcoxon).

    Identical predictions (every difference 0) give t = 0 and p = 1; differences that are all
    the same non-zero value give p = 0 when the candidate is better and 1 otherwise (the t
    statistic is infinite there). Fewer than two rows give p = 1."""
    from scipy import stats

    d = squared_errors(y_true, pred_candidate) - squared_errors(y_true, pred_champion)
    n = d.size
    mean = float(d.mean())
    detail = (f"one-sided paired t-test on the {n:,} holdout rows' squared errors (candidate "
              f"minus champion, mean {mean:.4g}): tests the mean squared error, which RMSE "
              f"orders by; Wilcoxon would test the median difference instead")
    if n < 2:
        return PairedTest("paired_t_squared_error", math.nan, 1.0, detail)
    sd = float(d.std(ddof=1))
    if not sd > 0:
        if mean < 0:
            return PairedTest("paired_t_squared_error", -math.inf, 0.0, detail)
        return PairedTest("paired_t_squared_error", 0.0 if mean == 0 else math.inf, 1.0,
                          detail)
    result = stats.ttest_1samp(d, 0.0, alternative="less")
    pvalue = float(result.pvalue)
    return PairedTest("paired_t_squared_error", float(result.statistic),
                      pvalue if math.isfinite(pvalue) else 1.0, detail)


def _metric_of(cm: np.ndarray, metric: str) -> np.ndarray:
    if metric == "macro_f1":
        return np.asarray(macro_f1_from_confusion(cm), dtype=np.float64)
    return np.asarray(accuracy_from_confusion(cm), dtype=np.float64)


def paired_bootstrap_test(y_idx: np.ndarray, proba_champion: np.ndarray,
                          proba_candidate: np.ndarray, *, metric: str = "macro_f1",
                          n_resamples: int = 1000, seed: int = 0,
                          chunk: int = 100) -> PairedTest:
    """One-sided paired bootstrap of candidate minus champion ``metric`` (``macro_f1`` or
    ``accuracy``; the predicted class is each row's argmax): ``n_resamples`` resamples of the
    rows, the same rows for both models, p = (1 + #{difference <= 0}) / (1 + B). Each
    resample's two confusion matrices come from one ``bincount`` per ``chunk`` resamples
    (fewer for a large holdout, so that at most 8 M row indices are held at once)."""
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {', '.join(BOOTSTRAP_METRICS)}; got {metric!r}")
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    y, champion = check_multiclass(y_idx, proba_champion)
    _, candidate = check_multiclass(y_idx, proba_candidate, champion.shape[1])
    n, k = champion.shape
    kk = k * k
    code_champion = y * k + np.argmax(champion, axis=1)
    code_candidate = y * k + np.argmax(candidate, axis=1)
    observed = float(
        _metric_of(np.bincount(code_candidate, minlength=kk).reshape(k, k), metric)
        - _metric_of(np.bincount(code_champion, minlength=kk).reshape(k, k), metric))
    rng = np.random.default_rng(seed)
    differences = np.empty(n_resamples)
    chunk = max(1, min(chunk, _MAX_INDICES // n))  # at most 8 M row indices at once
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        rows = rng.integers(0, n, size=(b, n))
        offset = (np.arange(b, dtype=np.int64) * kk)[:, None]
        cms = [np.bincount((codes[rows] + offset).ravel(), minlength=b * kk).reshape(b, k, k)
               for codes in (code_champion, code_candidate)]
        differences[start:start + b] = _metric_of(cms[1], metric) - _metric_of(cms[0], metric)
    not_better = int(np.count_nonzero(~(differences > 0)))  # NaN differences count against
    pvalue = (1 + not_better) / (1 + n_resamples)
    label = "macro F1" if metric == "macro_f1" else "accuracy"
    detail = (f"one-sided paired bootstrap ({n_resamples:,} resamples of the {n:,} holdout "
              f"rows, the same rows for both models) of the {label} difference (candidate "
              f"minus champion, observed {observed:+.4f}): {label} is not a mean over rows, "
              f"so resampling the rows tests it where a t-test cannot")
    return PairedTest(f"paired_bootstrap_{metric}", observed, pvalue, detail)
