"""``GET /metrics``: the service's snapshot as Prometheus metrics (text exposition).

Pure: every call builds a fresh :class:`~prometheus_client.CollectorRegistry` holding one
collector that yields metric families computed from the snapshot it is given, so nothing is
kept between scrapes (no global registry, no counters held in memory: the "counters" are the
store's own counts, monotonic as long as runs are not deleted). Times are epoch seconds.

Every metric but the service's own (``churnmon_store_up``, ``churnmon_snapshot_age_seconds``,
``churnmon_snapshot_read_seconds``) carries the ``model`` label; with no snapshot (the store
unreachable, none read yet) only the service's own are exposed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipelines.monitoring.timing import OPS_PREFIX
from pipelines.service.snapshot import BatchRecord, Snapshot

PREFIX = "churnmon_"
#: The verdicts a batch can have (``churnmon_batch_status``, ``churnmon_batches_total``).
STATUSES = ("ok", "warning", "critical")
#: ``ops/<x>_seconds`` metrics that are not phases of the cycle.
_NOT_PHASES = ("total", "batch_freshness")


def exposition(snapshot: Snapshot | None, state_health: Mapping[str, Any], *,
               now: float | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition of ``snapshot`` (None: the store is unreachable) and
    the service's health (``ServiceState.health()``: ``ok`` false when the newest read
    failed, ``snapshot_age_seconds``): ``(body, content type)``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot, state_health,
                                        time.time() if now is None else now))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class SnapshotCollector(Collector):
    """The metric families of one snapshot (computed on ``collect``)."""

    def __init__(self, snapshot: Snapshot | None, state_health: Mapping[str, Any],
                 now: float) -> None:
        self.snapshot = snapshot
        self.health = state_health
        self.now = now

    def collect(self) -> Iterable[Metric]:
        yield from service_metrics(self.snapshot, self.health, self.now)
        if self.snapshot is not None:
            yield from snapshot_metrics(self.snapshot, self.now)


def _gauge(name: str, doc: str, labels: Iterable[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, labels=list(labels))


def service_metrics(snapshot: Snapshot | None, health: Mapping[str, Any],
                    now: float) -> Iterator[Metric]:
    """Whether the store answered the newest read, and how old the data served is."""
    up = (snapshot is not None and bool(health.get("ok", True))
          and health.get("store", "reachable") != "unreachable")
    yield GaugeMetricFamily(PREFIX + "store_up", "1 when the newest read of the MLflow store "
                            "succeeded, else 0.", value=1.0 if up else 0.0)
    age = health.get("snapshot_age_seconds")
    if age is None and snapshot is not None:
        age = now - snapshot.taken_at
    if isinstance(age, int | float):
        yield GaugeMetricFamily(PREFIX + "snapshot_age_seconds", "Seconds since the data "
                                "served was read from the store.", value=float(age))
    if snapshot is not None:
        yield GaugeMetricFamily(PREFIX + "snapshot_read_seconds", "How long the newest read "
                                "of the store took.", value=float(snapshot.read_seconds))


def latest_verdict(snapshot: Snapshot) -> BatchRecord | None:
    """The newest batch with a verdict (a finished monitoring run)."""
    for record in reversed(snapshot.batches):
        if record.status in STATUSES and record.run_status == "FINISHED":
            return record
    return None


def batch_outcome(record: BatchRecord) -> str | None:
    """A batch's status for ``churnmon_batches_total``: its verdict, ``failed`` for a failed
    or killed run, None while it runs."""
    if record.run_status in ("FAILED", "KILLED"):
        return "failed"
    if record.run_status == "FINISHED" and record.status in STATUSES:
        return record.status
    return None


def _newest_value(batches: Iterable[BatchRecord], metric: str) -> float | None:
    for record in reversed(tuple(batches)):
        value = record.metrics.get(metric)
        if value is not None and record.run_status == "FINISHED":
            return float(value)
    return None


def snapshot_metrics(snap: Snapshot, now: float) -> Iterator[Metric]:
    """The model's metrics: the latest verdict, drift, performance, freshness, the cycle's
    timings and the store's counts."""
    model = snap.model.name
    m = [model]
    serving = snap.model.serving.version if snap.model.serving else ""
    info = _gauge("model_info", "The model monitored: its serving (champion) version and type.",
                  ("model", "serving_version", "problem_type"))
    info.add_metric([model, serving, snap.model.problem_type], 1.0)
    yield info

    latest = latest_verdict(snap)
    status = _gauge("batch_status", "1 for the latest batch's status, else 0.",
                    ("model", "status"))
    for word in STATUSES:
        status.add_metric([model, word], 1.0 if latest and latest.status == word else 0.0)
    yield status
    if latest is not None:
        share = latest.metrics.get("drift_share")
        if share is not None:
            g = _gauge("drift_share", "Share of features drifted in the latest batch.",
                       ("model",))
            g.add_metric(m, float(share))
            yield g
        drifted = latest.metrics.get("n_drifted_features", len(latest.drifted_features))
        g = _gauge("drifted_features", "Features drifted in the latest batch.", ("model",))
        g.add_metric(m, float(drifted))
        yield g
        g = _gauge("seconds_since_last_batch", "Seconds since the latest batch was "
                   "monitored.", ("model",))
        g.add_metric(m, now - (latest.ended_at or latest.started_at))
        yield g
        yield from _ops_metrics(model, latest)

    metric = snap.model.primary_metric
    perf = _gauge("performance", "The primary metric of the latest batch that has it: "
                  "realized (labels) or estimated (without labels).",
                  ("model", "metric", "kind"))
    for kind, key in (("realized", metric), ("estimated", f"estimated_{metric}")):
        value = _newest_value(snap.batches, key)
        if value is not None:
            perf.add_metric([model, metric, kind], value)
    yield perf
    if snap.performance_limit is not None:
        g = _gauge("performance_limit", "The primary metric's alert line (a floor; for "
                   "RMSE a ceiling).", ("model", "metric"))
        g.add_metric([model, metric], float(snap.performance_limit))
        yield g

    if snap.retrainings:
        last = snap.retrainings[0]  # newest first
        g = _gauge("seconds_since_last_retraining", "Seconds since the latest retraining "
                   "run ended (started, while it runs).", ("model",))
        g.add_metric(m, now - (last.ended_at or last.started_at))
        yield g
    yield from _counters(snap, model)


