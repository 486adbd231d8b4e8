"""Training without I/O: split, fit the candidates, pick the best, compute test metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from pipelines.config import TrainingSettings
from pipelines.data.schema import FeatureSchema, binary_target
from pipelines.errors import DataError
from pipelines.retraining.candidates import FittedCandidate, fit_candidate, positive_scores
from pipelines.stats.classification import classification_metrics

logger = logging.getLogger(__name__)


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


def split_frame(frame: pd.DataFrame, schema: FeatureSchema, training: TrainingSettings,
                source: str) -> Split:
    """Stratified train / validation / test split."""
    y = binary_target(frame, schema.target, source)
    minority = int(min(np.bincount(y)))
    if minority < 10:
        raise DataError(
            f"{source}: only {minority} row(s) of the minority class; at least 10 are needed "
            "to split into train, validation and test."
        )
    rest, test = train_test_split(frame, test_size=training.test_size, stratify=y,
                                  random_state=training.random_state)
    y_rest = rest[schema.target].to_numpy()
    val_share = training.validation_size / (1.0 - training.test_size)
    train, val = train_test_split(rest, test_size=val_share, stratify=y_rest,
                                  random_state=training.random_state)
    return Split(train=train, validation=val, test=test)


def fit_and_select(train: pd.DataFrame, validation: pd.DataFrame, schema: FeatureSchema,
                   training: TrainingSettings, names: Sequence[str] | None = None,
                   weight_column: str | None = None) -> list[FittedCandidate]:
    """Fit each candidate on ``train``; record validation ROC-AUC; best first.

    With ``weight_column`` the rows are weighted in training and in the validation ROC-AUC
    (model selection judges what the weights say matters: recent data)."""
    y_train = train[schema.target].to_numpy().astype(np.int8)
    y_val = validation[schema.target].to_numpy().astype(np.int8)
    w_train = train[weight_column].to_numpy() if weight_column else None
    w_val = validation[weight_column].to_numpy() if weight_column else None
    fitted = []
    for name in names or training.candidates:
        cand = fit_candidate(name, train, y_train, schema, training, sample_weight=w_train)
        val_scores = positive_scores(cand.estimator, cand.flavor, validation, schema)
        cand.metrics["val_roc_auc"] = float(roc_auc_score(y_val, val_scores,
                                                          sample_weight=w_val))
        logger.info("Candidate %s: validation ROC-AUC %.4f", name, cand.metrics["val_roc_auc"])
        fitted.append(cand)
    return sorted(fitted, key=lambda c: -c.metrics["val_roc_auc"])


def train_baseline_models(frame: pd.DataFrame, schema: FeatureSchema,
                          training: TrainingSettings, source: str) -> TrainingOutcome:
    split = split_frame(frame, schema, training, source)
    candidates = fit_and_select(split.train, split.validation, schema, training)
    best = candidates[0]
    y_test = split.test[schema.target].to_numpy().astype(np.int8)
    scores = positive_scores(best.estimator, best.flavor, split.test, schema)
    metrics = classification_metrics(y_test, scores, training.decision_threshold)
    return TrainingOutcome(best=best, candidates=candidates, split=split,
                           test_metrics=metrics, test_scores=scores)
