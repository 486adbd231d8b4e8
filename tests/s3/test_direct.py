"""The whole loop on object storage with a direct ``s3://`` artifact root on a SQLite store:
models, reports and stored batches in the bucket, the champion loaded back from it, batches
read from ``s3://`` by every engine, and two orchestrators at once on one S3 inbox."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import mlflow
import numpy as np
import pytest

from pipelines import monitor_performance
from pipelines.data.generator import generate_batch
from pipelines.data.inbox import archive_name
from pipelines.store import connect
from pipelines.store import contract as c
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.engines import monitor_counted
from tests.conftest import PASSTHROUGH_ENV, make_settings
from tests.s3.conftest import S3

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def _parquet(frame) -> bytes:
    out = io.BytesIO()
    frame.to_parquet(out)
    return out.getvalue()


def _spark_available() -> str:
    """Why the Spark engine cannot run here ("" when it can)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'PySpark is not installed (pip install -e ".[spark]")'
    return "" if shutil.which("java") else "Java is not installed (Spark needs Java 17)"


def _monitoring_runs(settings) -> list:
    client = connect(settings.tracking).client
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    return client.search_runs([exp.experiment_id])


@pytest.mark.subprocess
def test_direct_s3_root_every_engine_and_two_orchestrators_on_one_inbox(
        s3: S3, tmp_path: Path) -> None:
    root = tmp_path / "store"
    artifacts, inbox = s3.uri("mlartifacts"), s3.uri("inbox/")
    overrides = {"tracking.artifact_root": artifacts, "paths.inbox_dir": inbox,
                 "retraining.lock_timeout_seconds": 600, "engine.chunk_rows": 1000}
    settings = make_settings(root, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings)
    assert not (root / "mlartifacts").exists()  # nothing beside the database
    keys = s3.keys("mlartifacts/")
    assert any(k.endswith("/MLmodel") for k in keys)  # the model's files are in the bucket
    # the champion loads back from the bucket and scores: P(churn) per row
    connect(settings.tracking)  # MLflow's fluent API (models:/ URIs) on this store
    champion = mlflow.pyfunc.load_model(f"models:/{settings.tracking.registered_model_name}"
                                        f"@{settings.tracking.champion_alias}")
    rows = generate_batch("no_drift", 50, seed=1)
    scores = np.asarray(champion.predict(rows)).ravel()
    assert len(scores) == 50
    assert ((scores >= 0) & (scores <= 1)).all()

    # --batch s3://... with the in-memory and the chunked engines (the command line's path)
    s3.put("batches/day1.parquet", _parquet(generate_batch("no_drift", 800, seed=11)))
    s3.put("batches/day2.csv", generate_batch("no_drift", 800, seed=12).to_csv(
        index=False).encode())
    common = ["--tracking-uri", settings.tracking.uri,
              *[a for k, v in overrides.items() for a in ("--set", f"{k}={v}")],
              "--set", f"paths.output_dir={settings.paths.output_dir}"]
    for uri, engine in ((s3.uri("batches/day1.parquet"), "memory"),
                        (s3.uri("batches/day2.csv"), "chunked")):
        assert monitor_performance.main(["--batch", uri, "--engine", engine, *common]) == 0
    runs = {r.data.tags[c.TAG_BATCH_FILE]: r for r in _monitoring_runs(settings)}
    assert set(runs) == {"day1.parquet", "day2.csv"}
    for name, run in runs.items():
        assert run.info.artifact_uri.startswith(f"{artifacts}/")
        assert run.data.tags[c.TAG_BATCH_ID] == name.split(".")[0]
        stored = s3.keys(f"mlartifacts/{run.info.run_id}/artifacts/")
        assert any(k.endswith(c.MONITORING_REPORT_ARTIFACT) for k in stored), stored
        assert any(k.endswith(".html") for k in stored), stored
    memory_stored = s3.keys(f"mlartifacts/{runs['day1.parquet'].info.run_id}/artifacts/")
    assert any(k.endswith(c.BATCH_ARTIFACT) for k in memory_stored)  # the stored batch
    # a missing object: one clear error, no run
    with pytest.raises(Exception, match="does not exist"):
        monitor_counted(settings, s3.uri("batches/none.parquet"), "chunked")

    # the S3 inbox: two orchestrators started at the same moment
    names = [f"b{i}.parquet" for i in range(4)]
    for i, name in enumerate(names):
        s3.put(f"inbox/{name}", _parquet(generate_batch("no_drift", 600, seed=40 + i)))
        time.sleep(0.01)
    s3.put("inbox/b0-again.parquet", _parquet(generate_batch("no_drift", 600, seed=40)))
    s3.put("inbox/broken.csv", b"not,a\nbatch,file\n")
    # b1 was claimed by an orchestrator that died under the lock's epoch 0: its marker would
    # hold for ages, but the next holder of the lock takes it over at once
    lock = c.lock_name(settings.tracking.registered_model_name)
    s3.put("inbox/.claims/b1.parquet.claim", json.dumps({
        "token": f"{lock}.0", "claimed_at": "2026-01-01T00:00:00+00:00",
        "expires_at": "2999-01-01T00:00:00+00:00", "object": "inbox/b1.parquet"}).encode())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV, **s3.env}
    command = [sys.executable, "-m", "pipelines.run_monitoring", "--source", "inbox", *common]
    procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        errors.append(err)
        assert proc.returncode in (0, 2), err  # 2: a cycle that found only the broken file
    assert "Traceback" not in "".join(errors)
    per_object = Counter(r.data.tags[c.TAG_BATCH_FILE] for r in _monitoring_runs(settings))
    # b0 and b0-again hold the same rows: whichever came first (S3 times have a resolution of
    # a second, then the name decides) is monitored, the other archived as a duplicate
    twins = ("b0.parquet", "b0-again.parquet")
    first = next(n for n in twins if per_object[n])
    again = twins[1 - twins.index(first)]
    assert per_object == Counter({n: 1 for n in [*names[1:], first, "day1.parquet",
                                                 "day2.csv"]})
    done = s3.keys("inbox/done/")
    assert len(done) == 5  # the four, and the duplicate's copy under its own name
    digest = {r.data.tags[c.TAG_BATCH_FILE]: r.data.tags[c.TAG_BATCH_DIGEST]
              for r in _monitoring_runs(settings)}
    assert f"inbox/done/{archive_name(again, digest[first])}" in done
    (rejected, reason) = s3.keys("inbox/rejected/")
    assert rejected.startswith("inbox/rejected/broken.")
    assert reason == rejected + ".reason.txt"
    text = s3.client.get_object(Bucket=s3.bucket, Key=reason)["Body"].read().decode()
    assert text.startswith("file: broken.csv\nreason: ")
    assert "missing" in text
    assert s3.keys("inbox/.claims/") == []
    assert [k for k in s3.keys("inbox/") if k.count("/") == 1] == []  # nothing left waiting

    # the spark engine reads an s3:// batch through the same temporary copy
    why = _spark_available()
    if why:
        pytest.skip(f"the Spark engine's part: {why}")
    frame = generate_batch("no_drift", 3000, seed=13)
    frame["y_score"] = np.clip(np.random.default_rng(0).beta(2, 5, len(frame)), 0, 1)
    s3.put("batches/day3.parquet", _parquet(frame))
    spark_settings = make_settings(root, **overrides, **{"engine.spark_master": "local[1]",
                                                         "data.prediction_column": "y_score"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_spark = monitor_counted(spark_settings, s3.uri("batches/day3.parquet"), "spark")
    assert on_spark.report.n_rows == 3000
    assert on_spark.report.context["scored_by"] == "column y_score"
    run = connect(settings.tracking).client.get_run(on_spark.run_id)
    assert run.data.tags[c.TAG_BATCH_FILE] == "day3.parquet"
    assert run.info.artifact_uri.startswith(f"{artifacts}/")
