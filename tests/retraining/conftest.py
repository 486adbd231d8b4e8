"""Fixtures for the retraining tests: a store per test (a copy of the session's empty
template, see tests/conftest.py), tiny fast models."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines.config import Settings, load_settings, with_overrides
from pipelines.data.batch import Batch
from pipelines.data.generator import generate_batch
from pipelines.workflows.baseline import BaselineResult, train_baseline
from pipelines.workflows.monitor import Monitor

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, _empty_store: Path) -> SettingsFactory:
    """Settings on a fresh SQLite store under tmp_path (a copy of the empty template), tiny
    data and models; ``overrides`` (dotted keys) on top."""
    db = tmp_path / "mlflow.db"
    if not db.exists():
        shutil.copyfile(_empty_store, db)

    def factory(overrides: Mapping[str, Any] | None = None) -> Settings:
        base: dict[str, Any] = {
            "tracking.uri": f"sqlite:///{db}",
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
        run_ids.append(monitor.run(Batch(frame, batch_id, "tests")).run_id)
    return run_ids
