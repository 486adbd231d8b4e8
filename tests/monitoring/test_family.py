"""The "your own model" path remembers what it was told: the model name, target and columns
given to register_reference apply to every later command; a contradiction is an error naming
both values; a missing champion gets advice for the situation; a batch monitored twice is
warned about and its late labels back-filled once."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.data.generator import (
    ID_COLUMN,
    TARGET,
    TIMESTAMP_COLUMN,
    churn_probability,
    generate_batch,
    generate_reference,
)
from pipelines.errors import ConfigError, ModelNotFoundError
from pipelines.store import connect, load_champion
from pipelines.workflows.external import register_reference
from pipelines.workflows.labels import register_labels
from pipelines.workflows.monitor import monitor_batch
from tests.conftest import PASSTHROUGH_ENV, make_settings

pytestmark = pytest.mark.slow

#: The user's own column names: none is a churn default.
THEIRS = {ID_COLUMN: "id", TIMESTAMP_COLUMN: "timestamp", TARGET: "churned"}


def _theirs(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame as the other team has it: their column names, their model's score."""
    score = np.nan_to_num(churn_probability(frame), nan=0.27)
    return frame.rename(columns=THEIRS).assign(y_score=score)


def _register(settings, tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    _theirs(generate_reference(3000, seed=3)).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_reference(settings, path, "y_score", target="churned")


def test_what_register_reference_was_told_is_used_later(tmp_path: Path) -> None:
    told = make_settings(tmp_path / "store", **{"tracking.registered_model_name": "their-model"})
    _register(told, tmp_path)
    later = make_settings(tmp_path / "store")  # no model name, no target: the defaults
    assert later.tracking.registered_model_name == "churn-model"
    batch = _theirs(generate_batch("no_drift", 1500, 41)).drop(columns=["churned"])
    batch_path = tmp_path / "batch.parquet"
    batch.to_parquet(batch_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = monitor_batch(later, batch_path)
    client = connect(later.tracking).client
    run = client.get_run(outcome.run_id)
    assert run.data.tags["champion_model"] == "their-model"
    labels = tmp_path / "labels.csv"
    _theirs(generate_batch("no_drift", 1500, 41))[["id", "churned"]].to_csv(labels, index=False)
    result = register_labels(later, labels)  # asks for id / churned, not customer_id / churn
    assert [b.action for b in result.batches] == ["metrics"]
    assert "roc_auc" in client.get_run(outcome.run_id).data.metrics

    wrong = make_settings(tmp_path / "store", **{"data.target": "churn"})  # explicit: checked
    with pytest.raises(ConfigError, match=r"data.target is 'churn' here, but model "
                       r"'their-model' .* registered with data.target = 'churned'"):
        register_labels(wrong, labels)
    other = make_settings(tmp_path / "store", **{"data.prediction_column": "p"})
    with pytest.raises(ConfigError, match=r"data.prediction_column is 'p' here.*'y_score'"):
        monitor_batch(other, batch_path)


def test_a_missing_champion_is_explained_for_the_situation(tmp_path: Path) -> None:
    empty = make_settings(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match=r"Nothing is registered as 'churn-model' yet"
                       r".*train_baseline.*register_reference --data REF"):
        load_champion(connect(empty.tracking))
    told = make_settings(tmp_path / "store", **{"tracking.registered_model_name": "their-model"})
    _register(told, tmp_path)
    elsewhere = make_settings(tmp_path / "store", **{
        "tracking.registered_model_name": "churn-model"})  # explicit, and not what it knows
    with pytest.raises(ModelNotFoundError, match=r"remembers the model 'their-model' .*drop "
                       r"--model-name churn-model .* or pass --model-name their-model"):
        monitor_batch(elsewhere, _theirs(generate_batch("no_drift", 300, 5)))


def test_the_same_file_twice_is_warned_and_labelled_once(trained_store, tmp_path: Path,
                                                          caplog) -> None:
    settings, _ = trained_store
    frame = generate_batch("no_drift", 1200, 51)
    path = tmp_path / "batch.csv"
    frame.drop(columns=[TARGET]).to_csv(path, index=False)
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("ignore")
        first = monitor_batch(settings, path)
        assert not [r for r in caplog.records if "same content" in r.getMessage()]
        second = monitor_batch(settings, path)
        third = monitor_batch(settings, path)
    said = [r.getMessage() for r in caplog.records if "same content" in r.getMessage()]
    assert len(said) == 2
    assert all(first.run_id in line for line in said)
    client = connect(settings.tracking).client
    for again in (second, third):  # each points at the original run
        assert client.get_run(again.run_id).data.tags["batch.repeat_of"] == first.run_id
    assert "batch.repeat_of" not in client.get_run(first.run_id).data.tags

    labels = tmp_path / "labels.csv"
    frame[[ID_COLUMN, TARGET]].to_csv(labels, index=False)
    outcome = register_labels(settings, labels)
    actions = {b.run_id: (b.action, b.repeat_of) for b in outcome.batches}
    assert actions == {first.run_id: ("metrics", ""), second.run_id: ("repeat", first.run_id),
                       third.run_id: ("repeat", first.run_id)}
    assert outcome.unknown == 0
    assert "roc_auc" in client.get_run(first.run_id).data.metrics
    assert "roc_auc" not in client.get_run(second.run_id).data.metrics
    assert "labels.count" not in client.get_run(second.run_id).data.tags


def _run(folder: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()),
           **PASSTHROUGH_ENV}
    return subprocess.run([sys.executable, "-m", f"pipelines.{module}", *args,
                           "--tracking-uri", "sqlite:///mlflow.db"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.subprocess
def test_your_own_model_end_to_end_as_a_user_runs_it(tmp_path: Path) -> None:
    """register_reference, monitor_performance (twice on the same file) and register_labels
    as separate processes in a fresh folder, told the model name and target once."""
    folder = tmp_path / "work"
    folder.mkdir()
    # the shipped configuration (every value a default) pins none of the remembered settings
    shutil.copyfile(Path(__file__).resolve().parents[2] / "monitoring.toml",
                    folder / "monitoring.toml")
    _theirs(generate_reference(3000, seed=3)).to_csv(folder / "reference.csv", index=False)
    batch = _theirs(generate_batch("no_drift", 1500, 41))
    batch.drop(columns=["churned"]).to_csv(folder / "batch.csv", index=False)
    batch[["id", "churned"]].to_csv(folder / "labels.csv", index=False)

    done = _run(folder, "register_reference", "--data", "reference.csv",
                "--prediction-column", "y_score", "--target", "churned",
                "--model-name", "their-model")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not used as features: id (named like an id); timestamp (named like a timestamp)" \
        in done.stderr
    assert "using id as the id column (data.id_column 'customer_id' is not in the data)" \
        in done.stderr
    first = _run(folder, "monitor_performance", "--batch", "batch.csv")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Train a baseline first" not in first.stderr
    again = _run(folder, "monitor_performance", "--batch", "batch.csv")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "has the same content" in again.stderr
    labelled = _run(folder, "register_labels", "--labels", "labels.csv")
    assert labelled.returncode == 0, labelled.stderr[-3000:]
    outcome = json.loads(labelled.stdout)
    assert sorted(b["action"] for b in outcome["batches"]) == ["metrics", "repeat"]
    assert outcome["unknown"] == 0

    client = connect(make_settings(folder).tracking).client
    runs = client.search_runs([client.get_experiment_by_name(
        "ChurnPrediction-Monitoring").experiment_id], order_by=["attributes.start_time ASC"])
    assert [r.data.tags["champion_model"] for r in runs] == ["their-model"] * 2
    report = json.loads(Path(client.download_artifacts(
        runs[0].info.run_id, "monitoring_report.json")).read_text())
    features = {f["feature"] for f in report["drift"]["features"]}
    assert features
    assert not {"id", "timestamp"} & features
    assert "roc_auc" in runs[0].data.metrics
    assert runs[1].data.tags["batch.repeat_of"] == runs[0].info.run_id


def test_the_orchestrator_reads_its_batches_with_the_remembered_columns(trained_store) -> None:
    """A cycle (like monitor_source) tells its source the data settings completed with what
    the family remembers, so inbox files are read with the remembered timestamp column, not
    only the configured one."""
    from pipelines.config import DataSettings
    from pipelines.data.sources import SimulatedSource
    from pipelines.store.family import remember_settings
    from pipelines.workflows.orchestrate import run_cycle

    settings, _ = trained_store
    store = connect(settings.tracking)
    remember_settings(store, {"data.timestamp_column": "seen_at"}, "test")
    told: list[DataSettings] = []

    class Recording(SimulatedSource):
        def read_with(self, data: DataSettings) -> None:
            told.append(data)

    run_cycle(settings, Recording("no_drift", rows=300, seed=1), store=store)
    assert [d.timestamp_column for d in told] == ["seen_at"]
