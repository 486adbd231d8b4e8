"""Labels that arrive after the batch was monitored: cleaned, counted, joined by id. Pure.

A labels file holds (id, label[, label time]) rows. Nothing is dropped without being
counted: rows whose label is not 0/1 refuse the file (a clear error), the same id twice
with the same label counts as a duplicate (kept once), the same id with different labels
counts as a conflict (kept for none: the truth is unknown), ids no stored batch knows are
counted and listed by the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.errors import DataError, SchemaError

_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


@dataclass(frozen=True)
class LabelSet:
    """One label per id (conflicts removed), and what was found on the way."""

    labels: pd.Series  # index: id (str), values: 0/1 (int8)
    n_rows: int
    duplicates: int
    conflicting_ids: tuple[str, ...]


def clean_labels(frame: pd.DataFrame, id_column: str, label_column: str,
                 source: str) -> LabelSet:
    """Check and de-duplicate a labels table. Raises :class:`SchemaError` when a column is
    missing and :class:`DataError` when a label is not 0/1 (naming up to five bad values)."""
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
    text = frame[label_column].astype("string").str.strip().str.lower()
    label = pd.Series(np.where(text.isin(_TRUE), 1, np.where(text.isin(_FALSE), 0, -1)),
                      index=frame.index)
    bad = frame.loc[label.eq(-1), label_column]
    if len(bad):
        shown = ", ".join(repr(v) for v in pd.unique(bad.astype(object))[:5])
        raise DataError(f"{source}: {len(bad)} label(s) are not 0/1 (e.g. {shown}).")
    table = pd.DataFrame({"id": ids.to_numpy(dtype=object), "label": label.to_numpy()})
    distinct = table.drop_duplicates()
    duplicates = len(table) - len(distinct)
    per_id = distinct.groupby("id")["label"].nunique()
    conflicting = tuple(sorted(per_id.index[per_id > 1]))
    kept = distinct[~distinct["id"].isin(conflicting)].set_index("id")["label"]
    return LabelSet(kept.astype(np.int8), len(table), duplicates, conflicting)


def join_labels(ids: pd.Series, labels: LabelSet) -> np.ndarray:
    """Labels aligned with ``ids`` (a stored batch's id column): 0/1, NaN where none came."""
    return labels.labels.reindex(ids.astype("string").to_numpy(dtype=object)).to_numpy(
        dtype=np.float64)


def labels_digest(ids: pd.Series, joined: np.ndarray) -> str:
    """A fingerprint of the labels a batch received: the same file twice changes nothing."""
    known = np.isfinite(joined)
    h = hashlib.sha256()
    h.update("\n".join(ids.astype("string").to_numpy(dtype=object)[known]).encode())
    h.update(joined[known].astype(np.int8).tobytes())
    return h.hexdigest()[:32]
