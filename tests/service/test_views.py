"""The service's reading of a real store: the story's snapshot (store/views) and the state that
keeps it fresh, bounded when the tracking server stops answering (service/state)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from pipelines.errors import TrackingUnavailable
from pipelines.service import queries
from pipelines.service.state import ServiceState
from pipelines.store import connect
from pipelines.store import contract as c
from pipelines.store.views import ReportNotFound, read_report, read_snapshot
from tests.conftest import MlflowServer, make_settings


def _statuses(cycles: list[Any]) -> list[str]:
    return [b.monitoring_status for cycle in cycles for b in cycle.batches]


@pytest.mark.slow
def test_snapshot_of_the_story(story_store: tuple[Settings, list[Any]]) -> None:
    settings, cycles = story_store
    store = connect(settings.tracking, create=False, purpose="serve")
    snap = read_snapshot(store, settings)

    assert [b.sequence for b in snap.batches] == [1, 2, 3, 4, 5, 6]
    assert [b.status for b in snap.batches] == _statuses(cycles)
    assert {"ok", "warning", "critical"} <= {b.status for b in snap.batches}
    assert [b.run_id for b in snap.batches] == [b.run_id for cycle in cycles
                                                for b in cycle.batches]
    assert all(b.run_status == "FINISHED" and b.n_rows for b in snap.batches)
    retrained = next(b for b in snap.batches if b.decision == "retrain")
    assert [b.champion_version for b in snap.batches] == (
        ["1"] * retrained.sequence + ["2"] * (6 - retrained.sequence))

    promoted = snap.retrainings[0]
    assert promoted.verdict == c.PROMOTED
    assert promoted.new_version == "2"
    assert promoted.run_id == retrained.retraining_run_id or not retrained.retraining_run_id
    assert snap.model.serving is not None
    assert snap.model.serving.version == "2"
    assert snap.model.fallback is not None
    assert snap.model.fallback.version == "1"
    assert snap.model.challenger is None
    assert (snap.model.problem_type, snap.model.primary_metric) == ("binary", "roc_auc")
    assert snap.performance_limit == settings.monitoring.roc_auc_floor
    assert [e["action"] for e in snap.audit] == ["promote", "baseline"]
    assert {"alias": "champion", "from_version": "1", "to_version": "2"} in \
        snap.audit[0]["moves"]
    assert snap.monitoring_experiment_id == snap.batches[0].experiment_id
    assert snap.mlflow_ui_url == settings.service.mlflow_ui_url

    assert set(snap.details) == {b.run_id for b in snap.batches}
    for b in snap.batches:
        detail = snap.details[b.run_id]
        assert len(detail.features) == 24  # the demo's features
        assert {f.feature for f in detail.features if f.drifted} == set(b.drifted_features)
        assert list(dict.fromkeys(a.rule for a in detail.alerts)) == list(b.alert_rules)
        assert detail.prediction_drift is not None
    assert snap.details[retrained.run_id].concept_drift["detected"] is True
    assert {a.severity for a in snap.details[retrained.run_id].alerts} == {"critical"}

    body = queries.metrics_history(snap)
    assert body["champion_changes"] == [
        {"sequence": retrained.sequence + 1, "from": "1", "to": "2"}]
    assert [r["verdict"] for r in body["retrainings"]] == ["promoted"]
    assert queries.models(snap)["serving"]["version"] == "2"


@pytest.mark.slow
def test_a_second_read_reuses_the_reports_until_labels_come(
        story_store: tuple[Settings, list[Any]], tmp_path: Path) -> None:
    settings, _ = story_store
    store = connect(settings.tracking, create=False, purpose="serve")
    first = read_snapshot(store, settings)
    second = read_snapshot(store, settings, first)
    assert all(second.details[r] is first.details[r] for r in first.details)  # not read again

    labelled = first.batches[1].run_id
    store.client.set_tag(labelled, c.TAG_LABELS_AT, "2026-12-07T10:00:00+00:00")
    third = read_snapshot(store, settings, second)
    assert third.details[labelled] is not second.details[labelled]  # read again
    assert third.details[labelled] == second.details[labelled]
    assert all(third.details[r] is second.details[r] for r in second.details if r != labelled)
    assert third.batches[1].labels_registered_at == "2026-12-07T10:00:00+00:00"

    # register_labels writes the verdict after the labels as monitoring_report_labelled.json
    # (the original stays): that one is read, so its alerts and concept drift are served
    after = read_report(store, labelled)
    after["alerts"] = [*after["alerts"], {"rule": "concept_drift", "severity": "critical",
                                          "message": "concept drift after labels",
                                          "value": 0.1, "threshold": 0.05}]
    after["concept_drift"] = {"detected": True, "unexplained_drop": 0.1}
    store.log_text_to(labelled, after, c.LABELLED_REPORT_ARTIFACT)
    store.client.set_tag(labelled, c.TAG_LABELS_AT, "2026-12-07T11:00:00+00:00")
    fourth = read_snapshot(store, settings, third)
    assert fourth.details[labelled].concept_drift == {"detected": True, "unexplained_drop": 0.1}
    assert "concept drift after labels" in {
        a["message"] for a in queries.alerts(fourth, min_severity="info")["alerts"]}
    assert read_report(store, labelled, labelled=True)["concept_drift"]["detected"]

    budgeted = read_snapshot(store, settings, details_budget_seconds=0)
    assert len(budgeted.details) < 6  # the downloads under way when time ran out
    assert len(read_snapshot(store, settings, budgeted).details) == 6  # the rest

    report = read_report(store, labelled)
    assert report["batch_id"] == first.batches[1].batch_id
    assert report["drift"]["n_features"] == len(first.details[labelled].features)
    with pytest.raises(ReportNotFound, match="no readable monitoring_report.json"):
        read_report(store, "0" * 32)


@pytest.mark.slow
def test_refused_files_are_counted(story_store: tuple[Settings, list[Any]]) -> None:
    settings, _ = story_store
    rejected = settings.paths.inbox / "rejected"
    rejected.mkdir(parents=True, exist_ok=True)
    (rejected / "bad.csv").write_text("x\n")
    (rejected / "bad.csv.reason.txt").write_text("no target column\n")
    (rejected / "worse.parquet").write_bytes(b"PAR1")
    store = connect(settings.tracking, create=False, purpose="serve")
    assert read_snapshot(store, settings).refused_files == 2


@pytest.mark.slow
def test_service_state_reads_in_the_background(story_store: tuple[Settings, list[Any]]
                                               ) -> None:
    root = Path(story_store[0].tracking.uri.removeprefix("sqlite:///")).parent
    state = ServiceState(make_settings(root, **{"service.refresh_seconds": 0.2}))
    state.start()
    try:
        snap = state.snapshot()
        assert len(snap.batches) == 6
        health = state.health()
        assert health["ok"] is True
        assert health["batches"] == 6
        assert health["message"] is None
        deadline = time.monotonic() + 30
        while state.health()["reads"] < 3:  # refreshed in the background
            assert time.monotonic() < deadline
            time.sleep(0.05)
        newer = state.snapshot()
        assert newer.taken_at > snap.taken_at
        assert newer.details[snap.batches[0].run_id] is snap.details[snap.batches[0].run_id]
        report = state.report(snap.batches[-1].run_id)
        assert report["batch_id"] == snap.batches[-1].batch_id
        assert state.report(snap.batches[-1].run_id) is report  # cached
        with pytest.raises(ReportNotFound):
            state.report("0" * 32)
    finally:
        state.stop()


def test_service_state_without_a_store(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "nothing")
    (tmp_path / "nothing" / "mlflow.db").unlink(missing_ok=True)  # the test template's copy
    state = ServiceState(settings)
    state.start()
    try:
        with pytest.raises(TrackingUnavailable, match="No MLflow store"):
            state.snapshot()
        health = state.health()
        assert health["ok"] is False
        assert "No MLflow store" in health["message"]
        assert queries.health(health)["status"] == "unavailable"
    finally:
        state.stop()
    assert not (tmp_path / "nothing" / "mlflow.db").exists()  # never created


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
def test_state_behind_a_server_that_stops_answering(
        story_store: tuple[Settings, list[Any]], tmp_path: Path) -> None:
    settings, _ = story_store
    db = Path(settings.tracking.uri.removeprefix("sqlite:///"))
    server = MlflowServer(tmp_path / "server", db=db)
    uri = server.start()
    timeout = 5.0  # a loaded machine's single-worker server: a read takes seconds
    served = make_settings(tmp_path / "client", **{
        "tracking.uri": uri, "service.store_timeout_seconds": timeout,
        "service.refresh_seconds": 3600})
    state = ServiceState(served)
    try:
        state.start()
        deadline = time.monotonic() + 120
        while len(state.snapshot().details) < 6 if state.refresh() else True:
            assert time.monotonic() < deadline  # a slow first read lands in the end
        assert len(state.snapshot().batches) == 6

        assert server.proc is not None
        os.killpg(server.proc.pid, signal.SIGSTOP)  # hangs: connections never answered
        try:
            started = time.monotonic()
            assert state.refresh() is False
            assert time.monotonic() - started < timeout + 1
            with pytest.raises(TrackingUnavailable, match=f"did not answer within {timeout:g} s"):
                state.snapshot()
            assert queries.health(state.health())["store"] == "unreachable"
        finally:
            os.killpg(server.proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while not state.refresh():  # the hung read ends, the next one succeeds
            assert time.monotonic() < deadline
        assert len(state.snapshot().batches) == 6

        server.kill()
        started = time.monotonic()
        assert state.refresh() is False
        assert time.monotonic() - started < timeout + 1
        with pytest.raises(TrackingUnavailable):
            state.snapshot()
        health = queries.health(state.health())
        assert health["status"] == "unavailable"
        assert health["message"]
    finally:
        state.stop()
        server.stop()


def test_performance_limit_per_problem_type(tmp_path: Path) -> None:
    from pipelines.service.snapshot import BatchRecord, ModelState
    from pipelines.store.views import performance_limit

    settings = make_settings(tmp_path, **{"monitoring.roc_auc_floor": 0.7,
                                          "monitoring.macro_f1_floor": 0.6,
                                          "monitoring.rmse_ratio_ceiling": 1.5})
    run = BatchRecord(run_id="r", experiment_id="1", sequence=1, run_name="b1",
                      run_status="FINISHED", status="ok", started_at=0.0, ended_at=1.0,
                      metrics={"reference_rmse": 10.0})
    assert performance_limit(settings, ModelState("m")) == 0.7
    assert performance_limit(settings, ModelState("m", "multiclass", "macro_f1")) == 0.6
    regression = ModelState("m", "regression", "rmse")
    assert performance_limit(settings, regression, [run]) == pytest.approx(15.0)
    assert performance_limit(settings, regression) is None  # no reference RMSE seen yet
    absolute = make_settings(tmp_path, **{"monitoring.rmse_ceiling": 12.0})
    assert performance_limit(absolute, regression, [run]) == 12.0


def test_parse_detail_keeps_what_the_service_shows() -> None:
    from pipelines.store.views import parse_detail

    detail = parse_detail({
        "alerts": [{"rule": "performance", "severity": "critical", "message": "low",
                    "value": 0.6, "threshold": 0.75, "columns": []}],
        "drift": {"features": [
            {"feature": "age", "kind": "numeric", "test": "ks", "statistic": 0.3,
             "pvalue": 0.001, "pvalue_adjusted": 0.004, "effect_size": 0.4, "drifted": True},
            {"feature": "city", "kind": "categorical", "test": "chi2", "statistic": None,
             "pvalue": None, "effect_size": None, "drifted": False}]},
        "data_quality": {"n_rows": 10, "duplicate_ids": 1, "problem_columns": ["age"],
                         "issues": [{"column": "age", "check": "missing"}],
                         "columns": [{"column": "age", "missing_share": 0.2,
                                      "out_of_range_share": 0.1,
                                      "unseen_category_share": None},
                                     {"column": "city", "missing_share": 0.0,
                                      "out_of_range_share": None,
                                      "unseen_category_share": 0.05}]},
        "concept_drift": None, "prediction_drift": {"test": "ks", "drifted": False},
        "target_drift": None})
    (alert,) = detail.alerts
    assert (alert.rule, alert.severity, alert.value, alert.threshold) == (
        "performance", "critical", 0.6, 0.75)
    age, city = detail.features
    assert (age.p_value, age.effect, age.drifted) == (0.004, 0.4, True)  # the corrected p
    assert (city.statistic, city.p_value, city.effect) == (None, None, None)
    assert detail.quality["missing_share"] == pytest.approx(0.1)
    assert detail.quality["max_missing_share"] == 0.2
    assert detail.quality["max_out_of_range_share"] == 0.1
    assert detail.quality["max_unseen_category_share"] == 0.05
    assert detail.quality["issues"] == [{"column": "age", "check": "missing"}]
    assert "columns" not in detail.quality
    assert detail.concept_drift is None
    assert detail.prediction_drift == {"test": "ks", "drifted": False}


def test_a_read_longer_than_the_timeout_is_no_outage_while_the_store_answers(
        story_store: tuple[Settings, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A store too large to read within store_timeout_seconds answers page after page: the
    read goes on (the previous snapshot served meanwhile); one that stops answering for the
    timeout is an outage."""
    import pipelines.service.state as state_module

    root = Path(story_store[0].tracking.uri.removeprefix("sqlite:///")).parent
    settings = make_settings(root, **{"service.store_timeout_seconds": 3.0,
                                      "service.refresh_seconds": 3600})
    real = state_module.read_snapshot
    answering = {"on": True}

    def slow(store: Any, settings: Settings, previous: Any = None, **kw: Any) -> Any:
        for _ in range(10):  # 6 s: twice the timeout, answering every 0.6 s
            time.sleep(0.6)
            if answering["on"]:
                kw["progress"]()
        return real(store, settings, previous, **kw)

    monkeypatch.setattr(state_module, "read_snapshot", slow)
    state = ServiceState(settings)
    assert state.refresh()  # slow, answering: read to its end
    first = state.snapshot()
    assert len(first.batches) == 6
    answering["on"] = False
    assert not state.refresh()  # silent for the timeout: given up before the read ends
    with pytest.raises(TrackingUnavailable, match="did not answer within 3 s"):
        state.snapshot()
