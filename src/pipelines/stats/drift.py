"""Drift statistics of one feature against a reference fitted once.

Everything that depends on the reference alone (its sorted finite values, the PSI bin edges
and proportions, the category counts, the missing share) lives in a :class:`NumericReference`
or :class:`CategoricalReference` built once by :func:`fit_numeric_reference` /
:func:`fit_categorical_reference`. Each batch is then compared against it with vectorised numpy
(one sort of the batch, ``searchsorted`` into the stored sorted reference); the reference is
never sorted again.

Missing values: for numeric features ``NaN`` and ``±inf`` are missing (they are dropped by KS
and Wasserstein and counted in the PSI missing bin); for categorical features ``None`` and
``NaN`` (and pandas' ``NA``/``NaT``) are missing and form their own category in the
chi-square table. Categories are compared by their string form; integral floats are labelled
as integers (``1.0`` -> ``"1"``) so that an integer column that acquired NaNs still matches.

Effect sizes do not depend on the sample sizes: PSI on the reference's quantile bins for
numeric features, PSI over the chi-square table's columns (the categories, rare ones pooled,
values the reference never had in one ``UNSEEN_LABEL`` column, missing values) for
categorical ones, so one floor means the same shift whatever the batch and reference sizes.

Pure functions, no I/O, no pandas.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: Floor applied to every bin proportion in :func:`psi`, so the index is always finite.
PSI_EPSILON: float = 1e-4
#: scipy's ``ks_2samp(method="auto")`` computes an exact p-value iff ``max(n1, n2)`` <= this.
KS_EXACT_MAX_N: int = 10_000
#: Up to this n scipy's ``special.smirnov`` sums the exact series (beyond, it approximates).
_SMIRNOV_EXACT_MAX_N: int = 1_000_000
#: Chi-square columns with an expected count below this in either row are pooled.
MIN_EXPECTED_COUNT: float = 5.0
#: Column label of the missing values in the chi-square table.
MISSING_LABEL: str = "__missing__"
#: Column label of the pooled rare categories in the chi-square table.
OTHER_LABEL: str = "__other__"
#: Column label of the batch's values that the reference never had, in the chi-square table.
UNSEEN_LABEL: str = "__unseen__"

PValueCorrection = Literal["none", "bonferroni", "bh"]
PVALUE_CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "bh")

# scipy's wasserstein_distance uses np.vecdot when numpy has it (numpy >= 2); follow it.
_dot = getattr(np, "vecdot", np.dot)


def _read_only(values: Any, dtype: type) -> np.ndarray:
    """A read-only view of ``values`` as ``dtype`` (the caller's array stays writable)."""
    view = np.asarray(values, dtype=dtype).view()
    view.setflags(write=False)
    return view


def _fields_equal(left: Any, right: Any) -> bool:
    """Field-by-field equality of two dataclasses of one type, arrays compared exactly."""
    for field in fields(left):
        a, b = getattr(left, field.name), getattr(right, field.name)
        if isinstance(a, np.ndarray):
            if a.dtype != b.dtype or not np.array_equal(a, b):
                return False
        elif a != b:
            return False
    return True


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Reference summary of one numeric feature.

    ``bin_edges`` are the de-duplicated interior quantiles of the reference, plus, around every
    value v that several quantiles collapsed onto or that fills a bin alone, the edges v and
    the next float above v (see :func:`_psi_edges`); the PSI bins are ``(-inf, e0), [e0, e1),
    ..., [e_last, +inf)`` followed by one missing-value bin, and
    ``bin_proportions`` (length ``len(bin_edges) + 2``) are the reference shares of those bins
    over all reference rows (missing included). ``min``/``max``/``std`` (population, ddof=0) are
    over the finite values, 0.0 when there are none.
    """

    name: str
    sorted_values: np.ndarray
    n_missing: int
    bin_edges: np.ndarray
    bin_proportions: np.ndarray
    min: float
    max: float
    std: float

    def __post_init__(self) -> None:
        for name in ("sorted_values", "bin_edges", "bin_proportions"):
            object.__setattr__(self, name, _read_only(getattr(self, name), np.float64))
        if self.bin_proportions.shape != (self.bin_edges.size + 2,):
            raise DataError(
                f"NumericReference {self.name!r}: bin_proportions must have "
                f"len(bin_edges) + 2 = {self.bin_edges.size + 2} entries, "
                f"got {self.bin_proportions.shape}"
            )
        _ks_grid(self)  # once, with the reference: no batch pays for it

    @property
    def n(self) -> int:
        """Number of finite (non-missing) reference values."""
        return int(self.sorted_values.size)

    @property
    def missing_share(self) -> float:
        """Share of missing reference rows (0.0 for an empty reference)."""
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _fields_equal(self, other)


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Reference counts of one categorical feature: ``counts[i]`` rows hold ``categories[i]``."""

    name: str
    categories: tuple[str, ...]
    counts: np.ndarray
    n_missing: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))
        object.__setattr__(self, "counts", _read_only(self.counts, np.int64))
        if self.counts.shape != (len(self.categories),):
            raise DataError(
                f"CategoricalReference {self.name!r}: {len(self.categories)} categories but "
                f"counts of shape {self.counts.shape}"
            )

    @property
    def n(self) -> int:
        """Number of non-missing reference rows."""
        return int(self.counts.sum())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _fields_equal(self, other)


