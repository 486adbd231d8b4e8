"""Training without I/O: split, fit the candidates, pick the best, compute test metrics.

Per problem type (:mod:`pipelines.problems`): classification splits are stratified on the
class (binary 0/1, multiclass class index), regression splits are not; candidates are ranked
by the validation primary metric (ROC-AUC, macro F1: higher first; RMSE: lower first), recorded
as ``val_<metric>``; test metrics are
:func:`pipelines.stats.evaluation.performance_metrics`'s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from pipelines.config import TrainingSettings
from pipelines.data.schema import FeatureSchema, target_array
from pipelines.errors import DataError
from pipelines.problems import problem
from pipelines.retraining.candidates import FittedCandidate, fit_candidate, model_outputs
from pipelines.stats.evaluation import performance_metrics

logger = logging.getLogger(__name__)

#: Fewest rows per class (classification) or in all (regression) to split three ways.
MIN_CLASS_ROWS = 10
MIN_REGRESSION_ROWS = 30


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


@dataclass
class TrainingOutcome:
    best: FittedCandidate
    candidates: list[FittedCandidate]
    split: Split
    test_metrics: dict[str, float]
    test_scores: np.ndarray
    """The best model's outputs on the test rows (per type, see
    :func:`~pipelines.retraining.candidates.model_outputs`)."""


def check_splittable(y: np.ndarray, schema: FeatureSchema, source: str) -> None:
    """A :class:`DataError` when ``y`` (as :func:`target_array` reads it) has too few rows of
    some class (classification) or too few rows (regression) for train, validation and test."""
    if schema.problem_type == "regression":
        if len(y) < MIN_REGRESSION_ROWS:
            raise DataError(
                f"{source}: only {len(y)} row(s); at least {MIN_REGRESSION_ROWS} are needed to "
                "split into train, validation and test.")
        return
    if schema.problem_type == "multiclass":
        counts = np.bincount(y, minlength=len(schema.classes))
        few = [(label, int(n)) for label, n in zip(schema.classes, counts, strict=True)
               if n < MIN_CLASS_ROWS]
        if few:
            raise DataError(
                f"{source}: too few rows of class(es) "
                + ", ".join(f"{label!r} ({n})" for label, n in few)
                + f"; at least {MIN_CLASS_ROWS} of each class are needed to split into train, "
                "validation and test.")
        return
    minority = int(min(np.bincount(y)))
    if minority < MIN_CLASS_ROWS:
        raise DataError(
            f"{source}: only {minority} row(s) of the minority class; at least 10 are needed "
            "to split into train, validation and test."
        )


def split_frame(frame: pd.DataFrame, schema: FeatureSchema, training: TrainingSettings,
                source: str) -> Split:
    """Train / validation / test split: stratified on the class for classification, plain
    for regression."""
    y = target_array(frame, schema, source)
    check_splittable(y, schema, source)
    classify = problem(schema.problem_type).classifier
    rest, test, y_rest, _ = train_test_split(frame, y, test_size=training.test_size,
                                             stratify=y if classify else None,
                                             random_state=training.random_state)
    val_share = training.validation_size / (1.0 - training.test_size)
    train, val = train_test_split(rest, test_size=val_share,
                                  stratify=y_rest if classify else None,
                                  random_state=training.random_state)
    return Split(train=train, validation=val, test=test)


def validation_metric(schema: FeatureSchema, y: np.ndarray, outputs: np.ndarray,
                      sample_weight: np.ndarray | None = None) -> float:
    """The primary metric of ``outputs`` against ``y`` for the schema's type, rows weighted by
    ``sample_weight``: ROC-AUC (binary), macro F1 of the most probable class (multiclass) or
    RMSE (regression)."""
    if schema.problem_type == "regression":
        err = (np.asarray(y, dtype=np.float64) - np.asarray(outputs, dtype=np.float64)) ** 2
        return float(math.sqrt(np.average(err, weights=sample_weight)))
    if schema.problem_type == "multiclass":
        return float(f1_score(y, np.argmax(outputs, axis=1), average="macro",
                              sample_weight=sample_weight, zero_division=0))
    return float(roc_auc_score(y, outputs, sample_weight=sample_weight))


def fit_and_select(train: pd.DataFrame, validation: pd.DataFrame, schema: FeatureSchema,
                   training: TrainingSettings, names: Sequence[str] | None = None,
                   weight_column: str | None = None) -> list[FittedCandidate]:
    """Fit each candidate on ``train``; record the validation primary metric as
    ``val_<metric>`` (``val_roc_auc``, ``val_macro_f1``, ``val_rmse``); best first.

    With ``weight_column`` the rows are weighted in training and in the validation metric
    (model selection judges what the weights say matters: recent data)."""
    kind = problem(schema.problem_type)
    key = f"val_{kind.primary_metric}"
    y_train = target_array(train, schema, "training rows")
    y_val = target_array(validation, schema, "validation rows")
    w_train = train[weight_column].to_numpy() if weight_column else None
    w_val = validation[weight_column].to_numpy() if weight_column else None
    fitted = []
    for name in names or training.candidates:
        cand = fit_candidate(name, train, y_train, schema, training, sample_weight=w_train)
        val_outputs = model_outputs(cand.estimator, cand.flavor, validation, schema)
        cand.metrics[key] = validation_metric(schema, y_val, val_outputs, w_val)
        logger.info("Candidate %s: validation %s %.4f", name, kind.label, cand.metrics[key])
        fitted.append(cand)
    sign = -1.0 if kind.higher_is_better else 1.0
    return sorted(fitted, key=lambda c: sign * c.metrics[key])


def train_baseline_models(frame: pd.DataFrame, schema: FeatureSchema,
                          training: TrainingSettings, source: str) -> TrainingOutcome:
    split = split_frame(frame, schema, training, source)
    candidates = fit_and_select(split.train, split.validation, schema, training)
    best = candidates[0]
    y_test = target_array(split.test, schema, "test rows")
    outputs = model_outputs(best.estimator, best.flavor, split.test, schema)
    metrics = performance_metrics(schema.problem_type, y_test, outputs, classes=schema.classes,
                                  threshold=training.decision_threshold)
    return TrainingOutcome(best=best, candidates=candidates, split=split,
                           test_metrics=metrics, test_scores=outputs)
