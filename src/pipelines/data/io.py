"""Files: tables (CSV or Parquet) read with errors that name the file and the problem, and the
one atomic write and one JSON sanitiser everything else uses."""

from __future__ import annotations

import csv
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
from pipelines.redact import redact_value

logger = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def shown(name: object) -> str:
    """A file name or path as it goes into a log line or a message: as it is when printable,
    else escaped like ``repr`` (quoted, ``\\n`` for a newline), so a newline or a control
    character in a name can neither split a log line nor forge one."""
    text = str(name)
    return text if text.isprintable() else repr(text)


#: Significant digits of a number in text a person reads (tags, descriptions); metrics keep
#: full precision.
READABLE_DIGITS = 4


def readable(value: float | None, digits: int = READABLE_DIGITS) -> str:
    """``value`` with ``digits`` significant digits for a tag or a description a person reads
    (``0.5764028335564481`` -> ``0.5764``, ``1.5780397995207514e-41`` -> ``1.578e-41``);
    ``n/a`` for None or NaN. Metrics keep the full value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}g}"


def one_line(text: object) -> str:
    """``text`` (a message that may quote a file name) with line breaks and other control
    characters escaped (``\\n``), the rest as it is: it stays one log line."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)


def read_table(path: str | Path, *, parse_dates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file into a frame.

    Raises :class:`DataError` when the file is missing, empty, of an unknown type, cannot be
    parsed, or holds no rows.
    """
    path = Path(path)
    p = shown(path)  # in messages and log lines
    if not path.exists():
        raise DataError(f"Data file {p} does not exist.")
    if not path.is_file():
        raise DataError(f"Data path {p} is not a file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"Data file {p} has unsupported type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise DataError(f"Data file {p} is empty (0 bytes).")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
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
    if suffix == ".csv":
        _refuse_cut_row(path, frame)
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


def _last_line(path: Path) -> bytes | None:
    """The file's last line when it does not end with a line end (None when it does)."""
    with path.open("rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        window = 1 << 16
        while True:
            start = max(0, size - window)
            fh.seek(start)
            tail = fh.read()
            if tail.endswith((b"\n", b"\r")):
                return None
            if b"\n" in tail or start == 0:
                return tail.rsplit(b"\n", 1)[-1]
            window *= 4


def _refuse_cut_row(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a CSV cut in the middle of a row: no line end after its last line, that line
    holds fewer fields than the header, and pandas filled the missing ones with NaN.

    Refused, not flagged: a cut file is an unfinished copy; monitored as it is, its rows would
    count twice once the whole file arrives (another content, another digest). A complete last
    row without a final line end is fine; a quote left open at the end pandas refuses itself."""
    line = _last_line(path)
    if line is None:
        return
    fields = len(next(csv.reader([line.decode("utf-8", errors="replace")]), []))
    width = frame.shape[1]
    if fields >= width or not frame.iloc[-1, max(fields, 1):].isna().all():
        return  # complete, or the last physical line ends a quoted field begun above
    raise DataError(
        f"Data file {shown(path)} ends in the middle of a row: its last line (line "
        f"{len(frame) + 1}) has {fields} of {width} fields and no line end. The file looks cut "
        "off (read while it was still being copied or written?); send it whole (write it "
        "elsewhere and move it into the inbox when complete).")


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
    """``data`` as indented strict JSON (see :func:`to_jsonable`), secrets masked in its
    strings (:func:`pipelines.redact.redact_value`: never over the JSON text, which a key
    such as ``device_token`` would break): every JSON report is written from this."""
    return json.dumps(redact_value(to_jsonable(data)), indent=2, allow_nan=False)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a frame as CSV or Parquet by the file's suffix, atomically, creating folders."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return atomic_write(p, lambda tmp: frame.to_csv(tmp, index=False))
    if suffix in (".parquet", ".pq"):
        return atomic_write(p, lambda tmp: frame.to_parquet(tmp, index=False))
    raise DataError(f"Cannot write {p}: unsupported type {suffix!r}; use .csv or .parquet.")
