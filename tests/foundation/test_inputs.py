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


def _users_frame(n: int = 120) -> pd.DataFrame:
    """A user's file with the churn defaults not matching: its own id and time columns,
    integer-coded categories as read from CSV, a real integer count."""
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "id": np.arange(n),
        "account_uuid": [f"u{i}" for i in range(n)],
        "timestamp": pd.date_range("2026-01-01", periods=n, freq="h").astype(str),
        "created_at": np.arange(n) * 1000,
        "signup": pd.date_range("2025-01-01", periods=n, freq="D"),
        "plan_code": rng.integers(1, 25, n),        # 24 codes, named like a code
        "region": rng.integers(1, 13, n),           # 12 codes
        "tenure": rng.integers(0, 120, n),          # a count with many values
        "spend": rng.normal(50, 10, n),
        "churned": np.arange(n) % 2,
    })


def test_ids_and_timestamps_are_never_inferred_features(caplog) -> None:
    data = DataSettings(target="churned")  # churn defaults: customer_id, event_timestamp
    with caplog.at_level("INFO", logger="pipelines.data.schema"):
        s = infer_schema(_users_frame(), data, "u.csv")
    for column in ("id", "account_uuid", "timestamp", "created_at", "signup"):
        assert column not in s.features
    warning = next(r.getMessage() for r in caplog.records
                   if r.levelname == "WARNING" and "not used as features" in r.getMessage())
    for part in ("id (named like an id)", "account_uuid (named like an id)",
                 "timestamp (named like a timestamp)", "created_at (named like a timestamp)",
                 "signup (date-time values"):
        assert part in warning
    listed = infer_schema(_users_frame(), data.model_copy(update={
        "numeric_features": ("spend", "created_at")}), "u.csv")
    assert listed.numeric == ("spend", "created_at")  # listed: a feature after all


def test_integer_codes_are_categorical_with_the_reason_logged(caplog) -> None:
    data = DataSettings(target="churned")
    with caplog.at_level("INFO", logger="pipelines.data.schema"):
        s = infer_schema(_users_frame(), data, "u.csv")
    assert s.categorical == ("plan_code", "region")
    assert s.numeric == ("tenure", "spend")
    assert s.categories["region"] == tuple(sorted(str(v) for v in range(1, 13)))
    lines = {r.getMessage() for r in caplog.records}
    assert ("u.csv: feature region is categorical: integer (int64) with 12 distinct values <= "
            "data.max_categorical_integers = 20") in lines
    assert "u.csv: feature plan_code is categorical: integer codes (int64, named like a code)" \
        in lines
    assert any(m.startswith("u.csv: feature tenure is numeric: integer (int64) with")
               for m in lines)
    assert "u.csv: feature spend is numeric: numeric (float64)" in lines
    strict = infer_schema(_users_frame(), data.model_copy(update={
        "max_categorical_integers": 0}), "u.csv")
    assert strict.categorical == ("plan_code",)  # named like a code: still categorical
    assert strict.numeric == ("region", "tenure", "spend")


def test_integer_codes_read_from_csv_are_categorical(tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    _users_frame().to_csv(path, index=False)
    s = infer_schema(read_table(path), DataSettings(target="churned"), str(path))
    assert "region" in s.categorical


def test_the_demo_features_infer_as_before() -> None:
    from pipelines.data.generator import CATEGORY_LEVELS, generate_reference

    frame = generate_reference(2000, seed=1)
    s = infer_schema(frame, DataSettings(), "demo")
    assert set(s.categorical) == set(CATEGORY_LEVELS)
    assert len(s.numeric) == 16
    assert "customer_id" not in s.features
    assert "event_timestamp" not in s.features


def test_integer_codes_with_a_missing_value_keep_their_categories(tmp_path: Path) -> None:
    """A batch whose integer-coded column has one empty cell arrives from CSV as floats
    (1.0, NaN): its codes must still match the training categories "1".."12", for the model's
    input (prepare_features) and for the drift statistics, not read as unseen values."""
    from pipelines.data.schema import prepare_features
    from pipelines.stats import chi2_test, fit_categorical_reference

    reference = _users_frame()
    schema = infer_schema(reference, DataSettings(target="churned"), "u.csv")
    batch = reference.copy()
    batch["region"] = batch["region"].astype("float64")
    batch.loc[0, "region"] = np.nan
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    read = read_table(path)
    assert read["region"].dtype == np.float64
    features = prepare_features(read, schema)
    assert int(features["region"].isna().sum()) == 1  # only the empty cell
    assert features["region"].iloc[1:].astype(str).tolist() == \
        reference["region"].iloc[1:].astype(str).tolist()
    ref = fit_categorical_reference("region", reference["region"].to_numpy())
    result = chi2_test(ref, read["region"].to_numpy())
    assert result.pvalue > 0.5
