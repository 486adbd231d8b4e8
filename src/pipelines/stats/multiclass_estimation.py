"""Multiclass performance estimated without labels (confidence-based, one-vs-rest): pure.

The binary estimate (:mod:`pipelines.stats.estimation`) per class: on the labelled reference
each class's probability column is calibrated against "the row is this class"
(:func:`fit_calibration`, one-vs-rest), and each calibrated row is renormalised to sum to 1.
Row i is then class j with probability p_ij, so on an unlabelled batch:

* the model's decision is the argmax of its **raw** probabilities, as when it is scored;
* the expected confusion matrix: row i adds p_i (calibrated) to the column of its decision;
  E[accuracy] = mean p_{i, decision_i};
* E[macro F1]: per class F1_c = 2 E[TP_c] / (predicted_c + E[true_c]), averaged over the
  classes that are predicted or expected to occur (P(at least one true row) > 1/2), as the
  realized macro F1 averages over the classes that occur;
* E[macro ROC-AUC]: per class :func:`expected_auc` of the raw column (the order) with the
  calibrated one (the chance of a positive), averaged over the classes.

Bands (95 %, for the value the labels will give): accuracy from the Bernoulli variances of
the correct-or-not rows; macro F1 by the delta method on the per-class expected counts, each
row's label a categorical draw from p_i (exact variance of the linearised sum); ROC-AUC by
Hanley-McNeil per class, combined as independent.

It cannot see concept drift (P(y | x) moving), as any label-free estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.stats.estimation import (
    Calibration,
    Estimate,
    _hanley_mcneil,
    expected_auc,
    fit_calibration,
)

MULTICLASS_ESTIMATED_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "roc_auc")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class MulticlassCalibration:
    """One one-vs-rest :class:`Calibration` per class, in class order."""

    calibrations: tuple[Calibration, ...]

    @property
    def k(self) -> int:
        return len(self.calibrations)

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities: each column through its class's calibration, each
        row renormalised to sum to 1 (a row whose calibrated values are all 0 keeps its raw
        values, renormalised)."""
        p = np.asarray(proba, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != self.k:
            raise ValueError(f"probabilities must be (n, {self.k}); got {p.shape}")
        out = np.column_stack([c.apply(p[:, j]) for j, c in enumerate(self.calibrations)]) \
            if p.shape[0] else np.empty_like(p)
        raw = np.clip(p, 0.0, 1.0)
        total = out.sum(axis=1, keepdims=True)
        out = np.where(total > 0, out, raw)
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.full_like(out, 1.0 / max(self.k, 1)),
                         where=total > 0)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON data."""
        return {"format": FORMAT_VERSION, "calibrations": [c.to_dict() for c in self.calibrations]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MulticlassCalibration:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown multiclass-calibration format {data.get('format')!r}; "
                             f"expected {FORMAT_VERSION}")
        return cls(tuple(Calibration.from_dict(c) for c in data["calibrations"]))

    @classmethod
    def identity(cls, k: int) -> MulticlassCalibration:
        return cls(tuple(Calibration.identity() for _ in range(k)))


def fit_multiclass_calibration(proba: np.ndarray, y_idx: np.ndarray, *,
                               seed: int = 0) -> MulticlassCalibration:
    """Per class, :func:`fit_calibration` of "the row is this class" on the class's column of
    ``proba`` (n, k) from the labelled reference (``y_idx``: class indices 0..k-1). A class's
    calibration stays the identity when fit_calibration keeps it so (fewer than 200 rows,
    the class absent, or no out-of-sample gain)."""
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_idx)
    if p.ndim != 2 or y.ndim != 1 or p.shape[0] != y.shape[0]:
        raise ValueError(f"labels must be 1-D and probabilities (n, k) with the same n; got "
                         f"{y.shape}, {p.shape}")
    return MulticlassCalibration(tuple(
        fit_calibration(p[:, j], (y == j).astype(np.float64), seed=seed)
        for j in range(p.shape[1])))


def _nan_estimates() -> dict[str, Estimate]:
    return {m: Estimate(math.nan, math.nan, math.nan) for m in MULTICLASS_ESTIMATED_METRICS}


def estimate_multiclass(proba: np.ndarray,
                        calibration: MulticlassCalibration) -> dict[str, Estimate]:
    """Expected accuracy, macro F1 and macro one-vs-rest ROC-AUC of a batch from its raw class
    probabilities (n, k), each with a 95 % band (see the module's doc). Rows with a
    non-finite probability are left out; none left gives NaN."""
    raw = np.asarray(proba, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != calibration.k:
        raise ValueError(f"probabilities must be (n, {calibration.k}); got {raw.shape}")
    raw = raw[np.isfinite(raw).all(axis=1)]
    n, k = raw.shape
    if n == 0:
        return _nan_estimates()
    p = calibration.apply(raw)
    decision = np.argmax(raw, axis=1)
    rows = np.arange(n)
    return estimates_from_probabilities(raw, p, decision, rows)


def estimates_from_probabilities(raw: np.ndarray, p: np.ndarray, decision: np.ndarray,
                                 rows: np.ndarray) -> dict[str, Estimate]:
    """:func:`estimate_multiclass` from the raw and calibrated probabilities and the
    decisions (``rows`` = arange(n))."""
    n, k = p.shape
    correct = p[rows, decision]
    out: dict[str, Estimate] = {}
    out["accuracy"] = Estimate.of(float(correct.mean()),
                                  math.sqrt(float(np.sum(correct * (1 - correct)))) / n)
    decided = np.zeros((n, k))
    decided[rows, decision] = 1.0
    tp = (p * decided).sum(axis=0)  # E[TP_c]
    predicted = decided.sum(axis=0)
    positives = p.sum(axis=0)  # E[true_c]
    with np.errstate(divide="ignore"):
        log_absent = np.log1p(-np.clip(p, 0.0, 1.0 - 1e-15)).sum(axis=0)
    occurs = (predicted > 0) | (1.0 - np.exp(log_absent) > 0.5)
    counted = int(occurs.sum())
    denominator = predicted + positives
    if counted:
        safe = np.where(denominator > 0, denominator, 1.0)
        f1 = np.where(denominator > 0, 2 * tp / safe, 0.0)
        macro = float(f1[occurs].mean())
        # linearised macro F1 = (1/K) sum_i w[i, y_i], w[i, c] = a_c [decision_i = c] + b_c
        a = np.where(occurs & (denominator > 0), 2 / safe, 0.0) / counted
        b = np.where(occurs & (denominator > 0), -2 * tp / safe ** 2, 0.0) / counted
        w = decided * a + b
        mean_w = (p * w).sum(axis=1)
        variance = float(np.sum((p * w * w).sum(axis=1) - mean_w ** 2))
        out["macro_f1"] = Estimate.of(macro, math.sqrt(max(variance, 0.0)))
    else:
        out["macro_f1"] = Estimate(math.nan, math.nan, math.nan)
    aucs, ses = [], []
    for c in range(k):
        auc = expected_auc(raw[:, c], p[:, c])
        if math.isfinite(auc):
            aucs.append(auc)
            ses.append(_hanley_mcneil(auc, float(positives[c]), float(n - positives[c])))
    if aucs:
        se = math.sqrt(float(np.sum(np.square(ses)))) / len(aucs)
        out["roc_auc"] = Estimate.of(float(np.mean(aucs)), se)
    else:
        out["roc_auc"] = Estimate(math.nan, math.nan, math.nan)
    return out


def expected_confusion_matrix(proba: np.ndarray,
                              calibration: MulticlassCalibration) -> np.ndarray:
    """(k, k) expected counts, rows the (unknown) true class, columns the decision: row i of
    the batch adds its calibrated p_i to the column of argmax(raw p_i)."""
    raw = np.asarray(proba, dtype=np.float64)
    raw = raw[np.isfinite(raw).all(axis=1)]
    p = calibration.apply(raw)
    k = calibration.k
    decision = np.argmax(raw, axis=1) if raw.shape[0] else np.empty(0, dtype=np.int64)
    out = np.zeros((k, k))
    for c in range(k):
        out[:, c] = p[decision == c].sum(axis=0)
    return out
