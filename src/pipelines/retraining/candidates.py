"""Candidate models and how to score with them: no MLflow, no files.

Two candidates:

* ``random_forest``: one scikit-learn ``Pipeline`` (median imputation for numeric columns,
  constant imputation + one-hot encoding with ``handle_unknown="ignore"`` for categorical
  columns, then ``RandomForestClassifier``). Its input is the frame from
  :func:`~pipelines.data.schema.categorical_as_str`.
* ``xgboost``: ``XGBClassifier`` with XGBoost's native categorical support, so it can be
  saved in XGBoost's own format (no pickle). Its preprocessing is
  :func:`~pipelines.data.schema.prepare_features` (column order, float64, categorical dtype
  over the training categories), driven by the schema stored with the model.

:func:`positive_scores` returns P(class 1) for either, checked against ``classes_`` so a
P(class 0) column can never be taken by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.config import TrainingSettings
from pipelines.data.schema import (
    MISSING_CATEGORY,
    FeatureSchema,
    categorical_as_str,
    prepare_features,
)

Flavor = Literal["sklearn", "xgboost"]
FLAVOR_OF: dict[str, Flavor] = {"random_forest": "sklearn", "xgboost": "xgboost"}


@dataclass
class FittedCandidate:
    """A trained candidate, the flavor it is logged with, and its hyper-parameters."""

    name: str
    estimator: Any
    params: dict[str, Any]
    flavor: Flavor
    metrics: dict[str, float] = field(default_factory=dict)


def build_estimator(name: str, schema: FeatureSchema,
                    training: TrainingSettings) -> tuple[Any, dict[str, Any]]:
    """An unfitted estimator for candidate ``name`` and the parameters worth logging."""
    # imported here: scoring (every monitored batch) imports this module, training alone needs these
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from xgboost import XGBClassifier

    if name == "random_forest":
        params: dict[str, Any] = {
            "n_estimators": training.rf_n_estimators,
            "max_depth": training.rf_max_depth,
            "min_samples_leaf": training.rf_min_samples_leaf,
            "random_state": training.random_state,
        }
        transformers: list[tuple[str, Any, list[str]]] = []
        if schema.numeric:
            transformers.append(
                ("num", SimpleImputer(strategy="median", keep_empty_features=True),
                 list(schema.numeric))
            )
        if schema.categorical:
            transformers.append((
                "cat",
                Pipeline([
                    ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]),
                list(schema.categorical),
            ))
        estimator = Pipeline([
            ("preprocess", ColumnTransformer(transformers)),
            ("model", RandomForestClassifier(n_jobs=training.n_jobs, **params)),
        ])
        return estimator, {"model_type": "random_forest", **params}
    if name == "xgboost":
        params = {
            "n_estimators": training.xgb_n_estimators,
            "max_depth": training.xgb_max_depth,
            "learning_rate": training.xgb_learning_rate,
            "random_state": training.random_state,
        }
        estimator = XGBClassifier(
            tree_method="hist", enable_categorical=True, eval_metric="logloss",
            n_jobs=training.n_jobs, **params,
        )
        return estimator, {"model_type": "xgboost", **params}
    raise ValueError(f"Unknown candidate {name!r}; expected one of {', '.join(FLAVOR_OF)}.")


def model_input(frame: pd.DataFrame, schema: FeatureSchema, flavor: Flavor) -> pd.DataFrame:
    """The frame a model of ``flavor`` expects, built from a frame with the schema's columns."""
    if flavor == "xgboost":
        return prepare_features(frame, schema)
    return categorical_as_str(frame, schema)


def fit_candidate(name: str, frame: pd.DataFrame, y: np.ndarray, schema: FeatureSchema,
                  training: TrainingSettings,
                  sample_weight: np.ndarray | None = None) -> FittedCandidate:
    """Fit candidate ``name``; ``sample_weight`` (one per row) weighs rows in the loss."""
    estimator, params = build_estimator(name, schema, training)
    flavor = FLAVOR_OF[name]
    weights: dict[str, Any] = {}
    if sample_weight is not None:  # the pipeline routes it to its final step by name
        weights = {"sample_weight" if flavor == "xgboost" else "model__sample_weight":
                   np.asarray(sample_weight, dtype=np.float64)}
    estimator.fit(model_input(frame, schema, flavor), y, **weights)
    return FittedCandidate(name=name, estimator=estimator, params=params, flavor=flavor)


def positive_scores(estimator: Any, flavor: Flavor, frame: pd.DataFrame,
                    schema: FeatureSchema) -> np.ndarray:
    """P(class 1) for each row of ``frame``."""
    classes = list(getattr(estimator, "classes_", [0, 1]))
    if 1 not in classes:
        raise ValueError(f"model classes {classes} do not include the positive class 1")
    proba = estimator.predict_proba(model_input(frame, schema, flavor))
    return np.asarray(proba[:, classes.index(1)], dtype=np.float64)
