"""Assembling, validating and splitting the retraining data (pure, tiny seeded frames)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.config import RetrainingSettings, TrainingSettings, load_settings
from pipelines.data.generator import NUMERIC_FEATURES, generate_batch, generate_reference
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, infer_schema
from pipelines.errors import ConfigError, RetrainingRefused
from pipelines.retraining import (
    ORIGIN_COLUMN,
    REFERENCE_ORIGIN,
    assemble_training_data,
    batches_newest_first,
    data_span,
    holdout_split,
    recency_weights,
    refresh_categories,
    train_validation_split,
    validate_training_data,
)

TS = "event_timestamp"


@pytest.fixture(params=[0, 1, 2])
def seed(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def schema() -> FeatureSchema:
    frame = generate_reference(500, seed=7)
    return infer_schema(frame, load_settings(env={}).data, "test")


def _reference(n: int, seed: int, schema: FeatureSchema) -> pd.DataFrame:
    """What ``load_reference`` returns: features, target and scores, no id or timestamp."""
    frame = generate_reference(n, seed=seed)
    out = frame.loc[:, [*schema.features, schema.target]]
    out[SCORE_COLUMN] = np.linspace(0, 1, n)
    return out


def _batch(n: int, seed: int, day: str, scenario: str = "no_drift") -> pd.DataFrame:
    return generate_batch(scenario, n, seed, start_time=pd.Timestamp(day))


# ----------------------------------------------------------------------------- assemble


def test_assemble_orders_reference_then_batches_by_time(schema: FeatureSchema,
                                                        seed: int) -> None:
    ref = _reference(200, seed, schema)
    late, early = _batch(100, seed + 10, "2026-03-05"), _batch(80, seed + 20, "2026-03-01")
    out = assemble_training_data(ref, [late, early], schema, batch_ids=["late", "early"])
    assert list(out.columns) == [*schema.features, schema.target, TS, ORIGIN_COLUMN]
    assert out[ORIGIN_COLUMN].tolist() == ["reference"] * 200 + ["early"] * 80 + ["late"] * 100
    assert out.index.tolist() == list(range(380))
    assert out.loc[out[ORIGIN_COLUMN] == REFERENCE_ORIGIN, TS].isna().all()
    prod_times = out.loc[out[ORIGIN_COLUMN] != REFERENCE_ORIGIN, TS]
    assert prod_times.is_monotonic_increasing
    assert "customer_id" not in out.columns
    assert SCORE_COLUMN not in out.columns


def test_assemble_takes_ids_from_mapping_or_attrs(schema: FeatureSchema) -> None:
    ref = _reference(50, 0, schema)
    b = _batch(30, 1, "2026-03-01")
    by_map = assemble_training_data(ref, {"b-1": b}, schema)
    assert set(by_map[ORIGIN_COLUMN]) == {"reference", "b-1"}
    b.attrs["batch_id"] = "from-attrs"
    assert set(assemble_training_data(ref, [b], schema)[ORIGIN_COLUMN]) == {"reference",
                                                                            "from-attrs"}
    with pytest.raises(ConfigError, match=r"1 batch id\(s\) for 2 batch\(es\)"):
        assemble_training_data(ref, [b, b], schema, batch_ids=["x"])


def test_assemble_drops_rows_that_could_leak(schema: FeatureSchema) -> None:
    """A batch monitored twice counts once; reference rows copied from a batch (a retrained
    champion's reference is its holdout) are dropped, so no record is in train and holdout."""
    batch = _batch(100, 3, "2026-03-01")
    ref = pd.concat([_reference(50, 4, schema),
                     batch.iloc[60:].loc[:, [*schema.features, schema.target]]
                     .astype({schema.target: "int8"})], ignore_index=True)
    out = assemble_training_data(ref, [batch, batch.copy()], schema, batch_ids=["a", "a2"])
    assert (out[ORIGIN_COLUMN] == REFERENCE_ORIGIN).sum() == 50
    assert (out[ORIGIN_COLUMN] != REFERENCE_ORIGIN).sum() == 100
    kept = assemble_training_data(ref, [batch, batch], schema, batch_ids=["a", "a2"],
                                  drop_duplicates=False)
    assert len(kept) == 290


# ----------------------------------------------------------------------------- validate


def _valid_frame(schema: FeatureSchema, n: int = 600) -> pd.DataFrame:
    return assemble_training_data(_reference(n, 5, schema), [], schema)


def test_valid_frame_has_no_problems(schema: FeatureSchema) -> None:
    assert validate_training_data(_valid_frame(schema), schema, RetrainingSettings()) == []


@pytest.mark.parametrize(
    ("mutate", "settings", "expected"),
    [
        (lambda f: f.drop(columns=["tenure_months", "region"]), {},
         [r"required column\(s\) missing: tenure_months, region"]),
        (lambda f: f.assign(churn=0), {}, [r"target 'churn' has one class only \(0\) in 600"]),
        (lambda f: f.assign(churn=np.where(np.arange(len(f)) % 2, 1, 2)), {},
         [r"target 'churn' must be 0/1; found 1, 2"]),
        (lambda f: f.assign(churn=f["churn"].where(np.arange(len(f)) > 9)), {},
         [r"target 'churn' is missing in 10 of 600"]),
        (lambda f: f, {"min_rows": 1000},
         [r"only 600 labelled row\(s\); at least 1000 are needed"]),
        (lambda f: f.assign(age=f["age"].where(np.arange(len(f)) % 2 == 0)),
         {"max_missing_share": 0.3}, [r"feature 'age' is missing in 50\.0% of rows"]),
        (lambda f: f.assign(contract=None, age=np.nan).iloc[:100], {},
         [r"only 100 labelled row", r"feature 'age' is missing in 100\.0%",
          r"feature 'contract' is missing in 100\.0%"]),
    ],
    ids=["missing-columns", "one-class", "not-binary", "missing-target", "too-few-rows",
         "too-many-nans", "several"],
)
def test_validation_problems(schema: FeatureSchema, mutate, settings: dict,
                             expected: list[str]) -> None:
    problems = validate_training_data(mutate(_valid_frame(schema)), schema,
                                      RetrainingSettings(**settings))
    assert len(problems) == len(expected), problems
    for pattern in expected:
        assert any(pd.Series(problems).str.contains(pattern, regex=True)), (pattern, problems)


def test_missing_share_at_limit_is_accepted(schema: FeatureSchema) -> None:
    frame = _valid_frame(schema, 600)
    frame.loc[:179, "age"] = np.nan  # exactly 30%
    assert validate_training_data(frame, schema, RetrainingSettings(max_missing_share=0.3)) == []


# ----------------------------------------------------------------------------- holdout


def _assembled(schema: FeatureSchema, seed: int) -> pd.DataFrame:
    batches = [_batch(150, seed + 30, "2026-03-10"), _batch(100, seed + 40, "2026-03-02"),
               _batch(120, seed + 50, "2026-03-06")]
    return assemble_training_data(_reference(300, seed, schema), batches, schema,
                                  batch_ids=["b10", "b02", "b06"])


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5])
def test_holdout_is_the_most_recent_rows_of_the_newest_batch(schema: FeatureSchema, seed: int,
                                                             fraction: float) -> None:
    frame = _assembled(schema, seed)
    # shuffle rows: the split must use the timestamps, not the order
    frame = frame.sample(frac=1.0, random_state=seed)
    train, holdout = holdout_split(frame, schema, fraction)
    assert len(holdout) == math.ceil(fraction * 150)  # b10 (2026-03-10) is the newest batch
    assert set(holdout[ORIGIN_COLUMN]) == {"b10"}
    assert set(train.index).isdisjoint(holdout.index)
    assert sorted([*train.index, *holdout.index]) == sorted(frame.index)
    rest_of_b10 = train[train[ORIGIN_COLUMN] == "b10"]
    assert len(rest_of_b10) == 150 - len(holdout)  # the rest of the batch trains
    assert holdout[TS].min() >= rest_of_b10[TS].max()


