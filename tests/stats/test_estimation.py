"""Performance estimated without labels: the expected confusion matrix and ROC-AUC, their
bands, the calibration that feeds them, the density-ratio weights (small arrays, fixed
seeds, labels drawn from known probabilities)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from pipelines.stats.estimation import (
    ESTIMATED_METRICS,
    density_ratio_weights,
    estimate_performance,
    expected_auc,
    fit_calibration,
)

REALIZED = {"roc_auc": lambda y, s: roc_auc_score(y, s),
            "accuracy": lambda y, s: accuracy_score(y, s >= 0.5),
            "precision": lambda y, s: precision_score(y, s >= 0.5),
            "recall": lambda y, s: recall_score(y, s >= 0.5),
            "f1": lambda y, s: f1_score(y, s >= 0.5)}


def _probabilities(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).beta(1.2, 3.0, n)


def test_expected_auc_orders_by_scores_and_weighs_by_probabilities() -> None:
    """Scores that rank well but say 0.5 everywhere the calibration knows better: the
    expectation follows the probabilities, the order follows the scores."""
    rng = np.random.default_rng(1)
    p = _probabilities(3000, 1)
    scores = np.round(p, 2) * 0.1 + 0.45  # same order (with ties), squeezed around 0.5
    simulated = [roc_auc_score(rng.random(p.size) < p, scores) for _ in range(200)]
    assert expected_auc(scores, p) == pytest.approx(np.mean(simulated), abs=0.003)
    assert expected_auc(scores, scores) < expected_auc(scores, p) - 0.1


@pytest.mark.slow
def test_the_band_holds_the_realized_value_about_95_percent_of_the_time() -> None:
    """Labels drawn from the probabilities the estimate assumes: the realized metric falls in
    the band in close to 95 % of 300 draws, for every metric."""
    p = _probabilities(4000, 2)
    estimate = estimate_performance(p, p, 0.5)
    rng = np.random.default_rng(3)
    inside = dict.fromkeys(ESTIMATED_METRICS, 0)
    realized = {m: [] for m in ESTIMATED_METRICS}
    for _ in range(300):
        y = rng.random(p.size) < p
        for m in ESTIMATED_METRICS:
            value = REALIZED[m](y, p)
            realized[m].append(value)
            inside[m] += estimate[m].lower <= value <= estimate[m].upper
    for m in ESTIMATED_METRICS:
        assert estimate[m].value == pytest.approx(np.mean(realized[m]), abs=0.004), m
        assert 0.90 <= inside[m] / 300 <= 0.99, (m, inside[m])


def test_calibration_is_kept_when_it_helps_and_corrects_the_estimate() -> None:
    rng = np.random.default_rng(4)
    p_ref = _probabilities(8000, 5)
    y_ref = rng.random(p_ref.size) < p_ref
    overconfident = p_ref ** 2  # the model's scores: monotone, badly calibrated
    calibration = fit_calibration(overconfident, y_ref)
    assert calibration.kept
    assert calibration.brier_calibrated < calibration.brier_raw
    p = _probabilities(5000, 6)
    scores = p ** 2
    y = rng.random(p.size) < p
    raw = estimate_performance(scores, scores, 0.5)
    fixed = estimate_performance(scores, calibration.apply(scores), 0.5)
    realized_accuracy = accuracy_score(y, scores >= 0.5)
    realized_auc = roc_auc_score(y, scores)
    assert abs(fixed["accuracy"].value - realized_accuracy) < 0.015
    assert abs(raw["accuracy"].value - realized_accuracy) > 0.05
    assert abs(fixed["roc_auc"].value - realized_auc) < 0.015


def test_calibrated_scores_are_left_nearly_as_they_are() -> None:
    rng = np.random.default_rng(7)
    p = _probabilities(3000, 8)
    calibration = fit_calibration(p, rng.random(p.size) < p)
    grid = np.linspace(0.02, 0.98, 49)
    assert np.abs(calibration.apply(grid) - grid).max() < 0.03  # Platt near the identity
    small = fit_calibration(p[:100], rng.random(100) < p[:100])
    assert not small.kept  # too few rows to calibrate anything
    np.testing.assert_array_equal(small.apply(p), p)
    assert not fit_calibration(p, np.ones(p.size)).kept  # one class


def test_a_slightly_overconfident_model_gets_platt_not_steps() -> None:
    """Overconfidence too small to move the Brier score still biases the expected ROC-AUC
    upwards; two parameters fix it without the noise of isotonic steps."""
    rng = np.random.default_rng(10)
    p_ref = _probabilities(8000, 11)
    logit = np.log(p_ref / (1 - p_ref))
    scores_ref = 1 / (1 + np.exp(-1.25 * logit))  # sharper than the truth
    calibration = fit_calibration(scores_ref, rng.random(p_ref.size) < p_ref)
    assert calibration.kept
    assert calibration.x.size == 2801  # the Platt grid, not isotonic steps
    p = _probabilities(20000, 12)
    scores = 1 / (1 + np.exp(-1.25 * np.log(p / (1 - p))))
    y = rng.random(p.size) < p
    realized = roc_auc_score(y, scores)
    raw = expected_auc(scores, scores)
    fixed = expected_auc(scores, calibration.apply(scores))
    assert abs(fixed - realized) < abs(raw - realized) - 0.005


def test_density_ratio_weights_follow_the_shift() -> None:
    rng = np.random.default_rng(9)
    reference = rng.normal(0, 1, (4000, 2))
    batch = rng.normal([1.0, 0.0], 1, (4000, 2))  # the first feature moved
    w = density_ratio_weights(reference, batch)
    assert w.mean() == pytest.approx(1.0)
    x = reference[:, 0]
    assert np.corrcoef(x, w)[0, 1] > 0.6  # rows like the batch's weigh more
    assert abs(np.corrcoef(reference[:, 1], w)[0, 1]) < 0.1  # the stable feature does not
    # weighted, the reference's mean of the moved feature approaches the batch's
    assert np.average(x, weights=w) == pytest.approx(batch[:, 0].mean(), abs=0.2)
