"""Regression and multiclass models in the store: logged as the pyfunc scorer, registered with
their type, loaded back as the champion, scored the same through MLflow's generic interface;
bad input per type registers nothing."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.config import Settings
from pipelines.data.schema import infer_schema
from pipelines.errors import DataError, SchemaError
from pipelines.retraining.training import train_baseline_models
from pipelines.store import connect, load_champion, log_model, promote, register_model
from pipelines.store.models import type_tags
from tests.conftest import make_settings
from tests.retraining.test_training_types import (
    CLASSES,
    SMALL,
    TARGETS,
    synthetic,
)

pytestmark = pytest.mark.slow

def type_store(root: Path, task: str, **overrides: Any) -> Settings:
    """Settings on a fresh store under ``root`` for ``task`` on the synthetic frame."""
    return make_settings(root, **{"data.problem_type": task, "data.target": TARGETS[task],
                                  "data.id_column": None, "data.timestamp_column": None,
                                  **SMALL, **overrides})


def register_type_model(root: Path, task: str) -> tuple[Settings, pd.DataFrame]:
    """Train ``task`` on the synthetic frame, log the best as the pyfunc scorer, register it
    with its type tags and make it champion (what the baseline workflow does, without the
    reference context). Returns the settings and a fresh frame to score."""
    settings = type_store(root, task)
    frame = synthetic(task, 900, seed=11)
    schema = infer_schema(frame, settings.data, "synthetic")
    outcome = train_baseline_models(frame, schema, settings.training, "synthetic")
    store = connect(settings.tracking)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with store.start_run(settings.tracking.pipeline_experiment, run_name=f"{task} model"):
            info = log_model(store, outcome.best, schema, outcome.split.test.head(50))
            version = register_model(store, info.model_uri, tags=type_tags(schema))
            promote(store, version.version, action="baseline", reason=f"{task} test model")
    return settings, synthetic(task, 300, seed=12)


def test_regression_model_round_trip(tmp_path: Path) -> None:
    settings, batch = register_type_model(tmp_path / "store", "regression")
    store = connect(settings.tracking)
    champion = load_champion(store)
    assert champion.problem_type == "regression"
    version = store.client.get_model_version("churn-model", champion.version)
    assert version.tags["problem_type"] == "regression"
    assert "classes" not in version.tags
    pred = champion.score(batch)
    assert pred.shape == (300,)
    assert pred.dtype == np.float64
    # predictions on the target's scale, the rule learnt (target spread about 3.9)
    assert np.sqrt(np.mean((pred - batch["charges"].to_numpy()) ** 2)) < 1.5
    generic = mlflow.pyfunc.load_model("models:/churn-model@champion").predict(
        batch.drop(columns=["charges"]))
    np.testing.assert_allclose(np.asarray(generic), pred, rtol=1e-9)
    info = mlflow.models.get_model_info(champion.model_uri)
    assert info.metadata["problem_type"] == "regression"
    assert "predicted value" in info.metadata["output"]
    assert "float64" in str(info.signature.outputs)  # one value per row, as for binary


def test_multiclass_model_round_trip(tmp_path: Path) -> None:
    settings, batch = register_type_model(tmp_path / "store", "multiclass")
    store = connect(settings.tracking)
    champion = load_champion(store)
    assert champion.problem_type == "multiclass"
    assert champion.schema.classes == CLASSES
    version = store.client.get_model_version("churn-model", champion.version)
    assert version.tags["problem_type"] == "multiclass"
    assert json.loads(version.tags["classes"]) == list(CLASSES)
    proba = champion.score(batch)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    predicted = np.asarray(CLASSES)[np.argmax(proba, axis=1)]
    assert np.mean(predicted == batch["plan"].to_numpy()) > 0.8
    # MLflow's generic interface: one float column per class, named by the class
    generic = mlflow.pyfunc.load_model("models:/churn-model@champion").predict(
        batch.drop(columns=["plan"]))
    assert isinstance(generic, pd.DataFrame)
    assert list(generic.columns) == list(CLASSES)
    np.testing.assert_allclose(generic.to_numpy(), proba, rtol=1e-9)
    info = mlflow.models.get_model_info(champion.model_uri)
    outputs = info.signature.outputs.to_dict()
    assert [o["name"] for o in outputs] == list(CLASSES)
    assert {o["type"] for o in outputs} == {"double"}


def _csv(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("task", "change", "match"),
    [
        ("regression", lambda f: f.assign(charges=f["charges"].astype(object).where(
            f.index != 3, "unknown")), r"must be numeric for a regression model"),
        ("regression", lambda f: f.assign(charges=f["charges"].where(f.index % 50 != 0,
                                                                    np.inf)),
         r"infinite value"),
        ("multiclass", lambda f: f.assign(plan="gold"), r"one class only"),
        ("multiclass", lambda f: f.assign(plan=f["plan"].where(f.index != 2)),
         r"1 missing value"),
    ],
)
def test_bad_training_data_per_type_registers_nothing(tmp_path: Path, task: str, change: Any,
                                                      match: str) -> None:
    from pipelines.workflows.baseline import train_baseline

    path = _csv(tmp_path, change(synthetic(task, 300, seed=13)))
    settings = type_store(tmp_path, task, **{"data.path": path})
    with pytest.raises((DataError, SchemaError), match=match):
        train_baseline(settings)
    assert connect(settings.tracking).client.search_registered_models() == []


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_train_baseline_per_type(tmp_path: Path, task: str) -> None:
    from pipelines.workflows.baseline import train_baseline

    path = _csv(tmp_path, synthetic(task, 900, seed=14))
    settings = type_store(tmp_path, task, **{"data.path": path})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(settings)
    store = connect(settings.tracking)
    run = store.client.get_run(result.run_id)
    primary = "rmse" if task == "regression" else "macro_f1"
    assert f"val_{primary}/{result.model_type}" in run.data.metrics
    assert primary in run.data.metrics
    assert "roc_auc" not in run.data.metrics or task == "multiclass"
    assert run.data.tags["problem_type"] == task
    version = store.client.get_model_version("churn-model", result.model_version)
    assert version.tags["problem_type"] == task
    assert f"test_{primary}" in version.tags
    champion = load_champion(store)
    assert champion.problem_type == task
