"""Retraining end to end for a regression and a multiclass champion (slow; tiny synthetic data
and models on a temporary SQLite store): a weak champion, three labelled concept-drift batches
monitored, retraining promotes a candidate on the type's primary metric, margin and paired
test, and logs everything under the type's names."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.config import Settings, with_overrides
from pipelines.data.batch import Batch
from pipelines.problems import PROBLEM_TYPE_TAG, problem
from pipelines.retraining.gate import TEST_NAMES
from pipelines.store import connect, load_champion
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.monitor import Monitor
from pipelines.workflows.retrain import HOLDOUT_COLUMNS_BY_TYPE, PAIRED_TEST_ARTIFACT, retrain
from tests import type_data
from tests.conftest import make_settings
from tests.type_data import TARGETS

CLASSES = ("basic", "plus", "pro")


def synthetic(task: str, n: int, seed: int, *, concept: bool = False) -> pd.DataFrame:
    """:func:`tests.type_data.synthetic` with less noise (a weak champion must lose clearly)
    and this module's classes."""
    return type_data.synthetic(task, n, seed, concept=concept, noise=1.0, classes=CLASSES)


def _weak_champion(task: str, root: Path) -> Settings:
    """Settings on a store of its own with a deliberately poor ``task`` champion (one
    depth-1 tree), trained on the first regime."""
    root.mkdir(parents=True, exist_ok=True)
    data = root / "train.csv"
    synthetic(task, 2000, seed=1).to_csv(data, index=False)
    settings = make_settings(root / "store", data__path=str(data), data__problem_type=task,
                             data__target=TARGETS[task], data__timestamp_column=None,
                             data__id_column="customer_id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(with_overrides(settings, {
            "training.candidates": ["random_forest"], "training.rf_n_estimators": 1,
            "training.rf_max_depth": 1}))
    return settings


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_retraining_promotes_on_the_types_metric_margin_and_paired_test(
        task: str, tmp_path: Path) -> None:
    settings = _weak_champion(task, tmp_path)
    kind = problem(task)
    m = kind.primary_metric
    monitor = Monitor(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(3):
            monitor.run(Batch(synthetic(task, 1000, seed=20 + i, concept=True), f"concept-{i}",
                              "tests"))
        summary = retrain(settings, reason="test-types")

    assert summary.decision == "promoted", summary.message
    assert summary.new_version == "2"
    gate = summary.gate
    assert gate is not None
    assert gate["metric"] == m
    assert gate["test"] == TEST_NAMES[task]
    assert "candidate_auc" not in gate
    assert kind.better(gate["candidate_value"], gate["champion_value"])
    assert gate["pvalue"] < settings.retraining.promotion_alpha
    # regression: the default margin (0.01) is read as 1 % of the champion's RMSE
    assert gate["mode"] == ("relative" if task == "regression" else "absolute")
    assert f"candidate {kind.label} " in summary.message
    assert "The test: one-sided paired" in summary.message
    assert all(set(c["holdout"]) >= set(kind.metrics) for c in summary.candidates)
    assert all(f"val_{m}" in c for c in summary.candidates)

    client = connect(settings.tracking).client
    parent = client.get_run(summary.parent_run_id)
    assert re.fullmatch(rf"PROMOTED v2 {m} [\d.,]+", parent.info.run_name), \
        parent.info.run_name
    metrics = parent.data.metrics
    assert metrics[f"best_candidate_holdout_{m}"] == pytest.approx(gate["candidate_value"])
    assert metrics[f"champion_holdout_{m}"] == pytest.approx(gate["champion_value"])
    assert metrics[f"required_{m}"] == pytest.approx(gate["required_value"])
    assert "best_candidate_holdout_roc_auc" not in metrics
    assert metrics["promotion_margin_gain"] > 0
    assert parent.data.params["margin_mode"] == gate["mode"]  # the mode the gate applied
    artifacts = {f.path for f in client.list_artifacts(summary.parent_run_id)}
    assert PAIRED_TEST_ARTIFACT in artifacts
    assert "delong_test.json" not in artifacts
    paired = json.loads(Path(client.download_artifacts(
        summary.parent_run_id, PAIRED_TEST_ARTIFACT, str(tmp_path))).read_text())
    assert paired["name"] == TEST_NAMES[task]
    note = parent.data.tags["mlflow.note.content"]
    assert f"best by **holdout** {kind.label}" in note
    assert f"validation {kind.label}" in note
    table = pd.read_csv(client.download_artifacts(summary.parent_run_id, "comparison.csv",
                                                  str(tmp_path)))
    assert set(HOLDOUT_COLUMNS_BY_TYPE[task]) <= set(table.columns)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{summary.parent_run_id}'")
    assert len(children) == 2
    for child in children:
        assert {f"val_{m}", f"holdout_{m}"} <= set(child.data.metrics)

    vtags = client.get_model_version(settings.tracking.registered_model_name, "2").tags
    assert vtags[PROBLEM_TYPE_TAG] == task
    assert f"candidate_{m}" in vtags
    assert f"required_{m}" in vtags
    champion = load_champion(connect(settings.tracking))
    assert champion.version == "2"
    assert champion.schema.problem_type == task
    assert f"{kind.label} " in client.get_model_version(
        settings.tracking.registered_model_name, "2").description


class _LateLabelStore:
    """What ``_with_late_labels`` reads of a store: the run's late labels."""

    def __init__(self, labels: pd.DataFrame) -> None:
        self.labels = labels

    def read_parquet_artifact(self, run_id: str, path: str) -> pd.DataFrame:
        return self.labels


@pytest.mark.parametrize(("task", "values"), [
    ("regression", [41.5, 38.25]), ("multiclass", ["pro", "basic"]), ("binary", [1, 0])])
def test_late_labels_keep_the_types_values(task: str, values: list, tmp_path: Path) -> None:
    """Labels registered after monitoring join the batch as the type's values: 0/1 (int8) for
    a binary champion, numbers or class labels otherwise (checked later with the rest)."""
    from pipelines.workflows.retrain import _with_late_labels

    settings = make_settings(tmp_path, data__target="y", data__id_column="customer_id")
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "x1": [0.1, 0.2, 0.3]})
    labels = pd.DataFrame({"customer_id": ["c", "a"], "y": values})
    out = _with_late_labels(_LateLabelStore(labels), "run", frame, settings,  # type: ignore[arg-type]
                            task)
    assert out is not None
    assert out["customer_id"].tolist() == ["a", "c"]  # rows without labels left out
    assert out["y"].tolist() == [values[1], values[0]]
    if task == "binary":
        assert out["y"].dtype == np.int8
    elif task == "regression":
        assert out["y"].dtype == np.float64