def test_holdout_can_span_the_newest_batches(schema: FeatureSchema) -> None:
    frame = _assembled(schema, 3)
    assert batches_newest_first(frame, TS) == ["b10", "b06", "b02"]
    train, holdout = holdout_split(frame, schema, 0.5, batches=2)
    assert len(holdout) == math.ceil(0.5 * (150 + 120))
    assert set(holdout[ORIGIN_COLUMN]) <= {"b10", "b06"}
    assert "b02" not in set(holdout[ORIGIN_COLUMN])
    with pytest.raises(ConfigError, match=r"'batches' parameter of holdout_split .* Got 0"):
        holdout_split(frame, schema, 0.5, batches=0)


def test_holdout_without_timestamps_uses_order(schema: FeatureSchema) -> None:
    frame = _assembled(schema, 0).drop(columns=[TS])  # assembled in time order: b02, b06, b10
    assert batches_newest_first(frame, None) == ["b10", "b06", "b02"]
    train, holdout = holdout_split(frame, schema, 0.2)
    assert holdout.index.tolist() == list(range(len(frame) - 30, len(frame)))  # ceil(0.2*150)
    assert set(train.index).isdisjoint(holdout.index)


def test_holdout_without_production_rows_uses_latest_reference(schema: FeatureSchema) -> None:
    frame = assemble_training_data(_reference(400, 1, schema), [], schema)
    train, holdout = holdout_split(frame, schema, 0.25)
    assert holdout.index.tolist() == list(range(300, 400))
    assert train.index.tolist() == list(range(300))


