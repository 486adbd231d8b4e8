"""Statistics from counts (the chunked and Spark engines): bounds, and agreement with the
in-memory statistics on the same bins."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score

from pipelines.stats import fit_numeric_reference, ks_test
from pipelines.stats.binned import (
    auc_from_histograms,
    coarse_groups,
    expected_auc_from_bins,
    ks_from_counts,
    sorted_bin_counts,
)
from pipelines.stats.estimation import expected_auc


def _edges(sorted_ref: np.ndarray, bins: int) -> np.ndarray:
    return np.unique(np.concatenate([np.quantile(sorted_ref, np.arange(1, bins) / bins),
                                     [sorted_ref[0], np.nextafter(sorted_ref[-1], np.inf)]]))


def _bin_index(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, values, side="right")


def _bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counted value by value, independently of the sort-based counting under test."""
    return np.bincount(_bin_index(edges, values), minlength=edges.size + 1)


def _binned_ks(ref: np.ndarray, cur: np.ndarray, bins: int):  # noqa: ANN202
    ref_sorted = np.sort(ref)
    edges = _edges(ref_sorted, bins)
    ref_counts, ref_atoms = sorted_bin_counts(edges, ref_sorted)
    cur_counts, cur_atoms = sorted_bin_counts(edges, np.sort(cur))
    assert np.array_equal(cur_counts, _bin_counts(edges, cur))
    index = _bin_index(edges, cur)
    on_edge = (index > 0) & (cur == edges[np.maximum(index - 1, 0)])
    assert np.array_equal(cur_atoms, np.bincount(index[on_edge], minlength=edges.size + 1))
    return ks_from_counts(ref_counts, cur_counts, ref_atoms, cur_atoms)


@pytest.mark.parametrize(("kind", "shift"), [
    ("continuous", 0.0), ("continuous", 0.05), ("continuous", 0.5),
    ("discrete", 0.0), ("discrete", 0.3), ("mixed", 0.1), ("out_of_range", 0.0),
])
def test_binned_ks_brackets_the_exact_statistic(kind: str, shift: float) -> None:
    rng = np.random.default_rng(7)
    if kind == "continuous":
        ref, cur = rng.normal(size=200_000), rng.normal(shift, 1.0, size=100_000)
    elif kind == "discrete":
        ref, cur = rng.poisson(3.0, 200_000) * 1.0, rng.poisson(3.0 + shift, 100_000) * 1.0
    elif kind == "mixed":  # a point mass at zero and a continuous part
        ref = np.where(rng.random(200_000) < 0.4, 0.0, rng.exponential(2.0, 200_000))
        cur = np.where(rng.random(100_000) < 0.4 + shift, 0.0, rng.exponential(2.0, 100_000))
    else:  # 10 % of the batch far above the reference's maximum
        ref = rng.normal(size=200_000)
        cur = np.where(rng.random(100_000) < 0.1, 100.0, rng.normal(size=100_000))
    binned = _binned_ks(ref, cur, 1000)
    exact = sps.ks_2samp(ref, cur).statistic
    assert binned.method == "binned"
    assert binned.statistic <= exact + 1e-12
    assert exact <= binned.statistic + binned.bound + 1e-12
    assert exact - binned.statistic < 1e-3
    assert binned.bound <= 1.01e-3  # about one reference bin
    if kind == "discrete":  # the frequent values are edges: the statistic is exact there
        assert binned.bound < 1e-3
        assert binned.statistic == pytest.approx(exact, abs=1e-12)


def test_binned_ks_pvalue_is_the_asymptotic_one_of_its_statistic() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=50_000), rng.normal(0.02, 1, size=40_000)
    binned = _binned_ks(ref, cur, 1000)
    exact = ks_test(fit_numeric_reference("x", ref), cur)
    assert exact.method == "asymptotic"
    assert binned.pvalue == pytest.approx(
        float(sps.kstwo.sf(binned.statistic, round(50_000 * 40_000 / 90_000))), rel=1e-6)
    assert abs(binned.pvalue - exact.pvalue) < 0.05


def test_ks_from_counts_without_values_is_undefined() -> None:
    result = ks_from_counts(np.array([3, 4, 0]), np.zeros(3, dtype=np.int64))
    assert (result.method, result.statistic, result.pvalue) == ("undefined", 0.0, 1.0)