@dataclass(frozen=True)
class KSResult:
    """Two-sample two-sided Kolmogorov-Smirnov test: ``statistic = sup_x |F_ref(x) - F_cur(x)|``.

    ``method`` is ``"exact"`` (delegated to scipy, which may itself fall back to the asymptotic
    p-value with a RuntimeWarning), ``"asymptotic"``, ``"binned"`` (from counts per bin, see
    :func:`pipelines.stats.binned.ks_from_counts`: the exact statistic lies in
    ``[statistic, statistic + bound]``) or ``"undefined"`` (a side has no finite value:
    statistic 0.0, p-value 1.0, and ``note`` says why).
    """

    statistic: float
    pvalue: float
    method: Literal["exact", "asymptotic", "binned", "undefined"]
    n_reference: int
    n_current: int
    note: str = ""
    bound: float = 0.0


@dataclass(frozen=True)
class ChiSquareResult:
    """Pearson chi-square test of homogeneity on the 2 x k (reference, current) table.

    ``categories_compared`` are the table's columns (``OTHER_LABEL`` for the pooled rare
    categories, ``UNSEEN_LABEL`` for the values the reference never had, ``MISSING_LABEL`` for
    missing values), ``pooled`` the columns merged into ``OTHER_LABEL``, ``unseen`` the labels
    counted in ``UNSEEN_LABEL``. ``psi``: the PSI of the current shares of the table's columns
    against the reference shares (each floored at ``PSI_EPSILON``), the categorical effect
    size; it does not depend on the sample sizes. ``cramers_v = sqrt(statistic / (n_total *
    (min(2, k) - 1)))``, reported for information: it shrinks as the reference outgrows the
    batch (the same shift has V 0.2 at 1:1 and 0.03 at 1:100), so it makes no verdict.
    """

    statistic: float
    pvalue: float
    dof: int
    cramers_v: float
    categories_compared: tuple[str, ...]
    pooled: tuple[str, ...]
    psi: float = 0.0
    unseen: tuple[str, ...] = ()


@dataclass(frozen=True)
class NumericComparison:
    """All numeric statistics of one batch, computed from its one sort."""

    ks: KSResult
    psi: float
    wasserstein_normalised: float
    n_current: int


# --------------------------------------------------------------------------- numeric


def _finite_sorted(values: Any) -> tuple[np.ndarray, int]:
    """The sorted finite values of a 1-D array and the number of dropped (NaN/inf) entries."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(f"expected a 1-D array of values, got shape {arr.shape}")
    finite = np.isfinite(arr)
    kept = arr if finite.all() else arr[finite]
    return np.sort(kept), int(arr.size - kept.size)


def _psi_edges_and_atoms(sorted_values: np.ndarray, n_bins: int
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The de-duplicated interior quantiles, and the reference values that need a bin of
    their own: the quantiles that several bins collapsed onto, and the value of every bin the
    reference fills with that one value alone."""
    if sorted_values.size == 0:
        return np.empty(0, dtype=np.float64), np.empty(0, dtype=np.float64)
    probabilities = np.arange(1, n_bins) / n_bins
    edges, repeats = np.unique(np.quantile(sorted_values, probabilities), return_counts=True)
    start = np.concatenate(([0], np.searchsorted(sorted_values, edges, side="left")))
    end = np.concatenate((start[1:], [sorted_values.size]))
    filled = end > start
    single = filled.copy()
    single[filled] = sorted_values[start[filled]] == sorted_values[end[filled] - 1]
    atoms = np.concatenate((edges[repeats > 1], sorted_values[start[single]]))
    return edges, atoms


