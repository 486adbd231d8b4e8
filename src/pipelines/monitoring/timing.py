"""Where a monitoring cycle spends its time: a stopwatch of named phases, and the operational
metrics (``ops/...``) a monitoring run logs from it (pure, no I/O)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

#: The prefix of the operational metrics (MLflow shows them in their own chart section).
OPS_PREFIX = "ops/"
#: The phases timed after the monitoring run has closed (logged to it afterwards).
AFTER_RUN_PHASES = ("registry", "notify")

_ASIDE = re.compile(r"\([^)]*\)")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class Stopwatch:
    """Seconds per named phase; a phase timed twice adds up. ``elapsed()``: seconds since
    the stopwatch was made (the cycle's wall-clock time, phases overlapping or not)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - started

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def phase_slug(phase: str) -> str:
    """A phase's name as a metric name part: lowercase, an aside in parentheses dropped,
    every run of other characters than letters and digits one ``_`` ("mlflow run" ->
    ``mlflow_run``, "batch storage (waited for)" -> ``batch_storage``)."""
    slug = _NOT_ALNUM.sub("_", _ASIDE.sub(" ", phase).lower()).strip("_")
    return slug or "phase"


def phase_metrics(seconds: Mapping[str, float], phases: tuple[str, ...] | None = None
                  ) -> dict[str, float]:
    """``ops/<phase>_seconds`` of the timed phases (of ``phases`` only when given); two
    names with one slug add up."""
    out: dict[str, float] = {}
    for phase, value in seconds.items():
        if phases is not None and phase not in phases:
            continue
        key = f"{OPS_PREFIX}{phase_slug(phase)}_seconds"
        out[key] = out.get(key, 0.0) + float(value)
    return out


def freshness_seconds(newest: datetime | None, now: datetime) -> float | None:
    """Seconds from the batch's newest data time to ``now`` (a time without a zone is UTC);
    None without one."""
    if newest is None:
        return None
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return (now - newest).total_seconds()


def ops_metrics(seconds: Mapping[str, float], *, n_rows: int,
                total_seconds: float | None = None,
                scoring_seconds: float | None = None, newest_time: datetime | None = None,
                now: datetime | None = None,
                phases: tuple[str, ...] | None = None) -> dict[str, float]:
    """A monitoring cycle's operational metrics: ``ops/<phase>_seconds`` (of ``phases`` when
    given), ``ops/total_seconds`` and ``ops/rows_per_second`` (rows / total) when the total
    is given,
    ``ops/scoring_ms_per_1000_rows`` (the champion's scoring time, when it scored) and
    ``ops/batch_freshness_seconds`` (``now`` minus the batch's newest data time, when it has
    one)."""
    out = phase_metrics(seconds, phases)
    if total_seconds is not None:
        out[f"{OPS_PREFIX}total_seconds"] = float(total_seconds)
        if total_seconds > 0:
            out[f"{OPS_PREFIX}rows_per_second"] = n_rows / total_seconds
    if scoring_seconds is not None and n_rows > 0:
        out[f"{OPS_PREFIX}scoring_ms_per_1000_rows"] = scoring_seconds * 1e6 / n_rows
    fresh = freshness_seconds(newest_time, now or datetime.now(UTC))
    if fresh is not None:
        out[f"{OPS_PREFIX}batch_freshness_seconds"] = fresh
    return out
