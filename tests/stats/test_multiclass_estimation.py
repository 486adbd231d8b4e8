"""The one-vs-rest calibrated multiclass estimate: its error against realized accuracy, macro
F1 and ROC-AUC with labels drawn from known probabilities (an overconfident model calibrated
on a reference, stable and shifted batches), its bands, the calibration's round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.stats.multiclass import multiclass_metrics
from pipelines.stats.multiclass_estimation import (
    MulticlassCalibration,
    estimate_multiclass,
    expected_confusion_matrix,
    fit_multiclass_calibration,
)

CLASSES = ("stay", "downgrade", "upgrade", "cancel")


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _batch(n: int, seed: int, shifted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the true class probabilities; the model's probabilities are
    overconfident (logits 1.5 times too large). The shift moves the rows towards classes 2
    and 3 (P(y | x) unchanged: the same map from logits to both)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, 2)) + (np.array([0.5, -0.7]) if shifted else 0.0)
    logits = np.column_stack([np.zeros(n), x[:, 0], -x[:, 0] - 0.3, x[:, 1] + 0.2 * x[:, 0]])
    truth = _softmax(logits)
    y = (rng.random(n)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
    return np.minimum(y, 3), _softmax(1.5 * logits)


@pytest.fixture(scope="module")
def calibration() -> MulticlassCalibration:
    y, proba = _batch(10_000, seed=1)
    return fit_multiclass_calibration(proba, y, seed=0)


@pytest.mark.parametrize("shifted", [False, True], ids=["stable", "covariate_shift"])
def test_estimate_is_within_a_point_of_the_realized_accuracy(calibration, shifted) -> None:
    errors: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "roc_auc": []}
    raw_errors = []
    identity = MulticlassCalibration.identity(4)
    for i in range(10):
        y, proba = _batch(5000, seed=100 + i, shifted=shifted)
        realized = multiclass_metrics(y, proba, CLASSES)
        estimate = estimate_multiclass(proba, calibration)
        for m in errors:
            errors[m].append(abs(estimate[m].value - realized[m]))
        raw_errors.append(abs(estimate_multiclass(proba, identity)["accuracy"].value
                              - realized["accuracy"]))
    assert np.mean(errors["accuracy"]) <= 0.01, errors["accuracy"]
    assert np.mean(errors["macro_f1"]) <= 0.015, errors["macro_f1"]
    assert np.mean(errors["roc_auc"]) <= 0.015, errors["roc_auc"]
    assert np.mean(raw_errors) > 2 * np.mean(errors["accuracy"])  # calibrating mattered


def test_bands_hold_the_realized_values_about_95_percent_of_the_time() -> None:
    """Calibrated probabilities, labels redrawn 200 times: the realized accuracy and macro F1
    fall in their bands in close to 95 % of the draws, and their mean is the estimate."""
    rng = np.random.default_rng(5)
    proba = _softmax(rng.normal(0.0, 1.2, (2000, 4)))
    estimate = estimate_multiclass(proba, MulticlassCalibration.identity(4))
    realized: dict[str, list[float]] = {"accuracy": [], "macro_f1": [], "roc_auc": []}
    cumulative = np.cumsum(proba, axis=1)
    for _ in range(200):
        y = np.minimum((rng.random(2000)[:, None] > cumulative).sum(axis=1), 3)
        values = multiclass_metrics(y, proba, CLASSES)
        for m in realized:
            realized[m].append(values[m])
    for m in ("accuracy", "macro_f1"):
        inside = np.mean([estimate[m].lower <= v <= estimate[m].upper for v in realized[m]])
        assert 0.88 <= inside <= 0.995, (m, inside)
        assert estimate[m].value == pytest.approx(np.mean(realized[m]), abs=0.003), m
    assert estimate["roc_auc"].value == pytest.approx(np.mean(realized["roc_auc"]), abs=0.003)
    half_width = (estimate["roc_auc"].upper - estimate["roc_auc"].lower) / 2
    assert half_width == pytest.approx(1.96 * np.std(realized["roc_auc"]), rel=0.5)


def test_calibration_rows_sum_to_one_and_round_trip_through_json(calibration) -> None:
    _, proba = _batch(500, seed=7)
    calibrated = calibration.apply(proba)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert calibration.kept
    assert calibration.method == "dirichlet"
    restored = MulticlassCalibration.from_dict(
        json.loads(json.dumps(calibration.to_dict(), allow_nan=False)))
    np.testing.assert_array_equal(restored.apply(proba), calibrated)
    assert estimate_multiclass(proba, restored) == estimate_multiclass(proba, calibration)
    with pytest.raises(ValueError, match="format"):
        MulticlassCalibration.from_dict({"format": 0, "calibrations": []})
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        calibration.apply(proba[:, :3])


def test_expected_confusion_matrix(calibration) -> None:
    _, proba = _batch(800, seed=8)
    cm = expected_confusion_matrix(proba, calibration)
    assert cm.sum() == pytest.approx(800)
    np.testing.assert_allclose(cm.sum(axis=0), np.bincount(proba.argmax(axis=1), minlength=4))
    accuracy = estimate_multiclass(proba, calibration)["accuracy"].value
    assert np.trace(cm) / 800 == pytest.approx(accuracy)


def test_degenerate_input() -> None:
    identity = MulticlassCalibration.identity(3)
    empty = estimate_multiclass(np.empty((0, 3)), identity)
    assert all(np.isnan(e.value) for e in empty.values())
    proba = np.array([[0.2, 0.5, 0.3], [np.nan, 0.5, 0.5], [0.6, 0.2, 0.2]])
    estimate = estimate_multiclass(proba, identity)  # the NaN row left out
    assert estimate["accuracy"].value == pytest.approx(0.55)
    small = fit_multiclass_calibration(proba[[0, 2]], np.array([1, 0]))
    assert not small.kept  # too few rows to calibrate


def test_one_vs_rest_method_and_a_class_missing_from_the_reference() -> None:
    y, proba = _batch(4000, seed=3)
    ovr = fit_multiclass_calibration(proba, y, method="ovr")
    assert ovr.method == "ovr"
    assert all(c.kept for c in ovr.calibrations)  # Platt for every class
    restored = MulticlassCalibration.from_dict(json.loads(json.dumps(ovr.to_dict())))
    np.testing.assert_array_equal(restored.apply(proba), ovr.apply(proba))
    keep = y != 3
    fallback = fit_multiclass_calibration(proba[keep], y[keep])
    assert fallback.method == "ovr"  # dirichlet has no coefficients for an unseen class
    assert not fallback.calibrations[3].kept
    np.testing.assert_allclose(fallback.apply(proba).sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="method"):
        fit_multiclass_calibration(proba, y, method="isotonic")


def test_a_calibrated_model_is_left_as_it_is() -> None:
    """Probabilities that are already calibrated: the map stays close to the identity."""
    rng = np.random.default_rng(4)
    proba = _softmax(rng.normal(0.0, 1.0, (5000, 3)))
    y = np.minimum((rng.random(5000)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1), 2)
    calibration = fit_multiclass_calibration(proba, y)
    assert np.abs(calibration.apply(proba) - proba).mean() < 0.02
