"""The champion through MLflow's serving: `mlflow models serve -m models:/<name>@champion` on
127.0.0.1 answers a scoring request with P(positive class) for a plain batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipelines.data.generator import generate_batch
from pipelines.store import connect, load_champion
from tests.conftest import PASSTHROUGH_ENV, free_port

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]


def test_mlflow_models_serve_scores_the_champion(trained_store, tmp_path: Path) -> None:
    settings, _ = trained_store
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update({**PASSTHROUGH_ENV, "MLFLOW_TRACKING_URI": settings.tracking.uri})
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/churn-model@champion",
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                served = (tmp_path / "serve.log").read_text()[-3000:]
                assert proc.poll() is None, served
                assert time.monotonic() < deadline, served
                time.sleep(1)
        batch = generate_batch("data_quality", 50, seed=8)  # text categories, missing values
        records = json.loads(batch.drop(columns=["event_timestamp"]).to_json(orient="records"))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", method="POST",
            data=json.dumps({"dataframe_records": records}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
        expected = load_champion(connect(settings.tracking)).score(batch)
        np.testing.assert_allclose(np.asarray(predictions, dtype=float), expected, rtol=1e-6)
        assert all(0.0 <= p <= 1.0 for p in predictions)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
