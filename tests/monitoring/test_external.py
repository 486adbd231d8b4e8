"""A model trained elsewhere: its reference and scores registered with no training, then each
batch judged on its own score column against the reference's scores."""

from __future__ import annotations

import warnings
from pathlib import Path

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
