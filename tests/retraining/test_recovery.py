"""Interrupted retraining (faults 4 and 5, and a crash before deciding): the next cycle
finishes the promotion or retries, the cooldown counts what started, nothing is lost."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipelines.data.generator import NUMERIC_FEATURES
from pipelines.data.sources import SimulatedSource
from pipelines.store import alias_version, connect
from pipelines.store.searches import retraining_parents
from pipelines.workflows import retrain as retrain_module
from pipelines.workflows.orchestrate import run_cycle
from pipelines.workflows.retrain import retrain

from .conftest import SettingsFactory, monitor_batches, weak_baseline

pytestmark = pytest.mark.slow


def _aliases(settings) -> tuple[str | None, str | None]:
    store = connect(settings.tracking)
    found = [alias_version(store, a) for a in ("champion", "previous-champion")]
    return tuple(str(v.version) if v else None for v in found)  # type: ignore[return-value]


def _quiet() -> SimulatedSource:
    return SimulatedSource("no_drift", rows=600, seed=7)


def test_crash_between_the_two_alias_moves_is_completed_by_the_next_cycle(
        make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault 4: previous-champion moved, champion did not; the request is not lost."""
    settings = make_settings()
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)
    real = MlflowClient.set_registered_model_alias

    def crash_on_champion(self, name, alias, version):  # noqa: ANN001, ANN202
        if alias == "champion":
            raise RuntimeError("killed between the alias moves")
        real(self, name, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", crash_on_champion)
    with pytest.raises(RuntimeError, match="killed between"):
        retrain(settings)
    monkeypatch.undo()
    assert _aliases(settings) == ("1", "1")  # the backup moved, the champion still serves v1
    (failed,) = retraining_parents(connect(settings.tracking))
    assert failed.info.run_name.startswith("retrain FAILED ")  # short, in the list's width

    cycle = run_cycle(settings, _quiet())
    assert cycle.recovery
    assert "completed by recovery" in cycle.recovery[0]
    assert _aliases(settings) == ("2", "1")
    store = connect(settings.tracking)
    (parent,) = retraining_parents(store)
    assert parent.data.tags["decision"] == "promoted"
    assert parent.data.tags["retraining.recovered"] == "promotion completed"
    assert parent.info.run_name == "PROMOTED v2 recovered"
    version = store.client.get_model_version("churn-model", "2")
    assert version.tags["promotion_status"] == "promoted"
    assert run_cycle(settings, _quiet()).recovery == []  # idempotent: nothing left to do


def test_crash_after_the_champion_moved_still_counts_for_the_cooldown(
        make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault 5: the champion moved, the parent never got its verdict."""
    settings = make_settings()
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("killed before the verdict was written")

    monkeypatch.setattr(retrain_module, "_log_decision", crash)
    with pytest.raises(RuntimeError, match="killed before the verdict"):
        retrain(settings)
    monkeypatch.undo()
    assert _aliases(settings) == ("2", "1")

    broad = SimulatedSource("covariate_shift", rows=2000, seed=8,
                            options={"shift_features": NUMERIC_FEATURES[:10]})
    cycle = run_cycle(settings, broad)
    assert cycle.batches[0].retraining_recommended
    assert cycle.decision == "cooldown"  # the interrupted retraining counted from its start
    assert len(retraining_parents(connect(settings.tracking))) == 1
    assert _aliases(settings) == ("2", "1")  # v1 still reachable by rollback
    (parent,) = retraining_parents(connect(settings.tracking))
    assert parent.data.tags["decision"] == "promoted"  # completed: the champion had moved


def test_a_retraining_that_died_before_deciding_is_retried_once(
        make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings()
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("killed while training")

    monkeypatch.setattr(retrain_module, "_fit_and_compare", crash)
    with pytest.raises(RuntimeError, match="killed while training"):
        retrain(settings)
    monkeypatch.undo()
    store = connect(settings.tracking)
    (interrupted,) = retraining_parents(store)

    cycle = run_cycle(settings, _quiet())
    assert cycle.recovery
    assert "retried" in cycle.recovery[0]
    newest, old = retraining_parents(store)
    assert old.info.run_id == interrupted.info.run_id
    assert old.data.tags["retraining.recovered"] == f"retried by {newest.info.run_id}"
    assert newest.data.tags["retraining.reason"].startswith("retry of interrupted retraining")
    assert newest.data.tags["decision"] in ("promoted", "rejected")
