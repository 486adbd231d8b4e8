"""Whole-frame drift: profile fit, per-batch verdicts, thresholds and .npz persistence."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipelines.errors import ConfigError, DataError, SchemaError
from pipelines.stats import (
    DriftThresholds,
    FeatureDrift,
    ReferenceProfile,
    compute_feature_drift,
    fit_reference_profile,
    load_profile,
    save_profile,
)
from pipelines.stats import profile as profile_module

NUMERIC = ["age", "tenure", "charges"]
CATEGORICAL = ["plan", "region"]


def _frame(rng: np.random.Generator, n: int, *, drift: bool) -> dict[str, np.ndarray]:
    """Synthetic churn-like columns; with ``drift`` only ``tenure`` and ``plan`` change."""
    plans = np.array(["basic", "plus", "pro"], dtype=object)
    regions = np.array(["north", "south", "east", "west", None], dtype=object)
    plan_probabilities = [0.2, 0.3, 0.5] if drift else [0.5, 0.3, 0.2]
    charges = rng.gamma(2.0, 30.0, size=n)
    charges[rng.uniform(size=n) < 0.05] = np.nan
    return {
        "age": rng.normal(45.0, 12.0, size=n),
        "tenure": rng.normal(30.0 if drift else 24.0, 10.0, size=n),
        "charges": charges,
        "plan": rng.choice(plans, size=n, p=plan_probabilities),
        "region": rng.choice(regions, size=n),
    }


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _frame(np.random.default_rng(0), 5_000, drift=False)


@pytest.fixture(scope="module")
def fitted(reference: dict[str, np.ndarray]) -> ReferenceProfile:
    return fit_reference_profile(reference, NUMERIC, CATEGORICAL)


def test_shifted_features_are_flagged_and_stable_ones_are_not(fitted: ReferenceProfile) -> None:
    current = _frame(np.random.default_rng(1), 4_000, drift=True)
    drifts = compute_feature_drift(fitted, current, DriftThresholds())
    assert [d.feature for d in drifts] == NUMERIC + CATEGORICAL
    assert {d.feature for d in drifts if d.drifted} == {"tenure", "plan"}
    by_name = {d.feature: d for d in drifts}
    assert (by_name["tenure"].effect_name, by_name["tenure"].test) == ("psi", "ks")
    assert by_name["tenure"].effect_size > 0.1
    assert (by_name["plan"].effect_name, by_name["plan"].test) == ("psi", "chi2")
    assert by_name["plan"].wasserstein is None
    assert by_name["tenure"].wasserstein == pytest.approx(0.6, abs=0.1)  # 6 / std 10
    assert by_name["charges"].n_current == int(np.isfinite(current["charges"]).sum())
    assert by_name["region"].n_reference == by_name["region"].n_current + 1_000


def test_pvalues_are_adjusted_across_all_features(fitted: ReferenceProfile) -> None:
    current = _frame(np.random.default_rng(2), 3_000, drift=True)
    drifts = compute_feature_drift(fitted, current, DriftThresholds(correction="bh"))
    raw = np.array([d.pvalue for d in drifts])
    expected = stats.false_discovery_control(raw, method="bh")
    np.testing.assert_allclose([d.pvalue_adjusted for d in drifts], expected, rtol=1e-15)
    plain = compute_feature_drift(fitted, current, DriftThresholds(correction="none"))
    assert [d.pvalue_adjusted for d in plain] == [d.pvalue for d in plain]


@pytest.mark.slow  # 2 x 1,000,000 rows: ~1 s idle, ~2 s on a loaded machine
def test_tiny_shift_significant_for_ks_is_not_drift_without_effect_size() -> None:
    # Deterministic normal quantiles: the KS statistic of a 0.01-std shift is ~0.004, which
    # 1,000,000 rows per side make highly significant, while the PSI stays ~1e-4.
    n = 1_000_000
    grid = stats.norm.ppf((np.arange(n) + 0.5) / n)
    profile = fit_reference_profile({"x": grid, "y": grid}, ["x", "y"], [])
    drifts = compute_feature_drift(profile, {"x": grid + 0.01, "y": grid}, DriftThresholds())
    shifted, unshifted = drifts
    assert shifted.pvalue_adjusted < 1e-4  # KS finds it
    assert shifted.effect_size < 0.01  # PSI is far below the 0.1 floor
    assert not shifted.drifted
    assert unshifted.statistic == 0.0
    assert not unshifted.drifted


def test_all_missing_and_empty_batches_give_finite_results(fitted: ReferenceProfile) -> None:
    current = _frame(np.random.default_rng(3), 500, drift=False)
    current["age"] = np.full(500, np.nan)
    drifts = compute_feature_drift(fitted, current, DriftThresholds())
    age = drifts[0]
    assert (age.statistic, age.pvalue, age.n_current) == (0.0, 1.0, 0)
    assert math.isfinite(age.effect_size)
    assert not age.drifted

    empty = {name: values[:0] for name, values in current.items()}
    for drift in compute_feature_drift(fitted, empty, DriftThresholds()):
        values = [drift.statistic, drift.pvalue, drift.pvalue_adjusted, drift.effect_size]
        assert all(math.isfinite(v) for v in values)
        assert (drift.pvalue, drift.drifted, drift.n_current) == (1.0, False, 0)


def test_parallel_path_gives_identical_results(
    fitted: ReferenceProfile, reference: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    current = _frame(np.random.default_rng(4), 3_000, drift=True)
    sequential = compute_feature_drift(fitted, current)
    monkeypatch.setattr(profile_module, "PARALLEL_MIN_VALUES", 0)
    assert compute_feature_drift(fitted, current) == sequential
    assert fit_reference_profile(reference, NUMERIC, CATEGORICAL) == fitted


def test_dataframe_input_equals_mapping_input(
    fitted: ReferenceProfile, reference: dict[str, np.ndarray]
) -> None:
    frame = pd.DataFrame(reference)
    frame["region"] = frame["region"].astype("string")  # missing values become pandas NA
    assert fit_reference_profile(frame, NUMERIC, CATEGORICAL) == fitted
    current = _frame(np.random.default_rng(5), 1_000, drift=True)
    assert compute_feature_drift(fitted, pd.DataFrame(current)) == compute_feature_drift(
        fitted, current
    )


def test_missing_or_non_numeric_columns_are_schema_errors(
    reference: dict[str, np.ndarray],
) -> None:
    with pytest.raises(SchemaError, match="column 'nope' is missing"):
        fit_reference_profile(reference, ["nope"], [])
    with pytest.raises(SchemaError, match="column 'plan' is declared numeric"):
        fit_reference_profile(reference, ["plan"], [])
    with pytest.raises(DataError, match="different lengths"):
        fit_reference_profile({"a": np.zeros(3), "b": np.zeros(4)}, ["a", "b"], [])
    with pytest.raises(ConfigError, match="listed twice"):
        fit_reference_profile(reference, ["age"], ["age"])
    with pytest.raises(ConfigError, match="n_bins must be an integer >= 2, got 1"):
        fit_reference_profile(reference, ["age"], [], n_bins=1)


# --------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"p_value": 0.0}, "The 'p_value' parameter of DriftThresholds must be a float in the "
                           "range (0, 1). Got 0.0 instead."),
        ({"p_value": 1.5}, "The 'p_value' parameter of DriftThresholds must be a float in the "
                           "range (0, 1). Got 1.5 instead."),
        ({"p_value": float("nan")}, "The 'p_value' parameter of DriftThresholds must be"),
        ({"p_value": True}, "The 'p_value' parameter of DriftThresholds must be"),
        ({"correction": "holm"}, "The 'correction' parameter of DriftThresholds must be one of "
                                 "'none', 'bonferroni', 'bh'. Got 'holm' instead."),
        ({"min_psi": -0.1}, "The 'min_psi' parameter of DriftThresholds must be a float >= 0. "
                            "Got -0.1 instead."),
        ({"min_psi": float("inf")}, "The 'min_psi' parameter of DriftThresholds must be"),
        ({"min_categorical_psi": -1.0}, "The 'min_categorical_psi' parameter of "
                                        "DriftThresholds must be a float >= 0. Got -1.0"),
        ({"numeric_statistics": ("nope",)}, "Unknown numeric drift statistic 'nope'"),
        ({"categorical_statistics": ("no.such.module:Stat",)},
         "Drift statistic 'no.such.module:Stat' cannot be imported"),
    ],
)
def test_thresholds_reject_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DriftThresholds(**kwargs)


def test_thresholds_defaults_are_valid() -> None:
    thresholds = DriftThresholds()
    assert (thresholds.p_value, thresholds.correction) == (0.05, "bh")
    assert (thresholds.min_psi, thresholds.min_categorical_psi) == (0.1, 0.1)


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip_is_exact(tmp_path, reference: dict[str, np.ndarray]) -> None:
    columns = dict(reference)
    columns["constant"] = np.full(5_000, 7.0)
    columns["nothing"] = np.full(5_000, np.nan)
    columns["no_category"] = np.full(5_000, None, dtype=object)
    profile = fit_reference_profile(
        columns, [*NUMERIC, "constant", "nothing"], [*CATEGORICAL, "no_category"]
    )
    path = tmp_path / "reference.profile"  # no .npz suffix: must be written at this exact path
    save_profile(profile, path)
    assert [p.name for p in tmp_path.iterdir()] == ["reference.profile"]
    loaded = load_profile(path)

    assert loaded == profile
    assert list(loaded.numeric) == list(profile.numeric)
    assert list(loaded.categorical) == list(profile.categorical)
    for name, ref in profile.numeric.items():
        assert loaded.numeric[name].sorted_values.tobytes() == ref.sorted_values.tobytes()
        assert loaded.numeric[name].std == ref.std
    assert loaded.categorical["no_category"].categories == ()
    current = _frame(np.random.default_rng(6), 800, drift=True)
    current.update(constant=np.full(800, 7.5), nothing=np.zeros(800),
                   no_category=np.array(["x"] * 800, dtype=object))
    assert compute_feature_drift(loaded, current) == compute_feature_drift(profile, current)


def test_load_rejects_other_format_versions_and_non_profiles(tmp_path) -> None:
    wrong_version = tmp_path / "old.npz"
    metadata = {"format_version": 999, "n_rows": 0, "numeric": [], "categorical": []}
    np.savez(wrong_version, metadata=np.array(json.dumps(metadata)))
    with pytest.raises(DataError, match="format version 999"):
        load_profile(wrong_version)
    not_a_profile = tmp_path / "notes.txt"
    not_a_profile.write_text("hello")
    with pytest.raises(DataError, match="cannot read reference profile"):
        load_profile(not_a_profile)
    with pytest.raises(DataError, match="cannot read reference profile"):
        load_profile(tmp_path / "absent.npz")


def test_feature_drift_is_frozen(fitted: ReferenceProfile) -> None:
    drift = compute_feature_drift(fitted, _frame(np.random.default_rng(7), 200, drift=False))[0]
    assert isinstance(drift, FeatureDrift)
    with pytest.raises(AttributeError):
        drift.drifted = True  # type: ignore[misc]
