"""The service's queries on small hand-built snapshots (pure: no store)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest

from pipelines.service import queries as q
from pipelines.service.snapshot import (
    AlertRecord,
    BatchDetail,
    BatchRecord,
    FeatureDrift,
    ModelState,
    RetrainingRecord,
    Snapshot,
    VersionInfo,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0


def _batch(seq: int, *, status: str = "ok", run_status: str = "FINISHED", champion: str = "1",
           auc: float = 0.85, decision: str = "nothing_to_do", rules: tuple[str, ...] = (),
           drifted: tuple[str, ...] = (), labels_at: str = "") -> BatchRecord:
    return BatchRecord(
        run_id=f"run{seq}", experiment_id="3", sequence=seq, run_name=f"b{seq:04d}",
        run_status=run_status, status=status, started_at=T0 + seq * DAY,
        ended_at=T0 + seq * DAY + 5, batch_id=f"batch{seq}", n_rows=100, has_labels=True,
        labels_registered_at=labels_at, champion_version=champion, decision=decision,
        alert_rules=rules, drifted_features=drifted,
        metrics={} if not status else {
            "roc_auc": auc, "estimated_roc_auc": auc + 0.01, "estimated_roc_auc_lower": auc - 0.02,
            "estimated_roc_auc_upper": auc + 0.04, "drift_share": len(drifted) / 2,
            "reference_roc_auc": 0.86 if champion == "1" else 0.9, "accuracy": math.nan})


def _detail(seq: int, *, age_effect: float = 0.01, with_city: bool = True,
            alerts: tuple[AlertRecord, ...] = ()) -> BatchDetail:
    features = [FeatureDrift("age", "numeric", "ks", 0.1, 0.5, age_effect, age_effect > 0.2)]
    if with_city:
        features.append(FeatureDrift("city", "categorical", "chi2", 3.0, 0.01, 0.3, True))
    return BatchDetail(
        alerts=alerts, features=tuple(features),
        quality={"issues": [{"column": "age", "check": "out_of_range"}] if seq == 3 else [],
                 "missing_share": 0.01 * seq, "max_missing_share": 0.02 * seq,
                 "max_out_of_range_share": 0.0, "max_unseen_category_share": None,
                 "duplicate_ids": 0, "problem_columns": []},
        concept_drift={"detected": seq == 3, "unexplained_drop": 0.1} if seq >= 2 else None,
        prediction_drift={"test": "ks", "pvalue": 0.2, "effect_size": 0.01, "drifted": False})


def snapshot() -> Snapshot:
    """Five batches: 1 ok, 2 warning (drift), 3 critical -> retraining promoted v2,
    4 failed run, 5 ok on v2; batch 4 has no report."""
    batches = (
        _batch(1),
        _batch(2, status="warning", rules=("feature_drift",), drifted=("city",)),
        _batch(3, status="critical", auc=0.6, decision="retrain",
               rules=("performance", "concept_drift"), drifted=("age", "city")),
        _batch(4, status="", run_status="FAILED", champion="2", decision=""),
        _batch(5, champion="2", auc=0.88),
    )
    details = {
        "run1": _detail(1, with_city=False),
        "run2": _detail(2, alerts=(AlertRecord("feature_drift", "warning", "city drifted"),
                                   AlertRecord("missing", "info", "a few missing"))),
        "run3": _detail(3, age_effect=0.5, alerts=(
            AlertRecord("performance", "critical", "ROC-AUC 0.6 below 0.75", 0.6, 0.75),
            AlertRecord("concept_drift", "critical", "concept drift"))),
        "run5": _detail(5),
    }
    serving = VersionInfo("2", "train2", T0 + 3.5 * DAY, promoted_at="2026-12-04T12:00:00",
                          trained_by="retraining", tags={"problem_type": "binary"})
    fallback = VersionInfo("1", "train1", T0, trained_by="baseline")
    retrainings = (
        RetrainingRecord("rt2", "4", "rejected v?", "FINISHED", T0 + 3.6 * DAY, T0 + 3.7 * DAY,
                         verdict="invalid_data"),
        RetrainingRecord("rt1", "4", "PROMOTED v2", "FINISHED", T0 + 3.2 * DAY, T0 + 3.3 * DAY,
                         verdict="promoted", new_version="2", reason="ROC-AUC low",
                         metrics={"best": 0.9}),
    )
    audit = ({"time": "2026-12-04T12:00:00+00:00", "action": "promote",
              "moves": [{"alias": "champion", "from_version": "1", "to_version": "2"}],
              "actor": "me", "reason": "better", "run_id": "audit2"},
             {"time": "2026-12-01T00:00:00+00:00", "action": "baseline",
              "moves": [{"alias": "champion", "from_version": None, "to_version": "1"}],
              "actor": "me", "reason": "first", "run_id": "audit1"})
    return Snapshot(taken_at=T0 + 6 * DAY, read_seconds=0.1,
                    model=ModelState("churn-model", serving=serving, fallback=fallback),
                    batches=batches, details=details, retrainings=retrainings, audit=audit,
                    cooldown_days=7.0, performance_limit=0.75, refused_files=2,
                    monitoring_experiment_id="3", retraining_experiment_id="4",
                    mlflow_ui_url="http://ui:5000/")


@pytest.fixture
def snap() -> Snapshot:
    return snapshot()


def _strict_json(body: dict) -> None:
    json.dumps(body, allow_nan=False)  # NaN would not be JSON


def test_health_ok_and_unavailable() -> None:
    ok = q.health({"ok": True, "taken_at": T0, "snapshot_age_seconds": 1.5, "batches": 5,
                   "model": "churn-model", "version": "0.1.0"})
    assert ok == {"status": "ok", "store": "reachable", "as_of": "2026-12-01T00:00:00.000+00:00",
                  "snapshot_age_seconds": 1.5, "batches": 5, "model": "churn-model",
                  "version": "0.1.0"}
    down = q.health({"ok": False, "message": "server gone", "taken_at": None, "batches": 0,
                     "model": "m", "version": "0.1.0"})
    assert down["status"] == "unavailable"
    assert down["store"] == "unreachable"
    assert down["message"] == "server gone"
    assert down["as_of"] is None


def test_alerts_newest_first_filtered_by_severity(snap: Snapshot) -> None:
    body = q.alerts(snap)
    assert body["as_of"].startswith("2026-12-07")
    assert [(a["sequence"], a["rule"]) for a in body["alerts"]] == [
        (3, "performance"), (3, "concept_drift"), (2, "feature_drift")]
    first = body["alerts"][0]
    assert first["severity"] == "critical"
    assert first["value"] == 0.6
    assert first["threshold"] == 0.75
    assert first["batch_id"] == "batch3"
    assert [a["rule"] for a in q.alerts(snap, min_severity="info")["alerts"]][-1] == "missing"
    assert len(q.alerts(snap, min_severity="critical")["alerts"]) == 2
    assert len(q.alerts(snap, limit=1)["alerts"]) == 1


def test_alerts_without_report_use_the_run_tags(snap: Snapshot) -> None:
    details = {k: v for k, v in snap.details.items() if k != "run3"}
    body = q.alerts(Snapshot(**{**snap.__dict__, "details": details}))
    assert [(a["rule"], a["severity"], a["message"]) for a in body["alerts"]][:2] == [
        ("performance", "critical", ""), ("concept_drift", "critical", "")]


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"min_severity": "loud"}])
def test_alerts_bad_query(snap: Snapshot, kwargs: dict) -> None:
    with pytest.raises(q.BadQuery, match="limit|min_severity"):
        q.alerts(snap, **kwargs)


def test_metrics_baseline_is_the_serving_versions_reference(snap: Snapshot) -> None:
    body = q.metrics_baseline(snap)
    assert body["version"] == "2"
    assert body["model"] == "churn-model"
    assert body["problem_type"] == "binary"
    assert body["primary_metric"] == "roc_auc"
    assert body["metrics"] == {"roc_auc": 0.9}
    assert body["source_run_id"] == "run5"


def test_metrics_latest_and_not_found(snap: Snapshot) -> None:
    body = q.metrics_latest(snap)
    assert body["sequence"] == 5
    assert body["status"] == "ok"
    assert body["metrics"]["roc_auc"] == 0.88
    assert body["metrics"]["accuracy"] is None
    _strict_json(body)
    empty = Snapshot(taken_at=T0, read_seconds=0, model=ModelState("m"))
    with pytest.raises(q.NotFound, match="No monitored batch"):
        q.metrics_latest(empty)


def test_metrics_history_marks_retrainings_and_champion_changes(snap: Snapshot) -> None:
    body = q.metrics_history(snap)
    assert body["metric"] == "roc_auc"
    assert body["limit_line"] == 0.75
    assert [p["sequence"] for p in body["points"]] == [1, 2, 3, 5]  # the failed run has none
    third = body["points"][2]
    assert third["realized"] == 0.6
    assert third["estimated"] == pytest.approx(0.61)
    assert third["lower"] == pytest.approx(0.58)
    assert third["upper"] == pytest.approx(0.64)
    assert third["decision"] == "retrain"
    assert body["champion_changes"] == [{"sequence": 5, "from": "1", "to": "2"}]
    assert [(r["run_id"], r["verdict"], r["new_version"]) for r in body["retrainings"]] == [
        ("rt1", "promoted", "2"), ("rt2", "invalid_data", None)]
    _strict_json(body)


def test_metrics_history_since_limit_and_metric(snap: Snapshot) -> None:
    assert [p["sequence"] for p in q.metrics_history(snap, since="3")["points"]] == [3, 5]
    assert [p["sequence"] for p in q.metrics_history(snap, since="2026-12-04")["points"]] == [
        3, 5]
    assert [p["sequence"] for p in
            q.metrics_history(snap, since="2026-12-03T12:00:00Z")["points"]] == [3, 5]
    assert [p["sequence"] for p in q.metrics_history(snap, limit=2)["points"]] == [3, 5]
    since5 = q.metrics_history(snap, since="5")
    assert since5["champion_changes"] == []
    assert since5["retrainings"] == []
    drift = q.metrics_history(snap, metric="drift_share")
    assert drift["limit_line"] is None
    assert drift["points"][2]["realized"] == 1.0
    with pytest.raises(q.BadQuery, match="metric must be one.*roc_auc.*'nope'"):
        q.metrics_history(snap, metric="nope")
    with pytest.raises(q.BadQuery, match="since must be an ISO 8601.*sequence number"):
        q.metrics_history(snap, since="yesterday")
    with pytest.raises(q.BadQuery, match="limit"):
        q.metrics_history(snap, limit=0)


def test_drift_data_and_concept_of_the_newest_batch(snap: Snapshot) -> None:
    body = q.drift_data(snap)
    assert body["sequence"] == 5
    assert body["run_id"] == "run5"
    assert body["drift_share"] == 0.0
    assert [f["feature"] for f in body["features"]] == ["age", "city"]
    assert body["features"][1] == {"feature": "city", "kind": "categorical", "test": "chi2",
                                   "statistic": 3.0, "p_value": 0.01, "effect": 0.3,
                                   "drifted": True}
    assert body["prediction_drift"]["test"] == "ks"
    concept = q.drift_concept(snap)
    assert concept["sequence"] == 5
    assert concept["detected"] is False
    assert concept["details"] == {"detected": False, "unexplained_drop": 0.1}
    three = Snapshot(**{**snap.__dict__, "batches": snap.batches[:3]})
    assert q.drift_concept(three)["detected"] is True
    one = Snapshot(**{**snap.__dict__, "batches": snap.batches[:1]})
    assert q.drift_concept(one)["details"] == {}


def test_retraining_status_cooldown(snap: Snapshot) -> None:
    # the newest retraining (invalid data) does not count: the promotion sets the cooldown
    promoted = T0 + 3.2 * DAY
    body = q.retraining_status(snap, now=promoted + DAY)
    assert body["last"]["run_id"] == "rt2"
    assert body["last"]["verdict"] == "invalid_data"
    assert body["cooldown_days"] == 7.0
    assert body["in_cooldown"] is True
    assert body["next_eligible"] == q._iso(promoted + 7 * DAY)
    assert [r["run_id"] for r in body["recent"]] == ["rt2", "rt1"]
    assert q.retraining_status(snap, now=promoted + 8 * DAY)["in_cooldown"] is False
    none = q.retraining_status(Snapshot(taken_at=T0, read_seconds=0, model=ModelState("m")),
                               now=T0)
    assert none["last"] is None
    assert none["next_eligible"] is None
    assert none["in_cooldown"] is False


def test_models(snap: Snapshot) -> None:
    body = q.models(snap)
    assert body["name"] == "churn-model"
    assert body["primary_metric"] == "roc_auc"
    assert body["serving"]["version"] == "2"
    assert body["serving"]["trained_by"] == "retraining"
    assert body["fallback"]["version"] == "1"
    assert body["challenger"] is None
    assert body["last_retraining"]["run_id"] == "rt2"


def test_batches_newest_first_paged(snap: Snapshot) -> None:
    body = q.batches(snap, limit=2)
    assert body["total"] == 5
    assert body["next_offset"] == 2
    assert [b["sequence"] for b in body["batches"]] == [5, 4]
    assert [b["sequence"] for b in q.batches(snap, limit=2, offset=2)["batches"]] == [3, 2]
    last = q.batches(snap, limit=2, offset=4)
    assert [b["sequence"] for b in last["batches"]] == [1]
    assert last["next_offset"] is None
    assert q.batches(snap, offset=10)["batches"] == []
    third = q.batches(snap, status="critical")["batches"][0]
    assert third["sequence"] == 3
    assert third["alerts"] == ["performance", "concept_drift"]
    assert third["primary"] == {"metric": "roc_auc", "realized": 0.6,
                                "estimated": pytest.approx(0.61)}
    assert third["links"] == {
        "run": "http://ui:5000/#/experiments/3/runs/run3",
        "report": "http://ui:5000/get-artifact?path=report.html&run_uuid=run3"}
    assert [b["sequence"] for b in q.batches(snap, status="failed")["batches"]] == [4]
    assert q.batches(snap, status="failed")["batches"][0]["run_status"] == "FAILED"
    assert [b["sequence"] for b in q.batches(snap, since="4")["batches"]] == [5, 4]
    assert q.batches(snap, since="2026-12-05")["total"] == 2  # batches 4 and 5
    _strict_json(body)


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"offset": -1}, "offset"),
    ({"status": "bad"}, "status must be one of ok, warning, critical, failed"),
    ({"since": "12 Dec"}, "since")])
def test_batches_bad_query(snap: Snapshot, kwargs: dict, word: str) -> None:
    with pytest.raises(q.BadQuery, match=word):
        q.batches(snap, **kwargs)


def test_batch_by_sequence_or_run_id(snap: Snapshot) -> None:
    report = {"batch_id": "batch3", "drift": {"drift_share": float("nan")}}
    body = q.batch(snap, "3", report)
    assert body["run_id"] == "run3"
    assert body["status"] == "critical"
    assert body["report"] == {"batch_id": "batch3", "drift": {"drift_share": None}}
    assert body["metrics"]["roc_auc"] == 0.6
    _strict_json(body)
    assert q.batch(snap, "run5")["sequence"] == 5
    assert q.batch(snap, "run5")["report"] is None
    for key in ("99", "nope"):
        with pytest.raises(q.NotFound, match="No batch"):
            q.batch(snap, key)


def test_feature_drift(snap: Snapshot) -> None:
    body = q.feature_drift(snap, "city")
    assert body["kind"] == "categorical"
    assert [p["sequence"] for p in body["points"]] == [2, 3, 5]  # not in batch 1's report
    age = q.feature_drift(snap, "age", limit=2)
    assert [(p["sequence"], p["drifted"]) for p in age["points"]] == [(3, True), (5, False)]
    with pytest.raises(q.NotFound, match="No feature 'zip'.*age, city"):
        q.feature_drift(snap, "zip")
    with pytest.raises(q.BadQuery):
        q.feature_drift(snap, "age", limit=0)


def test_drift_matrix(snap: Snapshot) -> None:
    body = q.drift_matrix(snap)
    assert body["features"] == ["age", "city"]
    assert body["sequences"] == [1, 2, 3, 5]
    assert body["effect"][0] == [0.01, 0.01, 0.5, 0.01]
    assert body["effect"][1][0] is None
    assert body["drifted"][1] == [None, True, True, True]
    assert body["p_value"][1][1] == 0.01
    assert q.drift_matrix(snap, limit=2)["sequences"] == [3, 5]
    with pytest.raises(q.BadQuery):
        q.drift_matrix(snap, limit=-1)


def test_quality_history(snap: Snapshot) -> None:
    body = q.quality_history(snap)
    assert body["refused_files"] == 2
    assert [(p["sequence"], p["issues"]) for p in body["points"]] == [(1, 0), (2, 0), (3, 1),
                                                                       (5, 0)]
    assert body["points"][2]["checks"] == ["out_of_range"]
    assert body["points"][2]["missing_share"] == pytest.approx(0.03)
    assert [p["sequence"] for p in q.quality_history(snap, limit=1)["points"]] == [5]


def test_audit(snap: Snapshot) -> None:
    body = q.audit(snap)
    assert [e["action"] for e in body["events"]] == ["promote", "baseline"]
    assert body["events"][0]["moves"][0] == {"alias": "champion", "from_version": "1",
                                             "to_version": "2"}
    assert len(q.audit(snap, limit=1)["events"]) == 1
    with pytest.raises(q.BadQuery):
        q.audit(snap, limit=0)


def test_errors_are_the_projects() -> None:
    from pipelines.errors import MonitoringError

    assert issubclass(q.NotFound, MonitoringError)
    assert issubclass(q.NotFound, LookupError)
    assert issubclass(q.BadQuery, MonitoringError)
    assert issubclass(q.BadQuery, ValueError)
