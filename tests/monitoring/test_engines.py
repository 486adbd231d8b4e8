"""One batch through the in-memory, chunked and Spark engines against a real store and model:
the same verdicts and metric names; KS within 1e-3 of exact; PSI and chi-square within 1e-6.
Spark runs in local mode (PySpark is installed by ``make test``; Java 17)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.config import Settings
from pipelines.data.generator import generate_batch
from pipelines.errors import DataError, SchemaError
from pipelines.store import connect
from pipelines.store.contract import TAG_ENGINE
from pipelines.workflows.engines import monitor_counted, spark_session
from pipelines.workflows.monitor import MonitorOutcome, monitor_batch
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Any:
    session = spark_session(Settings().engine.model_copy(update={"spark_master": "local[2]"}))
    yield session
    session.stop()


def _compare(memory: MonitorOutcome, other: MonitorOutcome, client: MlflowClient) -> None:
    a, b = memory.report, other.report
    assert (b.status, b.drifted_features, b.retraining_recommended) == (
        a.status, a.drifted_features, a.retraining_recommended)
    assert [x.rule for x in b.alerts] == [x.rule for x in a.alerts]
    metrics_a = client.get_run(memory.run_id).data.metrics
    metrics_b = client.get_run(other.run_id).data.metrics
    # by design apart: the impact ranking scores rows again (memory only), and consecutive
    # drift needs a batch before (the first of the runs here has none)
    apart = ("ops/", "impact/", "consecutive/")
    verdicts = {k for k in metrics_a if not k.startswith(apart)}
    assert {k for k in metrics_b if not k.startswith(apart)} == verdicts
    assert any(k.startswith("impact/") for k in metrics_a)
    assert not any(k.startswith("impact/") for k in metrics_b)
    # the operational metrics name each engine's own phases (the counting's included)
    engine = client.get_run(other.run_id).data.tags[TAG_ENGINE]
    counting = {"chunked": {"read", "convert", "scoring", "counting"}, "spark": {"spark"}}
    assert {f"ops/{p}_seconds" for p in counting[engine] | {
        "statistics", "mlflow_run", "artifacts", "registry", "notify"}} | {
        "ops/total_seconds", "ops/rows_per_second"} <= set(metrics_b)
    assert ("ops/scoring_ms_per_1000_rows" in metrics_b) == (engine == "chunked")
    for m, c in zip(a.feature_drift, b.feature_drift, strict=True):
        assert m.feature == c.feature
        if m.kind == "numeric":
            assert -1e-12 <= m.statistic - c.statistic < 1e-3
            assert c.effect_size == pytest.approx(m.effect_size, abs=1e-6)
        else:
            assert c.statistic == pytest.approx(m.statistic, abs=1e-6)
            assert c.effect_size == pytest.approx(m.effect_size, abs=1e-6)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert metrics_b[name] == pytest.approx(metrics_a[name], abs=1e-9)
    assert metrics_b["roc_auc"] == pytest.approx(metrics_a["roc_auc"], abs=1e-3)


def test_memory_chunked_and_spark_give_the_same_verdict(
        trained_store: tuple[Settings, Any], tmp_path: Path, spark: Any) -> None:
    settings, _ = trained_store
    settings = make_settings(tmp_path / "store", **{"engine.chunk_rows": 30_000,
                                                    "engine.spark_master": "local[2]"})
    path = tmp_path / "b100k.parquet"
    generate_batch("covariate_shift", 100_000, seed=21).to_parquet(path, row_group_size=25_000)
    store = connect(settings.tracking)
    client = MlflowClient(settings.tracking.uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        memory = monitor_batch(settings, path, store=store)
        chunked = monitor_counted(settings, str(path), "chunked", store=store)
        on_spark = monitor_counted(settings, str(path), "spark", store=store)
    assert memory.report.status != "ok"
    assert memory.report.drifted_features
    for other, engine in ((chunked, "chunked"), (on_spark, "spark")):
        _compare(memory, other, client)
        run = client.get_run(other.run_id)
        assert run.data.tags[TAG_ENGINE] == engine
        assert run.data.tags["batch_digest"] == client.get_run(
            memory.run_id).data.tags["batch_digest"]
        artifacts = {a.path for a in client.list_artifacts(other.run_id)}
        assert {"report.html", "monitoring_report.json", "drift_table.json"} <= artifacts
        assert "batch" not in artifacts  # the rows themselves are not stored
    assert on_spark.report.context["scored_by"].endswith("(spark_udf)")
    assert "KS from 1000 reference-quantile bins" in on_spark.report.context["engine_note"]


def test_spark_reads_a_folder_of_parts_and_the_score_column(
        trained_store: tuple[Settings, Any], tmp_path: Path, spark: Any) -> None:
    settings = make_settings(tmp_path / "store", **{"engine.spark_master": "local[2]",
                                                    "data.prediction_column": "y_score"})
    frame = generate_batch("no_drift", 20_000, seed=22)
    frame["y_score"] = np.clip(np.random.default_rng(0).beta(2, 5, len(frame)), 0, 1)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[part].to_parquet(folder / f"part-{i:05d}.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        on_spark = monitor_counted(settings, str(folder), "spark")
        chunked = monitor_counted(settings, str(folder), "chunked")
    assert on_spark.report.n_rows == chunked.report.n_rows == 20_000
    assert on_spark.report.context["scored_by"] == "column y_score"
    assert on_spark.report.prediction_drift.statistic == pytest.approx(
        chunked.report.prediction_drift.statistic, abs=1e-12)


def test_two_column_predict_proba_is_scored_as_positive_class_on_spark(
        tmp_path: Path, spark: Any) -> None:
    """The trap: spark_udf(result_type="double") on predict_proba keeps P(class 0)."""
    import mlflow
    from pyspark.sql.types import DoubleType
    from sklearn.linear_model import LogisticRegression

    from pipelines.store.spark import positive_class_column

    rng = np.random.default_rng(3)
    x = pd.DataFrame({"a": rng.normal(size=2_000), "b": rng.normal(size=2_000)})
    y = (x["a"] + 0.5 * x["b"] + rng.normal(0, 0.5, 2_000) > 0.3).astype(int)
    model = LogisticRegression().fit(x, y)
    settings = make_settings(tmp_path / "store")
    store = connect(settings.tracking)
    store.use()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(model, name="m", pyfunc_predict_fn="predict_proba",
                                            input_example=x.head(3))
    frame = spark.createDataFrame(x.head(500))
    scored = frame.withColumn("p", positive_class_column(
        store, spark, info.model_uri, ["a", "b"], x.head(5))).toPandas()
    expected = model.predict_proba(x.head(500))[:, 1]
    np.testing.assert_allclose(scored["p"].to_numpy(), expected, rtol=1e-9)
    naive = mlflow.pyfunc.spark_udf(spark, info.model_uri, result_type=DoubleType(),
                                    env_manager="local")
    trapped = frame.withColumn("p", naive("a", "b")).toPandas()["p"].to_numpy()
    np.testing.assert_allclose(trapped, 1 - expected, rtol=1e-9)  # what the trap returns


def test_chunked_engine_refuses_bad_files_and_leaves_no_run(
        trained_store: tuple[Settings, Any], tmp_path: Path) -> None:
    settings, _ = trained_store
    client = MlflowClient(settings.tracking.uri)
    experiment = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    before = (len(client.search_runs([experiment.experiment_id]))
              if experiment is not None else 0)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match="could not be read as Parquet"):
        monitor_counted(settings, str(corrupt), "chunked")
    with pytest.raises(DataError, match="does not exist"):
        monitor_counted(settings, str(tmp_path / "absent.parquet"), "chunked")
    missing = tmp_path / "missing.csv"
    generate_batch("no_drift", 2_000, seed=1).drop(columns=["contract"]).to_csv(missing,
                                                                                 index=False)
    with pytest.raises(SchemaError, match="contract"):
        monitor_counted(settings, str(missing), "chunked")
    experiment = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    after = len(client.search_runs([experiment.experiment_id])) if experiment else 0
    assert after == before
