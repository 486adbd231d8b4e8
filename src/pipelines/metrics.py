"""Classification metrics from labels and scores: pure functions, no I/O."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

#: The headline metrics, logged under these names at training and monitoring time.
CORE_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "precision", "recall", "f1")
#: Everything :func:`classification_metrics` returns.
ALL_METRICS: tuple[str, ...] = CORE_METRICS + (
    "log_loss", "brier", "positive_rate", "predicted_positive_rate",
)


def classification_metrics(
    y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Metrics of P(class 1) ``scores`` against 0/1 labels ``y_true``.

    ``roc_auc`` is NaN when ``y_true`` holds one class only (it is undefined there); every
    other metric is defined for any non-empty input. Precision with no predicted positive is 0.
    """
    y = np.asarray(y_true).astype(np.int8)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D of equal length; got {y.shape}, {s.shape}")
    if len(y) == 0:
        raise ValueError("cannot compute metrics on zero rows")
    pred = (s >= threshold).astype(np.int8)
    both = len(np.unique(y)) == 2
    clipped = np.clip(s, 1e-15, 1 - 1e-15)
    return {
        "roc_auc": float(roc_auc_score(y, s)) if both else math.nan,
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(y, s, pos_label=1)),
        "positive_rate": float(y.mean()),
        "predicted_positive_rate": float(pred.mean()),
    }
