"""Reading a batch in bounded chunks (the chunked engine): sizes, order, formats, bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.chunks import files_digest, iter_chunks
from pipelines.data.generator import generate_batch
from pipelines.data.inbox import file_digest
from pipelines.errors import DataError


@pytest.fixture
def frame() -> pd.DataFrame:
    return generate_batch("no_drift", 5_000, seed=3)


@pytest.mark.parametrize("kind", ["parquet", "csv", "folder"])
def test_chunks_are_bounded_and_cover_every_row_in_order(kind: str, frame: pd.DataFrame,
                                                         tmp_path: Path) -> None:
    if kind == "parquet":
        path = tmp_path / "b.parquet"
        frame.to_parquet(path, row_group_size=2_100)
    elif kind == "csv":
        path = tmp_path / "b.csv"
        frame.to_csv(path, index=False)
    else:
        path = tmp_path / "parts"
        path.mkdir()
        frame.iloc[:3_000].to_parquet(path / "part-0.parquet")
        frame.iloc[3_000:].to_parquet(path / "part-1.parquet")
        (path / "_SUCCESS").write_text("")
    chunks = list(iter_chunks(path, 1_000))
    assert all(0 < len(c) <= 1_000 for c in chunks)
    joined = pd.concat(chunks, ignore_index=True)
    assert joined["customer_id"].tolist() == frame["customer_id"].tolist()
    assert joined["contract"].tolist() == frame["contract"].tolist()


def test_digest_of_a_file_is_the_inbox_digest(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    assert files_digest(path) == file_digest(path)


def test_bad_files_are_refused_by_name(tmp_path: Path) -> None:
    empty, corrupt, text = tmp_path / "e.parquet", tmp_path / "c.parquet", tmp_path / "t.txt"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"not parquet at all")
    text.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="empty"):
        list(iter_chunks(empty, 100))
    with pytest.raises(DataError, match="c.parquet could not be read as Parquet"):
        list(iter_chunks(corrupt, 100))
    with pytest.raises(DataError, match="unsupported type"):
        list(iter_chunks(text, 100))
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no Parquet files"):
        list(iter_chunks(tmp_path / "none", 100))
