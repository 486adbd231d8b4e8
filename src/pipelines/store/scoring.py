"""The champion's face to MLflow's generic interface: a pyfunc model whose ``predict`` returns
the model's outputs for a batch frame as read from CSV or Parquet: P(positive class) per row
(binary), the predicted value per row (regression), or a DataFrame with one float column per
class, named by the class label, in the schema's class order (multiclass).

Each candidate is saved in its native format (scikit-learn through skops, XGBoost as UBJSON)
as an artifact of a small :class:`PositiveClassScorer`; ``mlflow.pyfunc.load_model``,
``mlflow models serve`` and ``mlflow.pyfunc.spark_udf`` then all score with the same code the
monitor uses (:func:`pipelines.retraining.candidates.model_outputs`): the feature schema
stored with the model (its problem type and classes), categories compared as text, the column
of class 1 picked by the model's ``classes_``. The scorer class is imported from this package
when the model is loaded (it is logged as code, ``scorer_model.py``, not pickled), so the
serving environment needs the package installed (``pip install -e .`` or the project's wheel).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import Model

from pipelines.data.schema import FeatureSchema, check_columns
from pipelines.errors import TrackingError
from pipelines.retraining.candidates import Flavor, model_outputs

#: Names of the scorer's artifacts: the native model folder and the feature schema.
NATIVE_ARTIFACT = "native"
SCHEMA_ARTIFACT = "feature_schema"


def load_native(path: str | Path) -> tuple[Flavor, Any, dict[str, Any]]:
    """A natively saved model folder: its flavor, the estimator and the MLmodel flavors."""
    flavors = Model.load(str(Path(path) / "MLmodel")).flavors
    if "xgboost" in flavors:
        return "xgboost", mlflow.xgboost.load_model(str(path)), flavors
    if "sklearn" in flavors:
        return "sklearn", mlflow.sklearn.load_model(str(path)), flavors
    raise TrackingError(f"{path} holds flavors {sorted(flavors)}; expected sklearn or xgboost.")


# MLflow warns at class creation that predict has no type hints (they would become an input
# schema; the signature logged with each model is the schema), under its own "once" filter:
# record that warning here instead of printing it on every command.
with warnings.catch_warnings(record=True):

    class PositiveClassScorer(mlflow.pyfunc.PythonModel):
        """``predict(frame)`` -> the model's outputs: one float per row, P(positive class)
        (binary) or the prediction (regression), as a numpy array; multiclass: a DataFrame of
        class probabilities, one column per class named by its label. (The name is kept from
        the binary days: models logged earlier load this class by name.)"""

        def load_context(self, context: Any) -> None:
            self.flavor, self.estimator, self.native_flavors = load_native(
                context.artifacts[NATIVE_ARTIFACT])
            self.schema = FeatureSchema.from_json(
                Path(context.artifacts[SCHEMA_ARTIFACT]).read_text())

        def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
            # no type hints on purpose: MLflow reads them as an input schema (the signature
            # logged with the model is the schema)
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
                model_input)
            check_columns(frame, self.schema, "model input")
            outputs = model_outputs(self.estimator, self.flavor, frame, self.schema)
            return as_served(outputs, self.schema.problem_type, self.schema.classes)

    class ExternalScores(mlflow.pyfunc.PythonModel):
        """A model trained and served elsewhere, registered for monitoring: ``predict(frame)``
        returns the frame's own predictions (the column named in ``model_config``; multiclass:
        its ``<column>_<class>`` columns), checked per problem type (:func:`external_outputs`).
        Nothing is computed here; the champion alias, the registry story and the audit trail
        work as for a model trained by this tool."""

        def load_context(self, context: Any) -> None:
            config = context.model_config
            self.column = config["scores_column"]
            self.problem_type = config.get("problem_type") or "binary"  # older: binary
            self.classes = tuple(config.get("classes") or ())

        def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
                model_input)
            outputs = external_outputs(frame, self.column, self.problem_type, self.classes,
                                       "model input")
            return as_served(outputs, self.problem_type, self.classes)


def as_served(outputs: Any, problem_type: str, classes: Sequence[str]) -> Any:
    """Outputs as the pyfunc returns them: the array itself, or (multiclass) a DataFrame with
    one float column per class named by the class label."""
    if problem_type == "multiclass":
        return pd.DataFrame(outputs, columns=[str(c) for c in classes])
    return outputs


def external_scores(frame: pd.DataFrame, column: str, source: str) -> Any:
    """The score column of ``frame`` as floats in [0, 1], or a :class:`DataError` naming it."""
    import numpy as np

    from pipelines.errors import DataError

    if column not in frame.columns:
        raise DataError(f"{source}: the score column {column!r} is missing. This model is "
                        "scored elsewhere: each batch must carry its scores.")
    s = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64,
                                                               na_value=np.nan)
    bad = ~np.isfinite(s) | (s < 0) | (s > 1)
    if bad.any():
        raise DataError(f"{source}: score column {column!r} has {int(bad.sum())} value(s) "
                        "that are missing or outside [0, 1].")
    return s


#: Rows of a multiclass model's probabilities must sum to 1 within this.
PROBABILITY_SUM_TOLERANCE = 1e-3


def class_columns(column: str, classes: Sequence[str]) -> list[str]:
    """The probability columns of a multiclass model scored elsewhere: ``<column>_<class>``."""
    return [f"{column}_{c}" for c in classes]


def external_outputs(frame: pd.DataFrame, column: str, problem_type: str,
                     classes: Sequence[str], source: str) -> Any:
    """The outputs a model scored elsewhere left in ``frame``, per problem type, or a
    :class:`DataError` naming the columns at fault:

    * binary: the column ``column``, P(class 1) in [0, 1] (:func:`external_scores`);
    * regression: the column ``column``, finite numbers;
    * multiclass: one column per class, ``<column>_<class>`` in ``classes`` order, each in
      [0, 1], every row summing to 1 (within :data:`PROBABILITY_SUM_TOLERANCE`); an (n, k)
      float64 array.
    """
    import numpy as np

    from pipelines.errors import DataError

    if problem_type == "regression":
        if column not in frame.columns:
            raise DataError(f"{source}: the prediction column {column!r} is missing. This "
                            "model is scored elsewhere: each batch must carry its predictions.")
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64,
                                                              na_value=np.nan)
        bad = ~np.isfinite(values)
        if bad.any():
            text = int((pd.isna(pd.to_numeric(raw, errors="coerce")) & raw.notna()).sum())
            raise DataError(f"{source}: prediction column {column!r} has {int(bad.sum())} "
                            f"value(s) that are missing, infinite or not numbers ({text} "
                            "text); a regression model's predictions must be finite numbers.")
        return values
    if problem_type == "multiclass":
        columns = class_columns(column, classes)
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise DataError(
                f"{source}: probability column(s) missing: {', '.join(absent)}. A multiclass "
                f"model scored elsewhere carries one column per class, named "
                f"{column}_<class>: {', '.join(columns)}.")
        proba = np.column_stack([
            pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64,
                                                              na_value=np.nan)
            for c in columns]) if len(frame) else np.zeros((0, len(columns)))
        bad = ~np.isfinite(proba) | (proba < 0) | (proba > 1)
        if bad.any():
            named = [c for c, b in zip(columns, bad.any(axis=0), strict=True) if b]
            raise DataError(f"{source}: probability column(s) {', '.join(named)} hold "
                            f"{int(bad.sum())} value(s) that are missing or outside [0, 1].")
        off = np.abs(proba.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE
        if off.any():
            first = int(np.argmax(off))
            raise DataError(
                f"{source}: {int(off.sum())} row(s) of {', '.join(columns)} do not sum to 1 "
                f"(within {PROBABILITY_SUM_TOLERANCE:g}; row {first} sums to "
                f"{proba[first].sum():.4f}): they must be one probability per class, every "
                "class of the model present.")
        return proba
    return external_scores(frame, column, source)
