"""Files: tables (CSV or Parquet) read with errors that name the file and the problem, and the
one atomic write and one JSON sanitiser everything else uses."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
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
    if suffix == ".csv" and frame.shape[1] == 1 and ";" in str(frame.columns[0]):
        raise DataError(
            f"Data file {p} has one column named {str(frame.columns[0])[:80]!r}: it looks "
            "semicolon-delimited; save it with commas as separators (this reads comma-"
            "separated CSV or Parquet).")
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


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``.

    The one way files are written here: a reader never sees half a file, a failed write
    leaves no partial file behind, and missing folders are created.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    unfinished = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        write(unfinished)
        os.replace(unfinished, target)
    finally:
        unfinished.unlink(missing_ok=True)
    return target


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def to_jsonable(value: Any) -> Any:
    """Strict-JSON data: NaN/inf become None, numpy scalars and arrays Python values, tuples
    and sets lists, dataclasses dicts, paths and datetimes strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)  # Path, datetime, Timestamp, ...


def json_text(data: Any) -> str:
    """``data`` as indented strict JSON (see :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet by the file's suffix, atomically, creating folders."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return atomic_write(p, lambda tmp: frame.to_csv(tmp, index=False))
    if suffix in (".parquet", ".pq"):
        return atomic_write(p, lambda tmp: frame.to_parquet(tmp, index=False))
    raise DataError(f"Cannot write {p}: unsupported type {suffix!r}; use .csv or .parquet.")
