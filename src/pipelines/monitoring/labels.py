"""Labels that arrive after the batch was monitored: cleaned, counted, joined by id. Pure.

A labels file holds (id, label[, label time]) rows. Labels are read as the model's problem
type: 0/1 (binary), finite numbers (regression) or class labels the model knows
(multiclass, compared as text). Nothing is dropped without being counted: rows whose label is
not valid for the type refuse the file (a clear error naming them), the same id twice with
the same label counts as a duplicate (kept once), the same id with different labels counts as
a conflict (kept for none: the truth is unknown), ids no stored batch knows are counted and
listed by the caller.

Joined labels are float64 arrays, NaN where none came: 0/1 (binary), the value
(regression), the class's index into :attr:`LabelSet.classes` (multiclass);
:meth:`LabelSet.values` turns them back into the labels as a batch would carry them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.data.schema import multiclass_target
from pipelines.errors import DataError, SchemaError

_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


@dataclass(frozen=True)
class LabelSet:
    """One label per id (conflicts removed), and what was found on the way."""

    labels: pd.Series
    """Index: id (str); values: 0/1 int8 (binary), float64 (regression), the class index
    int64 into :attr:`classes` (multiclass)."""
    n_rows: int
    duplicates: int
    conflicting_ids: tuple[str, ...]
    problem_type: str = "binary"
    classes: tuple[str, ...] = ()

    def values(self, joined: np.ndarray) -> np.ndarray:
        """Joined labels (no NaN) as a batch carries them: 0/1 int8, float64 values or the
        class labels as text."""
        if self.problem_type == "multiclass":
            return np.asarray(self.classes, dtype=object)[joined.astype(np.int64)]
        if self.problem_type == "regression":
            return joined.astype(np.float64)
        return joined.astype(np.int8)


def clean_labels(frame: pd.DataFrame, id_column: str, label_column: str, source: str, *,
                 problem_type: str = "binary", classes: tuple[str, ...] = ()) -> LabelSet:
    """Check and de-duplicate a labels table read as ``problem_type`` (multiclass: against the
    model's ``classes``). Raises :class:`SchemaError` when a column is missing and
    :class:`DataError` when a label is not valid for the type (naming up to five bad
    values; multiclass: the labels the model was not trained on, and the ones it knows)."""
    missing = [c for c in (id_column, label_column) if c not in frame.columns]
    if missing:
        raise SchemaError(f"{source}: labels need the columns {id_column!r} (id) and "
                          f"{label_column!r} (label); missing: {', '.join(missing)}. "
                          f"Columns found: {', '.join(map(str, frame.columns))}.")
    if frame.empty:
        raise DataError(f"{source}: the labels file has no rows.")
    ids = frame[id_column].astype("string")
    if ids.isna().any():
        raise DataError(f"{source}: {int(ids.isna().sum())} row(s) have no id.")
    if problem_type == "regression":
        label = _numeric_labels(frame[label_column], label_column, source)
    elif problem_type == "multiclass":
        label = _class_labels(frame[label_column], label_column, classes, source)
    else:
        label = _binary_labels(frame[label_column], source)
    table = pd.DataFrame({"id": ids.to_numpy(dtype=object), "label": label.to_numpy()})
    distinct = table.drop_duplicates()
    duplicates = len(table) - len(distinct)
    per_id = distinct.groupby("id")["label"].nunique()
    conflicting = tuple(sorted(per_id.index[per_id > 1]))
    kept = distinct[~distinct["id"].isin(conflicting)].set_index("id")["label"]
    dtype = {"regression": np.float64, "multiclass": np.int64}.get(problem_type, np.int8)
    return LabelSet(kept.astype(dtype), len(table), duplicates, conflicting, problem_type,
                    tuple(classes))


def _binary_labels(column: pd.Series, source: str) -> pd.Series:
    text = column.astype("string").str.strip().str.lower()
    label = pd.Series(np.where(text.isin(_TRUE), 1, np.where(text.isin(_FALSE), 0, -1)),
                      index=column.index)
    bad = column[label.eq(-1)]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad.astype(object))[:5])
        raise DataError(f"{source}: {len(bad)} label(s) are not 0/1 (e.g. {shown}).")
    return label


def _numeric_labels(column: pd.Series, name: str, source: str) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = column[~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad.astype(object))[:5])
        raise DataError(f"{source}: {len(bad)} label(s) in {name!r} are not finite numbers "
                        f"(e.g. {shown}); a regression model's labels are its target's values.")
    return values


def _class_labels(column: pd.Series, name: str, classes: tuple[str, ...],
                  source: str) -> pd.Series:
    if column.isna().any():
        raise DataError(f"{source}: {int(column.isna().sum())} row(s) have no label in "
                        f"{name!r}.")
    # the model's own reading of a target: labels as text, unseen ones refused by name
    idx = multiclass_target(pd.DataFrame({name: column}), name, classes, source)
    return pd.Series(idx, index=column.index)


def join_labels(ids: pd.Series, labels: LabelSet) -> np.ndarray:
    """Labels aligned with ``ids`` (a stored batch's id column) as float64, NaN where none
    came (see the module's docstring for what the values are per type)."""
    return labels.labels.reindex(ids.astype("string").to_numpy(dtype=object)).to_numpy(
        dtype=np.float64)


def labels_digest(ids: pd.Series, joined: np.ndarray, kind: str = "binary") -> str:
    """A fingerprint of the labels a batch received: the same file twice changes nothing."""
    known = np.isfinite(joined)
    h = hashlib.sha256()
    h.update("\n".join(ids.astype("string").to_numpy(dtype=object)[known]).encode())
    values = joined[known]
    # binary as before (0/1 bytes); the other types by value (a class index, a number)
    h.update((values.astype(np.int8) if kind == "binary" else values).tobytes())
    return h.hexdigest()[:32]
