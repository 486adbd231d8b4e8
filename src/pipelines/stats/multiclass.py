"""Multiclass metrics from class indices and class probabilities: pure functions, no I/O.

Labels are class indices 0..k-1 (the position of each class in ``classes``); ``proba`` is
(n, k), one column per class in the same order. The predicted class is the argmax of a row
(the first class on a tie, as ``numpy.argmax``).

* ``accuracy``: share of rows whose predicted class is the true one;
* ``macro_f1``: the unweighted mean of per-class F1 over the classes that occur as a true or a
  predicted class in the batch (scikit-learn's ``f1_score(average="macro")`` with its default
  labels); a class absent from both has no F1 and is left out, not counted as 0;
* ``weighted_f1``: per-class F1 weighted by the class's true count;
* ``roc_auc``: macro one-vs-rest ROC-AUC, each class's column of ``proba`` against "is this
  class", averaged over **the classes present in the batch's labels** (a class needs positives
  and negatives for an AUC). A monitoring batch often misses a rare class; averaging over the
  classes present keeps the metric defined there (scikit-learn refuses). When every class is
  present it equals ``roc_auc_score(multi_class="ovr", average="macro")``; NaN when fewer than
  two classes are present;
* ``log_loss``: mean -log p(true class), probabilities clipped to [1e-15, 1];
* ``recall_<class>``: per-class recall (true class found), NaN for a class absent from the
  batch's labels; the class name passes through :func:`metric_safe`.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Sequence

import numpy as np

from pipelines.stats.classification import roc_auc

#: The headline metrics :func:`multiclass_metrics` returns (per-class recalls come after).
MULTICLASS_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1", "roc_auc",
                                       "log_loss")

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def metric_safe(name: object) -> str:
    """A class label as characters an MLflow metric name allows (ASCII letters and digits,
    ``_ - . /`` and space); every other character becomes ``_``. Slashes that would make the
    name a non-normal path (``a//b``, ``../x``, a trailing ``/``) become ``_`` too, and an
    empty label is ``_``."""
    safe = _UNSAFE.sub("_", str(name))
    if "/" in safe:
        norm = posixpath.normpath(safe)
        if norm != safe or norm.startswith(("..", "/")):
            safe = safe.replace("/", "_")
    return safe or "_"


def check_multiclass(y_true: np.ndarray, proba: np.ndarray,
                     k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` as int64 indices and ``proba`` as float64 (n, k), checked: equal row counts,
    at least one row, finite probabilities, indices in 0..k-1. Raises ValueError."""
    p = np.asarray(proba, dtype=np.float64)
    y_raw = np.asarray(y_true)
    if p.ndim != 2 or y_raw.ndim != 1 or p.shape[0] != y_raw.shape[0]:
        raise ValueError(f"labels must be 1-D and probabilities (n, k) with the same n; got "
                         f"{y_raw.shape}, {p.shape}")
    if k is not None and p.shape[1] != k:
        raise ValueError(f"probabilities have {p.shape[1]} columns for {k} classes")
    if p.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero rows")
    if not np.isfinite(p).all():
        raise ValueError("class probabilities must be finite (no NaN or infinity)")
    if not (np.issubdtype(y_raw.dtype, np.integer)
            or (np.issubdtype(y_raw.dtype, np.floating)
                and np.array_equal(y_raw, np.round(y_raw)))):
        raise ValueError(f"labels must be class indices (integers), got dtype {y_raw.dtype}")
    y = y_raw.astype(np.int64)
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"class indices must lie in 0..{p.shape[1] - 1}; got {y.min()}.."
                         f"{y.max()}")
    return y, p


def confusion_matrix(y_true_idx: np.ndarray, y_pred_idx: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts, rows the true class and columns the predicted one (as scikit-learn's
    ``confusion_matrix(labels=range(k))``)."""
    t = np.asarray(y_true_idx, dtype=np.int64)
    p = np.asarray(y_pred_idx, dtype=np.int64)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def per_class_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 = 2 TP / (2 TP + FP + FN) of one (k, k) or a stack (..., k, k) of
    confusion matrices, and whether each class occurs (true or predicted) at all."""
    c = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(c, axis1=-2, axis2=-1)
    denominator = c.sum(axis=-1) + c.sum(axis=-2)  # = 2 TP + FP + FN
    present = denominator > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=present)
    return f1, present


def macro_f1_from_confusion(cm: np.ndarray) -> float | np.ndarray:
    """Macro F1 over the classes that occur (true or predicted) of a (k, k) confusion matrix
    (a float), or of a stack (..., k, k) (an array): what the paired bootstrap resamples."""
    f1, present = per_class_f1(cm)
    counted = present.sum(axis=-1)
    total = np.where(present, f1, 0.0).sum(axis=-1)
    out = np.divide(total, counted, out=np.full(np.shape(total), np.nan, dtype=np.float64),
                    where=counted > 0)
    return float(out) if np.ndim(out) == 0 else out


def accuracy_from_confusion(cm: np.ndarray) -> float | np.ndarray:
    """Accuracy of a (k, k) confusion matrix (a float) or a stack (..., k, k) (an array)."""
    c = np.asarray(cm, dtype=np.float64)
    out = np.trace(c, axis1=-2, axis2=-1) / c.sum(axis=(-2, -1))
    return float(out) if np.ndim(out) == 0 else out


def macro_ovr_auc(y: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC over the classes present in ``y`` (NaN below two)."""
    values = [roc_auc((y == j).astype(np.int8), proba[:, j])
              for j in range(proba.shape[1]) if 0 < np.count_nonzero(y == j) < y.size]
    return float(np.mean(values)) if values else math.nan


def multiclass_metrics(y_true: np.ndarray, proba: np.ndarray,
                       classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro and weighted F1, macro one-vs-rest ROC-AUC, log loss and per-class
    recall (``recall_<metric_safe(class)>``) of ``proba`` against the class indices
    ``y_true`` (see the module's doc for each definition). Raises ValueError on bad shapes,
    zero rows, non-finite probabilities, an index outside the classes or two classes whose
    safe names collide."""
    k = len(classes)
    y, p = check_multiclass(y_true, proba, k)
    names = [f"recall_{metric_safe(c)}" for c in classes]
    if len(set(names)) != k:
        raise ValueError(f"class names collide once made metric-safe: {list(classes)}")
    predicted = np.argmax(p, axis=1)
    cm = confusion_matrix(y, predicted, k)
    f1, _ = per_class_f1(cm)
    support = cm.sum(axis=1).astype(np.float64)
    tp = np.diagonal(cm).astype(np.float64)
    out = {
        "accuracy": float(tp.sum() / y.size),
        "macro_f1": float(macro_f1_from_confusion(cm)),
        "weighted_f1": float(np.dot(f1, support) / support.sum()),
        "roc_auc": macro_ovr_auc(y, p),
        "log_loss": float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-15, 1.0)))),
    }
    for j, name in enumerate(names):
        out[name] = float(tp[j] / support[j]) if support[j] > 0 else math.nan
    return out
