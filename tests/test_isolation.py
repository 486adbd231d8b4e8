"""The suite's own isolation: each test has its own tracking URI and its own store copy."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from pipelines.store import connect
from pipelines.workflows.monitor import monitor_batch

SEEN: list[str] = []


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_has_its_own_fluent_tracking_uri(tmp_path: Path, turn: int) -> None:
    uri = mlflow.get_tracking_uri()
    assert uri == f"sqlite:///{tmp_path / 'fluent-default.db'}"
    assert mlflow.get_registry_uri() == uri
    assert uri not in SEEN  # the other turn had another one, restored since
    SEEN.append(uri)
    mlflow.set_tracking_uri("sqlite:////nonexistent/leak.db")  # undone by the fixture


@pytest.mark.slow
def test_a_trained_store_copy_reads_and_writes_only_its_own_files(trained_store,
                                                                  trained_template) -> None:
    from pipelines.data.generator import generate_batch

    settings, result = trained_store
    template, _ = trained_template
    copy_root = Path(settings.tracking.uri.removeprefix("sqlite:///")).parent
    before = sorted(p.relative_to(template) for p in template.rglob("*"))
    client = connect(settings.tracking).client
    ours = [e for e in client.search_experiments() if e.name != "Default"]  # Default: unused
    assert ours
    for exp in ours:
        assert exp.artifact_location.startswith(copy_root.resolve().as_uri())
    outcome = monitor_batch(settings, generate_batch("no_drift", 500, seed=1), batch_id="iso")
    run = client.get_run(outcome.run_id)
    assert run.info.artifact_uri.startswith(copy_root.resolve().as_uri())
    assert sorted(p.relative_to(template) for p in template.rglob("*")) == before
    assert client.get_model_version("churn-model", result.model_version).run_id == result.run_id


def test_two_stores_in_one_process_never_write_into_each_other(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    a = connect(make_settings(tmp_path / "a").tracking)
    with a.start_run("exp-a", run_name="in-a") as run:
        b = connect(make_settings(tmp_path / "b").tracking)  # points the fluent API at b
        a.log_metrics({"m": 1.0})
        a.set_tags({"t": "a"})
        a.log_text("hello", "note.txt")
    stored = a.client.get_run(run.info.run_id)
    assert stored.data.metrics == {"m": 1.0}
    assert stored.data.tags["t"] == "a"
    assert [f.path for f in a.client.list_artifacts(run.info.run_id)] == ["note.txt"]
    assert b.client.search_experiments(filter_string="name = 'exp-a'") == []
