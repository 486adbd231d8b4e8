"""The champion's face to MLflow's generic interface: a pyfunc model whose ``predict`` returns
P(positive class) for a batch frame as read from CSV or Parquet.

Each candidate is saved in its native format (scikit-learn through skops, XGBoost as UBJSON)
as an artifact of a small :class:`PositiveClassScorer`; ``mlflow.pyfunc.load_model``,
``mlflow models serve`` and ``mlflow.pyfunc.spark_udf`` then all score with the same code the
monitor uses (:func:`pipelines.retraining.candidates.positive_scores`): the feature schema
stored with the model, categories compared as text, the column of class 1 picked by the
model's ``classes_``. The scorer class is imported from this package when the model is loaded
(it is logged as code, ``scorer_model.py``, not pickled), so the serving environment needs
the package installed (``pip install -e .`` or the project's wheel).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import Model

from pipelines.data.schema import FeatureSchema, check_columns
from pipelines.errors import TrackingError
from pipelines.retraining.candidates import Flavor, positive_scores

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
        """``predict(frame)`` -> one float per row, P(positive class), as a numpy array."""

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
            return positive_scores(self.estimator, self.flavor, frame, self.schema)

    class ExternalScores(mlflow.pyfunc.PythonModel):
        """A model trained and served elsewhere, registered for monitoring: ``predict(frame)``
        returns the frame's own score column (named in ``model_config``), checked to be a
        probability. Nothing is computed here; the champion alias, the registry story and the
        audit trail work as for a model trained by this tool."""

        def load_context(self, context: Any) -> None:
            self.column = context.model_config["scores_column"]

        def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
                model_input)
            return external_scores(frame, self.column, "model input")


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
