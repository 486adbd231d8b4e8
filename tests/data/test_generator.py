"""Tests of the synthetic churn generator and its drift scenarios.

Statistical tests use fixed seeds, 30,000-row batches and an independent no_drift
reference sample: a column a scenario claims to change must differ with p < 1e-6,
every other feature column must not differ at p < 0.001.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from pipelines.data import (
    CATEGORICAL_FEATURES,
    CATEGORY_LEVELS,
    DEFAULT_QUALITY_FAULTS,
    DEFAULT_SHIFT_FEATURES,
    FEATURE_RANGES,
    FEATURES,
    ID_COLUMN,
    MISSING_FRACTION,
    NUMERIC_FEATURES,
    OUT_OF_RANGE_FRACTION,
    SCENARIOS,
    TARGET,
    TIMESTAMP_COLUMN,
    UNSEEN_CATEGORIES,
    UNSEEN_FRACTION,
    ScenarioInfo,
    churn_probability,
    describe_scenario,
    generate_batch,
    generate_reference,
)

N_STAT = 30_000
REF_SEED = 1001
BATCH_SEED = 2002
CHANGED_P = 1e-6
UNCHANGED_P = 1e-3


# ----------------------------------------------------------------------- helpers


def column_pvalue(a: pd.Series, b: pd.Series) -> float:
    """Two-sample KS (numeric) or chi-square (categorical) p-value; NaN ignored."""
    a = a.dropna()
    b = b.dropna()
    if a.name in NUMERIC_FEATURES:
        return float(stats.ks_2samp(a.to_numpy(), b.to_numpy()).pvalue)
    counts = pd.concat([a.value_counts().rename("a"), b.value_counts().rename("b")], axis=1).fillna(
        0
    )
    return float(stats.chi2_contingency(counts.to_numpy().T).pvalue)


def feature_pvalues(frame: pd.DataFrame, reference: pd.DataFrame) -> dict[str, float]:
    return {c: column_pvalue(frame[c], reference[c]) for c in FEATURES}


def assert_only_changed(pvalues: dict[str, float], changed: tuple[str, ...] | set[str]) -> None:
    not_changed = {c: p for c, p in pvalues.items() if c in changed and p >= CHANGED_P}
    assert not not_changed, f"claimed changed but not significantly different: {not_changed}"
    drifted = {c: p for c, p in pvalues.items() if c not in changed and p <= UNCHANGED_P}
    assert not drifted, f"changed although not claimed: {drifted}"


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generate_reference(N_STAT, seed=REF_SEED)


@pytest.fixture(scope="module")
def same_seed_no_drift() -> pd.DataFrame:
    return generate_batch("no_drift", N_STAT, BATCH_SEED)


# ----------------------------------------------------------------- determinism


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_seed_gives_identical_frame(scenario: str) -> None:
    first = generate_batch(scenario, 2_000, 7)
    second = generate_batch(scenario, 2_000, 7)
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_different_seed_gives_different_frame(scenario: str) -> None:
    first = generate_batch(scenario, 2_000, 7)
    second = generate_batch(scenario, 2_000, 8)
    for column in ("tenure_months", "monthly_charges", "satisfaction_score"):
        assert not np.array_equal(first[column].to_numpy(), second[column].to_numpy()), column
    assert not first[ID_COLUMN].equals(second[ID_COLUMN])


def test_generate_reference_is_no_drift() -> None:
    pd.testing.assert_frame_equal(
        generate_reference(1_500, seed=3), generate_batch("no_drift", 1_500, 3)
    )
    pd.testing.assert_frame_equal(generate_reference(500), generate_batch("no_drift", 500, 42))


# ------------------------------------------------------------------------ schema


def test_feature_lists() -> None:
    assert len(NUMERIC_FEATURES) >= 16
    assert len(CATEGORICAL_FEATURES) >= 8
    assert FEATURES == NUMERIC_FEATURES + CATEGORICAL_FEATURES
    assert len(set(FEATURES)) == len(FEATURES)
    assert set(CATEGORY_LEVELS) == set(CATEGORICAL_FEATURES)
    assert set(FEATURE_RANGES) == set(NUMERIC_FEATURES)
    assert set(DEFAULT_SHIFT_FEATURES) <= set(FEATURES)
    assert sum(c in NUMERIC_FEATURES for c in DEFAULT_SHIFT_FEATURES) == 2
    assert sum(c in CATEGORICAL_FEATURES for c in DEFAULT_SHIFT_FEATURES) == 1
    for column, unseen in UNSEEN_CATEGORIES.items():
        assert unseen not in CATEGORY_LEVELS[column]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_schema(scenario: str) -> None:
    start = pd.Timestamp("2026-03-01 08:00")
    frame = generate_batch(scenario, 3_000, 11, start_time=start)

    assert list(frame.columns) == [ID_COLUMN, TIMESTAMP_COLUMN, *FEATURES, TARGET]
    assert len(frame) == 3_000
    assert frame.index.equals(pd.RangeIndex(3_000))
    for column in NUMERIC_FEATURES:
        assert frame[column].dtype == np.float64, column
    for column in (*CATEGORICAL_FEATURES, ID_COLUMN):
        assert pd.api.types.is_string_dtype(frame[column].dtype), column
        assert frame[column].dtype == frame[ID_COLUMN].dtype, column
    assert frame[TARGET].dtype == np.int64
    assert set(frame[TARGET].unique()) == {0, 1}

    assert frame[ID_COLUMN].is_unique
    assert frame[ID_COLUMN].iloc[0] == "C0011-0000000"
    assert frame[ID_COLUMN].str.fullmatch(r"C0011-\d{7}").all()

    assert frame[TIMESTAMP_COLUMN].dtype == "datetime64[ns]"
    assert frame[TIMESTAMP_COLUMN].iloc[0] == start
    assert frame[TIMESTAMP_COLUMN].is_monotonic_increasing
    assert (frame[TIMESTAMP_COLUMN].diff().dropna() > pd.Timedelta(0)).all()
    assert frame[TIMESTAMP_COLUMN].iloc[-1] < start + pd.Timedelta(days=1)


def test_default_start_time_and_period() -> None:
    frame = generate_batch("no_drift", 100, 1, period=pd.Timedelta(hours=1))
    assert frame[TIMESTAMP_COLUMN].iloc[0] == pd.Timestamp("2026-01-01")
    assert frame[TIMESTAMP_COLUMN].iloc[-1] < pd.Timestamp("2026-01-01 01:00")
    assert frame[TIMESTAMP_COLUMN].iloc[-1] > pd.Timestamp("2026-01-01 00:58")


def test_clean_values_in_domain(reference: pd.DataFrame) -> None:
    assert not reference[list(FEATURES)].isna().any().any()
    for column in NUMERIC_FEATURES:
        lo, hi = FEATURE_RANGES[column]
        assert reference[column].between(lo, hi).all(), column
    for column in CATEGORICAL_FEATURES:
        assert set(reference[column].unique()) == set(CATEGORY_LEVELS[column]), column


def test_realistic_marginals(reference: pd.DataFrame) -> None:
    tenure = reference["tenure_months"]
    assert tenure.mean() > tenure.median()  # right-skewed
    assert stats.skew(tenure) > 0.5
    assert reference["monthly_charges"].between(18, 120).all()
    # Poisson-like counts: integral, variance of the order of the mean
    calls = reference["support_calls"]
    assert (calls == np.round(calls)).all()
    assert 0.5 < calls.var() / calls.mean() < 2.0
    # total charges ~ tenure * monthly charges
    ratio = reference["total_charges"] / (reference["tenure_months"] * reference["monthly_charges"])
    assert abs(ratio.median() - 1.0) < 0.02
    assert np.corrcoef(reference["tenure_months"], reference["total_charges"])[0, 1] > 0.7
    mtm = reference["contract"].eq("month-to-month").mean()
    assert 0.5 < mtm < 0.6


# ----------------------------------------------------------------- label model


def test_base_churn_rate_and_rule(reference: pd.DataFrame) -> None:
    rate = reference[TARGET].mean()
    assert 0.25 <= rate <= 0.30
    probability = churn_probability(reference)
    assert probability.shape == (len(reference),)
    assert ((probability > 0) & (probability < 1)).all()
    assert abs(probability.mean() - rate) < 0.01
    # the known model is informative: AUC of the true probability
    assert 0.84 < roc_auc_score(reference[TARGET], probability) < 0.92


def test_churn_probability_directions() -> None:
    frame = generate_reference(1_000, seed=5)
    base = churn_probability(frame)
    riskier = frame.assign(contract="month-to-month", support_calls=frame["support_calls"] + 3)
    assert (churn_probability(riskier) > base).mean() > 0.95
    # extra columns are ignored, order does not matter
    np.testing.assert_allclose(churn_probability(frame[list(FEATURES)][::-1])[::-1], base)


def test_churn_probability_errors() -> None:
    frame = generate_reference(100, seed=5)
    with pytest.raises(ValueError, match="missing from the frame.*contract"):
        churn_probability(frame.drop(columns=["contract"]))
    with pytest.raises(ValueError, match="unknown rule 'other'"):
        churn_probability(frame, rule="other")  # type: ignore[arg-type]


# ---------------------------------------------------------------- scenarios


def test_no_drift_changes_nothing(
    reference: pd.DataFrame, same_seed_no_drift: pd.DataFrame
) -> None:
    assert describe_scenario("no_drift").changed == ()
    assert_only_changed(feature_pvalues(same_seed_no_drift, reference), ())
    table = pd.crosstab(
        np.r_[np.zeros(N_STAT), np.ones(N_STAT)],
        np.r_[same_seed_no_drift[TARGET].to_numpy(), reference[TARGET].to_numpy()],
    )
    assert stats.chi2_contingency(table).pvalue > UNCHANGED_P


def test_covariate_shift_default(reference: pd.DataFrame, same_seed_no_drift: pd.DataFrame) -> None:
    info = describe_scenario("covariate_shift")
    assert info.changed == DEFAULT_SHIFT_FEATURES
    assert info.label_change == "none"
    shifted = generate_batch("covariate_shift", N_STAT, BATCH_SEED)

    assert_only_changed(feature_pvalues(shifted, reference), set(info.changed))

    # direction and size of the shift
    for column in ("monthly_charges", "support_calls"):
        delta = shifted[column].mean() - reference[column].mean()
        assert 0.5 * reference[column].std() < delta < 1.0 * reference[column].std(), column
        lo, hi = FEATURE_RANGES[column]
        assert shifted[column].between(lo, hi).all()
    mtm_gain = (
        shifted["contract"].eq("month-to-month").mean()
        - reference["contract"].eq("month-to-month").mean()
    )
    assert mtm_gain > 0.15

    # unshifted columns keep their exact sampling (same seed -> same values)
    untouched = [c for c in FEATURES if c not in info.changed]
    pd.testing.assert_frame_equal(shifted[untouched], same_seed_no_drift[untouched])

    # P(y|x) unchanged: labels follow the base rule on the shifted features
    p_base = churn_probability(shifted, "base")
    assert abs(shifted[TARGET].mean() - p_base.mean()) < 0.01
    assert shifted[TARGET].mean() > reference[TARGET].mean() + 0.05  # riskier customers
    bins = pd.cut(p_base, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    calibration = pd.DataFrame({"y": shifted[TARGET], "p": p_base, "bin": bins}).groupby(
        "bin", observed=True
    )
    assert (calibration["y"].mean() - calibration["p"].mean()).abs().max() < 0.03


def test_covariate_shift_custom_features(reference: pd.DataFrame) -> None:
    columns = ("age", "data_usage_gb", "region")
    info = describe_scenario("covariate_shift", shift_features=columns, shift_strength=1.0)
    assert info.changed == columns
    shifted = generate_batch("covariate_shift", N_STAT, BATCH_SEED, shift_features=columns)
    assert_only_changed(feature_pvalues(shifted, reference), set(columns))
    assert abs(shifted[TARGET].mean() - churn_probability(shifted).mean()) < 0.01


def test_covariate_shift_strength(same_seed_no_drift: pd.DataFrame) -> None:
    none = generate_batch("covariate_shift", N_STAT, BATCH_SEED, shift_strength=0.0)
    assert describe_scenario("covariate_shift", shift_strength=0.0).changed == ()
    pd.testing.assert_frame_equal(none[list(FEATURES)], same_seed_no_drift[list(FEATURES)])
    weak = generate_batch("covariate_shift", N_STAT, BATCH_SEED, shift_strength=0.5)
    strong = generate_batch("covariate_shift", N_STAT, BATCH_SEED, shift_strength=1.0)
    base_mean = same_seed_no_drift["monthly_charges"].mean()
    assert base_mean < weak["monthly_charges"].mean() < strong["monthly_charges"].mean()
    down = generate_batch("covariate_shift", N_STAT, BATCH_SEED, shift_strength=-1.0)
    assert down["monthly_charges"].mean() < base_mean
    assert (
        down["contract"].eq("month-to-month").mean()
        < same_seed_no_drift["contract"].eq("month-to-month").mean() - 0.15
    )


def test_label_shift_changes_prior_only(reference: pd.DataFrame) -> None:
    info = describe_scenario("label_shift", label_rate=0.55)
    assert info.changed == (TARGET,)
    assert info.label_change == "prior"
    shifted = generate_batch("label_shift", N_STAT, BATCH_SEED, label_rate=0.55)

    # P(y) changed to the requested rate (exact count)
    assert shifted[TARGET].sum() == round(0.55 * N_STAT)
    # classes are interleaved, not sorted
    assert shifted[TARGET].iloc[: N_STAT // 10].mean() == pytest.approx(0.55, abs=0.03)

    # P(x|y) unchanged: compare features within each class
    for label in (0, 1):
        pvalues = feature_pvalues(
            shifted[shifted[TARGET] == label], reference[reference[TARGET] == label]
        )
        assert_only_changed(pvalues, ())

    # the features still follow the base rule's ranking
    assert roc_auc_score(shifted[TARGET], churn_probability(shifted)) > 0.84
    # marginals of label-related features move through the new mixture
    assert column_pvalue(shifted["contract"], reference["contract"]) < CHANGED_P


def test_label_shift_low_rate() -> None:
    frame = generate_batch("label_shift", 5_000, 9, label_rate=0.05)
    assert frame[TARGET].sum() == 250
    assert frame[ID_COLUMN].is_unique


def test_concept_drift(reference: pd.DataFrame, same_seed_no_drift: pd.DataFrame) -> None:
    info = describe_scenario("concept_drift")
    assert info.changed == (TARGET,)
    assert info.label_change == "concept"
    drifted = generate_batch("concept_drift", N_STAT, BATCH_SEED)

    # inputs unchanged: same marginals, same values as no_drift with the same seed
    assert_only_changed(feature_pvalues(drifted, reference), ())
    pd.testing.assert_frame_equal(drifted[list(FEATURES)], same_seed_no_drift[list(FEATURES)])

    # churn rate close to the base rate: not a label shift
    assert abs(drifted[TARGET].mean() - reference[TARGET].mean()) < 0.03

    # labels follow the concept rule, not the base rule
    auc_base_rule = roc_auc_score(drifted[TARGET], churn_probability(drifted, "base"))
    auc_concept_rule = roc_auc_score(drifted[TARGET], churn_probability(drifted, "concept"))
    assert auc_base_rule < 0.7
    assert auc_concept_rule > 0.75
    assert abs(drifted[TARGET].mean() - churn_probability(drifted, "concept").mean()) < 0.01


def test_data_quality_default(reference: pd.DataFrame, same_seed_no_drift: pd.DataFrame) -> None:
    info = describe_scenario("data_quality")
    assert info.changed == tuple(DEFAULT_QUALITY_FAULTS)
    assert dict(info.faults) == {c: k[0] for c, k in DEFAULT_QUALITY_FAULTS.items()}
    faulty = generate_batch("data_quality", N_STAT, BATCH_SEED)
    kinds = {column: kind for column, kind in info.faults}

    missing = [c for c, k in kinds.items() if k == "missing"]
    assert missing, "default faults include missing values"
    null_share = faulty[list(FEATURES)].isna().mean()
    for column in FEATURES:
        expected = MISSING_FRACTION if column in missing else 0.0
        assert null_share[column] == pytest.approx(expected, abs=1 / N_STAT), column

    unseen_share = faulty["payment_method"].eq("crypto").mean()
    assert kinds["payment_method"] == "unseen_category"
    assert unseen_share == pytest.approx(UNSEEN_FRACTION, abs=1 / N_STAT)
    assert set(faulty["payment_method"].unique()) == {*CATEGORY_LEVELS["payment_method"], "crypto"}

    assert kinds["tenure_months"] == kinds["monthly_charges"] == "out_of_range"
    negative_share = faulty["tenure_months"].lt(0).mean()
    assert negative_share == pytest.approx(OUT_OF_RANGE_FRACTION, abs=1 / N_STAT)
    clean = same_seed_no_drift
    high = faulty["monthly_charges"] > FEATURE_RANGES["monthly_charges"][1]
    assert high.mean() == pytest.approx(OUT_OF_RANGE_FRACTION, abs=1 / N_STAT)
    assert (faulty.loc[high, "monthly_charges"] >= 10 * clean.loc[high, "monthly_charges"]).all()

    # every other cell is the clean value; labels come from the clean features
    untouched = [c for c in FEATURES if c not in info.changed]
    pd.testing.assert_frame_equal(faulty[untouched], clean[untouched])
    pd.testing.assert_series_equal(faulty[TARGET], clean[TARGET])
    for column in info.changed:
        ok = faulty[column].notna() & faulty[column].isin(clean[column])
        assert (faulty.loc[ok, column] == clean.loc[ok, column]).all(), column

    # statistically: only the faulty columns differ from the reference
    pvalues = feature_pvalues(faulty, reference)
    for column in info.changed:
        if kinds[column] != "missing":
            assert pvalues[column] < CHANGED_P, column
    assert_only_changed({c: p for c, p in pvalues.items() if c not in info.changed}, ())


def test_data_quality_custom_columns() -> None:
    clean = generate_batch("no_drift", 10_000, 4)
    faulty = generate_batch("data_quality", 10_000, 4, quality_columns=["age", "region"])
    info = describe_scenario("data_quality", quality_columns=["age", "region"])
    assert info.changed == ("age", "region")
    assert set(info.faults) == {
        ("age", "missing"),
        ("age", "out_of_range"),
        ("region", "missing"),
        ("region", "unseen_category"),
    }
    for column in ("age", "region"):
        assert faulty[column].isna().mean() == pytest.approx(MISSING_FRACTION, abs=1e-4)
    lo, hi = FEATURE_RANGES["age"]
    present = faulty["age"].dropna()
    assert (~present.between(lo, hi)).mean() == pytest.approx(
        OUT_OF_RANGE_FRACTION / (1 - MISSING_FRACTION), abs=1e-3
    )
    assert (present < lo).any()
    assert (present > hi).any()
    assert faulty["region"].eq(UNSEEN_CATEGORIES["region"]).mean() == pytest.approx(
        UNSEEN_FRACTION, abs=1e-4
    )
    others = [c for c in FEATURES if c not in ("age", "region")]
    pd.testing.assert_frame_equal(faulty[others], clean[others])

    only_missing = generate_batch(
        "data_quality", 10_000, 4, quality_columns={"contract": "missing"}
    )
    assert only_missing["contract"].isna().mean() == pytest.approx(MISSING_FRACTION, abs=1e-4)
    assert set(only_missing["contract"].dropna().unique()) <= set(CATEGORY_LEVELS["contract"])


# --------------------------------------------------------------- scenario info / errors


def test_describe_scenario_every_scenario() -> None:
    for scenario in SCENARIOS:
        info = describe_scenario(scenario)
        assert isinstance(info, ScenarioInfo)
        assert info.name == scenario
        assert info.description
        assert set(info.changed) <= {*FEATURES, TARGET}
    with pytest.raises(dataclasses.FrozenInstanceError):
        describe_scenario("no_drift").name = "x"  # type: ignore[misc]


def test_unknown_scenario_raises() -> None:
    with pytest.raises(ValueError, match=r"unknown scenario 'drifty'.*no_drift.*data_quality"):
        generate_batch("drifty", 10, 1)
    with pytest.raises(ValueError, match=r"unknown scenario 'drifty'.*covariate_shift"):
        describe_scenario("drifty")


@pytest.mark.parametrize("n_rows", [0, -3])
def test_bad_n_rows_raises(n_rows: int) -> None:
    with pytest.raises(ValueError, match=r"n_rows must be >= 1"):
        generate_batch("no_drift", n_rows, 1)
    with pytest.raises(ValueError, match=r"n_rows must be >= 1"):
        generate_reference(n_rows)


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match=r"n_rows must be an integer"):
        generate_batch("no_drift", 10.5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"label_rate must be strictly between 0 and 1"):
        generate_batch("label_shift", 10, 1, label_rate=1.0)
    with pytest.raises(ValueError, match=r"unknown shift_features \['colour'\]"):
        generate_batch("covariate_shift", 10, 1, shift_features=["colour"])
    with pytest.raises(ValueError, match=r"unknown quality column 'colour'"):
        generate_batch("data_quality", 10, 1, quality_columns=["colour"])
    with pytest.raises(ValueError, match=r"'unseen_category' needs a categorical column"):
        generate_batch("data_quality", 10, 1, quality_columns={"age": "unseen_category"})
    with pytest.raises(ValueError, match=r"unknown fault kind 'typo'"):
        generate_batch("data_quality", 10, 1, quality_columns={"age": "typo"})


def test_single_row() -> None:
    for scenario in SCENARIOS:
        frame = generate_batch(scenario, 1, 3)
        assert len(frame) == 1
        assert frame[ID_COLUMN].iloc[0] == "C0003-0000000"


# ------------------------------------------------------------------- slow checks


@pytest.mark.slow
def test_trained_model_auc_base_and_concept() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    def encode(frame: pd.DataFrame) -> pd.DataFrame:
        features = frame[list(FEATURES)].copy()
        for column in CATEGORICAL_FEATURES:
            features[column] = pd.Categorical(features[column], categories=CATEGORY_LEVELS[column])
        return features

    train = generate_reference(15_000, seed=10)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(encode(train), train[TARGET])
    base = generate_batch("no_drift", 20_000, 11)
    concept = generate_batch("concept_drift", 20_000, 12)
    auc_base = roc_auc_score(base[TARGET], model.predict_proba(encode(base))[:, 1])
    auc_concept = roc_auc_score(concept[TARGET], model.predict_proba(encode(concept))[:, 1])
    assert 0.82 <= auc_base <= 0.90
    assert auc_concept < 0.70


@pytest.mark.slow
def test_one_million_rows_have_unique_ids_and_the_shift() -> None:
    """At scale too (how fast: benchmarks/bench_generator.py, run by `make bench`)."""
    frame = generate_batch("covariate_shift", 1_000_000, 1)
    assert len(frame) == 1_000_000
    assert frame[ID_COLUMN].is_unique
    base = generate_batch("no_drift", 200_000, 1)
    assert frame["monthly_charges"].mean() > base["monthly_charges"].mean() + 5
