"""Baseline training end to end against a temporary SQLite store."""

from __future__ import annotations

import warnings
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipelines.data.generator import FEATURES, TARGET, generate_batch, generate_reference
from pipelines.data.schema import infer_schema
from pipelines.data.sources import load_training_data
from pipelines.errors import DataError, SchemaError, TrackingError
from pipelines.retraining.training import split_frame
from pipelines.stats.classification import CORE_METRICS, classification_metrics
from pipelines.store import connect, load_champion, load_reference_frame
from pipelines.train_baseline import main as train_main
from pipelines.workflows.baseline import train_baseline
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def test_champion_loads_and_scores_positive_class(trained_store) -> None:
    settings, result = trained_store
    client = connect(settings.tracking).client
    champ = load_champion(connect(settings.tracking))
    assert champ.version == result.model_version
    mv = client.get_model_version_by_alias("churn-model", "champion")
    assert str(mv.version) == result.model_version
    frame = generate_batch("no_drift", 2000, seed=5)
    scores = champ.score(frame)
    assert scores.shape == (2000,)
    assert np.all((scores >= 0) & (scores <= 1))
    # P(class 1), not P(class 0): scores rank churners above non-churners
    assert roc_auc_score(frame[TARGET], scores) > 0.75
    # MLflow's generic interface, through the registry alias, gives the same P(class 1), on
    # a batch as read back from CSV (text categories, missing values, extra columns)
    frame.to_csv("batch.csv", index=False)
    from_csv = pd.read_csv("batch.csv")
    generic = mlflow.pyfunc.load_model("models:/churn-model@champion").predict(from_csv)
    np.testing.assert_allclose(np.asarray(generic), scores, rtol=1e-6)


def test_logged_metrics_equal_recomputed_on_test_split(trained_store) -> None:
    settings, result = trained_store
    client = connect(settings.tracking).client
    run = client.get_run(result.run_id)
    frame, source = load_training_data(settings.data)
    schema = infer_schema(frame, settings.data, source)
    split = split_frame(frame, schema, settings.training, source)
    champ = load_champion(connect(settings.tracking))
    expected = classification_metrics(split.test[TARGET].to_numpy(), champ.score(split.test))
    for name in CORE_METRICS:
        assert run.data.metrics[name] == pytest.approx(expected[name], abs=1e-12), name
    assert run.data.params["n_test"] == str(len(split.test))
    # the version's tag is for people: 4 significant digits (the run's metric keeps all)
    mv = client.get_model_version("churn-model", result.model_version)
    assert mv.tags["test_roc_auc"] == f"{run.data.metrics['roc_auc']:.4g}"


def test_run_records_inputs_model_and_reference(trained_store) -> None:
    settings, result = trained_store
    client = connect(settings.tracking).client
    run = client.get_run(result.run_id)
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.name == "ChurnPrediction-Pipeline"
    assert exp.artifact_location.startswith("file://")  # beside the DB, not ./mlruns
    contexts = {
        tag.value for d in run.inputs.dataset_inputs for tag in d.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"training", "reference"}
    ref = load_reference_frame(connect(settings.tracking), result.run_id)
    assert set(FEATURES) <= set(ref.columns)
    assert {"__score__", TARGET} <= set(ref.columns)
    assert int(run.data.params["n_validation"]) + int(run.data.params["n_test"]) == len(ref)
    arts = {a.path for a in client.list_artifacts(result.run_id, "reference")}
    assert arts == {"reference/reference.parquet", "reference/context.npz",
                    "reference/feature_schema.json", "reference/importance.json"}
    info = mlflow.models.get_model_info(f"models:/churn-model/{result.model_version}")
    assert info.signature.inputs.input_names() == list(FEATURES)
    assert "float64" in str(info.signature.outputs)  # one score per row, P(class 1)
    assert info.metadata["feature_schema"]["target"] == TARGET


def test_skops_trusted_types_are_stored_for_random_forest(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"training.candidates": ["random_forest"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(settings)
    assert result.model_type == "random_forest"
    champ = load_champion(connect(settings.tracking))
    assert champ.flavor == "sklearn"
    scorer = mlflow.pyfunc.load_model(champ.model_uri).unwrap_python_model()
    sk = scorer.native_flavors["sklearn"]  # the native model inside the pyfunc scorer
    assert sk.get("serialization_format") == "skops"
    assert "sklearn.tree._tree.Tree" in sk.get("skops_trusted_types", [])
    batch = generate_batch("data_quality", 200, seed=1)  # missing values, unseen categories
    generic = mlflow.pyfunc.load_model("models:/churn-model@champion").predict(batch)
    np.testing.assert_allclose(np.asarray(generic), champ.score(batch))


def test_bring_your_own_csv_with_other_target_name(tmp_path: Path) -> None:
    own = generate_reference(2500, seed=9).rename(columns={TARGET: "left_company"})
    own = own.drop(columns=["event_timestamp"])
    path = tmp_path / "customers.csv"
    own.to_csv(path, index=False)
    settings = make_settings(tmp_path, **{"data.path": str(path), "data.target": "left_company",
                                          "data.timestamp_column": None})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(settings)
    client = connect(settings.tracking).client
    champ = load_champion(connect(settings.tracking))
    assert champ.schema.target == "left_company"
    assert set(champ.schema.features) == set(FEATURES)
    assert result.test_metrics["roc_auc"] > 0.7
    run = client.get_run(result.run_id)
    assert run.data.params["data_source"] == str(path)


def _registered(settings) -> list:
    client = connect(settings.tracking).client
    return client.search_registered_models()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, r"missing\.csv does not exist"),
        ("", r"bad\.csv is empty"),
        ("tenure,plan,churn\n1,a,0\n2,b,1\n", r"has no rows|minority class"),
        ("tenure,plan\n1,a\n2,b\n", r"target column 'churn' not found"),
        ("tenure,plan,churn\n" + "".join(f"{i},a,1\n" for i in range(50)), r"one class only"),
        ("tenure,plan,churn\n" + "".join(f"{i},a,{i % 3}\n" for i in range(50)),
         r"must be binary 0/1"),
    ],
)
def test_bad_training_data_registers_nothing(tmp_path: Path, content: str | None,
                                             match: str) -> None:
    path = tmp_path / ("missing.csv" if content is None else "bad.csv")
    if content is not None:
        path.write_text(content)
    settings = make_settings(tmp_path, **{"data.path": str(path), "data.id_column": None,
                                          "data.timestamp_column": None})
    with pytest.raises((DataError, SchemaError), match=match):
        train_baseline(settings)
    assert _registered(settings) == []


def test_cli_reports_bad_input_in_one_line(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    from pipelines.cli import run_cli

    code = run_cli(train_main, ["--data", str(tmp_path / "absent.parquet"),
                                "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert code == 2
    assert "absent.parquet does not exist" in caplog.text


def test_unreachable_tracking_server_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, **{"tracking.uri": "http://127.0.0.1:9",
                                          "tracking.request_timeout_seconds": 2})
    with pytest.raises(TrackingError, match=r"http://127\.0\.0\.1:9 is unreachable"):
        train_baseline(settings)
