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

from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, check_columns
from pipelines.errors import DataError


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
    categorical features as given, labels as int8 (None when the batch has none).

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
        converted arrays), labels if any, and the scores."""
        schema, frame = self.schema, self.frame
        out: dict[str, Any] = {}
        for column in (schema.id_column, schema.timestamp_column):
            if column and column in frame.columns:
                out[column] = frame[column]
        out.update({k: pd.Series(v, index=frame.index, copy=False)
                    for k, v in self.numeric.items()})
        out.update(self.categorical)  # as they came (Arrow strings stay Arrow strings)
        if self.labels is not None:
            out[schema.target] = pd.Series(self.labels, index=frame.index, copy=False)
        out[SCORE_COLUMN] = pd.Series(scores, index=frame.index, copy=False)
        return pd.DataFrame(out, copy=False)


def batch_labels(frame: pd.DataFrame, target: str, source: str) -> np.ndarray | None:
    """0/1 labels when the batch carries them (all rows), None when it carries none.

    A partly labelled batch is refused: ground truth either arrived for the batch or not.
    """
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
    labels = batch_labels(frame, schema.target, source)
    numeric = {name: _as_float64(frame[name]) for name in schema.numeric}
    categorical = {name: frame[name] for name in schema.categorical}
    return PreparedBatch(batch=batch, schema=schema, numeric=numeric, categorical=categorical,
                         labels=labels)
