"""A store that has lived through the demo's story (baseline, six orchestrator cycles:
stable, covariate shift, concept drift -> retraining promoted, ...), built once per session
and copied per test: what the service reads."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import Settings
from tests.conftest import copy_store, make_settings

STORY_ROWS = 2000


def build_story(root: Path, rows: int = STORY_ROWS) -> tuple[Settings, list[Any]]:
    """Train the baseline into ``root`` and run the demo's batches through the orchestrator."""
    from pipelines.data.sources import SimulatedSource
    from pipelines.store import connect
    from pipelines.workflows.baseline import train_baseline
    from pipelines.workflows.orchestrate import run_cycle
    from run_all import DEMO_SEQUENCE, SEED_BASE

    settings = make_settings(root)
    store = connect(settings.tracking)
    cycles = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_baseline(settings, store)
        for i, (_, scenario, options) in enumerate(DEMO_SEQUENCE):
            source = SimulatedSource(scenario, rows=rows, seed=SEED_BASE + 1 + i,
                                     options=options)
            cycles.append(run_cycle(settings, source, store=store))
    return settings, cycles


@pytest.fixture(scope="session")
def story_template(tmp_path_factory: pytest.TempPathFactory,
                   _empty_store: Path) -> tuple[Path, list[Any]]:
    root = tmp_path_factory.mktemp("story-template") / "store"
    _, cycles = build_story(root)
    return root, cycles


@pytest.fixture
def story_store(tmp_path: Path, story_template: tuple[Path, list[Any]]
                ) -> tuple[Settings, list[Any]]:
    """A store of its own that lived through the demo's story, and the cycles' results."""
    template, cycles = story_template
    copy_store(template, tmp_path / "store")
    # MLflow caches each run's artifact repository by run id in the process: the copy's runs
    # have the template's ids, so without this their artifacts would be read and written in
    # the template's folder
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()
    return make_settings(tmp_path / "store"), cycles
