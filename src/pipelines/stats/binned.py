"""Drift and performance statistics from counts: what the chunked and Spark engines compute.

A batch too large for memory is reduced to counts per bin (:mod:`pipelines.monitoring.counts`);
these functions turn counts into statistics. Counts from any partitioning of the rows add up
to the same totals, so the statistics do not depend on how the batch was split.

Bins of a numeric column: strictly increasing edges ``e_0 < ... < e_{k-1}``; bin 0 holds
``x < e_0``, bin j holds ``e_{j-1} <= x < e_j``, bin k holds ``x >= e_{k-1}`` (the bin of x is
``searchsorted(edges, x, side="right")``), the convention of the in-memory PSI bins.

What is exact and what is binned:

* PSI on the reference's PSI bins, chi-square on category counts, the confusion matrix at the
  decision threshold (an edge of the score bins), log loss and Brier score: exact, the same
  numbers the in-memory path computes.
* KS: the largest ECDF gap *at the edges*. The exact statistic lies in
  ``[D_binned, D_binned + bound]`` with ``bound = max_b min(r_b, c_b)`` (r_b, c_b the two
  shares of bin b): inside a bin one ECDF rises by r_b, the other by c_b, so the gap can grow
  by at most the smaller of the two (:func:`ks_from_counts`). With 1,000 reference-quantile
  bins the bound is at most about 0.001.
* ROC-AUC and the expected ROC-AUC: pairs inside one score bin count one half, as ties do.
* Wasserstein: trapezoids between edges plus the exact tail excesses, an approximation.

Pure functions, no I/O.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.errors import DataError
from pipelines.stats.drift import KSResult, _ks_asymptotic_pvalue, edge_gaps, psi_from_shares


def sorted_bin_counts(edges: np.ndarray, sorted_values: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per bin, the count of the sorted (finite) values and of those equal to its left edge:
    two ``searchsorted`` of the edges, after one sort of the values (sorting a column is
    faster than locating each value among the edges)."""
    below = np.searchsorted(sorted_values, edges, side="left")
    upto = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], below, [sorted_values.size]))).astype(np.int64)
    return counts, np.concatenate(([0], upto - below)).astype(np.int64)


def coarse_groups(edges: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """For each bin of ``edges``, its bin among the ``coarse`` edges (which must be a subset
    of ``edges``: then no coarse edge falls inside a fine bin)."""
    if coarse.size and not np.isin(coarse, edges).all():
        raise DataError("the coarse bin edges must all be edges of the fine bins")
    return np.concatenate(([0], np.searchsorted(coarse, edges, side="right")))


def aggregate(counts: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum fine-bin ``counts`` into ``n_groups`` coarse bins (see :func:`coarse_groups`)."""
    return np.bincount(groups, weights=counts, minlength=n_groups).astype(np.int64)


def ks_from_counts(reference: np.ndarray, current: np.ndarray,
                   reference_atoms: np.ndarray | None = None,
                   current_atoms: np.ndarray | None = None) -> KSResult:
    """Two-sample KS statistic from counts on common bins, with its asymptotic p-value.

    ``D`` is the largest ECDF gap at the edges: just below each edge and, when the counts of
    values equal to each bin's left edge are given (``*_atoms``), at the edge itself. Method
    ``"binned"``; ``bound`` is such that the exact statistic lies in ``[D, D + bound]``:
    ``max_b min(r_b, c_b)`` over the two shares of each bin without its left-edge values
    (0 where either side has nothing else in the bin, so a feature with few distinct values
    gets its exact statistic). A side without values gives statistic 0.0, p-value 1.0,
    method ``"undefined"``.
    """
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    ra = np.zeros_like(r) if reference_atoms is None else np.asarray(reference_atoms, float)
    ca = np.zeros_like(c) if current_atoms is None else np.asarray(current_atoms, float)
    if not r.shape == c.shape == ra.shape == ca.shape:
        raise DataError(f"KS from counts needs counts on the same bins; got {r.shape}, {c.shape}")
    n1, n2 = int(r.sum()), int(c.sum())
    if n1 == 0 or n2 == 0:
        note = "no finite current values" if n2 == 0 else "no finite reference values"
        return KSResult(0.0, 1.0, "undefined", n1, n2, note)
    ref_below, cur_below = np.cumsum(r)[:-1], np.cumsum(c)[:-1]
    gaps = edge_gaps(ref_below, ref_below + ra[1:], n1, cur_below, cur_below + ca[1:], n2)
    statistic = gaps.statistic
    bound = float(np.minimum(gaps.rest_ref, gaps.rest_cur).max())
    return KSResult(statistic, _ks_asymptotic_pvalue(statistic, n1, n2), "binned", n1, n2,
                    note=f"from {r.size} bins; the exact statistic is at most {bound:.2g} larger",
                    bound=bound)


def psi_from_counts(reference_shares: np.ndarray, counts: np.ndarray, n_missing: int) -> float:
    """PSI of a batch given its counts on the reference's PSI bins and its missing count,
    against the reference shares (bins then missing), as :func:`pipelines.stats.psi`."""
    total = int(np.sum(counts)) + n_missing
    if total == 0:
        return 0.0
    current = np.append(np.asarray(counts, dtype=np.float64), float(n_missing)) / total
    return psi_from_shares(current, reference_shares)


def wasserstein_from_counts(edges: np.ndarray, reference: np.ndarray, current: np.ndarray,
                            reference_excess: tuple[float, float],
                            current_excess: tuple[float, float], std: float) -> float:
    """Approximate ``W1 / std`` from counts: the ECDF gap at each edge integrated by
    trapezoids between edges, plus the tails, where ``excess = (mean (e_0 - x)^+,
    mean (x - e_last)^+)`` of each side gives the exact tail areas' difference."""
    n1, n2 = float(np.sum(reference)), float(np.sum(current))
    if n1 == 0 or n2 == 0 or edges.size == 0:
        return 0.0
    gaps = np.abs(np.cumsum(reference)[:-1] / n1 - np.cumsum(current)[:-1] / n2)
    inner = float(np.sum(np.diff(edges) * (gaps[:-1] + gaps[1:]) / 2.0))
    tails = (abs(reference_excess[0] - current_excess[0])
             + abs(reference_excess[1] - current_excess[1]))
    return (inner + tails) / (std if std > 0 else 1.0)


def auc_from_histograms(positives: np.ndarray, negatives: np.ndarray) -> float:
    """ROC-AUC from per-label counts on common score bins (higher bin = higher score); a
    positive and a negative in one bin count one half. NaN unless both labels occur."""
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    n_pos, n_neg = float(pos.sum()), float(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (n_pos * n_neg))


def expected_auc_from_bins(p_sum: np.ndarray, q_sum: np.ndarray, pq_sum: np.ndarray) -> float:
    """E[concordant pairs] / E[pairs] (:func:`pipelines.stats.estimation.expected_auc`) from
    per-score-bin sums of p, 1 - p and p (1 - p); rows in one bin count as tied."""
    p = np.asarray(p_sum, dtype=np.float64)
    q = np.asarray(q_sum, dtype=np.float64)
    pq = np.asarray(pq_sum, dtype=np.float64)
    q_below = np.cumsum(q) - q
    concordant = float(np.sum(p * q_below + 0.5 * (p * q - pq)))
    pairs = float(p.sum() * q.sum() - pq.sum())
    return concordant / pairs if pairs > 0 else math.nan
