"""The champion through MLflow's serving: `mlflow models serve -m models:/<name>@champion` on
127.0.0.1 answers a scoring request with P(positive class) for a plain batch; for a regression
model with one prediction per row, for a multiclass model with one row of named class
probabilities per row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.data.generator import generate_batch
from pipelines.store import connect, load_champion
from tests.conftest import PASSTHROUGH_ENV, free_port
from tests.foundation.test_model_types import register_type_model
from tests.retraining.test_training_types import (
    CLASSES,
    TARGETS,
)

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]


@contextmanager
def served(tracking_uri: str, tmp_path: Path) -> Iterator[str]:
    """`mlflow models serve` of the champion on 127.0.0.1; yields its base URL once it answers
    /ping, stops it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update({**PASSTHROUGH_ENV, "MLFLOW_TRACKING_URI": tracking_uri})
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
                tail = (tmp_path / "serve.log").read_text()[-3000:]
                assert proc.poll() is None, tail
                assert time.monotonic() < deadline, tail
                time.sleep(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def invoke(url: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` to the server's /invocations; its ``predictions``."""
    request = urllib.request.Request(
        f"{url}/invocations", method="POST", data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["predictions"]


def test_mlflow_models_serve_scores_the_champion(trained_store, tmp_path: Path) -> None:
    settings, _ = trained_store
    with served(settings.tracking.uri, tmp_path) as url:
        batch = generate_batch("data_quality", 50, seed=8)  # text categories, missing values
        records = json.loads(batch.drop(columns=["event_timestamp"]).to_json(orient="records"))
        predictions = invoke(url, {"dataframe_records": records})
        expected = load_champion(connect(settings.tracking)).score(batch)
        np.testing.assert_allclose(np.asarray(predictions, dtype=float), expected, rtol=1e-6)
        assert all(0.0 <= p <= 1.0 for p in predictions)


def _split_payload(frame: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}


def test_mlflow_models_serve_regression_and_multiclass(tmp_path: Path) -> None:
    """One model of each type registered in its own store, each served: n predictions for
    the regression model, n rows of k class-named probabilities for the multiclass one."""
    for task in ("regression", "multiclass"):
        settings, batch = register_type_model(tmp_path / task, task)
        batch = batch.head(40)
        expected = load_champion(connect(settings.tracking)).score(batch)
        with served(settings.tracking.uri, tmp_path / task) as url:
            predictions = invoke(url, _split_payload(batch.drop(columns=[TARGETS[task]])))
        if task == "regression":
            assert len(predictions) == 40
            np.testing.assert_allclose(np.asarray(predictions, dtype=float), expected,
                                       rtol=1e-6)
        else:
            assert len(predictions) == 40
            assert all(list(row) == list(CLASSES) for row in predictions)
            table = pd.DataFrame(predictions)[list(CLASSES)].to_numpy(dtype=float)
            np.testing.assert_allclose(table, expected, rtol=1e-6)
            np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-6)
