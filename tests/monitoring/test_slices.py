"""Slices on the pure level (:mod:`pipelines.monitoring.slices`): the parser, the slices of a
column, a slice whose labels degrade while the batch stays ok, no false alarm over 20 stable
batches of 5 slices, and the counted (chunked) path equal to the in-memory one. Synthetic
data with a known rule: the model's score is the true probability of churn."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.config import MonitoringSettings
from pipelines.data.batch import Batch, PreparedBatch, prepare_batch
from pipelines.data.schema import FeatureSchema
from pipelines.errors import ConfigError
from pipelines.monitoring import summary
from pipelines.monitoring.counts import CountsProfile
from pipelines.monitoring.engine import evaluate_batch, evaluate_counts
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import ReferenceContext, output_columns
from pipelines.monitoring.report import MonitoringReport, report_metrics
from pipelines.monitoring.slice_specs import SliceSpec, check_slices, parse_slice, parse_slices
from pipelines.monitoring.slices import (
    SliceSet,
    auc_standard_error,
    count_slices,
    evaluate_slices,
    evaluate_slices_from_counts,
    resolve_slices,
    slice_masks,
    with_slices,
)

SCHEMA = FeatureSchema(target="churn", numeric=("x1", "x2", "tenure"),
                       categorical=("plan",))
PLANS = np.array(["a", "b", "c", "d", "e"])
SHARES = (0.4, 0.25, 0.15, 0.12, 0.08)
POLICY = MonitoringPolicy.from_settings(MonitoringSettings(), 0.5, problem_type="binary")


def _rows(n: int, seed: int, degrade: str | None = None,
          shift: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` customers; the score is P(churn). ``degrade``: in that plan the labels no longer
    follow the score (concept drift of one segment); ``shift``: in that plan x1 and x2 move
    (a covariate shift of one segment)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "tenure": rng.integers(0, 72, n).astype(float),
                          "plan": rng.choice(PLANS, n, p=SHARES)})
    if shift is not None:
        moved = (frame["plan"] == shift).to_numpy()
        frame.loc[moved, ["x1", "x2"]] += 0.8
    score = (1 / (1 + np.exp(-(1.6 * frame.x1 - 1.2 * frame.x2 - 1.0)))).to_numpy()
    y = (rng.random(n) < score).astype(int)
    if degrade is not None:
        bad = (frame["plan"] == degrade).to_numpy()
        y[bad] = (rng.random(int(bad.sum())) < rng.permutation(score[bad])).astype(int)
    return frame.assign(churn=y), score


@pytest.fixture(scope="module")
def reference() -> tuple[ReferenceContext, pd.DataFrame]:
    frame, score = _rows(20_000, 0)
    ctx = ReferenceContext.fit(frame, SCHEMA, score, n_bins=10, decision_threshold=0.5)
    return ctx, frame.assign(**output_columns(SCHEMA, score))


@pytest.fixture(scope="module")
def slice_set(reference: tuple[ReferenceContext, pd.DataFrame]) -> SliceSet:
    ctx, stored = reference
    return SliceSet.fit(parse_slices(["plan", "tenure > 24"]), stored, ctx, max_values=10,
                        min_rows=200)


def _judge(ctx: ReferenceContext, slices: SliceSet, frame: pd.DataFrame,
           score: np.ndarray) -> tuple[MonitoringReport, PreparedBatch]:
    batch = prepare_batch(Batch(frame, "b", "test"), SCHEMA)
    whole = evaluate_batch(batch, score, ctx, POLICY)
    return with_slices(whole, evaluate_slices(batch, score, slices, POLICY, whole),
                       POLICY), batch


@pytest.mark.parametrize(("text", "expected"), [
    ("contract", SliceSpec("contract", "contract")),
    ("  tenure_months>24 ", SliceSpec("tenure_months > 24", "tenure_months", ">", 24.0)),
    ("x <= -1.5e2", SliceSpec("x <= -150", "x", "<=", -150.0)),
    ("plan == 'monthly'", SliceSpec("plan == 'monthly'", "plan", "==", "monthly")),
    ('plan != "two year"', SliceSpec("plan != 'two year'", "plan", "!=", "two year")),
])
def test_slice_specs_parse(text: str, expected: SliceSpec) -> None:
    assert parse_slice(text) == expected


@pytest.mark.parametrize(("text", "match"), [
    ("tenure > ", "neither a column name"),
    ("__import__('os').system('x') == 1", "neither a column name"),
    ("a > 1 or b < 2", "neither a column name"),
    ("plan = 'x'", "neither a column name"),
    ("plan in ('a', 'b')", "neither a column name"),
])
def test_slice_specs_refused(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_slice(text)


@pytest.mark.parametrize(("text", "match"), [
    ("contract_type", "column 'contract_type' is not a feature of the model"),
    ("tenure > 'long'", "'tenure' is numeric; compare it with a number"),
    ("plan > 'a'", "'plan' is categorical; use == or !="),
    ("plan == 3", "'plan' is categorical"),
])
def test_slice_columns_checked_against_the_schema(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_slices(parse_slices([text]), SCHEMA)


def test_config_refuses_a_bad_slice_at_start_up() -> None:
    with pytest.raises(ValueError, match="neither a column name"):
        MonitoringSettings(slices=("tenure >> 3",))
    with pytest.raises(ValueError, match="listed twice"):
        MonitoringSettings(slices=("plan", " plan"))
    assert MonitoringSettings(slices=("plan",)).max_slice_values == 10


def test_a_column_gives_its_most_frequent_values_and_pools_the_rest() -> None:
    frame = pd.DataFrame({"plan": ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + [None] * 2 + ["d"],
                          "x": [1.0, 2.0, 2.0, 3.0, np.nan, 1, 2, 3, 4, 5, 6, 7, 8]})
    slices = resolve_slices(parse_slices(["plan", "x >= 3"]), frame, max_values=2)
    assert [s.key for s in slices] == ["plan=a", "plan=b", "plan=other", "x >= 3"]
    masks = slice_masks(slices, frame)
    assert masks["plan=other"].sum() == 5  # c, c, missing, missing, d
    assert masks["plan=a"].sum() + masks["plan=b"].sum() + masks["plan=other"].sum() == 13
    assert masks["x >= 3"].tolist() == (frame["x"] >= 3).tolist()  # NaN in no slice
    # missing values are a value of their own when frequent enough
    keys = [s.key for s in resolve_slices(parse_slices(["plan"]), frame, max_values=3)]
    assert keys == ["plan=a", "plan=b", "plan=<missing>", "plan=other"]


def test_auc_standard_error_matches_hanley_mcneil() -> None:
    # A = 0.8, 50 + 50 cases: Q1 = 2/3, Q2 = 0.7111, SE^2 = (0.16 + 49 x 0.02667
    # + 49 x 0.07111) / 2500 = 0.001980 (by hand) -> SE 0.0445; more cases, a smaller SE
    assert auc_standard_error(0.8, 50, 50) == pytest.approx(0.0445, abs=1e-4)
    assert auc_standard_error(0.8, 500, 500) < 0.015
    assert np.isnan(auc_standard_error(0.8, 0, 50))


def test_the_degraded_slice_alerts_while_the_batch_stays_ok(
        reference: tuple[ReferenceContext, pd.DataFrame], slice_set: SliceSet) -> None:
    ctx, _ = reference
    frame, score = _rows(5_000, 1, degrade="d")
    whole = evaluate_batch(prepare_batch(Batch(frame, "b", "t"), SCHEMA), score, ctx, POLICY)
    assert whole.status == "ok"
    assert not whole.alerts
    report, _ = _judge(ctx, slice_set, frame, score)
    assert report.slices is not None
    assert report.slices.in_alert == ("plan=d",)
    (alert,) = [a for a in report.alerts if a.rule.startswith("slice")]
    assert alert.rule == "slice_performance"
    assert alert.severity == "critical"
    rows = int((frame["plan"] == "d").sum())
    assert f"on plan=d ({rows:,} rows) while 0.8" in alert.message
    assert alert.message.startswith("ROC-AUC 0.5")
    assert report.status == "critical"
    assert report.retraining_recommended
    assert alert.message in report.verdict.reasons
    assert summary.run_name(report, 7).endswith(" slice")  # the cause the run's name gives
    assert summary.headline({a.rule for a in report.alerts}, 0, 4) == "a slice degraded"
    table = {r["slice"]: r for r in report.slices.table()}
    assert table["plan=d"]["roc_auc"] < 0.6 < 0.8 < table["plan=d"]["estimated_roc_auc"]
    assert table["plan=a"]["status"] == "judged"
    assert table["plan=a"]["roc_auc"] > 0.8
    metrics = report_metrics(report)
    assert metrics["slice/plan_eq_d/roc_auc"] == table["plan=d"]["roc_auc"]
    assert metrics["slice/tenure_gt_24/rows"] == float((frame["tenure"] > 24).sum())
    assert metrics["slices_in_alert"] == 1.0
    assert report.to_dict()["slices"]["in_alert"] == ["plan=d"]
    # a slice below min_slice_rows is reported, not judged
    small = SliceSet.fit(parse_slices(["plan"]), reference[1], ctx, max_values=10,
                         min_rows=rows + 1)
    report, _ = _judge(ctx, small, frame, score)
    assert report.status == "ok"
    entry = {r["slice"]: r for r in report.slices.table()}["plan=d"]
    assert (entry["status"], entry["rows"]) == ("too small", rows)
    assert "plan=d" in report.slices.notes[0]


def test_a_covariate_shift_of_one_slice_is_a_slice_drift_warning(
        reference: tuple[ReferenceContext, pd.DataFrame], slice_set: SliceSet) -> None:
    ctx, _ = reference
    frame, score = _rows(5_000, 2, shift="c")
    report, _ = _judge(ctx, slice_set, frame, score)
    drift = [a for a in report.alerts if a.rule == "slice_drift"]
    assert [a.columns for a in drift] == [("plan=c",)]
    assert "x1" in drift[0].message
    assert "x2" in drift[0].message
    assert not [a for a in report.alerts if a.rule == "slice_performance"]


def test_no_slice_false_alarm_over_20_stable_batches_of_5_slices(
        reference: tuple[ReferenceContext, pd.DataFrame]) -> None:
    ctx, stored = reference
    five = SliceSet.fit(parse_slices(["plan"]), stored, ctx, max_values=10, min_rows=200)
    assert len(five.slices) == 5
    fired = []
    for seed in range(100, 120):
        frame, score = _rows(5_000, seed)
        report, _ = _judge(ctx, five, frame, score)
        assert all(r.status == "judged" for r in report.slices.results)
        fired += [a.message for a in report.slices.alerts]
        frame = frame.drop(columns="churn")  # and without labels: the estimate's alerts
        report, _ = _judge(ctx, five, frame, score)
        fired += [a.message for a in report.slices.alerts]
    assert fired == []


def test_chunked_slices_equal_the_in_memory_ones(
        reference: tuple[ReferenceContext, pd.DataFrame], slice_set: SliceSet) -> None:
    ctx, _ = reference
    frame, score = _rows(6_000, 3, degrade="d")
    memory, _ = _judge(ctx, slice_set, frame, score)
    profile = CountsProfile.from_context(ctx)
    profiles = {k: CountsProfile.from_context(c) for k, c in slice_set.contexts.items()
                if c is not None}
    from pipelines.monitoring.counts import count_chunk

    total = profile.empty()
    counts: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for start in range(0, len(frame), 2_500):  # three chunks
        part = frame.iloc[start:start + 2_500].reset_index(drop=True)
        batch = prepare_batch(Batch(part, "b", "t"), SCHEMA)
        chunk_scores = score[start:start + 2_500]
        total = total + count_chunk(profile, batch, chunk_scores)
        count_slices(slice_set, profiles, batch, chunk_scores, counts, rows)
    whole = evaluate_counts(total, profile, ctx, POLICY, batch_id="b")
    chunked = with_slices(whole, evaluate_slices_from_counts(
        counts, rows, profiles, slice_set, POLICY, whole), POLICY)
    a, b = memory.slices, chunked.slices
    assert a is not None
    assert b is not None
    assert b.in_alert == a.in_alert == ("plan=d",)
    assert [x.rule for x in b.alerts] == [x.rule for x in a.alerts]
    for m, c in zip(a.results, b.results, strict=True):
        assert (c.key, c.rows, c.status, c.drifted_features) == (
            m.key, m.rows, m.status, m.drifted_features)
        assert c.metric == pytest.approx(m.metric, abs=1e-3)
        assert c.estimated == pytest.approx(m.estimated, abs=1e-3)
        assert c.prediction.effect_size == pytest.approx(m.prediction.effect_size, abs=1e-6)
        for fm, fc in zip(m.features, c.features, strict=True):
            assert fc.effect_size == pytest.approx(fm.effect_size, abs=1e-6)
            if fm.kind == "numeric":
                assert -1e-12 <= fm.statistic - fc.statistic < 1e-3
            else:
                assert fc.statistic == pytest.approx(fm.statistic, abs=1e-6)


@pytest.mark.slow
def test_a_monitored_batch_logs_its_slices_and_the_counted_engines_agree(
        trained_store: tuple[Any, Any], tmp_path: Any) -> None:
    """End to end on the trained churn model: one contract type's labels stop following the
    customers (shuffled within it), the batch as a whole holds; the run names the slice in
    its alert, tag, metrics, slice table and HTML report; the chunked and Spark engines
    (local mode) say the same."""
    import warnings

    from mlflow.tracking import MlflowClient

    from pipelines.data.generator import generate_batch
    from pipelines.store import connect
    from pipelines.store.contract import (
        HTML_REPORT_ARTIFACT,
        SLICE_TABLE_ARTIFACT,
        TAG_SLICES_IN_ALERT,
    )
    from pipelines.workflows.engines import monitor_counted, spark_session
    from pipelines.workflows.monitor import monitor_batch
    from tests.conftest import make_settings

    assert trained_store[0]  # the fixture copied the trained store to tmp_path/store
    settings = make_settings(tmp_path / "store", **{
        "monitoring.slices": ["contract", "tenure_months > 24"], "engine.chunk_rows": 6_000,
        "engine.spark_master": "local[2]"})
    frame = generate_batch("no_drift", 12_000, seed=41)
    rng = np.random.default_rng(41)
    bad = (frame["contract"] == "one-year").to_numpy()
    frame.loc[bad, "churn"] = rng.permutation(frame.loc[bad, "churn"].to_numpy())
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    store = connect(settings.tracking)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = monitor_batch(settings, path, store=store)
        chunked = monitor_counted(settings, str(path), "chunked", store=store)
        spark = spark_session(settings.engine)
        try:
            on_spark = monitor_counted(settings, str(path), "spark", store=store)
        finally:
            spark.stop()
    report = memory.report
    assert report.slices is not None
    keys = [r.key for r in report.slices.results]  # by frequency in the reference
    assert sorted(keys) == ["contract=month-to-month", "contract=one-year",
                            "contract=two-year", "tenure_months > 24"]
    # the degraded contract type, and the long-tenure customers, many of whom hold it
    assert [k for k in report.slices.in_alert if k.startswith("contract")] == [
        "contract=one-year"]
    assert not [a for a in report.alerts if a.rule in ("performance", "concept_drift")]
    alert = next(a for a in report.alerts if a.rule == "slice_performance")
    assert f"on contract=one-year ({int(bad.sum()):,} rows) while" in alert.message
    assert report.retraining_recommended
    in_alert = ",".join(report.slices.in_alert)
    client = MlflowClient(settings.tracking.uri)
    run = client.get_run(memory.run_id)
    assert run.data.tags[TAG_SLICES_IN_ALERT] == in_alert
    assert run.data.metrics["slice/contract_eq_one-year/rows"] == int(bad.sum())
    assert run.data.metrics["slice/contract_eq_one-year/roc_auc"] < 0.7
    assert {"slice/tenure_months_gt_24/drift_share",
            "slice/contract_eq_two-year/estimated_roc_auc"} <= set(run.data.metrics)
    table = json.loads(Path(client.download_artifacts(
        memory.run_id, SLICE_TABLE_ARTIFACT, str(tmp_path))).read_text())
    assert [row[0] for row in table["data"]] == keys
    page = Path(client.download_artifacts(memory.run_id, HTML_REPORT_ARTIFACT,
                                           str(tmp_path))).read_text()
    assert '<section id="slices"><h2>Slices</h2>' in page
    assert f"Slices in alert: {html.escape(', '.join(report.slices.in_alert))}." in page
    for outcome in (chunked, on_spark):
        other = outcome.report
        assert other.slices is not None
        assert (other.status, other.slices.in_alert) == (report.status,
                                                         report.slices.in_alert)
        for m, c in zip(report.slices.results, other.slices.results, strict=True):
            assert (c.key, c.rows, c.drifted_features) == (m.key, m.rows, m.drifted_features)
            assert c.metric == pytest.approx(m.metric, abs=1e-3)
        assert client.get_run(outcome.run_id).data.tags[TAG_SLICES_IN_ALERT] == in_alert


@pytest.mark.slow  # fits the regression reference's loss estimator (XGBoost)
def test_regression_and_multiclass_slices() -> None:
    """The other model types get their slices with their own primary metric: a regression
    slice whose errors grow alerts on RMSE while the batch stays under its ceiling."""
    def frame(n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                             "plan": rng.choice(["a", "b", "c"], n)})

    categories = {"plan": ("a", "b", "c")}
    regression = FeatureSchema(target="y", numeric=("x1", "x2"), categorical=("plan",),
                               categories=categories, problem_type="regression")
    ref = frame(3_000, 0)
    ref["y"] = 3 * ref.x1 + np.random.default_rng(1).normal(size=3_000)
    pred = 3 * ref.x1.to_numpy()
    ctx = ReferenceContext.fit(ref, regression, pred, n_bins=10, decision_threshold=0.5)
    slices = SliceSet.fit(parse_slices(["plan"]), ref.assign(**output_columns(
        regression, pred)), ctx, max_values=10, min_rows=200)
    policy = MonitoringPolicy.from_settings(MonitoringSettings(), 0.5,
                                            problem_type="regression")
    batch = frame(3_000, 2)
    noise = np.random.default_rng(3).normal(size=3_000)
    batch["y"] = 3 * batch.x1 + noise * np.where(batch.plan == "b", 1.6, 1.0)
    prepared = prepare_batch(Batch(batch, "r", "r"), regression)
    outputs = 3 * batch.x1.to_numpy()
    whole = evaluate_batch(prepared, outputs, ctx, policy)
    assert not [a for a in whole.alerts if a.rule == "performance"]
    report = with_slices(whole, evaluate_slices(prepared, outputs, slices, policy, whole),
                         policy)
    (alert,) = [a for a in report.alerts if a.rule == "slice_performance"]
    assert alert.columns == ("plan=b",)
    assert alert.message.startswith("RMSE 1.")
    assert {"slice/plan_eq_a/rmse", "slice/plan_eq_b/estimated_rmse"} <= set(
        report_metrics(report))

    multiclass = FeatureSchema(target="k", numeric=("x1", "x2"), categorical=("plan",),
                               categories=categories, problem_type="multiclass",
                               classes=("p", "q", "r"))
    ref = frame(3_000, 5)
    logits = np.c_[ref.x1, ref.x2, -ref.x1]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rng = np.random.default_rng(6)
    ref["k"] = np.array(["p", "q", "r"])[[rng.choice(3, p=p) for p in proba]]
    ctx = ReferenceContext.fit(ref, multiclass, proba, n_bins=10, decision_threshold=0.5)
    slices = SliceSet.fit(parse_slices(["plan"]), ref.assign(**output_columns(
        multiclass, proba)), ctx, max_values=10, min_rows=200)
    policy = MonitoringPolicy.from_settings(MonitoringSettings(), 0.5,
                                            problem_type="multiclass")
    prepared = prepare_batch(Batch(ref, "m", "m"), multiclass)
    whole = evaluate_batch(prepared, proba, ctx, policy)
    report = with_slices(whole, evaluate_slices(prepared, proba, slices, policy, whole),
                         policy)
    assert report.slices.in_alert == ()
    rows = report.slices.table()
    assert sorted(r["slice"] for r in rows) == ["plan=a", "plan=b", "plan=c"]
    assert all(0.5 < r["macro_f1"] < 0.7 for r in rows)
    assert all(abs(r["macro_f1"] - r["estimated_macro_f1"]) < 0.05 for r in rows)


def test_missing_numeric_values_are_in_no_value_slice_not_in_other() -> None:
    from pipelines.monitoring.slice_specs import parse_slice
    from pipelines.monitoring.slices import resolve_slices, slice_masks

    reference = {"n": pd.Series([1.0, 1.0, 2.0, 3.0, np.nan])}
    slices = resolve_slices([parse_slice("n")], reference, max_values=1)
    assert [s.key for s in slices] == ["n=1", "n=other"]
    masks = slice_masks(slices, {"n": pd.Series([1.0, 2.0, np.nan, 3.0])})
    assert masks["n=1"].tolist() == [True, False, False, False]
    assert masks["n=other"].tolist() == [False, True, False, True]
