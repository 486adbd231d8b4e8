"""The service's API as a client sees it: the real ``python -m pipelines.serve`` in a
subprocess over a store that lived through the demo story (baseline, six batches, a
retraining promoted), every endpoint's answer checked against that story; errors (401, 404,
422) in their JSON shape; the token; OpenAPI; and the store left as it was."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from tests.conftest import copy_store, make_settings
from tests.service.serving import ServiceProcess, get

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]

TOKEN = "t0ken-for-the-tests"
UI = "http://mlflow-ui.example:5000"
#: Every route of the HTTP contract but /metrics and / (their own modules' tests).
ROUTES = ("/health", "/alerts", "/metrics/baseline", "/metrics/latest", "/metrics/history",
          "/drift/data", "/drift/concept", "/drift/matrix", "/features/{name}/drift",
          "/retraining/status", "/models", "/batches", "/batches/{key}", "/quality/history",
          "/audit")
PROTECTED = ("/alerts", "/metrics/baseline", "/metrics/latest", "/metrics/history",
             "/drift/data", "/drift/concept", "/drift/matrix", "/features/tenure_months/drift",
             "/retraining/status", "/models", "/batches", "/batches/1", "/quality/history",
             "/audit")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Story:
    """The served story: the service, the settings of its store and what the cycles did."""

    def __init__(self, service: ServiceProcess, settings: Settings, cycles: list[Any],
                 db: Path, digest: str) -> None:
        self.service, self.settings, self.cycles = service, settings, cycles
        self.db, self.digest = db, digest
        #: (run id, verdict) of each monitored batch, oldest first
        self.runs = [(b.run_id, b.monitoring_status) for c in cycles for b in c.batches
                     if b.run_id]

    def get(self, path: str, status: int = 200) -> dict[str, Any]:
        reply = self.service.get(path)
        assert reply.status == status, (path, reply.status, reply.text[:1000])
        assert reply.headers["content-type"].startswith("application/json")
        return reply.json


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory,
          story_template: tuple[Path, list[Any]]) -> Iterator[Story]:
    template, cycles = story_template
    root = tmp_path_factory.mktemp("served-story")
    copy_store(template, root / "store")
    settings = make_settings(root / "store")
    db = root / "store" / "mlflow.db"
    digest = _digest(db)
    service = ServiceProcess(settings, root / "service.log", token=TOKEN,
                             args=["--set", f"service.mlflow_ui_url={UI}",
                                   "--set", "service.refresh_seconds=2"]).start()
    try:
        # reports a loaded machine could not download within the first read's budget come
        # with the next reads
        deadline = time.monotonic() + 120
        while len(service.get("/drift/matrix").json.get("sequences", ())) < 6:
            assert time.monotonic() < deadline, service.log()[-3000:]
            time.sleep(0.5)
        yield Story(service, settings, cycles, db, digest)
    finally:
        service.stop()
        shutil.rmtree(root / "store", ignore_errors=True)


def _error(reply: Any, status: int) -> str:
    assert reply.status == status, (reply.status, reply.text[:500])
    body = reply.json
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    return body["error"]["message"]


# --------------------------------------------------------------------------- the story


def test_the_story_is_what_the_fixture_says(story: Story) -> None:
    assert len(story.runs) == 6
    assert [status for _, status in story.runs][:2] == ["ok", "ok"]
    assert any((c.retraining or {}).get("decision") == "promoted" for c in story.cycles)


def test_health_is_open_and_counts_the_batches(story: Story) -> None:
    reply = story.service.get("/health", authorized=False)
    assert reply.status == 200, reply.text
    body = reply.json
    assert body["status"] == "ok"
    assert body["store"] == "reachable"
    assert body["batches"] == 6
    assert body["model"] == "churn-model"
    assert body["version"]
    assert datetime.fromisoformat(body["as_of"]).tzinfo is not None
    assert 0 <= body["snapshot_age_seconds"] < 600


def test_batches_newest_first_with_verdicts_and_links(story: Story) -> None:
    body = story.get("/batches")
    assert body["total"] == 6
    assert body["next_offset"] is None
    listed = body["batches"]
    assert [b["sequence"] for b in listed] == [6, 5, 4, 3, 2, 1]
    assert [(b["run_id"], b["status"]) for b in reversed(listed)] == story.runs
    newest = listed[0]
    assert newest["run_status"] == "FINISHED"
    assert newest["n_rows"] == 2000
    assert newest["primary"]["metric"] == "roc_auc"
    assert newest["links"]["run"].startswith(f"{UI}/#/experiments/")
    assert newest["links"]["run"].endswith(f"/runs/{newest['run_id']}")
    assert newest["links"]["report"] == (
        f"{UI}/get-artifact?path=report.html&run_uuid={newest['run_id']}")
    assert datetime.fromisoformat(body["as_of"])


def test_batches_page_and_filter(story: Story) -> None:
    page = story.get("/batches?limit=2&offset=2")
    assert [b["sequence"] for b in page["batches"]] == [4, 3]
    assert (page["total"], page["limit"], page["offset"], page["next_offset"]) == (6, 2, 2, 4)
    ok = story.get("/batches?status=ok")
    expected = [rid for rid, status in reversed(story.runs) if status == "ok"]
    assert [b["run_id"] for b in ok["batches"]] == expected
    assert ok["total"] == len(expected) >= 2
    since = story.get("/batches?since=4")
    assert [b["sequence"] for b in since["batches"]] == [6, 5, 4]
    everything = story.get("/batches?since=2000-01-01")
    assert everything["total"] == 6
    assert story.get("/batches?since=2999-01-01T00:00:00Z")["total"] == 0


def test_one_batch_by_sequence_or_run_id_with_its_report(story: Story) -> None:
    run_id, status = story.runs[2]
    by_sequence = story.get("/batches/3")
    assert by_sequence["run_id"] == run_id
    assert by_sequence["status"] == status
    report = by_sequence["report"]
    assert isinstance(report, dict)
    assert report["status"] == status
    assert report["batch_id"] == by_sequence["batch_id"]
    by_run = story.get(f"/batches/{run_id}")
    assert by_run["sequence"] == 3
    assert by_run["report"] == report
    assert by_run["metrics"]["roc_auc"] == pytest.approx(by_sequence["metrics"]["roc_auc"])


def test_alerts_newest_first_from_the_reports(story: Story) -> None:
    body = story.get("/alerts?limit=1000")
    found = body["alerts"]
    assert found, "the story's drifted batches alert"
    sequences = [a["sequence"] for a in found]
    assert sequences == sorted(sequences, reverse=True)
    assert {a["severity"] for a in found} <= {"warning", "critical"}
    alerted = {rid for rid, status in story.runs if status in ("warning", "critical")}
    assert {a["run_id"] for a in found} == alerted
    assert all(a["rule"] and a["message"] for a in found)
    everything = story.get("/alerts?limit=1000&min_severity=info")["alerts"]
    assert len(everything) >= len(found)
    assert len(story.get("/alerts?limit=1")["alerts"]) == 1


def test_metrics_baseline_and_latest(story: Story) -> None:
    baseline = story.get("/metrics/baseline")
    assert (baseline["model"], baseline["problem_type"], baseline["primary_metric"]) == (
        "churn-model", "binary", "roc_auc")
    assert baseline["version"] == "2"  # the promoted retraining's version serves
    assert 0.5 < baseline["metrics"]["roc_auc"] <= 1
    assert not any(k.startswith("reference_") for k in baseline["metrics"])
    latest = story.get("/metrics/latest")
    assert (latest["sequence"], latest["run_id"], latest["status"]) == (
        6, *story.runs[-1])
    assert 0 < latest["metrics"]["roc_auc"] <= 1
    assert "drift_share" in latest["metrics"]


def test_metrics_history_with_retraining_and_champion_change(story: Story) -> None:
    body = story.get("/metrics/history")
    assert body["metric"] == "roc_auc"
    assert body["limit_line"] == pytest.approx(story.settings.monitoring.roc_auc_floor)
    points = body["points"]
    assert [p["sequence"] for p in points] == [1, 2, 3, 4, 5, 6]
    assert [p["run_id"] for p in points] == [rid for rid, _ in story.runs]
    assert all(p["realized"] is not None and p["estimated"] is not None for p in points)
    assert [r["verdict"] for r in body["retrainings"]].count("promoted") == 1
    (change,) = body["champion_changes"]
    assert (change["from"], change["to"]) == ("1", "2")
    later = story.get("/metrics/history?since=5&metric=accuracy")
    assert [p["sequence"] for p in later["points"]] == [5, 6]
    assert later["limit_line"] is None


def test_drift_data_and_concept_of_the_newest_batch(story: Story) -> None:
    data = story.get("/drift/data")
    assert (data["sequence"], data["run_id"]) == (6, story.runs[-1][0])
    assert data["drifted_features"], "the broad shift drifts many features"
    drifted = {f["feature"] for f in data["features"] if f["drifted"]}
    assert drifted == set(data["drifted_features"])
    assert 0 < data["drift_share"] <= 1
    assert {f["kind"] for f in data["features"]} <= {"numeric", "categorical"}
    concept = story.get("/drift/concept")
    assert (concept["sequence"], concept["run_id"]) == (6, story.runs[-1][0])
    assert isinstance(concept["detected"], bool)


def test_one_feature_over_the_batches(story: Story) -> None:
    body = story.get("/features/monthly_charges/drift")
    assert body["feature"] == "monthly_charges"
    points = body["points"]
    assert [p["sequence"] for p in points] == [1, 2, 3, 4, 5, 6]
    assert [p["drifted"] for p in points][:2] == [False, False]
    assert points[2]["drifted"] is True  # the covariate shift moves monthly charges
    assert all(p["test"] and p["p_value"] is not None for p in points)
    assert len(story.get("/features/monthly_charges/drift?limit=2")["points"]) == 2


def test_drift_matrix_is_features_by_batches(story: Story) -> None:
    body = story.get("/drift/matrix")
    assert body["sequences"] == [1, 2, 3, 4, 5, 6]
    assert "monthly_charges" in body["features"]
    for key in ("effect", "drifted", "p_value"):
        assert len(body[key]) == len(body["features"])
        assert all(len(row) == 6 for row in body[key])
    row = body["drifted"][body["features"].index("monthly_charges")]
    assert row[:3] == [False, False, True]


def test_retraining_models_quality_and_audit(story: Story) -> None:
    retraining = story.get("/retraining/status")
    assert retraining["last"]["verdict"] in ("promoted", "rejected")
    assert any(r["verdict"] == "promoted" and r["new_version"] == "2"
               for r in retraining["recent"])
    assert retraining["cooldown_days"] == story.settings.retraining.cooldown_days
    assert isinstance(retraining["in_cooldown"], bool)
    models = story.get("/models")
    assert models["name"] == "churn-model"
    assert models["serving"]["version"] == "2"
    assert models["fallback"]["version"] == "1"
    assert models["challenger"] is None
    assert models["last_retraining"]["run_id"] == retraining["last"]["run_id"]
    quality = story.get("/quality/history")
    assert [p["sequence"] for p in quality["points"]] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(p["issues"], int) for p in quality["points"])
    audit = story.get("/audit")
    actions = [e["action"] for e in audit["events"]]
    assert actions, "the baseline and the promotion moved aliases"
    assert any(m["alias"] == "champion" and m["to_version"] == "2"
               for e in audit["events"] for m in e["moves"])
    assert len(story.get("/audit?limit=1")["events"]) == 1


def test_every_body_says_as_of(story: Story) -> None:
    seen = set()
    for path in PROTECTED:
        body = story.get(path)
        seen.add(body["as_of"][:16])
        assert datetime.fromisoformat(body["as_of"]).tzinfo is not None, path
    assert seen


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("path", ["/batches/999", "/batches/0123456789abcdef0123456789abcdef"])
def test_an_unknown_batch_is_404(story: Story, path: str) -> None:
    message = _error(story.service.get(path), 404)
    assert "No batch" in message


def test_an_unknown_feature_is_404_naming_the_known_ones(story: Story) -> None:
    message = _error(story.service.get("/features/shoe_size/drift"), 404)
    assert "shoe_size" in message
    assert "monthly_charges" in message


def test_an_unknown_route_is_404(story: Story) -> None:
    message = _error(story.service.get("/nowhere"), 404)
    assert "/nowhere" in message


@pytest.mark.parametrize(("query", "named"), [
    ("/batches?limit=0", "limit"),
    ("/batches?limit=1001", "limit"),
    ("/batches?offset=-1", "offset"),
    ("/batches?status=bogus", "status"),
    ("/batches?since=garbage", "since"),
    ("/batches?limit=ten", "limit"),
    ("/alerts?min_severity=loud", "min_severity"),
    ("/metrics/history?metric=shoe_size", "metric"),
    ("/metrics/history?since=yesterday", "since"),
    ("/drift/matrix?limit=0", "limit"),
])
def test_a_bad_query_is_422_naming_the_parameter(story: Story, query: str, named: str) -> None:
    message = _error(story.service.get(query), 422)
    assert named in message


# --------------------------------------------------------------------------- the token


@pytest.mark.parametrize("path", PROTECTED)
def test_every_route_but_health_needs_the_token(story: Story, path: str) -> None:
    missing = story.service.get(path, authorized=False)
    _error(missing, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = story.service.get(path, token=TOKEN + "x")
    assert "wrong" in _error(wrong, 401)
    assert story.service.get(path, token=TOKEN).status == 200


def test_the_token_is_checked_before_the_query(story: Story) -> None:
    _error(story.service.get("/batches?limit=0", authorized=False), 401)
    _error(story.service.get("/batches/999", authorized=False), 401)
    not_bearer = story.service.get("/batches", authorized=False,
                                   headers={"Authorization": f"Basic {TOKEN}"})
    _error(not_bearer, 401)


def test_openapi_documents_every_route_and_is_public(story: Story) -> None:
    reply = story.service.get("/openapi.json", authorized=False)
    assert reply.status == 200
    spec = reply.json
    assert spec["info"]["title"] == "churnmon service"
    assert spec["info"]["version"]
    assert set(ROUTES) <= set(spec["paths"])
    batches = {p["name"]: p for p in spec["paths"]["/batches"]["get"]["parameters"]}
    assert batches["limit"]["schema"]["minimum"] == 1
    assert batches["limit"]["schema"]["maximum"] == 1000
    assert batches["status"]["schema"]["anyOf"][0]["enum"] == ["ok", "warning", "critical",
                                                                "failed"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "401" in spec["paths"]["/batches"]["get"]["responses"]
    assert "404" in spec["paths"]["/batches/{key}"]["get"]["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]
    docs = story.service.get("/docs", authorized=False)
    assert docs.status == 200
    assert "swagger" in docs.text.lower()


def test_no_cors_headers_by_default(story: Story) -> None:
    origin = {"Origin": "http://elsewhere.example"}
    reply = story.service.get("/batches", headers=origin)
    assert reply.status == 200
    assert "access-control-allow-origin" not in {k.lower() for k in reply.headers}
    preflight = get(story.service.url + "/batches", method="OPTIONS", headers={
        **origin, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in {k.lower() for k in preflight.headers}


def test_the_store_was_not_written(story: Story) -> None:
    """Last: everything above was read, nothing written."""
    story.get("/batches/1")
    assert _digest(story.db) == story.digest
