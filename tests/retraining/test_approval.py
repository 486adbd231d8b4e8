"""The approval gate and the audit trail: a winner waits as @challenger, a person approves or
rejects it, approval is refused when the champion changed meanwhile; every alias move is in
the audit trail (baseline, promotion, approval, rejection, rollback)."""

from __future__ import annotations

import pytest

from pipelines.approve import main as approve_main
from pipelines.cli import run_cli
from pipelines.config import Settings
from pipelines.errors import ApprovalRefused
from pipelines.history import main as history_main
from pipelines.reject import main as reject_main
from pipelines.store import alias_version, connect, promote
from pipelines.store.audit import history
from pipelines.workflows.approval import approve, reject
from pipelines.workflows.retrain import retrain
from pipelines.workflows.rollback import rollback

from .conftest import SettingsFactory, monitor_batches, weak_baseline

pytestmark = pytest.mark.slow

APPROVAL = {"promotion.mode": "approval", "promotion.actor": "alice"}


def _aliases(settings: Settings) -> dict[str, str | None]:
    store = connect(settings.tracking)
    return {a: (str(v.version) if (v := alias_version(store, a)) else None)
            for a in ("champion", "previous-champion", "challenger")}


def _waiting(make_settings: SettingsFactory) -> Settings:
    settings = make_settings(APPROVAL)
    weak_baseline(settings)
    monitor_batches(settings, "concept_drift", 2)
    summary = retrain(settings, reason="concept drift")
    assert summary.decision == "awaiting_approval"
    assert summary.new_version == "2"
    return settings


def test_a_winner_waits_for_approval_then_serves(make_settings: SettingsFactory,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = _waiting(make_settings)
    assert _aliases(settings) == {"champion": "1", "previous-champion": None,
                                  "challenger": "2"}
    store = connect(settings.tracking)
    version = store.client.get_model_version("churn-model", "2")
    assert version.tags["promotion_status"] == "awaiting_approval"
    assert version.description.startswith("**Retrained**")
    assert "Waiting for approval**: [churn-model v2]" in store.client.get_registered_model(
        "churn-model").description

    args = ["--tracking-uri", settings.tracking.uri, "--set", "promotion.actor=bob"]
    assert approve_main([*args, "--version", "2", "--reason", "looks right"]) == 0
    assert "version 2 approved by bob" in capsys.readouterr().out
    assert _aliases(settings) == {"champion": "2", "previous-champion": "1",
                                  "challenger": None}
    version = store.client.get_model_version("churn-model", "2")
    assert version.tags["promotion_status"] == "promoted"
    assert version.tags["approved_by"] == "bob"
    parent = store.client.get_run(version.tags["parent_run_id"])
    assert parent.data.tags["approval"].startswith("approved by bob")
    model = store.client.get_registered_model("churn-model")
    assert "**Serving**: [churn-model v2]" in model.description
    assert "**Fallback**: [churn-model v1]" in model.description

    # the audit trail: newest first, with actor, moves and reason
    events = history(store)
    assert [e["action"] for e in events] == ["approve", "approve", "challenger", "baseline"]
    assert [m.text() for m in events[1]["moves"]] == ["@previous-champion none -> v1",
                                                      "@champion v1 -> v2"]
    assert events[1]["actor"] == "bob"
    assert events[1]["reason"] == "looks right"
    assert [m.text() for m in events[0]["moves"]] == ["@challenger v2 -> removed"]
    assert events[2]["actor"] == "alice"

    rollback(settings, reason="v2 misbehaves in production")
    events = history(store)
    assert events[0]["action"] == "rollback"
    assert [m.text() for m in events[0]["moves"]] == ["@champion v2 -> v1",
                                                      "@previous-champion v1 -> v2"]
    assert events[0]["reason"] == "v2 misbehaves in production"
    assert history_main(["--tracking-uri", settings.tracking.uri]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5
    assert "rollback" in printed[0]
    assert "@champion v2 -> v1" in printed[0]


def test_a_rejected_winner_never_serves(make_settings: SettingsFactory) -> None:
    settings = _waiting(make_settings)
    args = ["--tracking-uri", settings.tracking.uri]
    assert run_cli(reject_main, [*args, "--version", "3"]) == 2  # not the challenger
    assert reject_main([*args, "--reason", "holdout too small"]) == 0
    assert _aliases(settings) == {"champion": "1", "previous-champion": None,
                                  "challenger": None}
    store = connect(settings.tracking)
    version = store.client.get_model_version("churn-model", "2")
    assert version.tags["promotion_status"] == "rejected_by_reviewer"
    assert version.tags["rejection_reason"] == "holdout too small"
    assert history(store)[0]["action"] == "reject"
    assert run_cli(approve_main, args) == 2  # nothing waits any more


def test_approval_refused_when_the_champion_changed_meanwhile(
        make_settings: SettingsFactory) -> None:
    settings = _waiting(make_settings)
    store = connect(settings.tracking)
    # someone promotes another version by hand while v2 waits
    weak_baseline(settings)  # v3 becomes champion
    assert _aliases(settings)["champion"] == "3"
    with pytest.raises(ApprovalRefused, match="compared with version 1, the champion is now "
                                              "version 3"):
        approve(settings)
    assert _aliases(settings) == {"champion": "3", "previous-champion": "1",
                                  "challenger": "2"}  # nothing moved
    result = reject(settings, reason="stale comparison")
    assert result is not None
    assert result.action == "rejected"
    promote(store, "1", actor="carol", reason="back to v1", action="promote")
    assert history(store)[0]["actor"] == "carol"
