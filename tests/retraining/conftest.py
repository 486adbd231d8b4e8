"""Fixtures for the retraining tests: an isolated SQLite store per test, tiny fast models."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from pipelines.config import Settings, load_settings, with_overrides
from pipelines.data.generator import generate_batch
from pipelines.monitor_performance import Monitor
from pipelines.train_baseline import BaselineResult, train_baseline

_MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_RUN_ID",
               "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID")

SettingsFactory = Callable[..., Settings]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in tmp_path with no configuration leaking in from the environment."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith("CHURNMON_") or var in _MLFLOW_ENV:
            monkeypatch.delenv(var)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture(autouse=True)
def _fast_model_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip MLflow's pip-requirement inference (a subprocess that loads each logged model,
    ~4 s per model here): the flavors' default requirements are used instead. What is tested
    here is our logging, registry and promotion, not MLflow's environment capture."""

    def defaults(model_uri: str, flavor: str, fallback: list[str] | None = None,
                 **_: Any) -> list[str]:
        return list(fallback or [])

    monkeypatch.setattr(mlflow.models, "infer_pip_requirements", defaults)


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings on a fresh SQLite store under tmp_path, tiny data and models; ``overrides``
    (dotted keys) on top."""

    def factory(overrides: Mapping[str, Any] | None = None) -> Settings:
        base: dict[str, Any] = {
            "tracking.uri": f"sqlite:///{tmp_path}/mlflow.db",
            "paths.output_dir": str(tmp_path / "out"),
            "paths.inbox_dir": str(tmp_path / "out" / "inbox"),
            "data.demo_rows": 2000,
            "training.rf_n_estimators": 30,
            "training.xgb_n_estimators": 50,
            "training.n_jobs": 1,
        }
        return load_settings(env={}, overrides={**base, **(overrides or {})})

    return factory


def weak_baseline(settings: Settings) -> BaselineResult:
    """A deliberately poor champion: one depth-1 tree."""
    return train_baseline(with_overrides(settings, {
        "training.candidates": ["random_forest"], "training.rf_n_estimators": 1,
        "training.rf_max_depth": 1,
    }))


def monitor_batches(settings: Settings, scenario: str, n_batches: int, *, rows: int = 1000,
                    seed: int = 100, first_day: str = "2026-02-01",
                    labelled: bool = True) -> list[str]:
    """Monitor ``n_batches`` generated batches (one day apart); returns their run ids."""
    monitor = Monitor(settings)
    run_ids = []
    for i in range(n_batches):
        frame = generate_batch(scenario, rows, seed + i,
                               start_time=pd.Timestamp(first_day) + pd.Timedelta(days=i))
        if not labelled:
            frame = frame.drop(columns=[settings.data.target])
        batch_id = f"{scenario}-{'l' if labelled else 'u'}{i}"
        run_ids.append(monitor.run(frame, batch_id=batch_id, source="tests").run_id)
    return run_ids
