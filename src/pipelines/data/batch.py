"""A production batch, validated and converted once into the typed columns every step uses.

:func:`prepare_batch` checks the batch against the model's schema (rows, required columns,
numeric dtypes, labels) and converts each numeric feature to one float64 array; scoring, drift,
quality, plots and the stored batch all read these, never the raw columns again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.schema import (
    SCORE_COLUMN,
    FeatureSchema,
    check_columns,
    multiclass_target,
    regression_target,
)
from pipelines.errors import DataError

#: Stored batch column of a regression model's predictions (binary keeps ``__score__``).
PREDICTION_COLUMN = "__prediction__"
#: Prefix of a multiclass model's stored probability columns: ``__proba__<class>``.
PROBA_PREFIX = "__proba__"


@dataclass(frozen=True)
class Batch:
    """A batch as it arrived: its rows, an id, where it came from and, for files, the content
    digest that makes processing it exactly-once."""

    frame: pd.DataFrame
    batch_id: str
    source: str
    digest: str | None = None
    file_name: str | None = None


@dataclass(frozen=True)
class PreparedBatch(Mapping[str, Any]):
    """The batch's typed columns: numeric features as float64 arrays (missing as NaN),
    categorical features as given, labels as the schema's problem type reads them (None when
    the batch has none): 0/1 int8 (binary), class indices int64 into ``schema.classes``
    (multiclass), float64 (regression).

    A read-only mapping from feature name to column, so drift statistics take it directly.
    """

    batch: Batch
    schema: FeatureSchema
    numeric: Mapping[str, np.ndarray]
    categorical: Mapping[str, pd.Series]
    labels: np.ndarray | None

    @property
    def frame(self) -> pd.DataFrame:
        return self.batch.frame

    @property
    def n_rows(self) -> int:
        return len(self.batch.frame)

    def __getitem__(self, name: str) -> Any:
        if name in self.numeric:
            return self.numeric[name]
        return self.categorical[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.numeric
        yield from self.categorical

    def __len__(self) -> int:
        return len(self.numeric) + len(self.categorical)

    def stored_frame(self, scores: np.ndarray) -> pd.DataFrame:
        """What a monitoring run keeps of the batch: ids, timestamp, features (numeric as the
        converted arrays), labels if any (multiclass: as the class labels, text), and the
        model's outputs (:func:`output_columns`; read back with :func:`stored_outputs`)."""
        schema, frame = self.schema, self.frame
        out: dict[str, Any] = {}
        for column in (schema.id_column, schema.timestamp_column):
            if column and column in frame.columns:
                out[column] = frame[column]
        out.update({k: pd.Series(v, index=frame.index, copy=False)
                    for k, v in self.numeric.items()})
        out.update(self.categorical)  # as they came (Arrow strings stay Arrow strings)
        if self.labels is not None:
            labels: Any = self.labels
            if schema.problem_type == "multiclass":
                labels = np.asarray(schema.classes, dtype=object)[self.labels]
            out[schema.target] = pd.Series(labels, index=frame.index, copy=False)
        out.update(outputs_columns(scores, schema, frame.index))
        return pd.DataFrame(out, copy=False)


def output_columns(schema: FeatureSchema) -> tuple[str, ...]:
    """The stored batch's columns of model outputs: ``__score__`` (binary, P(class 1)),
    ``__prediction__`` (regression), ``__proba__<class>`` per class in ``schema.classes``
    order (multiclass)."""
    if schema.problem_type == "regression":
        return (PREDICTION_COLUMN,)
    if schema.problem_type == "multiclass":
        return tuple(f"{PROBA_PREFIX}{c}" for c in schema.classes)
    return (SCORE_COLUMN,)


def outputs_columns(outputs: np.ndarray, schema: FeatureSchema,
                    index: pd.Index) -> dict[str, pd.Series]:
    """``outputs`` (1-D, or (n, k) for multiclass) as the stored columns of
    :func:`output_columns`."""
    names = output_columns(schema)
    values = np.asarray(outputs, dtype=np.float64)
    if values.ndim == 1:
        return {names[0]: pd.Series(values, index=index, copy=False)}
    if values.shape[1] != len(names):
        raise ValueError(f"{values.shape[1]} output columns for {len(names)} classes")
    return {name: pd.Series(values[:, i], index=index) for i, name in enumerate(names)}


def stored_outputs(frame: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """The model outputs a stored batch kept (:meth:`PreparedBatch.stored_frame`): 1-D for
    binary and regression, (n, k) in ``schema.classes`` order for multiclass."""
    names = list(output_columns(schema))
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(f"the stored batch lacks the output column(s) {', '.join(missing)}: "
                        f"it was not monitored by a {schema.problem_type} model with these "
                        "classes.")
    values = frame[names].to_numpy(dtype=np.float64)
    return values if schema.problem_type == "multiclass" else values[:, 0]


def batch_labels(frame: pd.DataFrame, schema: FeatureSchema, source: str) -> np.ndarray | None:
    """Labels when the batch carries them (all rows), as the schema's problem type reads them,
    None when it carries none. Binary: 0/1 (one class alone is allowed: the performance
    verdict says why it cannot judge); multiclass: class indices, labels the model does not
    know refused by name; regression: finite numbers.

    A partly labelled batch is refused: ground truth either arrived for the batch or not.
    """
    target = schema.target
    if target not in frame.columns:
        return None
    y = frame[target]
    missing = int(y.isna().sum())
    if missing == len(y):
        return None
    if missing:
        raise DataError(
            f"{source}: target {target!r} is missing in {missing} of {len(y)} rows; "
            "send a batch with labels for every row, or drop the column."
        )
    if schema.problem_type == "regression":
        return regression_target(frame, target, source)
    if schema.problem_type == "multiclass":
        return multiclass_target(frame, target, schema.classes, source)
    values = set(pd.unique(y).tolist())
    if not values <= {0, 1}:
        shown = ", ".join(map(repr, sorted(values, key=str)[:10]))
        raise DataError(f"{source}: target {target!r} must be 0/1; found {shown}.")
    return y.astype("int8").to_numpy()


def _as_float64(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 with missing values as NaN; no copy when it already is."""
    if column.dtype == np.float64:
        return column.to_numpy(copy=False)
    if not pd.api.types.is_numeric_dtype(column):  # all missing (else check_columns refused it)
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def prepare_batch(batch: Batch, schema: FeatureSchema) -> PreparedBatch:
    """Validate ``batch`` against ``schema`` and convert its columns once.

    Raises :class:`DataError` (no rows, bad labels) or :class:`SchemaError` (missing columns,
    numeric features holding text), each naming the batch's source.
    """
    frame, source = batch.frame, batch.source
    if frame.empty:
        raise DataError(f"{source}: the batch has no rows.")
    check_columns(frame, schema, source)
    labels = batch_labels(frame, schema, source)
    numeric = {name: _as_float64(frame[name]) for name in schema.numeric}
    categorical = {name: frame[name] for name in schema.categorical}
    return PreparedBatch(batch=batch, schema=schema, numeric=numeric, categorical=categorical,
                         labels=labels)