def _psi_edges(sorted_values: np.ndarray, n_bins: int) -> np.ndarray:
    """The PSI bin edges: the quantile edges, and around every reference value that needs a
    bin of its own (:func:`_psi_edges_and_atoms`) the edges v and ``nextafter(v, inf)``.

    Quantile bins collapse on a feature of few values: a constant reference has the single
    edge v and the bins ``(-inf, v)``, ``[v, inf)``, so a batch that moved off v, all of it to
    v + 1, stayed in v's bin and got PSI 0. With the extra edges v has a bin ``[v, next
    float)`` of its own, and values beside it (below, between it and the next edge, above)
    land in bins where the reference has less or nothing, so moving off v counts. A
    continuous feature's bins each hold many values and are unchanged.
    """
    edges, atoms = _psi_edges_and_atoms(sorted_values, n_bins)
    if atoms.size == 0:
        return edges
    return np.unique(np.concatenate((edges, atoms, np.nextafter(atoms, np.inf))))


def _bin_proportions(sorted_values: np.ndarray, n_missing: int, edges: np.ndarray) -> np.ndarray:
    """Shares of ``(-inf, e0), [e0, e1), ..., [e_last, inf)`` and of missing, over all rows.

    All zeros when there are no rows at all.
    """
    n = sorted_values.size
    cut = np.searchsorted(sorted_values, edges, side="left")
    counts = np.diff(np.concatenate(([0], cut, [n]))).astype(np.float64)
    counts = np.append(counts, float(n_missing))
    total = n + n_missing
    return counts / total if total else counts


def fit_numeric_reference(name: str, values: np.ndarray, n_bins: int = 10) -> NumericReference:
    """Summarise a numeric reference column once (sort, quantile bins, missing share, std)."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
        raise ConfigError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    sorted_values, n_missing = _finite_sorted(values)
    edges = _psi_edges(sorted_values, n_bins)
    if sorted_values.size:
        lo, hi = float(sorted_values[0]), float(sorted_values[-1])
        std = float(np.std(sorted_values))
    else:
        lo = hi = std = 0.0
    if not math.isfinite(std):
        logger.warning("reference std of %r overflows; Wasserstein will not be normalised", name)
        std = 0.0
    return NumericReference(
        name=name,
        sorted_values=sorted_values,
        n_missing=n_missing,
        bin_edges=edges,
        bin_proportions=_bin_proportions(sorted_values, n_missing, edges),
        min=lo,
        max=hi,
        std=std,
    )


#: Reference-quantile edges of the grid the exact KS statistic is located on.
KS_GRID_BINS: int = 10_000


@dataclass(frozen=True)
class _KsGrid:
    """Reference-quantile edges and the reference's counts below and up to each edge."""

    edges: np.ndarray
    ref_below: np.ndarray
    ref_upto: np.ndarray


