"""Shared fixtures: every test runs in its own temporary folder against its own SQLite store,
never the working directory's, and with no CHURNMON_* / MLFLOW_* variables leaking in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings, load_settings

#: Small, fast training settings for tests (the product defaults are larger).
FAST_TRAINING: dict[str, Any] = {
    "data.demo_rows": 3000,
    "training.rf_n_estimators": 30,
    "training.rf_max_depth": 8,
    "training.xgb_n_estimators": 60,
}


def _passthrough() -> dict[str, str]:
    """PYTHONPATH (absolute), if the tests run from a source tree without an installed
    package: subprocesses started by tests need it."""
    if "PYTHONPATH" not in os.environ:
        return {}
    parts = [str(Path(p).resolve()) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)}


PASSTHROUGH_ENV = _passthrough()  # at import, before the autouse fixture changes directory


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("CHURNMON_", "MLFLOW_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run("FAILED")


def make_settings(root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
        "paths.output_dir": str(root / "monitoring"),
        "paths.inbox_dir": str(root / "monitoring" / "inbox"),
        **FAST_TRAINING,
    }
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_settings(env={}, overrides=values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Any]:
    """One baseline trained into a session-wide store, for tests that only read it or add
    monitoring runs (each such test reads what it wrote, by run id)."""
    import warnings

    from pipelines.workflows.baseline import train_baseline

    root = tmp_path_factory.mktemp("trained")
    cfg = make_settings(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train_baseline(cfg)
    return cfg, result
