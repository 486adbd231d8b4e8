"""Bad training input fails with a message naming the file and the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import DataSettings
from pipelines.data.io import read_table, write_table
from pipelines.data.schema import binary_target, check_columns, infer_schema
from pipelines.errors import DataError, SchemaError


def _frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)],
        "tenure": rng.integers(1, 70, n).astype(float),
        "plan": rng.choice(["a", "b"], n),
        "churn": np.arange(n) % 2,
    })


def test_read_table_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv does not exist"):
        read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        read_table(empty)
    header = tmp_path / "header.csv"
    header.write_text("a,b,churn\n")
    with pytest.raises(DataError, match=r"header\.csv has no rows"):
        read_table(header)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"this is not parquet at all")
    with pytest.raises(DataError, match=r"corrupt\.parquet could not be read as Parquet"):
        read_table(corrupt)
    txt = tmp_path / "data.xlsx"
    txt.write_text("x")
    with pytest.raises(DataError, match=r"unsupported type '\.xlsx'"):
        read_table(txt)
    semicolons = tmp_path / "eu.csv"
    semicolons.write_text("tenure;plan;churn\n1;a;0\n2;b;1\n")
    with pytest.raises(DataError, match=r"eu\.csv has one column .* looks semicolon-delimited"):
        read_table(semicolons)


def test_round_trip_csv_and_parquet(tmp_path: Path) -> None:
    df = _frame()
    for name in ("d.csv", "d.parquet"):
        back = read_table(write_table(df, tmp_path / name))
        pd.testing.assert_frame_equal(back, df, check_dtype=False)


def test_schema_is_inferred_and_categories_recorded() -> None:
    s = infer_schema(_frame(), DataSettings(timestamp_column=None), "f.csv")
    assert s.numeric == ("tenure",)
    assert s.categorical == ("plan",)
    assert s.categories["plan"] == ("a", "b")
    assert s.id_column == "customer_id"


@pytest.mark.parametrize(
    ("mutate", "data", "error", "match"),
    [
        (lambda d: d.drop(columns="churn"), {}, SchemaError,
         r"f\.csv: target column 'churn' not found"),
        (lambda d: d, {"numeric_features": ("tenure", "income")}, SchemaError,
         r"f\.csv: configured column\(s\) missing: income"),
        (lambda d: d.assign(tenure=["x"] * len(d)), {"numeric_features": ("tenure",)},
         SchemaError, r"numeric feature\(s\) hold non-numeric values: tenure"),
    ],
)
def test_schema_errors(mutate, data: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        infer_schema(mutate(_frame()), DataSettings(timestamp_column=None, **data), "f.csv")


@pytest.mark.parametrize(
    ("target", "match"),
    [
        ([0, 1, 2, 1], r"f\.csv: target 'churn' must be binary 0/1; found values 0, 1, 2"),
        (["yes", "no", "no", "yes"], r"must be binary 0/1"),
        ([1, 1, 1, 1], r"f\.csv: target 'churn' has one class only \(1\)"),
        ([0, 1, None, 1], r"f\.csv: target 'churn' has 1 missing value"),
    ],
)
def test_target_must_be_binary_with_two_classes(target: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        binary_target(pd.DataFrame({"churn": target}), "churn", "f.csv")


def test_check_columns_names_every_missing_column() -> None:
    s = infer_schema(_frame(), DataSettings(timestamp_column=None), "f.csv")
    with pytest.raises(SchemaError, match=r"b\.csv: required column\(s\) missing: tenure, plan"):
        check_columns(pd.DataFrame({"x": [1]}), s, "b.csv")
