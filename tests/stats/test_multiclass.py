"""Multiclass metrics: agreement with scikit-learn, classes missing from a batch, metric-safe
class names, the confusion matrix and macro F1 from it, refused input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from pipelines.stats.multiclass import (
    MULTICLASS_METRICS,
    confusion_matrix,
    macro_f1_from_confusion,
    metric_safe,
    multiclass_metrics,
)

CLASSES = ("stay", "down grade", "up/grade", "cancel")


def _data(n: int = 800, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_metrics_agree_with_sklearn() -> None:
    y, proba = _data()
    pred = proba.argmax(axis=1)
    m = multiclass_metrics(y, proba, CLASSES)
    assert tuple(m)[:5] == MULTICLASS_METRICS
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr",
                                                           average="macro"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=range(4)))
    recalls = skm.recall_score(y, pred, average=None)
    for name, recall in zip(("stay", "down grade", "up/grade", "cancel"), recalls,
                            strict=True):
        assert m[f"recall_{name}"] == pytest.approx(recall)


def test_a_class_absent_from_the_batch() -> None:
    """Class 2 never occurs as a label: its recall is NaN, the AUC averages the three present
    classes, macro F1 is scikit-learn's over the classes that occur (true or predicted)."""
    y, proba = _data(seed=1)
    keep = y != 2
    y, proba = y[keep], proba[keep]
    pred = proba.argmax(axis=1)
    m = multiclass_metrics(y, proba, CLASSES)
    assert math.isnan(m["recall_up/grade"])
    present = [skm.roc_auc_score(y == j, proba[:, j]) for j in (0, 1, 3)]
    assert m["roc_auc"] == pytest.approx(np.mean(present))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))


def test_one_class_only_has_no_auc() -> None:
    proba = np.array([[0.7, 0.3], [0.4, 0.6]])
    m = multiclass_metrics(np.array([0, 0]), proba, ("a", "b"))
    assert math.isnan(m["roc_auc"])
    assert m["accuracy"] == 0.5


def test_metric_safe_names_pass_mlflow_validation() -> None:
    from mlflow.utils.validation import _validate_metric_name

    cases = {"stay": "stay", "up/grade": "up/grade", "plan: pro": "plan_ pro",
             "über": "_ber", "a//b": "a__b", "../x": ".._x", "x/": "x_", "": "_",
             "7": "7", "a-b.c d": "a-b.c d"}
    for label, expected in cases.items():
        assert metric_safe(label) == expected
        _validate_metric_name(f"recall_{metric_safe(label)}")


def test_confusion_matrix_and_macro_f1_from_it() -> None:
    y, proba = _data(seed=2)
    pred = proba.argmax(axis=1)
    cm = confusion_matrix(y, pred, 4)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y, pred, labels=range(4)))
    assert macro_f1_from_confusion(cm) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    stack = np.stack([cm, cm.T])
    np.testing.assert_allclose(macro_f1_from_confusion(stack),
                               [macro_f1_from_confusion(cm), macro_f1_from_confusion(cm.T)])


def test_bad_input_is_refused() -> None:
    y, proba = _data(n=10)
    with pytest.raises(ValueError, match="0..3"):
        multiclass_metrics(np.full(10, 4), proba, CLASSES)
    with pytest.raises(ValueError, match="columns"):
        multiclass_metrics(y, proba, CLASSES[:3])
    with pytest.raises(ValueError, match="collide"):
        multiclass_metrics(y, proba, ("a:b", "a/b", "a_b", "c"))
    with pytest.raises(ValueError, match="finite"):
        multiclass_metrics(y, np.where(proba > 0.5, np.nan, proba), CLASSES)
    with pytest.raises(ValueError, match="integers"):
        multiclass_metrics(y + 0.5, proba, CLASSES)
    with pytest.raises(ValueError, match="zero rows"):
        multiclass_metrics(y[:0], proba[:0], CLASSES)
