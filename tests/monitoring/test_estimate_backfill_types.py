"""The issue's "Done when" for the label-free estimate of other model types, on the product's
path: a baseline trained with the example configuration, 10 stable batches monitored without
labels (``estimated_<metric>``), then their labels back-filled with ``register_labels``
(realized ``<metric>`` on the same runs). Regression: mean |estimated - realized RMSE| at most
5 % of the realized RMSE; multiclass: mean |estimated - realized accuracy| at most 0.01."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import load_settings
from pipelines.data.generator import generate_batch
from pipelines.data.sources import Batch
from pipelines.store import connect
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.labels import register_labels
from pipelines.workflows.monitor import Monitor
from tests.conftest import FAST_TRAINING, make_settings

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: metric, rows per batch, the bound on the mean error (a function of the realized values)
CASES = {
    "regression": ("rmse", 2000, lambda realized: 0.05 * float(np.mean(realized))),
    "multiclass": ("accuracy", 5000, lambda realized: 0.01),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_estimate_meets_the_labels_back_filled_later(kind: str, tmp_path: Path) -> None:
    metric, rows, bound = CASES[kind]
    example = load_settings(EXAMPLES / f"{kind}.toml", env={})
    base = make_settings(tmp_path / "store")
    overrides = {f"{section}.{key}": value
                 for section, body in example.model_dump().items()
                 for key, value in body.items() if section in ("data", "monitoring")}
    overrides.update({"tracking.uri": base.tracking.uri,
                      "tracking.artifact_root": base.tracking.artifact_root,
                      "tracking.experiment_prefix": example.tracking.experiment_prefix,
                      "tracking.registered_model_name": example.tracking.registered_model_name,
                      "paths.output_dir": str(tmp_path / "monitoring"),
                      **FAST_TRAINING, "data.demo_rows": 15000})
    settings = load_settings(env={}, overrides=overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings)
        monitor = Monitor(settings)
        assert monitor.problem_type == kind
        runs, frames = [], []
        for i in range(10):
            frame = generate_batch("no_drift", rows, seed=500 + i, task=kind)
            frames.append(frame)
            outcome = monitor.run(Batch(frame.drop(columns=[settings.data.target]),
                                        f"unlabelled_{i}", "test"))
            runs.append(outcome.run_id)
    client = connect(settings.tracking).client
    estimated = [client.get_run(r).data.metrics[f"estimated_{metric}"] for r in runs]
    for r in runs:
        assert metric not in client.get_run(r).data.metrics  # no labels yet

    labels = tmp_path / "labels.csv"
    pd.concat(frames)[["customer_id", settings.data.target]].to_csv(labels, index=False)
    outcome = register_labels(settings, labels)
    assert outcome.unknown == 0
    assert {b.run_id: b.action for b in outcome.batches} == dict.fromkeys(runs, "metrics")
    realized = [client.get_run(r).data.metrics[metric] for r in runs]
    errors = np.abs(np.asarray(estimated) - np.asarray(realized))
    assert errors.mean() <= bound(realized), (estimated, realized)
