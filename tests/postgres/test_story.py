"""The whole loop on a PostgreSQL backend store, directly and behind `mlflow server
--backend-store-uri postgresql+psycopg://...`: a trained baseline (the session's template,
tests/postgres_cluster.py), orchestrator cycles on simulated batches (stable, concept drift), a
retraining whose winner waits for approval; then, through a server in front of the same
database, a cycle and the approval; then directly again a rollback and late labels
back-filled onto a finished run; the audit trail of it all; artifacts in a local folder; the
database password nowhere in the logs or the files written.

One test, so that the retraining (the slow part) is done once for both ways in.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pandas as pd
import pytest

from pipelines.config import with_overrides
from pipelines.data.batch import Batch
from pipelines.data.generator import ID_COLUMN, TARGET, generate_batch
from pipelines.data.sources import SimulatedSource
from pipelines.store import alias_version, connect
from pipelines.store.audit import history
from pipelines.workflows.approval import approve
from pipelines.workflows.labels import register_labels
from pipelines.workflows.monitor import Monitor
from pipelines.workflows.orchestrate import run_cycle
from pipelines.workflows.rollback import rollback
from tests.conftest import PASSTHROUGH_ENV, mlflow_server
from tests.postgres_cluster import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.server,
              pytest.mark.subprocess]


def _aliases(store) -> dict[str, str | None]:
    return {a: (str(v.version) if (v := alias_version(store, a)) else None)
            for a in ("champion", "previous-champion", "challenger")}


def test_the_whole_loop_on_postgresql_directly_and_behind_mlflow_server(
        pg_store, pg_artifacts: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = pg_store
    settings = with_overrides(settings, {"promotion.mode": "approval",
                                         "promotion.actor": "alice"})
    assert settings.tracking.uri.startswith("postgresql+psycopg://")
    caplog.set_level(logging.DEBUG, logger="pipelines")
    store = connect(settings.tracking)
    assert _aliases(store) == {"champion": "1", "previous-champion": None, "challenger": None}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stable = run_cycle(settings, SimulatedSource("no_drift", rows=1000, seed=11),
                           store=store)
        assert stable.decision == "nothing_to_do", stable.message
        drifted = run_cycle(settings, SimulatedSource("concept_drift", rows=3000, seed=12),
                            store=store)
    assert drifted.decision == "retrain", drifted.message
    assert drifted.retraining["decision"] == "awaiting_approval", drifted.retraining
    assert _aliases(store) == {"champion": "1", "previous-champion": None, "challenger": "2"}

    # the runs' artifacts are in the local folder, the runs and registry in PostgreSQL
    run = store.client.get_run(drifted.batches[0].run_id)
    assert run.info.artifact_uri.startswith(pg_artifacts.resolve().as_uri())
    local = Path(run.info.artifact_uri.removeprefix("file://"))
    assert any(p.name.startswith("monitoring_report") for p in local.rglob("*.json"))
    assert run.data.tags["orchestrator.decision"] == "retrain"

    # behind `mlflow server` on the same database: a cycle, then the approval
    server_env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV}
    with mlflow_server(tmp_path / "server", backend=settings.tracking.uri,
                       env=server_env) as uri:
        served = with_overrides(settings, {"tracking.uri": uri, "promotion.actor": "bob"})
        through = connect(served.tracking)
        assert _aliases(through) == {"champion": "1", "previous-champion": None,
                                     "challenger": "2"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cycle = run_cycle(served, SimulatedSource("no_drift", rows=1000, seed=14),
                              store=through)
        assert cycle.decision == "nothing_to_do", cycle.message
        result = approve(served, reason="looks right", store=through)
        assert result is not None
        assert result.action == "approved"
    assert PASSWORD not in (tmp_path / "server" / "server.log").read_text()
    assert _aliases(store) == {"champion": "2", "previous-champion": "1", "challenger": None}
    served_run = store.client.get_run(cycle.batches[0].run_id)  # written through the server
    assert served_run.data.tags["orchestrator.decision"] == "nothing_to_do"
    assert Path(served_run.info.artifact_uri.removeprefix("file://")).is_dir()
    assert rollback(settings, store, reason="v2 misbehaves") == ("2", "1")
    assert _aliases(store) == {"champion": "1", "previous-champion": "2", "challenger": None}

    # late labels: an unlabelled drifted batch looks fine until its labels arrive
    frame = generate_batch("concept_drift", 2000, 13, start_time=pd.Timestamp("2026-06-01"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        late = Monitor(settings, store=store).run(Batch(frame.drop(columns=[TARGET]), "late",
                                                        "test"))
    assert store.client.get_run(late.run_id).data.tags["monitoring.status"] == "ok"
    labels = tmp_path / "labels.csv"
    frame[[ID_COLUMN, TARGET]].to_csv(labels, index=False)
    outcome = register_labels(settings, labels, store=store)
    assert [b.action for b in outcome.batches if b.run_id == late.run_id] == ["metrics"]
    late_run = store.client.get_run(late.run_id)
    assert late_run.data.tags["monitoring.status"] == "critical"
    assert late_run.data.metrics["roc_auc"] < late_run.data.metrics["estimated_roc_auc"] - 0.1

    events = history(store)
    assert [e["action"] for e in events] == ["rollback", "approve", "approve", "challenger",
                                             "baseline"]
    assert events[1]["actor"] == "bob"
    assert events[3]["actor"] == "alice"

    # the password is in the URI the settings hold, and nowhere else
    assert PASSWORD in settings.tracking.uri
    assert PASSWORD not in caplog.text
    for path in [*tmp_path.rglob("*"), *local.parent.parent.rglob("*")]:
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert PASSWORD.encode() not in path.read_bytes(), path
