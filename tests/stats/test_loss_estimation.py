"""Direct loss estimation for regression: the estimate's error against the realized RMSE and
MAE on a known model (stable and covariate-shifted batches), its bands, the JSON round trip,
refused input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from pipelines.data.schema import FeatureSchema, prepare_features
from pipelines.stats.loss_estimation import LossEstimator, fit_loss_estimator
from pipelines.stats.regression import regression_metrics

SCHEMA = FeatureSchema(target="charges", numeric=("x1", "x2", "x3"), categorical=("plan",),
                       categories={"plan": ("basic", "plus", "pro")})


def _frame(n: int, seed: int, shifted: bool = False) -> pd.DataFrame:
    """Charges from a known model whose noise grows with x3; the shift moves x1, skews x3
    towards the top of its range and reverses the plan shares (P(y | x) unchanged)."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(0.6 if shifted else 0.0, 1.0, n)
    x2 = rng.normal(0.0, 1.0, n)
    x3 = 2.0 * (rng.beta(2.0, 1.0, n) if shifted else rng.random(n))
    plan = rng.choice(SCHEMA.categories["plan"], size=n,
                      p=[0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2])
    effect = pd.Series(plan).map({"basic": -0.5, "plus": 0.0, "pro": 0.7}).to_numpy()
    noise = rng.normal(0.0, 1.0, n) * (0.3 + 0.5 * x3)
    charges = 50 + 10 * (1.2 * x1 - 0.8 * x2 + 0.6 * np.sin(2 * x2) + effect + noise)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "plan": plan, "charges": charges})


@pytest.fixture(scope="module")
def fitted() -> tuple[object, LossEstimator]:
    import xgboost

    train = _frame(4000, seed=1)
    model = xgboost.XGBRegressor(n_estimators=100, max_depth=3, tree_method="hist",
                                 enable_categorical=True, random_state=0, n_jobs=1)
    model.fit(prepare_features(train, SCHEMA), train["charges"])
    reference = _frame(3000, seed=2)
    estimator = fit_loss_estimator(reference, _predict(model, reference),
                                   reference["charges"].to_numpy(), SCHEMA, seed=0)
    return model, estimator


def _predict(model: object, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(model.predict(prepare_features(frame, SCHEMA)),  # type: ignore[attr-defined]
                      dtype=np.float64)


@pytest.mark.parametrize("shifted", [False, True], ids=["stable", "covariate_shift"])
def test_estimate_is_within_five_percent_of_the_realized_rmse(fitted, shifted: bool) -> None:
    """Eight unlabelled batches: mean |estimated - realized| <= 5 % of the realized RMSE and
    MAE; the shift raises the error level (more rows with large x3) and the estimate follows."""
    model, estimator = fitted
    errors: dict[str, list[float]] = {"rmse": [], "mae": []}
    inside = 0
    for i in range(8):
        batch = _frame(2000, seed=100 + i, shifted=shifted)
        pred = _predict(model, batch)
        estimate = estimator.estimate(batch.drop(columns="charges"), pred)
        realized = regression_metrics(batch["charges"].to_numpy(), pred)
        for m in errors:
            errors[m].append(abs(estimate[m].value - realized[m]) / realized[m])
        inside += estimate["rmse"].lower <= realized["rmse"] <= estimate["rmse"].upper
        if shifted:
            assert estimate["rmse"].value > estimator.reference["rmse"] * 1.1
    assert np.mean(errors["rmse"]) <= 0.05, errors["rmse"]
    assert np.mean(errors["mae"]) <= 0.05, errors["mae"]
    assert inside >= 6  # a 95 % band: most batches' realized RMSE falls in it


def test_band_width_follows_the_sampling_spread(fitted) -> None:
    """The band is for the batch's realized value: its half-width is about 1.96 times the
    spread of the realized RMSE over batches from one population, not clipped at 1."""
    model, estimator = fitted
    batch = _frame(1000, seed=7)
    pred = _predict(model, batch)
    estimate = estimator.estimate(batch.drop(columns="charges"), pred)["rmse"]
    realized = [regression_metrics(b["charges"].to_numpy(), _predict(model, b))["rmse"]
                for b in (_frame(1000, seed=300 + i) for i in range(30))]
    half_width = (estimate.upper - estimate.lower) / 2
    assert estimate.upper > 1.0
    assert half_width == pytest.approx(1.96 * np.std(realized, ddof=1), rel=0.35)


def test_cross_fitting_keeps_the_reference_level(fitted) -> None:
    """Out-of-fold loss predictions are close to the reference's actual losses (the bias the
    correction removes is small) and the corrected estimate on the reference is on target."""
    _, estimator = fitted
    assert estimator.abs_correction == pytest.approx(1.0, abs=0.05)
    assert estimator.sq_correction == pytest.approx(1.0, abs=0.08)
    assert estimator.reference["oof_rmse"] == pytest.approx(estimator.reference["rmse"], rel=0.05)
    assert 1.0 < estimator.sq_kappa < 6.0  # 2 for normal errors


def test_json_round_trip_gives_identical_estimates(fitted) -> None:
    model, estimator = fitted
    text = json.dumps(estimator.to_dict(), allow_nan=False)
    restored = LossEstimator.from_dict(json.loads(text))
    batch = _frame(500, seed=9, shifted=True)
    pred = _predict(model, batch)
    assert restored.estimate(batch, pred) == estimator.estimate(batch, pred)
    assert restored.schema == estimator.schema
    with pytest.raises(ValueError, match="format"):
        LossEstimator.from_dict({**estimator.to_dict(), "format": 99})


def test_unseen_categories_missing_values_and_bad_predictions(fitted) -> None:
    model, estimator = fitted
    batch = _frame(400, seed=11)
    pred = _predict(model, batch)
    odd = batch.assign(plan=np.where(np.arange(400) % 5 == 0, "enterprise", batch["plan"]),
                       x2=np.where(np.arange(400) % 7 == 0, np.nan, batch["x2"]))
    assert math.isfinite(estimator.estimate(odd, pred)["rmse"].value)
    pred[:10] = np.nan  # left out
    assert math.isfinite(estimator.estimate(batch, pred)["mae"].value)
    assert math.isnan(estimator.estimate(batch, np.full(400, np.nan))["rmse"].value)
    with pytest.raises(ValueError, match="feature rows"):
        estimator.estimate(batch, pred[:10])


def test_fitting_refuses_bad_references() -> None:
    frame = _frame(300, seed=3)
    y = frame["charges"].to_numpy()
    with pytest.raises(ValueError, match="at least"):
        fit_loss_estimator(frame.iloc[:50], y[:50], y[:50], SCHEMA)
    with pytest.raises(ValueError, match="finite"):
        fit_loss_estimator(frame, y, np.where(np.arange(300) == 0, np.inf, y), SCHEMA)
    with pytest.raises(ValueError, match="lengths"):
        fit_loss_estimator(frame, y[:-1], y, SCHEMA)


def test_unbounded_estimate_clips_only_below() -> None:
    from pipelines.stats.estimation import Z95, Estimate

    assert Estimate.unbounded(5.0, 1.0) == Estimate(5.0, 5.0 - Z95, 5.0 + Z95)
    assert Estimate.unbounded(0.5, 1.0).lower == 0.0
    assert math.isnan(Estimate.unbounded(1.0, math.nan).upper)
