"""Reading tables: a CSV cut in the middle of a row is refused, naming the file and line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.io import read_table, readable
from pipelines.errors import DataError

HEADER = "tenure,monthly_charges,contract\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (HEADER + "1,20.5,monthly\n2,30.0", r"line 3\) has 2 of 3 fields"),
        (HEADER + "1,20.5,monthly\n2", r"line 3\) has 1 of 3 fields"),
    ],
)
def test_a_csv_cut_mid_row_is_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=r"cut\.csv ends in the middle of a row.*" + match):
        read_table(path)


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "1,20.5,monthly\n2,30.0,yearly",  # complete last row, no final newline
        HEADER + "1,20.5,monthly\n2,30.0,yearly\n",
        HEADER + "1,20.5,monthly\r\n2,30.0,yearly\r\n",
        HEADER + "1,20.5,monthly\n2,,",  # empty fields are fields: a complete row
        HEADER + '1,20.5,"multi\nline"\n2,30.0,"a, b"',
        HEADER + '1,20.5,monthly\n2,30.0,"multi\nline"',  # the last line ends a quoted field
    ],
)
def test_a_complete_csv_is_read_whatever_its_last_line_end(tmp_path: Path, text: str) -> None:
    path = tmp_path / "whole.csv"
    path.write_text(text)
    assert len(read_table(path)) == 2


def test_a_long_last_row_is_checked_whole(tmp_path: Path) -> None:
    """A last line longer than the tail first read (64 KiB) is found whole."""
    wide = pd.DataFrame({f"c{i}": ["x" * 50] for i in range(2000)})
    path = tmp_path / "wide.csv"
    text = wide.to_csv(index=False)
    path.write_text(text.rstrip("\n"))
    assert read_table(path).shape == (1, 2000)
    path.write_text(text[:-2000])
    with pytest.raises(DataError, match=r"has 1961 of 2000 fields"):
        read_table(path)


def test_names_are_escaped_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.csv"
    path.write_text("")
    with pytest.raises(DataError) as info:
        read_table(path)
    assert "\n" not in str(info.value)
    assert "a\\nb.csv" in str(info.value)


def test_readable_keeps_four_significant_digits() -> None:
    assert readable(0.5764028335564481) == "0.5764"
    assert readable(1.5780397995207514e-41) == "1.578e-41"
    assert readable(0.75) == "0.75"
    assert readable(float("nan")) == "n/a"
    assert readable(None) == "n/a"
    assert readable(0.123456, digits=3) == "0.123"
