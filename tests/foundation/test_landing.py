"""What a reviewer meets first: every family experiment says what its runs are and where to look
first, and opens in MLflow's Model-training view from the project's links."""

from __future__ import annotations

from pipelines.store import connect, landing
from pipelines.store import contract as c


def _family(settings) -> list[str]:
    t = settings.tracking
    return [t.pipeline_experiment, t.monitoring_experiment, t.retraining_experiment,
            t.audit_experiment]


def test_every_family_experiment_gets_its_kind_and_description(settings) -> None:
    store = connect(settings.tracking)
    for name in _family(settings):
        experiment_id = store.experiment_id(name)
        tags = store.client.get_experiment(experiment_id).tags
        assert tags[c.TAG_EXPERIMENT_KIND] == c.EXPERIMENT_KIND
        text = tags[c.TAG_DESCRIPTION]
        assert "**Look first at**" in text
        assert f"(#/experiments/{experiment_id}/runs?workflowType=machine_learning)" in text
        assert "(#/models?workflowType=machine_learning)" in text
        assert "Model training" in text
    other = store.experiment_id("Someone-Else")
    assert c.TAG_DESCRIPTION not in store.client.get_experiment(other).tags
    assert not any(k.startswith("churnmon.") for k in store.client.get_experiment(other).tags)


def test_an_older_stores_experiments_get_it_when_next_opened(settings) -> None:
    """Before: experiments made by older versions (or by `mlflow run`) had no description."""
    store = connect(settings.tracking)
    t = settings.tracking
    old = store.client.create_experiment(t.monitoring_experiment)  # as an older version did
    stale = store.client.create_experiment(t.audit_experiment)
    older = landing.experiment_description(t, t.audit_experiment, stale).replace("newest", "last")
    store.client.set_experiment_tag(stale, c.TAG_DESCRIPTION, older)  # the project's, reworded
    mine = store.client.create_experiment(t.retraining_experiment)
    store.client.set_experiment_tag(mine, c.TAG_DESCRIPTION, "A person's own notes.")

    connect(settings.tracking).experiment_id(t.monitoring_experiment)  # the next command
    assert "**Look first at**" in store.client.get_experiment(old).tags[c.TAG_DESCRIPTION]
    assert store.client.get_experiment(stale).tags[c.TAG_DESCRIPTION] == \
        landing.experiment_description(t, t.audit_experiment, stale)
    kept = store.client.get_experiment(mine).tags
    assert kept[c.TAG_DESCRIPTION] == "A person's own notes."  # never overwritten
    assert kept[c.TAG_EXPERIMENT_KIND] == c.EXPERIMENT_KIND
    assert store.client.get_experiment_by_name(t.pipeline_experiment) is None  # none created


def test_links_the_project_writes_open_the_model_training_view() -> None:
    assert c.run_link("3", "abc", "b0001").endswith(
        "(#/experiments/3/runs/abc?workflowType=machine_learning)")
    assert c.version_link("m", "2") == "[m v2](#/models/m/versions/2?workflowType=machine_learning)"
    assert landing.experiment_path("3") == "#/experiments/3/runs?workflowType=machine_learning"
