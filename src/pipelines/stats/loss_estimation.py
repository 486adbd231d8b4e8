"""Regression performance estimated without labels: direct loss estimation (as NannyML's DLE).

On the reference, where targets are known, two gradient-boosted models learn each row's
expected absolute error m(x) = E[|e| | x, ŷ] and expected squared error q(x) = E[e² | x, ŷ]
from the features and the monitored model's prediction ŷ. On an unlabelled batch:

* estimated MAE = mean m(x_i); estimated RMSE = sqrt(mean q(x_i));
* their 95 % bands are for the value the batch's targets will give (sampling): the MAE's from
  the per-row variance of |e| given x, Var = q - m² (both models known); the MSE's from
  Var(e² | x) = κ q², κ measured on the reference (κ = 2 for normal errors); the RMSE's from
  the MSE's by the delta method (se / (2 RMSE)). Bands are not clipped above
  (:meth:`Estimate.unbounded`).

Overfitting: a loss model scored on the rows it learned would look better than it is, and
NannyML fits and checks it on the same reference. Here the reference is cross-fitted in two
halves: each half's models are fitted on the other half, so every reference row gets a
prediction from models that never saw it. The ratio mean(actual loss) / mean(out-of-fold
predicted loss) is the models' bias on unseen rows; the estimate multiplies by it (it is
usually within a few per cent of 1). The estimate averages the two halves' models, the ones
whose bias was measured.

What it cannot see, as any label-free estimate: concept drift. A change of P(y | x) leaves the
features and the predictions, hence the estimate, where they were.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipelines.data.schema import FeatureSchema, prepare_features
from pipelines.stats.estimation import Estimate

if TYPE_CHECKING:  # imported where fitted: xgboost is slow to import
    import xgboost

#: The monitored model's prediction, an extra input of the loss models.
PREDICTION_FEATURE = "__prediction__"
LOSS_ESTIMATED_METRICS: tuple[str, ...] = ("rmse", "mae")
FORMAT_VERSION = 1
#: One thread: OpenMP threads that spin-wait on a machine shared with other work made fitting
#: forty times slower in a test (two cores, load 10); one thread fits 3,000 rows in seconds.
N_THREADS = 1
#: Fewer reference rows than this cannot be split into two halves worth fitting.
MIN_REFERENCE_ROWS = 100
_BOOSTER_PARAMS: dict[str, Any] = {
    "n_estimators": 300, "learning_rate": 0.05, "max_depth": 4, "min_child_weight": 10,
    "subsample": 0.8, "colsample_bytree": 0.9, "reg_lambda": 1.0,
}


def _design(features: pd.DataFrame, predictions: np.ndarray,
            schema: FeatureSchema) -> pd.DataFrame:
    x = prepare_features(features, schema).reset_index(drop=True)
    x[PREDICTION_FEATURE] = np.asarray(predictions, dtype=np.float64)
    return x


def _fit_booster(x: pd.DataFrame, target: np.ndarray, seed: int) -> xgboost.Booster:
    import xgboost

    model = xgboost.XGBRegressor(tree_method="hist", enable_categorical=True,
                                 random_state=seed, n_jobs=N_THREADS,
                                 **_BOOSTER_PARAMS)
    model.fit(x, target)
    return model.get_booster()


def _predict(boosters: Sequence[xgboost.Booster], x: pd.DataFrame) -> np.ndarray:
    out = np.mean([np.asarray(b.inplace_predict(x), dtype=np.float64) for b in boosters],
                  axis=0)
    return np.maximum(out, 0.0)


def _encode(booster: xgboost.Booster) -> str:
    return base64.b64encode(bytes(booster.save_raw("ubj"))).decode("ascii")


def _decode(text: str) -> xgboost.Booster:
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(base64.b64decode(text)))
    booster.set_param({"nthread": N_THREADS})
    return booster


@dataclass(frozen=True)
class LossEstimator:
    """The fitted loss models and the constants measured on the reference out of fold."""

    schema: FeatureSchema
    abs_models: tuple[xgboost.Booster, ...]
    sq_models: tuple[xgboost.Booster, ...]
    abs_correction: float
    sq_correction: float
    sq_kappa: float
    reference: Mapping[str, float]

    def expected_losses(self, features: pd.DataFrame,
                        predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: expected |e| and expected e² (bias-corrected, >= 0)."""
        x = _design(features, predictions, self.schema)
        m = _predict(self.abs_models, x) * self.abs_correction
        q = _predict(self.sq_models, x) * self.sq_correction
        return m, q

    def estimate(self, features: pd.DataFrame, predictions: np.ndarray) -> dict[str, Estimate]:
        """Estimated RMSE and MAE of ``predictions`` on ``features`` (no targets), each with
        a 95 % band for the value the targets will give. Rows whose prediction is not finite
        are left out; none left gives NaN."""
        pred = np.asarray(predictions, dtype=np.float64)
        if len(features) != pred.size:
            raise ValueError(f"{len(features)} feature rows for {pred.size} predictions")
        ok = np.isfinite(pred)
        if not ok.any():
            return {m: Estimate(math.nan, math.nan, math.nan) for m in LOSS_ESTIMATED_METRICS}
        m, q = self.expected_losses(features.loc[ok] if not ok.all() else features, pred[ok])
        return estimates_from_losses(m, q, self.sq_kappa)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON data: the boosters as base64 of their UBJSON, the constants, the
        schema. No pickle."""
        return {
            "format": FORMAT_VERSION,
            "schema": self.schema.to_dict(),
            "abs_models": [_encode(b) for b in self.abs_models],
            "sq_models": [_encode(b) for b in self.sq_models],
            "abs_correction": self.abs_correction,
            "sq_correction": self.sq_correction,
            "sq_kappa": self.sq_kappa,
            "reference": {k: (v if math.isfinite(v) else None)
                          for k, v in self.reference.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LossEstimator:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown loss-estimator format {data.get('format')!r}; expected "
                             f"{FORMAT_VERSION}")
        return cls(
            schema=FeatureSchema.from_dict(data["schema"]),
            abs_models=tuple(_decode(t) for t in data["abs_models"]),
            sq_models=tuple(_decode(t) for t in data["sq_models"]),
            abs_correction=float(data["abs_correction"]),
            sq_correction=float(data["sq_correction"]),
            sq_kappa=float(data["sq_kappa"]),
            reference={k: (math.nan if v is None else float(v))
                       for k, v in data["reference"].items()},
        )


def estimates_from_losses(m: np.ndarray, q: np.ndarray, sq_kappa: float) -> dict[str, Estimate]:
    """The estimates of :meth:`LossEstimator.estimate` from each row's expected absolute and
    squared error and the reference's κ = Var(e² | x) / E[e² | x]²."""
    n = m.size
    if n == 0:
        return {k: Estimate(math.nan, math.nan, math.nan) for k in LOSS_ESTIMATED_METRICS}
    mae = float(m.mean())
    mse = float(q.mean())
    se_mae = math.sqrt(float(np.maximum(q - m * m, 0.0).sum())) / n
    se_mse = math.sqrt(sq_kappa * float(np.dot(q, q))) / n
    rmse = math.sqrt(mse)
    se_rmse = se_mse / (2 * rmse) if rmse > 0 else 0.0
    return {"rmse": Estimate.unbounded(rmse, se_rmse), "mae": Estimate.unbounded(mae, se_mae)}