def test_holdout_with_one_class_is_refused(schema: FeatureSchema) -> None:
    frame = _assembled(schema, 0)
    newest = frame[ORIGIN_COLUMN] == "b10"
    frame.loc[newest, schema.target] = 0
    with pytest.raises(RetrainingRefused, match=r"holdout .* holds one class only \(\[0\]\)"):
        holdout_split(frame, schema, 0.3)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, math.nan, "0.3", True])
def test_holdout_fraction_is_checked(schema: FeatureSchema, fraction: object) -> None:
    with pytest.raises(ConfigError, match=r"'fraction' parameter of holdout_split .* Got"):
        holdout_split(_assembled(schema, 0), schema, fraction)  # type: ignore[arg-type]


def test_train_validation_split_is_stratified(schema: FeatureSchema) -> None:
    frame = _valid_frame(schema, 1000)
    train, val = train_validation_split(frame, schema, TrainingSettings(validation_size=0.2))
    assert len(val) == 200
    assert set(train.index).isdisjoint(val.index)
    assert val[schema.target].mean() == pytest.approx(frame[schema.target].mean(), abs=0.01)
    frame[schema.target] = 0
    frame.loc[frame.index[0], schema.target] = 1
    with pytest.raises(RetrainingRefused, match=r"1 row\(s\) of class 1"):
        train_validation_split(frame, schema, TrainingSettings())


def test_refresh_categories_adds_new_values(schema: FeatureSchema) -> None:
    frame = _valid_frame(schema, 50).assign(contract="weekly")
    refreshed = refresh_categories(schema, frame)
    assert "weekly" in refreshed.categories["contract"]
    assert set(schema.categories["contract"]) <= set(refreshed.categories["contract"])
    assert refreshed.features == schema.features
    assert NUMERIC_FEATURES[0] in refreshed.numeric


@pytest.mark.parametrize(
    ("half_life", "expected"),  # ages: b10 0, b06 1, b02 2, reference 3
    [
        (1.0, {"b10": 1.0, "b06": 0.5, "b02": 0.25, "reference": 0.125}),
        (0.5, {"b10": 1.0, "b06": 0.25, "b02": 0.0625, "reference": 0.015625}),
        (0.0, {"b10": 1.0, "b06": 0.0, "b02": 0.0, "reference": 0.0}),
        (math.inf, {"b10": 1.0, "b06": 1.0, "b02": 1.0, "reference": 1.0}),
    ],
)
def test_recency_weights_halve_per_batch_of_age(schema: FeatureSchema, half_life: float,
                                                expected: dict[str, float]) -> None:
    frame = _assembled(schema, 0)
    weights = recency_weights(frame, TS, half_life)
    by_origin = pd.Series(weights).groupby(frame[ORIGIN_COLUMN].to_numpy()).agg(["min", "max"])
    assert by_origin["min"].to_dict() == pytest.approx(expected)
    assert by_origin["max"].to_dict() == pytest.approx(expected)


