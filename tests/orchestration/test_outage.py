"""Fault 2: the tracking server is killed in the middle of a batch, then started again.

Real processes throughout: `mlflow server` on 127.0.0.1 (killed with SIGKILL while the
orchestrator's monitoring run is open), the orchestrator as `python -m
pipelines.run_monitoring --source inbox`, and the same again once the server is back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from pipelines.data.generator import generate_batch
from pipelines.store import connect
from pipelines.store import contract as c
from pipelines.store.lock import epoch_tags
from tests.conftest import PASSTHROUGH_ENV, MlflowServer, make_settings

pytestmark = [pytest.mark.slow, pytest.mark.subprocess, pytest.mark.server]


def _post(uri: str, endpoint: str, body: dict) -> dict:
    request = urllib.request.Request(f"{uri}/api/2.0/mlflow/{endpoint}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    # generous: a loaded machine (two test workers, the orchestrator scoring 300,000 rows)
    # can keep the server from answering a poll within a couple of seconds
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 (127.0.0.1)
        return json.load(resp)


def _running_runs(uri: str) -> list[str]:
    experiments = _post(uri, "experiments/search", {"max_results": 100})["experiments"]
    found = _post(uri, "runs/search", {
        "experiment_ids": [e["experiment_id"] for e in experiments],
        "filter": "attributes.status = 'RUNNING'"})
    return [r["info"]["run_id"] for r in found.get("runs", [])]


def _cycle(uri: str, root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.run_monitoring", "--source", "inbox",
         "--tracking-uri", uri, "--set", f"paths.output_dir={root / 'monitoring'}",
         "--set", f"paths.inbox_dir={root / 'inbox'}"],
        cwd=root, env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_server_killed_mid_batch_then_restarted(trained_store, tmp_path: Path) -> None:
    settings, _ = trained_store
    db = Path(settings.tracking.uri.removeprefix("sqlite:///"))
    server = MlflowServer(tmp_path / "server", db=db)  # serves the trained store
    uri = server.start()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    batch = generate_batch("no_drift", 300_000, 11, start_time=pd.Timestamp("2026-02-01"))
    batch.to_parquet(inbox / "b1.parquet")

    first = _cycle(uri, tmp_path)
    deadline = time.monotonic() + 120
    while not _running_runs(uri):  # the orchestrator's monitoring run is open: mid-batch
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.kill()
    try:
        _, err = first.communicate(timeout=120)  # not 12 minutes of HTTP retries
    except subprocess.TimeoutExpired:
        first.kill()
        pytest.fail("the orchestrator hung after the tracking server died")

    assert first.returncode == 1, err  # a batch failed: retry later
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert len(errors) == 1, err  # one clear line
    assert "b1.parquet not monitored" in errors[0]
    assert f"{uri} stopped answering (connection refused)" in errors[0]
    assert (inbox / "b1.parquet").exists()  # back in the inbox, nothing archived
    assert not list((inbox / ".processing").glob("*"))
    assert not (inbox / "done").exists() or not list((inbox / "done").iterdir())

    server.start()  # same URI
    try:
        (abandoned,) = _running_runs(uri)  # left RUNNING while nobody could end it
        second = _cycle(uri, tmp_path)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err  # not 75: the dead cycle's lock was taken over
        assert "is dead" in err
        assert _running_runs(uri) == []
        store = connect(make_settings(tmp_path / "client", **{"tracking.uri": uri}).tracking)
        run = store.client.get_run(abandoned)
        assert run.info.status == "FAILED"
        assert "abandoned" in run.data.tags[c.TAG_FAILURE_REASON]
        finished = store.client.search_runs(
            [run.info.experiment_id], "attributes.status = 'FINISHED'")
        assert len(finished) == 1  # the batch monitored exactly once
        assert finished[0].data.tags[c.TAG_BATCH_DIGEST] == run.data.tags[c.TAG_BATCH_DIGEST]
        assert not (inbox / "b1.parquet").exists()
        assert len(list((inbox / "done").glob("b1.*.parquet"))) == 1
        lock = c.lock_name(settings.tracking.registered_model_name)
        epochs = epoch_tags(store.client, lock)
        newest = max(epochs, key=lambda name: int(name.rsplit(".", 1)[1]))
        assert "lock.released_at" in epochs[newest]  # the second cycle released its lock
    finally:
        server.stop()
