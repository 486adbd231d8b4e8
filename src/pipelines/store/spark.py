"""A registered model as a Spark column: ``mlflow.pyfunc.spark_udf`` returning P(positive class).

The trap this avoids: ``spark_udf(..., result_type="double")`` on a model whose ``predict``
returns two columns (``predict_proba``: P(class 0), P(class 1)) silently keeps the *first*
column, P(class 0). Here the UDF returns every column as an array and the last element is
kept: the model's only column, or P(class 1) of a two-column binary classifier. A model that
predicts more than two columns per row is refused before any partition is scored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from pipelines.errors import TrackingError
from pipelines.store.client import Store

logger = logging.getLogger(__name__)


def output_width(model_uri: str, sample: pd.DataFrame) -> int:
    """Columns per row the model predicts on ``sample`` (1 or 2 for a binary classifier)."""
    out = mlflow.pyfunc.load_model(model_uri).predict(sample)
    shape = np.shape(out.to_numpy() if hasattr(out, "to_numpy") else np.asarray(out))
    return 1 if len(shape) == 1 else int(shape[1])


def positive_class_column(store: Store, spark: Any, model_uri: str, features: Sequence[str],
                          sample: pd.DataFrame) -> Any:
    """A Spark column with P(positive class) of ``model_uri`` on the ``features`` of each
    row. ``sample``: a few rows of the batch, predicted on the driver first to learn the
    model's output width (and to fail early, with the model's own error, if it cannot)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, DoubleType

    store.use()
    width = output_width(model_uri, sample)
    if width not in (1, 2):
        raise TrackingError(
            f"{model_uri} predicts {width} columns per row; a binary classifier's pyfunc must "
            "return P(positive class), or P(class 0) and P(class 1).")
    logger.info("scoring with spark_udf(%s): %s", model_uri,
                "one column, P(positive class)" if width == 1
                else "two columns, P(class 1) kept")
    udf = mlflow.pyfunc.spark_udf(spark, model_uri, result_type=ArrayType(DoubleType()),
                                  env_manager="local")
    # one struct argument: the model receives a frame with the features by name
    return F.element_at(udf(F.struct(*[F.col(f) for f in features])), -1)
