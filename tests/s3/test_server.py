"""Artifacts through a tracking server whose ``--artifacts-destination`` is on S3: the
server alone holds the S3 credentials; the client (training, monitoring, loading the
champion) speaks ``mlflow-artifacts:/`` to it with no AWS variable at all."""

from __future__ import annotations

import warnings
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
from tests.conftest import PASSTHROUGH_ENV, make_settings, mlflow_server
from tests.s3.conftest import S3

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.server]




def test_artifacts_through_a_server_on_s3_need_no_credentials_on_the_client(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the AWS environment is the server's alone
    server_env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV, **s3.env}
    with mlflow_server(tmp_path / "server", artifacts=s3.uri("mlartifacts"),
                       env=server_env) as uri:
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
