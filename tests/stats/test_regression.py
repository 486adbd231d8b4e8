"""Regression metrics: agreement with scikit-learn, the MAPE and R² guards, refused input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    r2_score,
)

from pipelines.stats.regression import (
    REGRESSION_METRICS,
    absolute_errors,
    regression_metrics,
    squared_errors,
)


def _data(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 30.0, n) + 1.0
    return y, y + rng.normal(2.0, 8.0, n)


def test_metrics_agree_with_sklearn() -> None:
    y, p = _data()
    m = regression_metrics(y, p)
    assert tuple(m) == REGRESSION_METRICS
    assert m["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, p)), rel=1e-12)
    assert m["mae"] == pytest.approx(mean_absolute_error(y, p), rel=1e-12)
    assert m["mape"] == pytest.approx(mean_absolute_percentage_error(y, p), rel=1e-12)
    assert m["r2"] == pytest.approx(r2_score(y, p), rel=1e-12)
    assert m["bias"] == pytest.approx(np.mean(p - y), rel=1e-12)
    assert m["bias"] > 0  # the predictions were shifted up by 2


def test_bias_is_negative_when_the_model_under_predicts() -> None:
    y, p = _data(seed=1)
    assert regression_metrics(y, y - 3.0)["bias"] == pytest.approx(-3.0)
    assert regression_metrics(y, p)["bias"] > 0


def test_mape_leaves_out_zero_targets_and_is_nan_when_all_are_zero() -> None:
    y = np.array([0.0, 10.0, 20.0, 0.0])
    p = np.array([5.0, 11.0, 18.0, -1.0])
    m = regression_metrics(y, p)
    assert m["mape"] == pytest.approx((0.1 + 0.1) / 2)  # the two zero targets left out
    assert math.isfinite(m["rmse"])
    assert math.isnan(regression_metrics(np.zeros(3), np.ones(3))["mape"])
    tiny = regression_metrics(np.array([1e-12, 100.0]), np.array([1.0, 110.0]))
    assert tiny["mape"] == pytest.approx(0.1)  # |y| <= 1e-9 * max |y| does not divide


def test_r2_is_nan_for_a_constant_target() -> None:
    m = regression_metrics(np.full(5, 3.0), np.array([3.0, 3.1, 2.9, 3.0, 3.2]))
    assert math.isnan(m["r2"])
    assert m["mae"] == pytest.approx(0.08)


def test_per_row_errors() -> None:
    y, p = np.array([1.0, 2.0, 4.0]), np.array([2.0, 0.0, 4.5])
    np.testing.assert_allclose(squared_errors(y, p), [1.0, 4.0, 0.25])
    np.testing.assert_allclose(absolute_errors(y, p), [1.0, 2.0, 0.5])


@pytest.mark.parametrize(("y", "p", "message"), [
    (np.ones(3), np.ones(4), "equal length"),
    (np.empty(0), np.empty(0), "zero rows"),
    (np.array([1.0, np.nan]), np.ones(2), "finite"),
    (np.ones(2), np.array([1.0, np.inf]), "finite"),
    (np.ones((2, 2)), np.ones((2, 2)), "1-D"),
])
def test_bad_input_is_refused(y: np.ndarray, p: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        regression_metrics(y, p)