# ----------------------------------------------------------------------------- provenance


def test_data_span_names_the_batches_and_the_time_window(schema: FeatureSchema) -> None:
    ref = _reference(100, 1, schema)
    out = assemble_training_data(ref, [_batch(50, 2, "2026-03-01"), _batch(40, 3, "2026-03-02")],
                                 schema, batch_ids=["b0004@aaaa1111", "b0005@bbbb2222"])
    _rest, holdout = holdout_split(out, schema, 0.5)
    span = data_span(holdout, TS)
    assert span.sources() == "b0005"  # the run suffix only where two batches share a name
    assert span.start is not None
    assert span.end is not None
    assert span.start.date() == span.end.date() == pd.Timestamp("2026-03-02").date()
    assert span.text().startswith("20 rows from b0005, 2026-03-02 ")
    assert span.text().endswith("(data timestamps)")
    whole = data_span(out, TS)
    assert whole.sources() == "champion's reference + b0004, b0005"
    shuffled = data_span(out.sample(frac=1.0, random_state=0), TS)
    assert shuffled.sources() == "champion's reference + b0004, b0005"  # in time order
    assert whole.start.date() == pd.Timestamp("2026-03-01").date()  # reference has no time


def test_data_span_without_timestamps_uses_the_monitoring_times(schema: FeatureSchema) -> None:
    ref = _reference(60, 1, schema)
    batches = [_batch(30, 2, "2026-03-01").drop(columns=[TS]),
               _batch(30, 3, "2026-03-02").drop(columns=[TS])]
    out = assemble_training_data(ref, batches, schema, batch_ids=["b1@r1", "b1@r2"])
    times = {"b1@r1": pd.Timestamp("2026-04-01 10:00", tz="UTC"),
             "b1@r2": pd.Timestamp("2026-04-02 11:30", tz="UTC")}
    span = data_span(out, TS, times)
    assert span.sources() == "champion's reference + b1@r1, b1@r2"  # same name: suffixed
    assert span.window() == ("2026-04-01 10:00 to 2026-04-02 11:30 "
                             "(batches' monitoring times)")
    assert data_span(out, TS).window() == "time unknown"


# ----------------------------------------------------------------------------- problem types


