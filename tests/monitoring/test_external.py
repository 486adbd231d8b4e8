"""A model trained elsewhere: its reference and scores registered with no training, then each
batch judged on its own score column against the reference's scores."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.data.batch import Batch
from pipelines.data.generator import TARGET, churn_probability, generate_batch, generate_reference
from pipelines.errors import DataError, RetrainingRefused
from pipelines.store import alias_version, connect
from pipelines.workflows.external import register_reference
from pipelines.workflows.monitor import Monitor
from pipelines.workflows.retrain import retrain

pytestmark = pytest.mark.slow


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    """The other team's outputs beside the inputs: a score and a hard label."""
    score = np.nan_to_num(churn_probability(frame), nan=0.27)
    return frame.assign(y_score=score, y_pred=(score >= 0.5).astype(int))


def test_an_external_model_is_monitored_on_its_own_scores(settings, tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    _scored(generate_reference(6000, seed=3)).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register_reference(settings, path, "y_score", target=TARGET)
    assert "y_pred" not in result.features  # a model output, not an input
    assert "y_score" not in result.features
    store = connect(settings.tracking)
    version = alias_version(store, "champion")
    assert version.tags["model_origin"] == "external"
    assert version.description.startswith("**Model trained elsewhere**")

    monitor = Monitor(settings)
    assert monitor.champion.external
    stable = monitor.run(Batch(_scored(generate_batch("no_drift", 4000, 41)).drop(
        columns=[TARGET]), "stable", "test")).report
    assert not stable.prediction_drift.drifted  # its own scores against its own reference
    assert stable.status == "ok"
    assert stable.context["scored_by"].startswith("champion v1")
    shifted = monitor.run(Batch(_scored(generate_batch("covariate_shift", 4000, 42)).drop(
        columns=[TARGET]), "shifted", "test")).report
    assert shifted.prediction_drift.drifted
    assert shifted.drifted_features
    assert shifted.status != "ok"

    with pytest.raises(DataError, match="score column 'y_score' is missing"):
        monitor.evaluate(Batch(generate_batch("no_drift", 500, 43), "bare", "test"))
    with pytest.raises(RetrainingRefused, match="trained elsewhere"):
        retrain(settings)


# --- other problem types -------------------------------------------------------------------

def _with_predictions(task: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The other team's outputs beside the inputs: the noise-free rule (regression, column
    ``pred``) or softmax class probabilities (multiclass, ``pred_<class>``)."""
    from tests.retraining.test_training_types import CLASSES

    if task == "regression":
        shift = frame["segment"].map({"a": 0.0, "b": 2.0, "c": -2.0}).to_numpy()
        return frame.assign(pred=50 + 3 * frame["x1"] - 2 * frame["x2"] + shift)
    score = 3 * np.column_stack([-frame["x1"] - frame["x2"], frame["x1"], frame["x2"]])
    proba = np.exp(score) / np.exp(score).sum(axis=1, keepdims=True)
    return frame.assign(**{f"pred_{c}": proba[:, j] for j, c in enumerate(CLASSES)})


def _type_settings(tmp_path: Path, task: str) -> Any:
    from tests.conftest import make_settings
    from tests.retraining.test_training_types import TARGETS

    return make_settings(tmp_path, **{"data.problem_type": task, "data.target": TARGETS[task],
                                      "data.id_column": None, "data.timestamp_column": None})


@pytest.mark.parametrize(
    ("task", "change", "match"),
    [
        ("regression", lambda f: f.assign(pred=f["pred"].where(f.index != 4, np.inf)),
         r"prediction column 'pred' has 1 value\(s\) that are missing, infinite"),
        ("regression", lambda f: f.drop(columns=["pred"]), r"prediction column 'pred' is missing"),
        ("multiclass", lambda f: f.drop(columns=["pred_gold"]),
         r"probability column\(s\) missing: pred_gold"),
        ("multiclass", lambda f: f.assign(pred_gold=f["pred_gold"] * 0.9),
         r"pred_bronze, pred_gold, pred_silver do not sum to 1"),
        ("multiclass", lambda f: f.assign(pred_platinum=0.0),
         r"pred_platinum look like probabilities of classes the target 'plan' never shows"),
    ],
)
def test_bad_external_predictions_per_type_register_nothing(tmp_path: Path, task: str,
                                                            change: Any, match: str) -> None:
    from tests.retraining.test_training_types import synthetic

    path = tmp_path / "reference.parquet"
    change(_with_predictions(task, synthetic(task, 400, seed=21))).to_parquet(path)
    settings = _type_settings(tmp_path, task)
    with pytest.raises(DataError, match=match):
        register_reference(settings, path, "pred")
    assert connect(settings.tracking).client.search_registered_models() == []


@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_an_external_model_of_another_type_is_registered_with_its_type(
        tmp_path: Path, task: str) -> None:
    import mlflow

    from pipelines.store import load_champion
    from tests.retraining.test_training_types import CLASSES, synthetic

    path = tmp_path / "reference.parquet"
    _with_predictions(task, synthetic(task, 1500, seed=22)).to_parquet(path)
    settings = _type_settings(tmp_path, task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = register_reference(settings, path, "pred")
    assert not any(str(f).startswith("pred") for f in result.features)  # outputs, not inputs
    store = connect(settings.tracking)
    version = alias_version(store, "champion")
    assert version.tags["problem_type"] == task
    champion = load_champion(store)
    assert champion.external
    assert champion.problem_type == task
    batch = _with_predictions(task, synthetic(task, 200, seed=23))
    outputs = champion.score(batch)
    generic = mlflow.pyfunc.load_model("models:/churn-model@champion").predict(batch)
    if task == "regression":
        assert "reference_rmse" in version.tags
        np.testing.assert_array_equal(outputs, batch["pred"].to_numpy())
        np.testing.assert_array_equal(np.asarray(generic), outputs)
        assert result.baseline["rmse"] < 1.0  # the reference's own error: the noise
    else:
        assert champion.schema.classes == CLASSES
        assert outputs.shape == (200, 3)
        assert list(generic.columns) == list(CLASSES)
        np.testing.assert_allclose(generic.to_numpy(), outputs)
        assert result.baseline["macro_f1"] > 0.8
