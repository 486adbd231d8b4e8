"""The operational metrics of a monitoring cycle (pure): phase slugs, totals, rates,
scoring latency and batch freshness."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipelines.monitoring.timing import (
    AFTER_RUN_PHASES,
    Stopwatch,
    freshness_seconds,
    ops_metrics,
    phase_metrics,
    phase_slug,
)


@pytest.mark.parametrize(("phase", "slug"), [
    ("convert", "convert"),
    ("mlflow run", "mlflow_run"),
    ("batch storage (waited for)", "batch_storage"),
    ("prediction drift", "prediction_drift"),
    ("Report  Files", "report_files"),
    ("read/convert-2", "read_convert_2"),
    ("(only an aside)", "phase"),
])
def test_phase_slug(phase: str, slug: str) -> None:
    assert phase_slug(phase) == slug


def test_phase_metrics_name_every_phase_and_select_some() -> None:
    seconds = {"mlflow run": 0.5, "registry": 0.25, "notify": 0.125,
               "batch storage (waited for)": 0.0}
    assert phase_metrics(seconds) == {"ops/mlflow_run_seconds": 0.5,
                                      "ops/registry_seconds": 0.25,
                                      "ops/notify_seconds": 0.125,
                                      "ops/batch_storage_seconds": 0.0}
    assert phase_metrics(seconds, AFTER_RUN_PHASES) == {"ops/registry_seconds": 0.25,
                                                        "ops/notify_seconds": 0.125}
    # two names with one slug add up rather than one hiding the other
    assert phase_metrics({"a b": 1.0, "a-b": 2.0}) == {"ops/a_b_seconds": 3.0}


def test_ops_metrics_rates_latency_and_freshness() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    out = ops_metrics({"scoring": 0.02, "convert": 0.1}, n_rows=4000, total_seconds=2.0,
                      scoring_seconds=0.02, newest_time=datetime(2026, 1, 2, 11, 0),
                      now=now)
    assert out == pytest.approx({
        "ops/scoring_seconds": 0.02, "ops/convert_seconds": 0.1,
        "ops/total_seconds": 2.0, "ops/rows_per_second": 2000.0,
        "ops/scoring_ms_per_1000_rows": 5.0,  # 20 ms for 4,000 rows
        "ops/batch_freshness_seconds": 3600.0})  # a naive time is UTC


def test_ops_metrics_leave_out_what_is_unknown() -> None:
    out = ops_metrics({"statistics": 0.3}, n_rows=0, total_seconds=0.0)
    assert out == {"ops/statistics_seconds": 0.3, "ops/total_seconds": 0.0}
    assert "ops/total_seconds" not in ops_metrics({"convert": 1.0}, n_rows=10)
    assert "ops/scoring_ms_per_1000_rows" not in ops_metrics(
        {}, n_rows=0, scoring_seconds=0.5)  # no rows: no rate


def test_freshness_keeps_zones() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert freshness_seconds(None, now) is None
    eastern = datetime(2026, 1, 1, 15, 0, tzinfo=timezone(timedelta(hours=-5)))  # 20:00 UTC
    assert freshness_seconds(eastern, now) == pytest.approx(4 * 3600)
    assert freshness_seconds(now + timedelta(seconds=5), now) == pytest.approx(-5)


def test_stopwatch_adds_up_phases_and_measures_the_whole() -> None:
    timer = Stopwatch()
    for _ in range(2):
        with timer("work"):
            time.sleep(0.01)
    assert timer.seconds["work"] >= 0.02
    assert timer.elapsed() >= timer.seconds["work"]