def _ks_grid(ref: NumericReference) -> _KsGrid:
    """The reference's KS grid, computed once per reference object."""
    grid = ref.__dict__.get("_ks_grid")
    if grid is None:
        values = ref.sorted_values
        # order statistics at the quantile ranks (any edges keep the statistic exact)
        ranks = np.arange(1, KS_GRID_BINS, dtype=np.int64) * max(values.size - 1, 0)
        edges = np.unique(values[ranks // KS_GRID_BINS]) if values.size else np.empty(0)
        grid = _KsGrid(edges, np.searchsorted(values, edges, side="left"),
                       np.searchsorted(values, edges, side="right"))
        object.__setattr__(ref, "_ks_grid", grid)
    return grid


@dataclass(frozen=True)
class EdgeGaps:
    """The ECDF gap F_ref - F_cur read at common edges, from the counts below and up to each.

    ``statistic``: the largest |gap| just below or at an edge. Per open interval (-inf, e0),
    (e0, e1), ..., (e_last, inf): ``rest_ref`` / ``rest_cur``, each sample's share strictly
    inside it, and ``reach``, the largest |gap| possible inside it (the gap starts at the
    interval's left-edge value, ends just below its right edge, and moves by at most the two
    shares in between).
    """

    statistic: float
    rest_ref: np.ndarray
    rest_cur: np.ndarray
    reach: np.ndarray


def edge_gaps(ref_below: np.ndarray, ref_upto: np.ndarray, n1: int, cur_below: np.ndarray,
              cur_upto: np.ndarray, n2: int) -> EdgeGaps:
    """:class:`EdgeGaps` from each sample's count of values below and up to each edge."""
    below = ref_below / n1 - cur_below / n2
    at = ref_upto / n1 - cur_upto / n2
    statistic = float(max(np.abs(below).max(initial=0.0), np.abs(at).max(initial=0.0)))
    start, end = np.concatenate(([0.0], at)), np.concatenate((below, [0.0]))
    rest_ref = (np.concatenate((ref_below, [n1])) - np.concatenate(([0], ref_upto))) / n1
    rest_cur = (np.concatenate((cur_below, [n2])) - np.concatenate(([0], cur_upto))) / n2
    upper = np.minimum(start + rest_ref, end + rest_cur)
    lower = np.maximum(start - rest_cur, end - rest_ref)
    return EdgeGaps(statistic, rest_ref, rest_cur, np.maximum(upper, -lower))


def _ks_statistic(ref: NumericReference, cur_sorted: np.ndarray) -> float:
    """Exact ``sup_x |F_ref(x) - F_cur(x)|`` of two non-empty sorted samples, without merging
    them: the gap is read at the reference-quantile edges of :func:`_ks_grid` (below and at
    each edge), and only inside the open intervals where it could exceed that
    (:class:`EdgeGaps`) is it computed at the batch values. Ties on either side are exact."""
    ref_sorted = ref.sorted_values
    n1, n2 = ref_sorted.size, cur_sorted.size
    grid = _ks_grid(ref)
    cur_below = np.searchsorted(cur_sorted, grid.edges, side="left")
    cur_upto = np.searchsorted(cur_sorted, grid.edges, side="right")
    gaps = edge_gaps(grid.ref_below, grid.ref_upto, n1, cur_below, cur_upto, n2)
    statistic = gaps.statistic
    lo_c, hi_c = np.concatenate(([0], cur_upto)), np.concatenate((cur_below, [n2]))
    candidates = np.flatnonzero((gaps.reach > statistic) & (hi_c > lo_c))
    if candidates.size:
        lengths = hi_c[candidates] - lo_c[candidates]
        first = np.cumsum(lengths) - lengths  # where each interval's values start in x
        index = np.arange(int(lengths.sum())) + np.repeat(lo_c[candidates] - first, lengths)
        x = cur_sorted[index]
        # F_cur just below and at each value, from its run of equal values (a run never
        # leaves its open interval): the run's first and last positions in cur_sorted
        new_run = np.ones(x.size, dtype=bool)
        new_run[1:] = x[1:] != x[:-1]
        new_run[first] = True
        run_start = np.maximum.accumulate(np.where(new_run, index, 0))
        run_end = np.empty_like(index)
        ends = np.flatnonzero(np.append(new_run[1:], True))
        run_end[:] = np.repeat(index[ends] + 1, np.diff(np.concatenate(([-1], ends))))
        f_ref_left = np.searchsorted(ref_sorted, x, side="left") / n1
        f_ref = np.searchsorted(ref_sorted, x, side="right") / n1
        statistic = max(statistic, float(np.abs(f_ref - run_end / n2).max()),
                        float(np.abs(f_ref_left - run_start / n2).max()))
    return statistic


@functools.lru_cache(maxsize=2)
def _quantile_coupling(n1: int, n2: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For samples of sizes n1 and n2: on each interval of the union of the grids i/n1 and
    j/n2 of [0, 1], the index of each sample's quantile there and the interval's length
    (integers in units of 1 / (n1 n2), so the grid is exact)."""
    # the two grids i n2 and j n1 merged in closed form (no sort): i n2 has i + floor(i n2 /
    # n1) + 1 points at or before it (the j n1 <= i n2 and the earlier i), j n1 has j +
    # ceil(j n1 / n2) (the i n2 < j n1 and the earlier j)
    i = np.arange(n1 + 1, dtype=np.int64)
    j = np.arange(n2 + 1, dtype=np.int64)
    points = np.empty(n1 + n2 + 2, dtype=np.int64)
    points[i + (i * n2) // n1 + 1] = i * n2
    points[j + -((-j * n1) // n2)] = j * n1
    points = points[np.concatenate(([True], points[1:] != points[:-1]))]
    start = points[:-1]
    return start // n2, start // n1, np.diff(points) / (float(n1) * float(n2))


def _wasserstein(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """``W1 = integral_0^1 |Q_ref(u) - Q_cur(u)| du``, exactly, from the sorted samples."""
    i_ref, i_cur, widths = _quantile_coupling(ref_sorted.size, cur_sorted.size)
    return float(_dot(np.abs(ref_sorted[i_ref] - cur_sorted[i_cur]), widths))


def _smirnov_sf(n: int, x: float) -> float:
    """One-sided Smirnov tail ``P(D+_n >= x)`` by the Birnbaum-Tingey sum, vectorised.

    ``sum_{v >= 0, x + v/n < 1} C(n, v) x (x + v/n)^(v-1) (1 - x - v/n)^(n-v)``: the sum scipy's
    ``special.smirnov`` adds term by term (in double-double); here in log space, ~1e-9 relative.
    """
    from scipy import special as sps_special  # imported when used: scipy is slow to import

    v = np.arange(math.floor(n * (1.0 - x)) + 1, dtype=np.float64)
    rest = 1.0 - x - v / n
    v, rest = v[rest > 0], rest[rest > 0]
    log_terms = (
        sps_special.gammaln(n + 1.0) - sps_special.gammaln(v + 1.0)
        - sps_special.gammaln(n - v + 1.0) + (v - 1.0) * np.log(x + v / n) + (n - v) * np.log(rest)
    )
    top = float(log_terms.max())
    return x * math.exp(top) * float(np.sum(np.exp(log_terms - top)))


def _kstwo_sf(x: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(x, n)``, the two-sided one-sample KS tail for sample size ``n``.

    Where scipy evaluates it as ``2 * special.smirnov(n, x)`` by an O(n) scalar loop holding the
    GIL (``140 < n <= 1e6``, ``x < 0.5``, ``2.2 <= n x^2 < 354``: ~0.5 s at n = 5e5)
    the same sum is computed vectorised by :func:`_smirnov_sf`; elsewhere scipy is fast and used.
    """
    from scipy import stats as sps

    if 140 < n <= _SMIRNOV_EXACT_MAX_N and x < 0.5 and 2.2 <= n * x * x < 354.0:
        return min(2.0 * _smirnov_sf(int(n), x), 1.0)
    return float(sps.kstwo.sf(x, n))


def _ks_asymptotic_pvalue(statistic: float, n1: int, n2: int) -> float:
    """scipy's two-sided asymptotic p-value: ``kstwo.sf(d, round(n1 n2 / (n1 + n2)))``."""
    m, n = sorted([float(n1), float(n2)], reverse=True)
    effective_n = float(np.round(m * n / (m + n)))
    return float(np.clip(_kstwo_sf(statistic, effective_n), 0.0, 1.0))


def _ks(ref: NumericReference, cur_sorted: np.ndarray) -> KSResult:
    """KS test of the sorted finite batch against the reference (see :func:`ks_test`)."""
    from scipy import stats as sps

    n1, n2 = ref.n, int(cur_sorted.size)
    if n1 == 0 or n2 == 0:
        note = "no finite current values" if n2 == 0 else "no finite reference values"
        logger.debug("KS on %r undefined: %s", ref.name, note)
        return KSResult(0.0, 1.0, "undefined", n1, n2, note)
    if max(n1, n2) <= KS_EXACT_MAX_N:
        exact = sps.ks_2samp(ref.sorted_values, cur_sorted)
        return KSResult(float(exact.statistic), float(exact.pvalue), "exact", n1, n2)
    statistic = _ks_statistic(ref, cur_sorted)
    return KSResult(statistic, _ks_asymptotic_pvalue(statistic, n1, n2), "asymptotic", n1, n2)


def _psi(ref: NumericReference, cur_sorted: np.ndarray, n_missing: int) -> float:
    """PSI of the batch on the reference bins (see :func:`psi`); 0.0 for an empty batch."""
    if cur_sorted.size + n_missing == 0:
        return 0.0
    return psi_from_shares(_bin_proportions(cur_sorted, n_missing, ref.bin_edges),
                           ref.bin_proportions)


def psi_from_shares(current: np.ndarray, reference: np.ndarray) -> float:
    """``sum_b (c_b - r_b) ln(c_b / r_b)`` with every share floored at ``PSI_EPSILON``."""
    c = np.maximum(current, PSI_EPSILON)
    r = np.maximum(reference, PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def _wasserstein_normalised(ref: NumericReference, cur_sorted: np.ndarray) -> float:
    """``W1 / std_ref`` of the sorted finite batch (see :func:`wasserstein_normalised`)."""
    if ref.n == 0 or cur_sorted.size == 0:
        return 0.0
    return _wasserstein(ref.sorted_values, cur_sorted) / (ref.std if ref.std > 0 else 1.0)


def compare_numeric(ref: NumericReference, current: np.ndarray) -> NumericComparison:
    """KS, PSI and normalised Wasserstein of one batch, sorting the batch once."""
    cur_sorted, n_missing = _finite_sorted(current)
    return NumericComparison(
        ks=_ks(ref, cur_sorted),
        psi=_psi(ref, cur_sorted, n_missing),
        wasserstein_normalised=_wasserstein_normalised(ref, cur_sorted),
        n_current=int(cur_sorted.size),
    )


def ks_test(ref: NumericReference, current: np.ndarray) -> KSResult:
    """Two-sided two-sample KS test, ``D = sup_x |F_ref(x) - F_cur(x)|``, NaN/inf ignored.

    Agrees with ``scipy.stats.ks_2samp(ref_values, current_values)`` (method ``"auto"``): when
    ``max(n1, n2) <= KS_EXACT_MAX_N`` scipy is called (exact p-value); otherwise ``D`` is
    computed exactly by :func:`_ks_statistic` (no merge of the two samples) and the p-value is
    scipy's asymptotic ``kstwo.sf(D, round(n1 n2/(n1+n2)))``.
    A side without finite values gives statistic 0.0, p-value 1.0, method ``"undefined"``.
    """
    cur_sorted, _ = _finite_sorted(current)
    return _ks(ref, cur_sorted)


def psi(ref: NumericReference, current: np.ndarray) -> float:
    """Population Stability Index ``sum_b (c_b - r_b) ln(c_b / r_b)`` over the reference bins.

    Bins are the reference's quantile bins (open-ended at both ends) plus a missing-value bin;
    ``c_b``/``r_b`` are the current/reference shares of all rows, each floored at
    ``PSI_EPSILON`` (not renormalised) so the index is always finite. 0.0 for an empty batch.
    """
    cur_sorted, n_missing = _finite_sorted(current)
    return _psi(ref, cur_sorted, n_missing)


def wasserstein_normalised(ref: NumericReference, current: np.ndarray) -> float:
    """Wasserstein-1 distance ``integral |F_ref - F_cur| dx`` divided by the reference std.

    NaN/inf ignored; divided by 1.0 when the reference std is 0; 0.0 when a side is empty.
    Equals ``scipy.stats.wasserstein_distance(ref, cur) / std``.
    """
    cur_sorted, _ = _finite_sorted(current)
    return _wasserstein_normalised(ref, cur_sorted)


# --------------------------------------------------------------------------- categorical


def _is_missing_scalar(value: object) -> bool:
    """None, NaN, pandas NA / NaT (anything not equal to itself or not comparable)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA: `NA != NA` is NA, whose truth value raises
        return True


def _object_missing_mask(values: np.ndarray) -> np.ndarray:
    """Missing mask of an object array: vectorised for None/NaN, per element for exotic NAs."""
    try:
        return np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711
    except TypeError:
        logger.debug("object column holds pandas NA-like values; checking element by element")
        return np.fromiter((_is_missing_scalar(v) for v in values), dtype=bool, count=values.size)


def _labels(unique_values: np.ndarray) -> list[str]:
    """String labels of unique values; integral floats are labelled as integers."""
    if unique_values.dtype.kind == "f":
        return [str(int(v)) if v.is_integer() else str(v) for v in unique_values.tolist()]
    return [str(v) for v in unique_values.tolist()]


def _count_categories(values: Any) -> tuple[list[str], np.ndarray, int]:
    """Sorted distinct labels of the non-missing values, their counts, and the missing count.

    Counting is hash-based (pandas ``value_counts``): O(n), and fast on Arrow-backed string
    columns, where sorting Python strings would dominate the whole drift computation.
    """
    if isinstance(values, pd.Series):
        series = values
    else:
        arr = np.asarray(values)
        if arr.ndim != 1:
            raise DataError(f"expected a 1-D array of values, got shape {arr.shape}")
        series = pd.Series(arr, copy=False)
    if series.dtype == object:
        try:
            missing_mask = series.isna().to_numpy()
        except TypeError:
            missing_mask = np.fromiter((_is_missing_scalar(v) for v in series), dtype=bool,
                                       count=len(series))
    else:
        missing_mask = series.isna().to_numpy()
    n_missing = int(missing_mask.sum())
    present = series[~missing_mask] if n_missing else series
    counted = present.value_counts(sort=False, dropna=True)
    labels = _labels(np.asarray(counted.index.to_numpy()))
    merged: dict[str, int] = {}
    for label, count in zip(labels, counted.to_numpy().tolist(), strict=True):
        merged[label] = merged.get(label, 0) + int(count)  # e.g. 1 and "1" share one label
    ordered = sorted(merged)
    return ordered, np.array([merged[k] for k in ordered], dtype=np.int64), n_missing


def fit_categorical_reference(name: str, values: np.ndarray) -> CategoricalReference:
    """Summarise a categorical reference column once: sorted categories, counts, missing count."""
    labels, counts, n_missing = _count_categories(values)
    return CategoricalReference(name=name, categories=tuple(labels), counts=counts,
                                n_missing=n_missing)


def _contingency(
    ref: CategoricalReference, labels: list[str], counts: np.ndarray, n_missing: int
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """The 2 x k table: the reference categories, one ``UNSEEN_LABEL`` column for the batch's
    labels the reference never had (reference count 0) and a missing column, the columns empty
    on both sides dropped; and the unseen labels."""
    index = {label: i for i, label in enumerate(ref.categories)}
    k = len(ref.categories)
    table = np.zeros((2, k + 2), dtype=np.int64)
    table[0, :k] = ref.counts
    positions = np.array([index.get(label, k) for label in labels], dtype=np.int64)
    np.add.at(table[1], positions, np.asarray(counts, dtype=np.int64))
    table[:, -1] = (ref.n_missing, n_missing)
    columns = [*ref.categories, UNSEEN_LABEL, MISSING_LABEL]
    unseen = tuple(label for label, at in zip(labels, positions.tolist(), strict=True) if at == k)
    observed = table.sum(axis=0) > 0
    kept = [c for c, keep in zip(columns, observed, strict=True) if keep]
    return kept, table[:, observed], unseen


def _expected(table: np.ndarray) -> np.ndarray:
    """Expected counts under homogeneity: ``row_total * column_total / n_total``."""
    return np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()


def _pool_rare(
    columns: list[str], table: np.ndarray
) -> tuple[list[str], np.ndarray, tuple[str, ...]]:
    """Merge the columns with an expected count < MIN_EXPECTED_COUNT in either row into one.

    A column the reference does not have (unseen values; missing values when the reference
    had none) is kept apart once the batch holds at least MIN_EXPECTED_COUNT rows of it,
    whatever its expected count: otherwise a batch of new values would pool with the rare
    reference categories, and a many-valued feature whose values are all new would end in a
    single column and show no difference at all.
    """
    rare = (_expected(table) < MIN_EXPECTED_COUNT).any(axis=0)
    new_mass = (table[0] == 0) & (table[1] >= MIN_EXPECTED_COUNT)
    rare &= ~new_mass
    if not rare.any():
        return columns, table, ()
    pooled = tuple(c for c, r in zip(columns, rare, strict=True) if r)
    kept = [c for c, r in zip(columns, rare, strict=True) if not r]
    other = table[:, rare].sum(axis=1, keepdims=True)
    return kept + [OTHER_LABEL], np.hstack([table[:, ~rare], other]), pooled


def _table_psi(table: np.ndarray) -> float:
    """PSI of the current row's shares against the reference row's (0.0 if a row is empty)."""
    totals = table.sum(axis=1)
    if (totals == 0).any():
        return 0.0
    return psi_from_shares(table[1] / totals[1], table[0] / totals[0])


def _chi2_from_counts(
    ref: CategoricalReference, labels: list[str], counts: np.ndarray, n_missing: int
) -> ChiSquareResult:
    """Chi-square test and PSI of the batch counts against the reference (see
    :func:`chi2_test`)."""
    from scipy import stats as sps

    columns, table, unseen = _contingency(ref, labels, counts, n_missing)
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        logger.debug("chi-square on %r undefined: table %s", ref.name, table.tolist())
        return ChiSquareResult(0.0, 1.0, 0, 0.0, tuple(columns), (), 0.0, unseen)
    columns, table, pooled = _pool_rare(columns, table)
    k = table.shape[1]
    if k < 2:
        return ChiSquareResult(0.0, 1.0, 0, 0.0, tuple(columns), pooled, 0.0, unseen)
    expected = _expected(table)
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = k - 1
    pvalue = float(sps.chi2.sf(statistic, dof))
    cramers_v = math.sqrt(statistic / (int(table.sum()) * (min(2, k) - 1)))
    return ChiSquareResult(statistic, pvalue, dof, min(cramers_v, 1.0), tuple(columns), pooled,
                           _table_psi(table), unseen)


def chi2_test(ref: CategoricalReference, current_values: np.ndarray) -> ChiSquareResult:
    """Pearson chi-square test of homogeneity, ``sum (O - E)^2 / E`` on the 2 x k table.

    Rows are the reference and current counts over the reference categories, one
    ``UNSEEN_LABEL`` column for all the batch's values the reference never had, and a missing
    column when either side has missing values; columns whose expected count is below
    ``MIN_EXPECTED_COUNT`` in either row are pooled into ``OTHER_LABEL`` (kept even if still
    small), except a column the reference lacks that holds at least ``MIN_EXPECTED_COUNT``
    batch rows. No Yates correction: equals ``scipy.stats.chi2_contingency(table,
    correction=False)`` on that table. ``psi`` (the effect size) is computed on the same
    columns. A table with fewer than two columns or an empty row gives statistic 0.0,
    p-value 1.0, dof 0, Cramér's V and PSI 0.0.
    """
    labels, counts, n_missing = _count_categories(current_values)
    return _chi2_from_counts(ref, labels, counts, n_missing)


# --------------------------------------------------------------------------- multiplicity


def adjust_pvalues(pvalues: np.ndarray, method: PValueCorrection) -> np.ndarray:
    """Adjust p-values for multiple testing.

    ``"bonferroni"``: ``min(m p, 1)``. ``"bh"``: Benjamini-Hochberg step-up,
    ``min_{j >= i} p_(j) m / j`` (monotone, clipped at 1), as
    ``scipy.stats.false_discovery_control(p, method="bh")``. ``"none"``: a copy.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise DataError(f"p-values must be a 1-D array, got shape {p.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise DataError(f"p-values must lie in [0, 1], got {p.tolist()}")
    if method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    if method == "bh":
        m = p.size
        if m <= 1:
            return p.copy()
        order = np.argsort(p)
        scaled = p[order] * (m / np.arange(1, m + 1, dtype=np.float64))
        np.minimum.accumulate(scaled[::-1], out=scaled[::-1])
        adjusted = np.empty_like(p)
        adjusted[order] = scaled
        return np.clip(adjusted, 0.0, 1.0)
    raise ConfigError(f"p-value correction must be one of {PVALUE_CORRECTIONS}, got {method!r}")
