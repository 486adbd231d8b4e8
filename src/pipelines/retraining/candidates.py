"""Candidate models and how to score with them: no MLflow, no files.

Two candidates, each a classifier or a regressor after the schema's problem type (binary and
multiclass: classifiers; regression: regressors):

* ``random_forest``: one scikit-learn ``Pipeline`` (median imputation for numeric columns,
  constant imputation + one-hot encoding with ``handle_unknown="ignore"`` for categorical
  columns, then ``RandomForestClassifier`` / ``RandomForestRegressor``). Its input is the
  frame from :func:`~pipelines.data.schema.categorical_as_str`.
* ``xgboost``: ``XGBClassifier`` / ``XGBRegressor`` with XGBoost's native categorical
  support, so it can be saved in XGBoost's own format (no pickle). Its preprocessing is
  :func:`~pipelines.data.schema.prepare_features` (column order, float64, categorical dtype
  over the training categories), driven by the schema stored with the model.

Multiclass candidates are trained on class indices into ``schema.classes`` (as
:func:`~pipelines.data.schema.target_array` reads the target), so both give probability
columns in the schema's class order.

:func:`model_outputs` gives a model's outputs per type: P(class 1) per row (binary,
:func:`positive_scores`, checked against ``classes_`` so a P(class 0) column can never be taken
by mistake), the predicted value (regression) or an (n, k) array of class probabilities in
``schema.classes`` order (multiclass; a class the model never saw gets probability 0).
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
from pipelines.errors import DataError

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
    """An unfitted estimator for candidate ``name`` (a classifier, or a regressor when
    ``schema.problem_type`` is regression) and the parameters worth logging."""
    # imported here: scoring (every monitored batch) imports this module, training alone needs these
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder
    from xgboost import XGBClassifier, XGBRegressor

    regression = schema.problem_type == "regression"

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
            ("model", (RandomForestRegressor if regression else RandomForestClassifier)(
                n_jobs=training.n_jobs, **params)),
        ])
        return estimator, {"model_type": "random_forest", **params}
    if name == "xgboost":
        params = {
            "n_estimators": training.xgb_n_estimators,
            "max_depth": training.xgb_max_depth,
            "learning_rate": training.xgb_learning_rate,
            "random_state": training.random_state,
        }
        if regression:
            estimator = XGBRegressor(tree_method="hist", enable_categorical=True,
                                     eval_metric="rmse", n_jobs=training.n_jobs, **params)
        else:
            estimator = XGBClassifier(
                tree_method="hist", enable_categorical=True,
                eval_metric="mlogloss" if schema.problem_type == "multiclass" else "logloss",
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
    """Fit candidate ``name`` on ``y`` (as :func:`~pipelines.data.schema.target_array` reads
    it: 0/1, class indices or values); ``sample_weight`` (one per row) weighs rows in the loss.

    A multiclass XGBoost model needs every class of the schema among the rows (it numbers its
    probability columns 0..k-1 from the labels it sees): a :class:`DataError` names the absent
    ones. The random forest pads absent classes with probability 0 when scoring."""
    estimator, params = build_estimator(name, schema, training)
    flavor = FLAVOR_OF[name]
    if schema.problem_type == "multiclass" and flavor == "xgboost":
        seen = set(np.unique(np.asarray(y)).tolist())
        absent = [label for i, label in enumerate(schema.classes) if i not in seen]
        if absent:
            raise DataError(
                f"the {len(y):,} training rows hold no row of class(es) "
                f"{', '.join(map(repr, absent))}; an XGBoost multiclass model needs every "
                f"class the model knows ({', '.join(map(repr, schema.classes))}). Train on "
                "data with every class, or use the random_forest candidate.")
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


def class_probabilities(estimator: Any, flavor: Flavor, frame: pd.DataFrame,
                        schema: FeatureSchema) -> np.ndarray:
    """An (n, k) float64 array of class probabilities, columns in ``schema.classes`` order.

    The model was trained on class indices: its ``classes_`` says which index each of its
    columns is; a class it never saw in training gets a column of zeros."""
    k = len(schema.classes)
    proba = np.asarray(estimator.predict_proba(model_input(frame, schema, flavor)),
                       dtype=np.float64)
    seen = [int(c) for c in getattr(estimator, "classes_", range(proba.shape[1]))]
    if len(seen) != proba.shape[1] or any(c < 0 or c >= k for c in seen):
        raise ValueError(f"model classes {seen} do not match the schema's {k} classes "
                         f"{list(schema.classes)}")
    if seen == list(range(k)):
        return proba
    out = np.zeros((proba.shape[0], k), dtype=np.float64)
    out[:, seen] = proba
    return out


def model_outputs(estimator: Any, flavor: Flavor, frame: pd.DataFrame,
                  schema: FeatureSchema) -> np.ndarray:
    """The model's outputs for each row of ``frame`` per ``schema.problem_type``: P(class 1)
    (binary, 1-D), the predicted value (regression, 1-D) or class probabilities (multiclass,
    (n, k) in ``schema.classes`` order). All float64."""
    if schema.problem_type == "regression":
        pred = estimator.predict(model_input(frame, schema, flavor))
        return np.asarray(pred, dtype=np.float64).reshape(-1)
    if schema.problem_type == "multiclass":
        return class_probabilities(estimator, flavor, frame, schema)
    return positive_scores(estimator, flavor, frame, schema)
