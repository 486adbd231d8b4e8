"""Rollback: champion back to previous-champion, undoable, clear errors when impossible."""

from __future__ import annotations

from datetime import UTC, datetime

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from pipelines.config import Settings
from pipelines.data.generator import generate_batch
from pipelines.errors import ModelNotFoundError, TrackingError
from pipelines.rollback import main
from pipelines.store import alias_version, connect, load_champion
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.rollback import rollback

from .conftest import SettingsFactory, weak_baseline


def _aliases(client: MlflowClient, settings: Settings) -> tuple[str | None, str | None]:
    t = settings.tracking
    store = connect(t)
    found = (alias_version(store, a) for a in (t.champion_alias, t.previous_alias))
    champ, prev = (str(v.version) if v else None for v in found)
    return champ, prev


@pytest.mark.slow
def test_rollback_restores_the_previous_champion_and_is_undoable(
        make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings()
    weak_baseline(settings)   # version 1
    train_baseline(settings)  # version 2, promoted: champion 2, previous 1
    client = connect(settings.tracking).client
    assert _aliases(client, settings) == ("2", "1")
    when = datetime(2026, 3, 1, 12, tzinfo=UTC)

    assert rollback(settings, now=when) == ("2", "1")
    assert _aliases(client, settings) == ("1", "2")
    name = settings.tracking.registered_model_name
    demoted = client.get_model_version(name, "2").tags
    restored = client.get_model_version(name, "1").tags
    assert demoted["rolled_back_at"] == restored["rolled_back_at"] == when.isoformat()
    assert demoted["rolled_back_to"] == "1"
    assert demoted["rollback.role"] == "demoted"
    assert restored["rolled_back_from"] == "2"
    assert restored["rollback.role"] == "restored"
    champion = load_champion(connect(settings.tracking))
    assert champion.version == "1"
    # what serves through the alias is version 1 again, not version 2
    batch = generate_batch("no_drift", 50, 1)
    served = np.asarray(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(batch))
    np.testing.assert_allclose(served, champion.score(batch))
    v2 = np.asarray(mlflow.pyfunc.load_model(f"models:/{name}/2").predict(batch))
    assert not np.allclose(served, v2)

    # the command line undoes the rollback
    assert main(["--tracking-uri", settings.tracking.uri]) == 0
    assert "version 1 -> 2" in capsys.readouterr().out
    assert _aliases(client, settings) == ("2", "1")


def test_rollback_without_previous_champion_raises(make_settings: SettingsFactory) -> None:
    settings = make_settings({"training.candidates": ["random_forest"],
                              "training.rf_n_estimators": 5})
    train_baseline(settings)
    client = connect(settings.tracking).client
    with pytest.raises(ModelNotFoundError,
                       match=r"No model version behind churn-model@previous-champion: "
                             r"nothing to roll back to"):
        rollback(settings)
    assert _aliases(client, settings) == ("1", None)

    # both aliases on one version: nothing to roll back to either
    client.set_registered_model_alias("churn-model", "previous-champion", "1")
    with pytest.raises(TrackingError, match=r"both point at version 1"):
        rollback(settings)
    assert _aliases(client, settings) == ("1", "1")


def test_rollback_without_any_model_raises(make_settings: SettingsFactory) -> None:
    with pytest.raises(ModelNotFoundError, match=r"churn-model@champion: there is no champion"):
        rollback(make_settings())
