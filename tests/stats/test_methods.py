"""Drift statistics as registered classes: a toy statistic added as one class + one entry."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.config import load_settings
from pipelines.errors import ConfigError
from pipelines.monitoring.policy import drift_thresholds
from pipelines.stats import (
    CategoricalStatistic,
    NumericStatistic,
    StatisticResult,
    compute_feature_drift,
    fit_reference_profile,
    get_statistic,
    register_statistic,
    statistic_names,
)


class MeanShift(NumericStatistic):
    """Toy statistic: |mean(current) - mean(reference)| in reference standard deviations."""

    name = "mean_shift"

    def compute(self, ref, sample) -> StatisticResult:
        if sample.n == 0 or ref.n == 0:
            return StatisticResult(0.0)
        shift = abs(sample.sorted_values.mean() - ref.sorted_values.mean())
        return StatisticResult(float(shift / (ref.std or 1.0)))


class Hellinger(NumericStatistic):
    """The worked example of MONITORING.md: Hellinger distance on the reference bins."""

    name = "hellinger"

    def compute(self, ref, sample) -> StatisticResult:
        p, q = ref.bin_proportions, sample.bin_shares(ref)
        return StatisticResult(float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))))


class MissingShareGap(CategoricalStatistic):
    name = "missing_gap"

    def compute(self, ref, sample) -> StatisticResult:
        ref_share = ref.n_missing / max(ref.n + ref.n_missing, 1)
        return StatisticResult(sample.n_missing / max(sample.n, 1) - ref_share)


@pytest.fixture(scope="module")
def profile():
    rng = np.random.default_rng(0)
    reference = {"x": rng.normal(0.0, 2.0, 4000), "c": rng.choice(["a", "b"], 4000)}
    return fit_reference_profile(reference, ["x"], ["c"])


def test_a_configured_class_path_is_computed_for_every_numeric_feature(profile) -> None:
    settings = load_settings(env={}, overrides={
        "monitoring.numeric_statistics": ["wasserstein", f"{__name__}:MeanShift"]})
    thresholds = drift_thresholds(settings.monitoring)
    current = {"x": np.random.default_rng(1).normal(1.0, 2.0, 3000),
               "c": np.array(["a"] * 1500 + [None] * 1500, dtype=object)}
    (x, c) = compute_feature_drift(profile, current, thresholds)
    assert set(x.statistics) == {"wasserstein", "mean_shift"}
    assert x.statistics["mean_shift"] == pytest.approx(0.5, abs=0.06)  # 1.0 / std 2.0
    assert set(c.statistics) == {"cramers_v"}  # the categorical default, for information
    assert "mean_shift" in statistic_names("numeric")  # registered on first use


def test_the_documented_hellinger_example(profile) -> None:
    register_statistic(Hellinger)
    settings = load_settings(env={}, overrides={
        "monitoring.numeric_statistics": ["hellinger"],
        "monitoring.categorical_statistics": [f"{__name__}:MissingShareGap"]})
    thresholds = drift_thresholds(settings.monitoring)
    same = {"x": np.random.default_rng(2).normal(0.0, 2.0, 4000),
            "c": np.random.default_rng(3).choice(["a", "b"], 4000)}
    shifted = {"x": same["x"] + 4.0, "c": np.array(["a", None] * 2000, dtype=object)}
    (x0, _) = compute_feature_drift(profile, same, thresholds)
    (x1, c1) = compute_feature_drift(profile, shifted, thresholds)
    assert x0.statistics == {"hellinger": pytest.approx(0.0, abs=0.05)}
    assert x1.statistics["hellinger"] > 0.5
    assert c1.statistics["missing_gap"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"monitoring.numeric_statistics": ["not_registered"]},
         r"Unknown numeric drift statistic 'not_registered'; registered: .*wasserstein"),
        ({"monitoring.numeric_statistics": [f"{__name__}:MissingShareGap"]},
         r"is categorical, listed as numeric"),
        ({"monitoring.categorical_statistics": ["numpy:ndarray"]},
         r"is not a NumericStatistic or CategoricalStatistic class"),
    ],
)
def test_bad_statistic_entries_fail_at_start_up(overrides: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(env={}, overrides=overrides)


def test_names_must_be_metric_safe_and_unique() -> None:
    class Bad(NumericStatistic):
        name = "bad name/with slash"

        def compute(self, ref, sample) -> StatisticResult:
            return StatisticResult(0.0)

    class Clash(NumericStatistic):
        name = "ks"

        def compute(self, ref, sample) -> StatisticResult:
            return StatisticResult(0.0)

    class KolmogorovSmirnov(NumericStatistic):  # same class name as the built-in one
        name = "ks"

        def compute(self, ref, sample) -> StatisticResult:
            return StatisticResult(0.0)

    with pytest.raises(ConfigError, match="needs a `name` of letters"):
        register_statistic(Bad)
    with pytest.raises(ConfigError, match="named 'ks' is already registered"):
        register_statistic(Clash)
    with pytest.raises(ConfigError, match="named 'ks' is already registered"):
        register_statistic(KolmogorovSmirnov)
    assert type(get_statistic("numeric", "ks")).__name__ == "KolmogorovSmirnov"
