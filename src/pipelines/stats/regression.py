"""Regression metrics from targets and predictions: pure functions, no I/O.

* ``rmse`` and ``mae``: root mean squared and mean absolute error;
* ``mape``: mean |e| / |y| over the rows whose target is not (close to) zero, as a fraction
  (0.12 = 12 %). The guard: a row counts when |y| > 1e-9 * max |y| over the batch (and is
  not exactly 0), so a zero target never divides; NaN when no row qualifies (all targets
  zero), never inf. scikit-learn instead divides by max(|y|, machine epsilon), which turns a
  zero target into a value of 10^15; with no zero target the two agree;
* ``r2``: 1 - SSE / SST, NaN when the targets are constant (SST = 0: undefined);
* ``bias``: mean(prediction - target), positive when the model over-predicts.
"""

from __future__ import annotations

import math

import numpy as np

#: Everything :func:`regression_metrics` returns, in the order they are logged.
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "mape", "r2", "bias")
#: A target counts towards MAPE when |y| exceeds this fraction of the batch's largest |y|.
MAPE_RELATIVE_GUARD = 1e-9


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"targets and predictions must be 1-D of equal length; got {y.shape}, "
                         f"{p.shape}")
    if y.size == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise ValueError("targets and predictions must be finite (no NaN or infinity)")
    return y, p


def squared_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(prediction - target)² per row."""
    y, p = _pair(y_true, y_pred)
    return (p - y) ** 2


def absolute_errors(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """|prediction - target| per row."""
    y, p = _pair(y_true, y_pred)
    return np.abs(p - y)


def mape(y: np.ndarray, p: np.ndarray) -> float:
    """Mean |e| / |y| over the rows with |y| > :data:`MAPE_RELATIVE_GUARD` * max |y|; NaN
    when none has."""
    scale = np.abs(y)
    top = float(scale.max()) if scale.size else 0.0
    keep = (scale > MAPE_RELATIVE_GUARD * top) & (scale > 0)
    if not keep.any():
        return math.nan
    return float(np.mean(np.abs(p[keep] - y[keep]) / scale[keep]))


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE, R² and bias of ``y_pred`` against ``y_true`` (see the module's doc for
    the guards). Raises ValueError on a shape mismatch, zero rows or a non-finite value:
    callers check their data first (and say so in a :class:`DataError`)."""
    y, p = _pair(y_true, y_pred)
    e = p - y
    sse = float(np.dot(e, e))
    centred = y - y.mean()
    sst = float(np.dot(centred, centred))
    return {
        "rmse": math.sqrt(sse / y.size),
        "mae": float(np.mean(np.abs(e))),
        "mape": mape(y, p),
        "r2": 1.0 - sse / sst if sst > 0 else math.nan,
        "bias": float(e.mean()),
    }
