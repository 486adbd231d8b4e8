"""Artifacts through a tracking server whose ``--artifacts-destination`` is on S3: the
server alone holds the S3 credentials; the client (training, monitoring, loading the
champion) speaks ``mlflow-artifacts:/`` to it with no AWS variable at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipelines.data.generator import generate_batch
from pipelines.data.sources import FileSource
from pipelines.store import connect
from pipelines.store import contract as c
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.monitor import monitor_source
from tests.conftest import PASSTHROUGH_ENV, free_port, make_settings
from tests.s3.conftest import S3

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.server]


@contextmanager
def s3_backed_server(folder: Path, destination: str, env: dict[str, str]) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1, its artifacts in ``destination`` (s3://), the AWS
    environment given to it alone; yields its URI once it answers /health."""
    folder.mkdir(parents=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", destination, "--workers", "1"],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV, **env})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("mlflow server did not start: "
                                + (folder / "server.log").read_text()[-2000:])
                time.sleep(0.5)
        yield uri
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        log.close()


def test_artifacts_through_a_server_on_s3_need_no_credentials_on_the_client(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with s3_backed_server(tmp_path / "server", s3.uri("mlartifacts"), s3.env) as uri:
        for var in s3.env:  # the client has no AWS credentials, no endpoint
            monkeypatch.delenv(var)
        settings = make_settings(tmp_path / "client", **{"tracking.uri": uri})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_baseline(settings)
        batch = tmp_path / "day1.parquet"
        generate_batch("no_drift", 800, seed=21).to_parquet(batch)
        (outcome,) = monitor_source(settings, FileSource(batch, settings.data))
        run = connect(settings.tracking).client.get_run(outcome.run_id)
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        champion = mlflow.pyfunc.load_model(
            f"models:/{settings.tracking.registered_model_name}@"
            f"{settings.tracking.champion_alias}")
        scores = np.asarray(champion.predict(generate_batch("no_drift", 20, seed=2))).ravel()
        assert len(scores) == 20
        assert ((scores >= 0) & (scores <= 1)).all()
        report = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/"
                                            f"{c.MONITORING_REPORT_ARTIFACT}")
        assert outcome.run_id in report or '"status"' in report
    keys = s3.keys("mlartifacts/")
    assert any(k.endswith("/MLmodel") for k in keys)  # the models are in the bucket
    stored = [k for k in keys if f"/{outcome.run_id}/artifacts/" in k]
    assert any(k.endswith(c.MONITORING_REPORT_ARTIFACT) for k in stored), keys
    assert any(k.endswith(c.BATCH_ARTIFACT) for k in stored), keys
    assert any(k.endswith(".html") for k in stored), keys
    assert not (tmp_path / "client" / "mlartifacts").exists()
    assert not (tmp_path / "server" / "mlartifacts").exists()
