"""A real Prometheus server scrapes the service's /metrics (with the bearer token) over a
store that lived through the demo story, and its queries give the story's numbers: six
batches by status, one promotion, the latest batch's cycle phases.

Needs Debian's ``prometheus`` package (``/usr/bin/prometheus``); skipped without it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from tests.conftest import free_port
from tests.service.serving import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TOKEN = "scrape-token-22"
MANUAL = Path(__file__).resolve().parents[2] / "MONITORING.md"
#: PromQL the manual suggests beside its rules (each must run).
EXPRESSIONS = (
    'churnmon_performance{kind="realized"} < on(model, metric) churnmon_performance_limit',
    'churnmon_batches_by_status{status="failed"} > 0',
    'increase(churnmon_batches_total[1d]) == 0',
    "topk(3, churnmon_cycle_phase_seconds)",
)


def manual_rules() -> str:
    """The alerting rules MONITORING.md shows (its YAML block that starts ``groups:``)."""
    blocks = re.findall(r"```yaml\n(.*?)```", MANUAL.read_text(), flags=re.S)
    (rules,) = [b for b in blocks if b.startswith("groups:") and "churnmon_" in b]
    return rules


def _get(url: str, token: str | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait(what: str, check: Any, proc: subprocess.Popen, log: Path,
          seconds: float = 90) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` (with the
    process's log) when the process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} (exit {proc.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.5)


def _start(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture
def service(story_store: tuple[Settings, list[Any]], tmp_path: Path
            ) -> Iterator[tuple[str, Settings, list[Any]]]:
    """``python -m pipelines.serve`` over the story's store, token required; its address."""
    settings, cycles = story_store
    rejected = settings.paths.inbox / "rejected"  # one refused file waiting for a look
    rejected.mkdir(parents=True, exist_ok=True)
    (rejected / "bad.csv").write_text("a,b\n1,2\n")
    (rejected / "bad.csv.reason.txt").write_text("missing columns")
    proc = ServiceProcess(settings, tmp_path / "serve.log", token=TOKEN,
                          env={"CHURNMON_SERVICE__REFRESH_SECONDS": "1"})
    try:
        proc.start()
        proc.wait_for("/metrics", 200)
        yield proc.url, settings, cycles
    finally:
        if proc.proc is not None:
            proc.stop()


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    status, body = _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert status == 200, body
    return json.loads(body)["data"]["result"]


def _values(base: str, promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in _query(base, promql)}


@pytest.mark.skipif(not Path(PROMETHEUS).exists(),
                    reason="Prometheus is not installed (/usr/bin/prometheus: Debian's "
                           "`prometheus` package; .ci/run installs it)")
def test_prometheus_scrapes_the_story(service: tuple[str, Settings, list[Any]],
                                      tmp_path: Path) -> None:
    url, settings, cycles = service
    status, _ = _get(url + "/metrics")
    assert status == 401  # the token is required: Prometheus below sends it
    target = url.removeprefix("http://")
    (tmp_path / "rules.yml").write_text(manual_rules())
    config = {  # JSON is YAML
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [{
            "job_name": "churnmon", "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": TOKEN},
            "static_configs": [{"targets": [target]}]}]}
    (tmp_path / "prometheus.yml").write_text(json.dumps(config, indent=2))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    proc = _start([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                   f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                   f"--web.listen-address=127.0.0.1:{port}"], log, cwd=tmp_path)
    try:
        def target_up() -> bool:
            status, body = _get(base + "/api/v1/targets")
            if status != 200:
                return False
            targets = json.loads(body)["data"]["activeTargets"]
            return bool(targets) and targets[0]["health"] == "up"

        _wait("Prometheus never saw the service up", target_up, proc, log)
        _wait("no churnmon sample stored yet",
              lambda: _query(base, "churnmon_batches_total"), proc, log)

        monitored = [b for c in cycles for b in c.batches if b.status == "monitored"]
        assert len(monitored) == 6
        expected = Counter(b.monitoring_status for b in monitored)
        batches = _values(base, "churnmon_batches_by_status", "status")
        assert batches == {s: float(expected[s]) for s in ("ok", "warning", "critical",
                                                           "failed")}
        assert sum(batches.values()) == 6
        assert _values(base, "churnmon_batches_total", "model") == {
            settings.tracking.registered_model_name: 6.0}  # the counter: sequence 6
        latest = monitored[-1].monitoring_status
        assert _values(base, "churnmon_batch_status", "status") == {
            s: float(s == latest) for s in ("ok", "warning", "critical")}
        retrainings = _values(base, "churnmon_retrainings", "verdict")
        assert retrainings["promoted"] == 1  # the story's promotion
        assert sum(retrainings.values()) == sum(1 for c in cycles if c.retraining)
        (info,) = _query(base, "churnmon_model_info")
        assert info["metric"]["serving_version"] == "2"  # the promoted retrained model
        assert info["metric"]["model"] == settings.tracking.registered_model_name
        assert info["metric"]["job"] == "churnmon"
        assert _values(base, "churnmon_store_up", "") == {"": 1.0}
        assert _values(base, "churnmon_refused_files", "model") == {
            settings.tracking.registered_model_name: 1.0}
        phases = _values(base, "churnmon_cycle_phase_seconds", "phase")
        assert {"convert", "scoring", "mlflow_run", "registry", "notify"} <= set(phases)
        assert all(v >= 0 for v in phases.values())
        (rate,) = _values(base, "churnmon_batch_rows_per_second", "model").values()
        assert rate > 0
        (auc,) = _values(base, 'churnmon_performance{kind="realized"}', "metric").items()
        assert auc[0] == "roc_auc"
        assert 0.5 < auc[1] <= 1
        for promql in EXPRESSIONS:  # the manual's expressions run
            status, body = _get(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
            assert status == 200, (promql, body)
        # the rules MONITORING.md shows loaded and evaluated
        status, body = _get(base + "/api/v1/rules")
        rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        assert {r["name"] for r in rules} == {"ChurnmonBatchCritical", "ChurnmonNoRecentBatch",
                                              "ChurnmonStoreDown"}
        _wait("the rules were not evaluated",
              lambda: all(r["health"] == "ok" and r.get("lastEvaluation", "").startswith("2")
                          and not r["lastEvaluation"].startswith("0001")
                          for r in json.loads(_get(base + "/api/v1/rules")[1])["data"][
                              "groups"][0]["rules"]), proc, log, seconds=30)
    finally:
        _stop(proc)
