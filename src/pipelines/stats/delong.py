"""DeLong's test for two correlated ROC-AUCs (two models scored on the same rows). Pure numpy.

DeLong, DeLong & Clarke-Pearson (1988): each AUC is a U-statistic whose structural components
(placement values) give the covariance of the two AUCs. Sun & Xu (2014) compute the components
from midranks in O(n log n) instead of O(m n) pairs: for a positive row ``i`` its component is
``(rank of i among all rows - rank of i among the positives) / n_negatives``, for a negative
row ``j`` it is ``1 - (rank of j among all rows - rank of j among the negatives) / n_positives``
(ties count one half everywhere, as in the ROC-AUC).

The test here is one-sided: is model B's AUC greater than model A's? ``z = (AUC_B - AUC_A) /
sqrt(var_A + var_B - 2 cov_AB)``, p-value ``P(Z >= z)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipelines.errors import DataError


@dataclass(frozen=True)
class DeLongResult:
    """``auc_b - auc_a`` with its standard error, z and one-sided p-value (B better than A)."""

    auc_a: float
    auc_b: float
    difference: float
    std_error: float
    z: float
    pvalue: float
    n_positive: int
    n_negative: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    from scipy import stats as sps

    return sps.rankdata(values, method="average")


def _components(y: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The AUC and its structural components over positives (v10) and negatives (v01)."""
    pos, neg = scores[y == 1], scores[y == 0]
    m, n = pos.size, neg.size
    all_ranks = _midranks(np.concatenate([pos, neg]))
    v10 = (all_ranks[:m] - _midranks(pos)) / n
    v01 = 1.0 - (all_ranks[m:] - _midranks(neg)) / m
    return float(v10.mean()), v10, v01


def delong_test(y_true: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> DeLongResult:
    """Paired one-sided DeLong test of ``AUC(scores_b) > AUC(scores_a)`` on the same rows.

    Raises :class:`DataError` unless the labels are 0/1 with both classes and the two score
    arrays match the labels in length. With identical scores (no variance of the difference)
    the p-value is 1 when B is not better, 0 when it is.
    """
    from scipy import stats as sps

    y = np.asarray(y_true)
    a = np.asarray(scores_a, dtype=np.float64)
    b = np.asarray(scores_b, dtype=np.float64)
    if y.ndim != 1 or a.shape != y.shape or b.shape != y.shape:
        raise DataError(f"DeLong test: labels and both score arrays must be 1-D of one length; "
                        f"got {y.shape}, {a.shape}, {b.shape}.")
    if not np.isin(y, (0, 1)).all():
        raise DataError("DeLong test: labels must be 0/1.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("DeLong test: scores must be finite.")
    y = y.astype(np.int8)
    m, n = int(y.sum()), int(y.size - y.sum())
    if m < 2 or n < 2:
        raise DataError(f"DeLong test needs at least 2 rows of each class; got {m} positive "
                        f"and {n} negative.")
    auc_a, v10_a, v01_a = _components(y, a)
    auc_b, v10_b, v01_b = _components(y, b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))  # 2 x 2, ddof=1 as in DeLong et al.
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    cov = s10 / m + s01 / n
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    diff = auc_b - auc_a
    if variance <= 1e-18:
        se, z = 0.0, (math.inf if diff > 0 else (-math.inf if diff < 0 else 0.0))
        pvalue = 0.0 if diff > 0 else 1.0
    else:
        se = math.sqrt(variance)
        z = diff / se
        pvalue = float(sps.norm.sf(z))
    return DeLongResult(auc_a=auc_a, auc_b=auc_b, difference=diff, std_error=se, z=z,
                        pvalue=pvalue, n_positive=m, n_negative=n)