def fit_loss_estimator(features: pd.DataFrame, predictions: np.ndarray, targets: np.ndarray,
                       schema: FeatureSchema, *, seed: int = 0) -> LossEstimator:
    """Fit the loss models on a labelled reference (its features, the monitored model's
    predictions and the targets), cross-fitted in two halves (see the module's doc). Raises
    ValueError on length mismatch, non-finite predictions or targets, or fewer than
    :data:`MIN_REFERENCE_ROWS` rows."""
    pred = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if not (len(features) == pred.size == y.size):
        raise ValueError(f"reference lengths differ: {len(features)} feature rows, "
                         f"{pred.size} predictions, {y.size} targets")
    if not (np.isfinite(pred).all() and np.isfinite(y).all()):
        raise ValueError("reference predictions and targets must be finite")
    if y.size < MIN_REFERENCE_ROWS:
        raise ValueError(f"a loss estimator needs at least {MIN_REFERENCE_ROWS} reference "
                         f"rows; got {y.size}")
    x = _design(features, pred, schema)
    abs_e = np.abs(pred - y)
    sq_e = (pred - y) ** 2
    half = np.random.default_rng(seed).permutation(y.size) % 2 == 0
    oof_abs, oof_sq = np.empty_like(y), np.empty_like(y)
    abs_models, sq_models = [], []
    for i, part in enumerate((half, ~half)):
        train = x.loc[~part]
        abs_models.append(_fit_booster(train, abs_e[~part], seed + i))
        sq_models.append(_fit_booster(train, sq_e[~part], seed + i))
        oof_abs[part] = _predict(abs_models[-1:], x.loc[part])
        oof_sq[part] = _predict(sq_models[-1:], x.loc[part])
    abs_correction = _ratio(abs_e.mean(), oof_abs.mean())
    sq_correction = _ratio(sq_e.mean(), oof_sq.mean())
    q = oof_sq * sq_correction
    denominator = float(np.dot(q, q))
    sq_kappa = float(np.sum((sq_e - q) ** 2) / denominator) if denominator > 0 else 2.0
    reference = {
        "rows": float(y.size), "mae": float(abs_e.mean()), "rmse": math.sqrt(sq_e.mean()),
        "oof_mae": float(oof_abs.mean()), "oof_rmse": math.sqrt(oof_sq.mean()),
    }
    return LossEstimator(schema, tuple(abs_models), tuple(sq_models), abs_correction,
                         sq_correction, sq_kappa, reference)


def _ratio(actual: float, predicted: float) -> float:
    return float(actual / predicted) if predicted > 0 and math.isfinite(actual) else 1.0
