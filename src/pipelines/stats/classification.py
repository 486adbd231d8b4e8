"""Classification metrics from labels and scores: pure functions, no I/O."""

from __future__ import annotations

import math

import numpy as np

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
    pred = s >= threshold
    positive = y == 1
    tp = int(np.count_nonzero(pred & positive))
    fp = int(np.count_nonzero(pred & ~positive))
    fn = int(np.count_nonzero(~pred & positive))
    # counted in numpy: the sklearn equivalents validate and re-derive labels each call,
    # ten times slower at 1M rows; test_metrics checks they agree with sklearn
    return metrics_from_counts(
        tp=tp, fp=fp, fn=fn, n=len(y),
        roc_auc=roc_auc(y, s),
        log_loss_sum=float(np.sum(log_loss_terms(y, s))),
        brier_sum=float(np.sum((s - y) ** 2)))


def roc_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC (ties count one half), as ``sklearn.metrics.roc_auc_score``; NaN with one
    class. Each class's scores sorted once, then the negatives below each positive found by
    ``searchsorted``: ten times faster than sklearn's at 1M rows."""
    positive = np.asarray(y) == 1
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    if pos.size == 0 or neg.size == 0:
        return math.nan
    below = np.searchsorted(neg, pos, side="left").sum(dtype=np.float64)
    upto = np.searchsorted(neg, pos, side="right").sum(dtype=np.float64)
    return float((below + upto) / 2.0 / (float(pos.size) * float(neg.size)))


def log_loss_terms(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's log loss, scores clipped to [1e-15, 1 - 1e-15] as in the metric."""
    clipped = np.clip(scores, 1e-15, 1 - 1e-15)
    return -np.where(y == 1, np.log(clipped), np.log1p(-clipped))


def metrics_from_counts(*, tp: int, fp: int, fn: int, n: int, roc_auc: float,
                        log_loss_sum: float, brier_sum: float) -> dict[str, float]:
    """:func:`classification_metrics` from the confusion matrix at the threshold, the ROC-AUC
    and the sums of the per-row log loss and squared error (all additive over partitions)."""
    if n == 0:
        raise ValueError("cannot compute metrics on zero rows")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {
        "roc_auc": float(roc_auc),
        "accuracy": float((n - fp - fn) / n),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "log_loss": float(log_loss_sum / n),
        "brier": float(brier_sum / n),
        "positive_rate": float((tp + fn) / n),
        "predicted_positive_rate": float((tp + fp) / n),
    }
