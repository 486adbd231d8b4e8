"""Issue 20: what the registry says after a promotion agrees with what happened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipelines.store import connect
from pipelines.store.audit import fallback_facts, history
from pipelines.workflows.retrain import retrain
from pipelines.workflows.rollback import rollback

from .conftest import SettingsFactory, monitor_batches, weak_baseline


@pytest.mark.slow
def test_registry_facts_after_a_promotion_and_a_rollback(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 3)
    store = connect(settings.tracking)
    client, name = store.client, settings.tracking.registered_model_name
    v1_tags = client.get_model_version(name, "1").tags
    v1_status, v1_auc = v1_tags["monitoring.last_status"], v1_tags["monitoring.last_roc_auc"]

    summary = retrain(settings, reason="test-facts")
    assert summary.decision == "promoted", summary.message

    # the model page names the finished retraining by its verdict
    description = client.get_registered_model(name).description
    assert "**Last retraining**: promoted (" in description
    assert "unfinished" not in description

    # promoted_at: not before the registration, and taken at the alias move (whose audit
    # record is written right after the move)
    v2 = client.get_model_version(name, "2")
    promoted_at = datetime.fromisoformat(v2.tags["promoted_at"])
    registered = datetime.fromtimestamp(v2.creation_timestamp / 1000, UTC)
    assert promoted_at >= registered
    move = next(e for e in history(store) if e["action"] == "promote")
    assert promoted_at <= datetime.fromisoformat(move["time"])

    # the fallback's pages say what rolling back would serve
    fallback = client.get_model_version(name, "1").description
    note = next(p for p in fallback.split("\n\n") if p.startswith("**Fallback**"))
    assert "python -m pipelines.rollback" in note
    assert f"{v1_status.upper()} with ROC-AUC {v1_auc}" in note
    assert fallback.startswith("**Latest monitored batch**")  # still first
    model_fallback = next(line for line in client.get_registered_model(name)
                          .description.splitlines() if line.startswith("**Fallback**"))
    assert f"{v1_status.upper()} with ROC-AUC {v1_auc}" in model_fallback
    assert "**Fallback**" not in (v2.description or "")

    # after a rollback the note moves to the demoted version
    rollback(settings, store, reason="test")
    assert "**Fallback**" not in client.get_model_version(name, "1").description
    demoted = client.get_model_version(name, "2").description
    assert "**Fallback** (`@previous-champion`)" in demoted


def test_fallback_facts_without_monitoring_says_so() -> None:
    assert fallback_facts({}) == "it has not been monitored on a production batch"
    text = fallback_facts({"monitoring.last_status": "critical",
                           "monitoring.last_roc_auc": "0.5764"})
    assert text.startswith("its last monitored batch was CRITICAL with ROC-AUC 0.5764")
