"""GET /metrics's body (pure): a hand-built snapshot as Prometheus text, parsed back with
prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.service.prom import exposition
from pipelines.service.snapshot import (
    BatchRecord,
    ModelState,
    RetrainingRecord,
    Snapshot,
    VersionInfo,
)

NOW = 1_800_000_000.0


def _batch(sequence: int, status: str, *, run_status: str = "FINISHED",
           metrics: dict[str, float] | None = None, **fields: Any) -> BatchRecord:
    return BatchRecord(run_id=f"run{sequence}", experiment_id="1", sequence=sequence,
                       run_name=f"b{sequence:04d}", run_status=run_status, status=status,
                       started_at=NOW - 1000 + 100 * sequence,
                       ended_at=NOW - 990 + 100 * sequence if run_status != "RUNNING"
                       else None, metrics=metrics or {}, **fields)


def _snapshot() -> Snapshot:
    batches = (
        _batch(1, "ok", metrics={"roc_auc": 0.84, "drift_share": 0.0}),
        _batch(2, "critical", metrics={"roc_auc": 0.70, "drift_share": 0.4},
               notification_failed="webhook: 500"),
        _batch(3, "", run_status="FAILED"),
        _batch(4, "warning", metrics={
            "estimated_roc_auc": 0.79, "drift_share": 0.25, "n_drifted_features": 3,
            "ops/convert_seconds": 0.1, "ops/mlflow_run_seconds": 0.4,
            "ops/batch_storage_seconds": 0.05, "ops/total_seconds": 2.0,
            "ops/rows_per_second": 2000.0, "ops/scoring_ms_per_1000_rows": 5.0,
            "ops/batch_freshness_seconds": 3600.0}, drifted_features=("a", "b", "c")),
        _batch(5, "ok", run_status="RUNNING"),  # no verdict yet: not the latest, not counted
    )
    retrainings = (
        RetrainingRecord("r2", "2", "retrain-2", "FINISHED", NOW - 500, NOW - 400,
                         verdict="promoted", new_version="2"),
        RetrainingRecord("r1", "2", "retrain-1", "FINISHED", NOW - 900, NOW - 800,
                         verdict="rejected"),
        RetrainingRecord("r0", "2", "retrain-0", "FAILED", NOW - 950, NOW - 940),
    )
    model = ModelState(name="churn-model", serving=VersionInfo("2", "r2run", NOW - 400))
    return Snapshot(taken_at=NOW - 3, read_seconds=0.25, model=model, batches=batches,
                    retrainings=retrainings, performance_limit=0.75, refused_files=2)


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_a_snapshot_as_prometheus_metrics() -> None:
    body, content_type = exposition(_snapshot(), {"ok": True, "snapshot_age_seconds": 3.0},
                                    now=NOW)
    assert content_type.startswith("text/plain")
    s = _samples(body)
    m = "churn-model"
    assert _value(s, "churnmon_store_up") == 1
    assert _value(s, "churnmon_snapshot_age_seconds") == 3.0
    assert _value(s, "churnmon_model_info", model=m, serving_version="2",
                  problem_type="binary") == 1
    # the latest verdict is batch 4's (the failed and the running runs have none)
    assert {w: _value(s, "churnmon_batch_status", model=m, status=w)
            for w in ("ok", "warning", "critical")} == {"ok": 0, "warning": 1, "critical": 0}
    assert _value(s, "churnmon_drift_share", model=m) == 0.25
    assert _value(s, "churnmon_drifted_features", model=m) == 3
    assert _value(s, "churnmon_seconds_since_last_batch", model=m) == pytest.approx(590)
    assert _value(s, "churnmon_seconds_since_last_retraining", model=m) == 400
    # realized from the latest batch with labels (2), estimated from the latest (4)
    assert _value(s, "churnmon_performance", model=m, metric="roc_auc",
                  kind="realized") == 0.70
    assert _value(s, "churnmon_performance", model=m, metric="roc_auc",
                  kind="estimated") == 0.79
    assert _value(s, "churnmon_performance_limit", model=m, metric="roc_auc") == 0.75
    phases = {dict(k[1])["phase"]: v for k, v in s.items()
              if k[0] == "churnmon_cycle_phase_seconds"}
    assert phases == {"convert": 0.1, "mlflow_run": 0.4, "batch_storage": 0.05}
    assert _value(s, "churnmon_cycle_seconds", model=m) == 2.0
    assert _value(s, "churnmon_batch_rows_per_second", model=m) == 2000.0
    assert _value(s, "churnmon_scoring_seconds_per_1000_rows", model=m) == 0.005
    assert _value(s, "churnmon_batch_freshness_seconds", model=m) == 3600.0
    # the one counter: batches ended so far (sequence numbers only grow); the rest gauges of
    # what the store holds now (a verdict changes with late labels; rejected/ is emptied)
    assert _value(s, "churnmon_batches_total", model=m) == 4  # the running batch not yet
    assert {w: _value(s, "churnmon_batches_by_status", model=m, status=w)
            for w in ("ok", "warning", "critical", "failed")} == {
        "ok": 1, "warning": 1, "critical": 1, "failed": 1}
    assert _value(s, "churnmon_refused_files", model=m) == 2
    assert _value(s, "churnmon_notifications_failed", model=m) == 1
    assert {dict(k[1])["verdict"]: v for k, v in s.items()
            if k[0] == "churnmon_retrainings"} == {
        "promoted": 1, "rejected": 1, "failed": 1}
    families = {f.name: f.type for f in text_string_to_metric_families(body.decode())}
    assert families["churnmon_batches"] == "counter"
    assert families["churnmon_batch_status"] == "gauge"
    assert all(name.startswith("churnmon_") for name in families)


def test_no_snapshot_exposes_the_service_metrics_only() -> None:
    body, _ = exposition(None, {"ok": False, "snapshot_age_seconds": 42.5}, now=NOW)
    s = _samples(body)
    assert s == {("churnmon_store_up", ()): 0.0, ("churnmon_snapshot_age_seconds", ()): 42.5}
    body, _ = exposition(None, {"ok": False, "snapshot_age_seconds": None},
                         now=NOW)  # none read yet
    assert _samples(body) == {("churnmon_store_up", ()): 0.0}


def test_an_empty_store_and_a_snapshot_kept_while_the_store_is_down() -> None:
    snap = Snapshot(taken_at=NOW - 30, read_seconds=0.1, model=ModelState(name="m"))
    s = _samples(exposition(snap, {"ok": False}, now=NOW)[0])
    assert _value(s, "churnmon_store_up") == 0
    assert _value(s, "churnmon_snapshot_age_seconds") == 30  # from the snapshot itself
    assert _value(s, "churnmon_model_info", model="m", serving_version="",
                  problem_type="binary") == 1
    assert {k[0] for k in s if k[0].startswith("churnmon_batch_status")} == {
        "churnmon_batch_status"}
    assert all(v == 0 for k, v in s.items() if k[0] in (
        "churnmon_batch_status", "churnmon_batches_total", "churnmon_retrainings"))
    assert not any(k[0] in ("churnmon_drift_share", "churnmon_seconds_since_last_batch",
                            "churnmon_performance", "churnmon_seconds_since_last_retraining")
                   for k in s)


def test_each_call_is_independent() -> None:
    """No global registry: two exposition calls never mix (and repeat identically)."""
    first = exposition(_snapshot(), {}, now=NOW)[0]
    other = exposition(Snapshot(taken_at=NOW, read_seconds=0.0, model=ModelState(name="x")),
                       {}, now=NOW)[0]
    assert b"churn-model" not in other
    assert exposition(_snapshot(), {}, now=NOW)[0] == first