def _typed(problem_type: str, n: int, seed: int) -> tuple[FeatureSchema, pd.DataFrame]:
    """A tiny regression (target ``charges``) or multiclass (target ``plan``) frame and its
    schema, as the champion's schema would hold it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    frame = pd.DataFrame({"x": x, "segment": rng.choice(["a", "b"], n),
                          TS: pd.date_range("2026-03-01", periods=n, freq="min")})
    if problem_type == "regression":
        frame["charges"] = 50 + 10 * x + rng.normal(0, 1, n)
        target, classes = "charges", ()
    else:
        frame["plan"] = np.array(["basic", "plus", "pro"])[rng.integers(0, 3, n)]
        target, classes = "plan", ("basic", "plus", "pro")
    schema = FeatureSchema(target=target, numeric=("x",), categorical=("segment",),
                           categories={"segment": ("a", "b")}, timestamp_column=TS,
                           problem_type=problem_type, classes=classes)
    return schema, frame


def _typed_assembled(problem_type: str, seed: int = 0) -> tuple[FeatureSchema, pd.DataFrame]:
    schema, ref = _typed(problem_type, 300, seed)
    _, b1 = _typed(problem_type, 120, seed + 1)
    _, b2 = _typed(problem_type, 150, seed + 2)
    b2[TS] = b2[TS] + pd.Timedelta(days=5)
    frame = assemble_training_data(ref.drop(columns=[TS]), [b1, b2], schema,
                                   batch_ids=["b01@aaaa1111", "b02@bbbb2222"])
    return schema, frame


@pytest.mark.parametrize("problem_type", ["regression", "multiclass"])
def test_valid_typed_frames_have_no_problems(problem_type: str) -> None:
    schema, frame = _typed_assembled(problem_type)
    assert validate_training_data(frame, schema, RetrainingSettings(min_rows=100)) == []


@pytest.mark.parametrize(("bad", "expected"), [
    ("twelve", r"batch b02 \(monitoring run bbbb2222\): target 'charges' must be numeric for "
               r"a regression model; 1 value\(s\) are not numbers, e.g. 'twelve'"),
    (math.inf, r"batch b02 \(monitoring run bbbb2222\): target 'charges' has 1 infinite "
               r"value\(s\)"),
    (None, r"batch b02 \(monitoring run bbbb2222\): target 'charges' has 1 missing value"),
])
def test_a_bad_regression_target_is_named_by_its_batch(bad: object, expected: str) -> None:
    schema, frame = _typed_assembled("regression")
    frame["charges"] = frame["charges"].astype(object)
    row = frame.index[frame[ORIGIN_COLUMN] == "b02@bbbb2222"][3]
    frame.loc[row, "charges"] = bad
    problems = validate_training_data(frame, schema, RetrainingSettings(min_rows=100))
    assert len(problems) == 1, problems
    assert pd.Series(problems).str.contains(expected, regex=True).all(), problems


def test_a_multiclass_label_the_champion_never_saw_is_named_by_its_batch() -> None:
    schema, frame = _typed_assembled("multiclass")
    first = frame.index[frame[ORIGIN_COLUMN] == "b01@aaaa1111"][:2]
    frame.loc[first, "plan"] = "enterprise"
    problems = validate_training_data(frame, schema, RetrainingSettings(min_rows=100))
    assert len(problems) == 1, problems
    assert problems[0].startswith("batch b01 (monitoring run aaaa1111): target 'plan' holds 2 "
                                  "row(s) with label(s) the model was not trained on: "
                                  "'enterprise'")


def test_multiclass_one_class_and_holdout_checks() -> None:
    schema, frame = _typed_assembled("multiclass")
    one = frame.assign(plan="basic")
    assert any("one class only" in p for p in
               validate_training_data(one, schema, RetrainingSettings(min_rows=100)))
    newest = frame[ORIGIN_COLUMN] == "b02@bbbb2222"
    frame.loc[newest, "plan"] = "pro"
    with pytest.raises(RetrainingRefused, match=r"holdout .* one class only \(\['pro'\]\); "
                                                r".* compared on macro F1"):
        holdout_split(frame, schema, 0.3)


def test_regression_holdout_needs_no_classes() -> None:
    schema, frame = _typed_assembled("regression")
    frame.loc[frame[ORIGIN_COLUMN] == "b02@bbbb2222", "charges"] = 42.0  # constant: still fine
    train, holdout = holdout_split(frame, schema, 0.3)
    assert len(holdout) == 45
    assert set(holdout[ORIGIN_COLUMN]) == {"b02@bbbb2222"}
    assert len(train) + len(holdout) == len(frame)


def test_typed_train_validation_splits() -> None:
    schema, frame = _typed("multiclass", 900, 3)
    train, val = train_validation_split(frame, schema, TrainingSettings(validation_size=0.2))
    assert len(val) == 180
    assert set(train.index).isdisjoint(val.index)
    shares = frame["plan"].value_counts(normalize=True)
    assert (val["plan"].value_counts(normalize=True) - shares).abs().max() < 0.01  # stratified
    frame.loc[frame.index[0], "plan"] = "solo"
    with pytest.raises(RetrainingRefused, match=r"1 row\(s\) of class 'solo'"):
        train_validation_split(frame, schema, TrainingSettings())
    schema, frame = _typed("regression", 500, 4)
    train, val = train_validation_split(frame, schema, TrainingSettings(validation_size=0.2))
    assert len(val) == 100
    assert set(train.index).isdisjoint(val.index)
    again, _ = train_validation_split(frame, schema, TrainingSettings(validation_size=0.2))
    assert again.index.equals(train.index)  # seeded