def _ops_metrics(model: str, latest: BatchRecord) -> Iterator[Metric]:
    """The latest batch's operational metrics (``ops/...``, logged by the monitor)."""
    phases = _gauge("cycle_phase_seconds", "Seconds the latest monitoring cycle spent per "
                    "phase.", ("model", "phase"))
    for key, value in sorted(latest.metrics.items()):
        if key.startswith(OPS_PREFIX) and key.endswith("_seconds"):
            phase = key[len(OPS_PREFIX):-len("_seconds")]
            if phase not in _NOT_PHASES:
                phases.add_metric([model, phase], float(value))
    yield phases
    single = (("total_seconds", "cycle_seconds", "Seconds the latest monitoring cycle took.",
               1.0),
              ("rows_per_second", "batch_rows_per_second", "Rows per second of the latest "
               "monitoring cycle (rows / total time).", 1.0),
              ("scoring_ms_per_1000_rows", "scoring_seconds_per_1000_rows", "The champion's "
               "scoring time per 1,000 rows in the latest batch.", 1e-3),
              ("batch_freshness_seconds", "batch_freshness_seconds", "Seconds from the latest "
               "batch's newest data time to its monitoring.", 1.0))
    for key, name, doc, scale in single:
        value = latest.metrics.get(OPS_PREFIX + key)
        if value is not None:
            g = _gauge(name, doc, ("model",))
            g.add_metric([model], float(value) * scale)
            yield g


def _counters(snap: Snapshot, model: str) -> Iterator[Metric]:
    """What the store holds now: batches by their current verdict, refused files, failed
    notifications, retrainings by verdict. Gauges, not counters: a verdict changes when
    labels arrive, old batches leave the view (``service.max_batches``), an operator empties
    ``rejected/``; a counter must never go down. The one true counter is the number of
    batches ever monitored (the newest sequence number: it only grows)."""
    outcomes = Counter(o for o in map(batch_outcome, snap.batches) if o is not None)
    total = CounterMetricFamily(PREFIX + "batches", "Batches monitored so far (the newest "
                                "ended batch's sequence number).", labels=["model"])
    total.add_metric([model], float(max((b.sequence for b in snap.batches
                                         if batch_outcome(b) is not None), default=0)))
    yield total
    batches = _gauge("batches_by_status", "Monitored batches in view by their current "
                     "verdict (failed: the run failed).", ("model", "status"))
    for word in (*STATUSES, "failed"):
        batches.add_metric([model, word], float(outcomes[word]))
    yield batches
    refused = _gauge("refused_files", "Batch files in the inbox's rejected/ folder (refused, "
                     "the reason beside each).", ("model",))
    refused.add_metric([model], float(snap.refused_files))
    yield refused
    failed = _gauge("notifications_failed", "Batches in view whose notification failed.",
                    ("model",))
    failed.add_metric([model], float(sum(1 for b in snap.batches if b.notification_failed)))
    yield failed
    verdicts = Counter(r.verdict or ("failed" if r.run_status in ("FAILED", "KILLED")
                                     else "running") for r in snap.retrainings)
    retrainings = _gauge("retrainings", "Retraining runs in view by verdict (promoted, "
                         "rejected, invalid_data, awaiting_approval; failed, running).",
                         ("model", "verdict"))
    for verdict in sorted(set(verdicts) | {"promoted", "rejected"}):
        retrainings.add_metric([model, verdict], float(verdicts[verdict]))
    yield retrainings
