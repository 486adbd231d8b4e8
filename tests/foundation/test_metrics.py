from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from pipelines.stats.classification import ALL_METRICS, classification_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_metrics_agree_with_scikit_learn(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.random(500)
    y = (rng.random(500) < scores).astype(int)
    pred = (scores >= threshold).astype(int)
    got = classification_metrics(y, scores, threshold)
    assert set(got) == set(ALL_METRICS)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert got["log_loss"] == pytest.approx(skm.log_loss(y, scores), abs=1e-12)
    assert got["brier"] == pytest.approx(skm.brier_score_loss(y, scores), abs=1e-12)
    assert got["positive_rate"] == pytest.approx(y.mean())


def test_one_class_and_no_predicted_positive() -> None:
    got = classification_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]))
    assert math.isnan(got["roc_auc"])
    assert got["precision"] == 0.0
    assert got["recall"] == 0.0
    assert got["f1"] == 0.0
    assert got["accuracy"] == 1.0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="equal length"):
        classification_metrics(np.array([0, 1]), np.array([0.5]))
    with pytest.raises(ValueError, match="zero rows"):
        classification_metrics(np.array([], dtype=int), np.array([]))