def test_counts_of_any_partition_add_up_to_the_whole() -> None:
    rng = np.random.default_rng(1)
    values = rng.gamma(2.0, size=30_001)
    edges = _edges(np.sort(rng.gamma(2.0, size=5_000)), 100)
    whole = _bin_counts(edges, values)
    cuts = np.sort(rng.choice(values.size, 6, replace=False))
    parts = [sorted_bin_counts(edges, np.sort(part))[0]
             for part in np.split(rng.permutation(values), cuts)]
    assert np.array_equal(sum(parts[::-1]), whole)
    assert np.array_equal(sorted_bin_counts(edges, np.sort(values))[0], whole)


def test_coarse_bins_are_sums_of_fine_bins() -> None:
    rng = np.random.default_rng(2)
    ref = np.sort(rng.normal(size=10_000))
    coarse = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    fine = np.unique(np.concatenate([_edges(ref, 1000), coarse]))
    values = rng.normal(0.3, 1.2, size=20_000)
    groups = coarse_groups(fine, coarse)
    summed = np.bincount(groups, weights=_bin_counts(fine, values), minlength=coarse.size + 1)
    assert np.array_equal(summed, _bin_counts(coarse, values))


def test_auc_from_histograms_is_roc_auc_of_the_binned_scores() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 50_000)
    scores = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    edges = np.linspace(0, 1, 201)[1:-1]
    index = _bin_index(edges, scores)
    pos = np.bincount(index[y == 1], minlength=edges.size + 1)
    neg = np.bincount(index[y == 0], minlength=edges.size + 1)
    assert auc_from_histograms(pos, neg) == pytest.approx(roc_auc_score(y, index), abs=1e-12)
    assert abs(auc_from_histograms(pos, neg) - roc_auc_score(y, scores)) < 2e-3
    assert np.isnan(auc_from_histograms(pos, np.zeros_like(neg)))


def test_expected_auc_from_bins_is_expected_auc_of_the_binned_scores() -> None:
    rng = np.random.default_rng(5)
    p = rng.beta(2, 5, 20_000)
    edges = np.linspace(0, 1, 101)[1:-1]
    index = _bin_index(edges, p)
    k = edges.size + 1
    sums = [np.bincount(index, weights=w, minlength=k) for w in (p, 1 - p, p * (1 - p))]
    assert expected_auc_from_bins(*sums) == pytest.approx(expected_auc(index * 1.0, p),
                                                          abs=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_exact_ks_and_wasserstein_without_a_merge_match_scipy(seed: int) -> None:
    """The exact path locates the KS supremum on a reference-quantile grid and only looks
    inside intervals where it could be larger: the same statistic as scipy, ties included."""
    from pipelines.stats.drift import _ks_statistic, _wasserstein

    rng = np.random.default_rng(seed)
    n1, n2 = int(rng.integers(10_001, 60_000)), int(rng.integers(10_001, 60_000))
    kind = seed % 4
    if kind == 0:
        ref, cur = rng.normal(size=n1), rng.normal(rng.uniform(-0.05, 0.05), 1, n2)
    elif kind == 1:  # heavy ties shared by both sides
        ref, cur = np.round(rng.normal(size=n1), 1), np.round(rng.normal(0.02, 1, n2), 1)
    elif kind == 2:  # a point mass and a continuous part
        ref = np.where(rng.random(n1) < 0.3, 1.0, rng.exponential(1.0, n1))
        cur = np.where(rng.random(n2) < 0.32, 1.0, rng.exponential(1.0, n2))
    else:  # the batch beyond the reference on both ends
        ref, cur = rng.uniform(0, 1, n1), rng.uniform(-0.1, 1.2, n2)
    reference = fit_numeric_reference("x", ref)
    cur_sorted = np.sort(cur)
    assert _ks_statistic(reference, cur_sorted) == pytest.approx(
        sps.ks_2samp(ref, cur).statistic, abs=1e-12)
    assert _wasserstein(reference.sorted_values, cur_sorted) == pytest.approx(
        sps.wasserstein_distance(ref, cur), rel=1e-9)
