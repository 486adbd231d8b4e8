"""Reading and writing tables (CSV or Parquet) with errors that name the file and the problem."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from pipelines.errors import DataError

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path, *, parse_dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame.

    Raises :class:`DataError` when the file is missing, empty, of an unknown type, cannot be
    parsed, or holds no rows.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"Data file {p} does not exist.")
    if not p.is_file():
        raise DataError(f"Data path {p} is not a file.")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"Data file {p} has unsupported type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if p.stat().st_size == 0:
        raise DataError(f"Data file {p} is empty (0 bytes).")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(p)
        else:
            frame = pd.read_parquet(p)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"Data file {p} is empty: no columns to read.") from exc
    except Exception as exc:  # parsers raise many types; all mean "cannot read this file"
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise DataError(f"Data file {p} could not be read as {kind}: {exc}") from exc
    if frame.empty:
        columns = ", ".join(map(str, frame.columns))
        raise DataError(f"Data file {p} has no rows (columns: {columns}).")
    for column in parse_dates:
        if column in frame.columns and not pd.api.types.is_datetime64_any_dtype(frame[column]):
            try:
                frame[column] = pd.to_datetime(frame[column])
            except (ValueError, TypeError) as exc:
                raise DataError(
                    f"Data file {p}: column {column!r} is not a timestamp: {exc}"
                ) from exc
    logger.info("Read %d rows x %d columns from %s", len(frame), frame.shape[1], p)
    return frame


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet by the file's suffix, atomically, creating folders."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    elif suffix in (".parquet", ".pq"):
        frame.to_parquet(tmp, index=False)
    else:
        raise DataError(f"Cannot write {p}: unsupported type {suffix!r}; use .csv or .parquet.")
    tmp.replace(p)  # atomic: a reader never sees half a file
    return p
