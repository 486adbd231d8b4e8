"""Per-feature drift statistics agree with scipy and with hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.stats import (
    MISSING_LABEL,
    OTHER_LABEL,
    PSI_EPSILON,
    UNSEEN_LABEL,
    DriftThresholds,
    ReferenceProfile,
    adjust_pvalues,
    chi2_test,
    compare_numeric,
    compute_feature_drift,
    fit_categorical_reference,
    fit_numeric_reference,
    ks_test,
    psi,
    wasserstein_normalised,
)
from pipelines.stats import drift as drift_module


def _repeat(counts: dict[str | None, int]) -> np.ndarray:
    """An object array holding each key ``counts[key]`` times (None = missing)."""
    return np.array([key for key, n in counts.items() for _ in range(n)], dtype=object)


# --------------------------------------------------------------------------- KS


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "shift", "expected_method"),
    [
        (50, 80, 0.3, "exact"),
        (3_000, 10_000, 0.05, "exact"),
        (20_000, 30_000, 0.03, "asymptotic"),
        (12_000, 500, 0.1, "asymptotic"),
        (15_000, 15_000, 0.0, "asymptotic"),
        (60_000, 60_000, 0.03, "asymptotic"),  # n D^2 in the Smirnov-series range
    ],
)
def test_ks_matches_scipy(n_ref: int, n_cur: int, shift: float, expected_method: str) -> None:
    rng = np.random.default_rng(n_ref + n_cur)
    reference = rng.normal(size=n_ref)
    current = rng.normal(loc=shift, size=n_cur)
    result = ks_test(fit_numeric_reference("x", reference), current)
    expected = stats.ks_2samp(reference, current)
    assert result.method == expected_method
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-10)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-12)
    assert (result.n_reference, result.n_current) == (n_ref, n_cur)


@pytest.mark.parametrize("n", [141, 5_000, 100_000])
@pytest.mark.parametrize("n_d_squared", [0.5, 2.2, 8.0, 60.0, 353.0, 360.0])
def test_asymptotic_ks_tail_matches_scipy_kstwo(n: int, n_d_squared: float) -> None:
    # The vectorised Smirnov series replaces scipy's scalar loop for 2.2 <= n D^2 < 354 only.
    d = math.sqrt(n_d_squared / n)
    expected = stats.kstwo.sf(d, n)
    assert drift_module._kstwo_sf(d, float(n)) == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_ks_ignores_nans_like_scipy_on_dropped_arrays() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(size=25_000)
    reference[::10] = np.nan
    current = rng.normal(loc=0.02, size=18_000)
    current[::7] = np.nan
    result = ks_test(fit_numeric_reference("x", reference), current)
    expected = stats.ks_2samp(reference[~np.isnan(reference)], current[~np.isnan(current)])
    assert result.n_current == int((~np.isnan(current)).sum())
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-10)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(60, 90), (30_000, 12_000)])
def test_ks_with_ties_matches_scipy(n_ref: int, n_cur: int) -> None:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 5, size=n_ref).astype(float)
    current = rng.integers(0, 6, size=n_cur).astype(float)
    result = ks_test(fit_numeric_reference("x", reference), current)
    expected = stats.ks_2samp(reference, current)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-10)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)


def test_ks_identical_constant_samples_have_no_difference() -> None:
    result = ks_test(fit_numeric_reference("x", np.full(20_000, 2.0)), np.full(15_000, 2.0))
    assert (result.statistic, result.pvalue) == (0.0, 1.0)


@pytest.mark.parametrize("current", [np.array([]), np.full(5, np.nan)])
def test_ks_without_current_values_is_undefined_not_an_error(current: np.ndarray) -> None:
    result = ks_test(fit_numeric_reference("x", np.arange(100.0)), current)
    assert (result.statistic, result.pvalue, result.method) == (0.0, 1.0, "undefined")
    assert result.note == "no finite current values"


# --------------------------------------------------------------------------- reference fit


def test_numeric_reference_of_constant_and_all_missing_columns_is_finite() -> None:
    constant = fit_numeric_reference("c", np.full(10, 3.0))
    assert constant.bin_edges.tolist() == [3.0, np.nextafter(3.0, np.inf)]  # 3.0 has its bin
    assert constant.bin_proportions.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert (constant.min, constant.max, constant.std) == (3.0, 3.0, 0.0)

    missing = fit_numeric_reference("m", np.array([np.nan, None, np.inf], dtype=object))
    assert (missing.n, missing.n_missing, missing.missing_share) == (0, 3, 1.0)
    assert missing.bin_proportions.tolist() == [0.0, 1.0]
    assert math.isfinite(psi(missing, np.arange(5.0)))
    assert wasserstein_normalised(missing, np.arange(5.0)) == 0.0


def test_numeric_reference_is_read_only_and_leaves_input_alone() -> None:
    values = np.array([3.0, 1.0, 2.0])
    ref = fit_numeric_reference("x", values)
    assert values.tolist() == [3.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="read-only"):
        ref.sorted_values[0] = 9.0


# --------------------------------------------------------------------------- PSI


def test_psi_matches_hand_computation_with_missing_bin() -> None:
    # Reference 1..10 with 5 bins: linear quantiles at 0.2, 0.4, 0.6, 0.8 sit at positions
    # 1.8, 3.6, 5.4, 7.2 of the sorted values -> edges 2.8, 4.6, 6.4, 8.2. Bins:
    # (-inf, 2.8) {1,2} | [2.8, 4.6) {3,4} | [4.6, 6.4) {5,6} | [6.4, 8.2) {7,8} | [8.2, inf) {9,10}
    # -> reference shares 0.2 each, missing share 0.
    ref = fit_numeric_reference("x", np.arange(1.0, 11.0), n_bins=5)
    assert ref.bin_edges == pytest.approx([2.8, 4.6, 6.4, 8.2])
    assert ref.bin_proportions == pytest.approx([0.2, 0.2, 0.2, 0.2, 0.2, 0.0])

    # Current (10 rows): 1,1,1,1 -> bin 0; 5,5 -> bin 2; 9,9,9 -> bin 4; one NaN -> missing.
    current = np.array([1, 1, 1, 1, 5, 5, 9, 9, 9, np.nan])
    eps = 1e-4
    expected = (
        (0.4 - 0.2) * math.log(0.4 / 0.2)          # bin 0
        + (eps - 0.2) * math.log(eps / 0.2)        # bin 1: empty -> floored
        + (0.2 - 0.2) * math.log(0.2 / 0.2)        # bin 2
        + (eps - 0.2) * math.log(eps / 0.2)        # bin 3: empty -> floored
        + (0.3 - 0.2) * math.log(0.3 / 0.2)        # bin 4
        + (0.1 - eps) * math.log(0.1 / eps)        # missing: reference 0 -> floored
    )
    assert PSI_EPSILON == eps
    assert psi(ref, current) == pytest.approx(expected, rel=1e-12)


def test_psi_is_zero_for_the_reference_itself_and_for_an_empty_batch() -> None:
    values = np.random.default_rng(0).normal(size=1_000)
    ref = fit_numeric_reference("x", values)
    assert psi(ref, values) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, np.array([])) == 0.0


def test_psi_of_value_equal_to_edge_goes_to_upper_bin() -> None:
    ref = fit_numeric_reference("x", np.arange(1.0, 11.0), n_bins=2)  # one edge at 5.5
    # reference: 5 below, 5 at/above; current [5.5] * 2: all in the upper bin
    expected = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + (1.0 - 0.5) * math.log(2.0)
    assert psi(ref, np.array([5.5, 5.5])) == pytest.approx(expected, rel=1e-12)


def _numeric_verdict(reference: np.ndarray, current: np.ndarray) -> tuple[bool, float, float]:
    """Drifted?, KS p-value and PSI of one numeric feature under the default thresholds."""
    profile = ReferenceProfile(numeric={"x": fit_numeric_reference("x", reference)})
    (result,) = compute_feature_drift(profile, {"x": current})
    return result.drifted, result.pvalue, result.effect_size


def test_a_constant_reference_that_moves_entirely_is_drift() -> None:
    # issue 19: reference all 2015, batch all 2016 -> KS 1, p 0, but PSI was 0 (2016 fell in
    # the bin [2015, inf)), so the feature was not flagged
    reference, current = np.full(5_000, 2015.0), np.full(1_000, 2016.0)
    drifted, pvalue, effect = _numeric_verdict(reference, current)
    assert pvalue < 1e-100
    assert effect == pytest.approx(2 * (1 - PSI_EPSILON) * math.log(1 / PSI_EPSILON))
    assert drifted
    below = _numeric_verdict(reference, np.full(1_000, 2014.0))
    assert below[0]
    assert below[2] > 10
    assert _numeric_verdict(reference, np.full(1_000, 2015.0)) == (False, 1.0, 0.0)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        # two values: the batch's second value moved above the reference maximum
        ({0.0: 2_500, 1.0: 2_500}, {0.0: 500, 5.0: 500}),
        # two values: half the batch between them
        ({0.0: 2_500, 1.0: 2_500}, {0.0: 500, 0.5: 500}),
        # three values: the middle one replaced by a value below the minimum
        ({1.0: 2_000, 2.0: 2_000, 3.0: 1_000}, {-1.0: 400, 1.0: 400, 3.0: 200}),
        # three values, skewed: the top value moved up
        ({1.0: 2_500, 2.0: 1_500, 3.0: 1_000}, {1.0: 500, 2.0: 300, 4.0: 200}),
        # almost constant: every quantile collapsed on 0, the bin [0, inf) also holds the 1s
        ({0.0: 4_750, 1.0: 250}, {5.0: 1_000}),
        # almost constant, the other way: the bin (-inf, 1) holds the 0s alone
        ({0.0: 2_500, 1.0: 47_500}, {-3.0: 500, 1.0: 9_500}),
    ],
)
def test_values_off_a_few_valued_reference_count_as_drift(reference: dict[float, int],
                                                          current: dict[float, int]) -> None:
    ref_values = np.array(_repeat(reference), dtype=np.float64)
    cur_values = np.array(_repeat(current), dtype=np.float64)
    drifted, pvalue, effect = _numeric_verdict(ref_values, cur_values)
    assert pvalue < 1e-10
    assert effect > 0.1
    assert drifted
    # the reference's own values in its own shares are no drift
    assert _numeric_verdict(ref_values, ref_values[::5])[2] == pytest.approx(0.0, abs=1e-12)


def test_quantile_bins_of_a_continuous_reference_are_not_split() -> None:
    values = np.random.default_rng(3).normal(size=10_000)
    ref = fit_numeric_reference("x", values)
    assert ref.bin_edges.tolist() == np.quantile(values, np.arange(1, 10) / 10).tolist()


# --------------------------------------------------------------------------- Wasserstein


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=rng.integers(5, 300))
    current = rng.normal(loc=0.5, scale=2.0, size=rng.integers(5, 300))
    ref = fit_numeric_reference("x", reference)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert wasserstein_normalised(ref, current) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wasserstein_with_ties_nans_and_constant_reference() -> None:
    reference = np.array([1.0, 1.0, 2.0, 2.0, 2.0, np.nan, 4.0])
    current = np.array([2.0, 2.0, np.nan, 5.0, 1.0])
    ref = fit_numeric_reference("x", reference)
    finite_ref = reference[~np.isnan(reference)]
    finite_cur = current[~np.isnan(current)]
    expected = stats.wasserstein_distance(finite_ref, finite_cur) / np.std(finite_ref)
    assert wasserstein_normalised(ref, current) == pytest.approx(expected, rel=1e-12)

    constant = fit_numeric_reference("c", np.full(4, 3.0))  # std 0 -> divided by 1
    assert wasserstein_normalised(constant, np.array([1.0, 5.0])) == pytest.approx(2.0)


def test_compare_numeric_equals_the_separate_functions() -> None:
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=12_000), rng.normal(0.1, 1.0, size=11_000)
    current[:100] = np.nan
    ref = fit_numeric_reference("x", reference)
    combined = compare_numeric(ref, current)
    assert combined.ks == ks_test(ref, current)
    assert combined.psi == psi(ref, current)
    assert combined.wasserstein_normalised == wasserstein_normalised(ref, current)
    assert combined.n_current == 10_900


# --------------------------------------------------------------------------- chi-square


def test_chi2_matches_scipy_on_known_table() -> None:
    ref = fit_categorical_reference("c", _repeat({"a": 100, "b": 80, "c": 60, None: 20}))
    current = _repeat({"a": 50, "b": 70, "c": 30, None: 10})
    current[-1] = np.nan  # NaN and None are both missing
    result = chi2_test(ref, current)
    table = np.array([[100, 80, 60, 20], [50, 70, 30, 10]])
    expected = stats.chi2_contingency(table, correction=False)
    assert result.categories_compared == ("a", "b", "c", MISSING_LABEL)
    assert result.pooled == ()
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-10)
    assert result.dof == expected.dof == 3
    assert result.cramers_v == pytest.approx(math.sqrt(expected.statistic / table.sum()))


def test_chi2_union_of_categories_seen_on_one_side_only() -> None:
    ref = fit_categorical_reference("c", _repeat({"a": 60, "b": 50, "only_ref": 40}))
    result = chi2_test(ref, _repeat({"a": 30, "b": 45, "only_cur": 25}))
    table = np.array([[60, 50, 40, 0], [30, 45, 0, 25]])
    expected = stats.chi2_contingency(table, correction=False)
    assert result.categories_compared == ("a", "b", "only_ref", UNSEEN_LABEL)
    assert result.unseen == ("only_cur",)
    assert math.isfinite(result.statistic)
    assert math.isfinite(result.cramers_v)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-10)


def test_chi2_pools_rare_categories_even_if_pool_stays_small() -> None:
    ref = fit_categorical_reference("c", _repeat({"a": 100, "b": 100, "r1": 2, "r2": 1}))
    result = chi2_test(ref, _repeat({"a": 100, "b": 100, "r3": 1}))
    assert result.pooled == ("r1", "r2", UNSEEN_LABEL)  # one stray new value: pooled
    assert result.unseen == ("r3",)
    assert result.categories_compared == ("a", "b", OTHER_LABEL)
    expected = stats.chi2_contingency(np.array([[100, 100, 3], [100, 100, 1]]), correction=False)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-10)
    assert result.dof == 2


@pytest.mark.parametrize(
    "current",
    [
        _repeat({"a": 40}),  # one category on both sides
        np.array([], dtype=object),  # empty batch
    ],
)
def test_chi2_degenerate_tables_give_no_evidence(current: np.ndarray) -> None:
    result = chi2_test(fit_categorical_reference("c", _repeat({"a": 50})), current)
    assert (result.statistic, result.pvalue, result.dof, result.cramers_v) == (0.0, 1.0, 0, 0.0)


def test_chi2_all_rare_columns_pool_into_one_and_give_no_evidence() -> None:
    ref = fit_categorical_reference("c", _repeat({"a": 3, "b": 2}))
    result = chi2_test(ref, _repeat({"a": 1, "b": 2}))
    assert result.categories_compared == (OTHER_LABEL,)
    assert result.pooled == ("a", "b")
    assert (result.statistic, result.pvalue, result.cramers_v) == (0.0, 1.0, 0.0)


def _shifted_counts(n: int, shares: dict[str, float]) -> np.ndarray:
    return _repeat({label: round(share * n) for label, share in shares.items()})


REFERENCE_SHARES = {"a": 0.10, "b": 0.30, "c": 0.60}
SHIFTED_SHARES = {"a": 0.01, "b": 0.33, "c": 0.66}  # a: 10 % -> 1 %, the rest in proportion


def _categorical_verdict(reference: np.ndarray, current: np.ndarray,
                         thresholds: DriftThresholds | None = None) -> tuple[bool, float, float]:
    """Drifted?, chi-square p-value and effect of one categorical feature."""
    profile = ReferenceProfile(categorical={"c": fit_categorical_reference("c", reference)})
    (result,) = compute_feature_drift(profile, {"c": current}, thresholds)
    return result.drifted, result.pvalue, result.effect_size


@pytest.mark.parametrize("n_current", [50_000, 25_000, 10_000, 5_000, 2_000, 1_000, 500])
def test_a_categorical_shift_is_flagged_at_every_size_ratio(n_current: int) -> None:
    # issue 19: 10 % -> 1 % in 5,000 rows against 50,000 had p = 2e-98 but Cramér's V 0.09
    # (< floor 0.1): V = sqrt(chi2 / (n_ref + n_cur)) shrinks as the reference outgrows the
    # batch. PSI over the categories is the same at every ratio from 1:1 to 1:100.
    reference = _shifted_counts(50_000, REFERENCE_SHARES)
    drifted, pvalue, effect = _categorical_verdict(
        reference, _shifted_counts(n_current, SHIFTED_SHARES))
    assert pvalue < 1e-8
    assert effect == pytest.approx(0.2158, abs=5e-4)
    assert drifted


def test_a_tiny_categorical_shift_on_huge_samples_is_not_drift() -> None:
    reference = _shifted_counts(1_000_000, REFERENCE_SHARES)
    current = _shifted_counts(1_000_000, {"a": 0.095, "b": 0.3017, "c": 0.6033})
    drifted, pvalue, effect = _categorical_verdict(reference, current)
    assert pvalue < 1e-20  # significant, and irrelevant
    assert effect < 0.001
    assert not drifted


def test_the_categorical_psi_is_psi_over_the_chi2_columns_by_hand() -> None:
    ref = fit_categorical_reference("c", _repeat({"a": 100, "b": 80, "c": 60, None: 20}))
    result = chi2_test(ref, _repeat({"a": 50, "b": 70, "c": 30, None: 10}))
    r, c = np.array([100, 80, 60, 20]) / 260, np.array([50, 70, 30, 10]) / 160
    assert result.psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12)


def test_a_batch_of_only_new_values_of_a_many_valued_feature_is_drift() -> None:
    # issue 19: 2,000 reference values seen 5 times each, a batch of 100 values never seen:
    # every column was rare, all pooled into __other__, chi-square 0 and p = 1
    reference = np.array([f"v{i}" for i in range(2_000)] * 5, dtype=object)
    current = np.array([f"new{i}" for i in range(100)], dtype=object)
    ref = fit_categorical_reference("c", reference)
    result = chi2_test(ref, current)
    assert UNSEEN_LABEL in result.categories_compared
    assert len(result.unseen) == 100
    assert result.pvalue < 1e-100
    assert result.psi > 10
    drifted, pvalue, effect = _categorical_verdict(reference, current)
    assert (drifted, pvalue, effect) == (True, result.pvalue, result.psi)


def test_new_values_weigh_apart_from_the_rare_reference_categories() -> None:
    # a many-valued feature whose batch keeps its shares but adds 20 % new values
    rng = np.random.default_rng(5)
    reference = rng.choice([f"v{i}" for i in range(500)], size=20_000).astype(object)
    current = np.concatenate([rng.choice([f"v{i}" for i in range(500)], size=400),
                              np.array([f"new{i}" for i in range(100)])]).astype(object)
    result = chi2_test(fit_categorical_reference("c", reference), current)
    assert UNSEEN_LABEL in result.categories_compared
    assert UNSEEN_LABEL not in result.pooled
    assert result.pvalue < 1e-50
    assert result.psi > 1.0
    assert _categorical_verdict(reference, current)[0]


def test_a_batch_of_only_missing_values_is_drift_against_a_reference_without_any() -> None:
    reference = np.array([f"v{i}" for i in range(2_000)] * 5, dtype=object)
    result = chi2_test(fit_categorical_reference("c", reference),
                       np.array([None] * 100, dtype=object))
    assert MISSING_LABEL in result.categories_compared
    assert result.pvalue < 1e-100


def test_categories_are_compared_by_label_and_integral_floats_match_ints() -> None:
    ref = fit_categorical_reference("c", np.array([1, 2, 2, 3] * 20))
    assert ref.categories == ("1", "2", "3")
    current = np.array([1.0, 2.0, 2.0, 3.0, np.nan] * 20)  # int column that acquired NaNs
    result = chi2_test(ref, current)
    assert result.categories_compared == ("1", "2", "3", MISSING_LABEL)
    assert result.pooled == ()


def test_categorical_reference_counts_missing_values_of_any_kind() -> None:
    values = pd.Series(["x", None, "y", "x", pd.NA], dtype="object").to_numpy()
    ref = fit_categorical_reference("c", values)
    assert (ref.categories, ref.counts.tolist(), ref.n_missing) == (("x", "y"), [2, 1], 2)


# --------------------------------------------------------------------------- p-values


def test_bh_matches_scipy_false_discovery_control() -> None:
    rng = np.random.default_rng(5)
    pvalues = np.concatenate([rng.uniform(size=20), rng.uniform(0, 0.01, size=5), [0.3, 0.3]])
    expected = stats.false_discovery_control(pvalues, method="bh")
    np.testing.assert_allclose(adjust_pvalues(pvalues, "bh"), expected, rtol=1e-15)


def test_bonferroni_and_none_by_hand() -> None:
    pvalues = np.array([0.01, 0.04, 0.5])
    np.testing.assert_allclose(adjust_pvalues(pvalues, "bonferroni"), [0.03, 0.12, 1.0])
    unadjusted = adjust_pvalues(pvalues, "none")
    assert unadjusted.tolist() == pvalues.tolist()
    assert unadjusted is not pvalues
    assert adjust_pvalues(np.array([]), "bh").size == 0


@pytest.mark.parametrize("pvalues", [[0.1, 1.2], [np.nan], [[0.1]]])
def test_adjust_pvalues_rejects_invalid_input(pvalues: list) -> None:
    with pytest.raises(ValueError, match="p-values must"):
        adjust_pvalues(np.array(pvalues), "bh")


def test_adjust_pvalues_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="correction must be one of"):
        adjust_pvalues(np.array([0.1]), "holm")  # type: ignore[arg-type]
