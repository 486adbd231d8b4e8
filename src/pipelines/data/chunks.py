"""A batch file read in chunks of bounded size: what the chunked engine counts.

Parquet (one file, or a folder of part files as Spark writes them) is read a record batch at
a time through Arrow; CSV through pandas' chunked reader. Every chunk is a pandas frame of at
most ``chunk_rows`` rows with the column types :func:`pipelines.data.io.read_table` gives, so
the per-chunk validation is the in-memory path's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from pipelines.data.io import SUPPORTED_SUFFIXES
from pipelines.errors import DataError

logger = logging.getLogger(__name__)


def _parquet_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".parquet",
                                                                                 ".pq")
                       and not p.name.startswith(("_", ".")))
        if not files:
            raise DataError(f"Folder {path} holds no Parquet files (*.parquet).")
        return files
    return [path]


def batch_files(path: str | Path) -> list[Path]:
    """The files a batch path stands for (a file, or a folder's Parquet part files), checked
    to exist, be of a known type and not be empty."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"Data file {p} does not exist.")
    if p.is_file() and p.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"Data file {p} has unsupported type {p.suffix or '(none)'!r}; "
                        f"expected one of {', '.join(SUPPORTED_SUFFIXES)}, or a folder of "
                        "Parquet files.")
    files = _parquet_files(p) if p.is_dir() or p.suffix.lower() != ".csv" else [p]
    for f in files:
        if f.stat().st_size == 0:
            raise DataError(f"Data file {f} is empty (0 bytes).")
    return files


def iter_chunks(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or Parquet file (or a folder of Parquet files) as frames of at most
    ``chunk_rows`` rows. Raises :class:`DataError` naming the file that cannot be read."""
    files = batch_files(path)
    for f in files:
        if f.suffix.lower() == ".csv":
            yield from _csv_chunks(f, chunk_rows)
        else:
            yield from _parquet_chunks(f, chunk_rows)


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(path, chunksize=chunk_rows)
        with reader:
            yield from reader
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"Data file {path} is empty: no columns to read.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"Data file {path} could not be read as CSV: {exc}") from exc


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"Data file {path} could not be read as Parquet: {exc}") from exc
    with handle:
        # one iterator per row group: a single iterator over the whole file keeps Arrow
        # buffers until it ends (measured: memory grew by the file's size over 50M rows)
        for group in range(handle.num_row_groups):
            batches = handle.iter_batches(batch_size=chunk_rows, row_groups=[group])
            while True:
                try:
                    record_batch = next(batches)
                except StopIteration:
                    break
                except (pa.ArrowException, OSError) as exc:
                    raise DataError(
                        f"Data file {path} could not be read as Parquet: {exc}") from exc
                yield record_batch.to_pandas()


def files_digest(path: str | Path) -> str:
    """SHA-256 of the batch's content (a file, or a folder's Parquet files in name order),
    read in 1 MiB blocks: what identifies a batch for exactly-once processing."""
    h = hashlib.sha256()
    for f in batch_files(path):
        with f.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
