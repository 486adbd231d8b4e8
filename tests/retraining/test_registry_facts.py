"""Issue 20: what the registry says after a promotion agrees with what happened."""

from __future__ import annotations

import re
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

    _reasons_and_links_in_the_registry(settings, store, summary)

    # after a rollback the note moves to the demoted version
    rollback(settings, store, reason="test")
    assert "**Fallback**" not in client.get_model_version(name, "1").description
    demoted = client.get_model_version(name, "2").description
    assert "**Fallback** (`@previous-champion`)" in demoted
    assert client.get_model_version(name, "2").tags["fallback_reason"] == (
        "rollback: @champion moved to v1; test")
    assert unrounded_texts(store) == []


def test_fallback_facts_without_monitoring_says_so() -> None:
    assert fallback_facts({}) == "it has not been monitored on a production batch"
    text = fallback_facts({"monitoring.last_status": "critical",
                           "monitoring.last_roc_auc": "0.5764"})
    assert text.startswith("its last monitored batch was CRITICAL with ROC-AUC 0.5764")
    # other model types: the version's own primary metric
    text = fallback_facts({"monitoring.last_status": "warning", "problem_type": "regression",
                           "monitoring.last_rmse": "4.71", "monitoring.last_roc_auc": "0.9"})
    assert text.startswith("its last monitored batch was WARNING with RMSE 4.71")
    text = fallback_facts({"monitoring.last_status": "ok", "problem_type": "multiclass",
                           "monitoring.last_macro_f1": "0.72"})
    assert text.startswith("its last monitored batch was OK with macro F1 0.72")


#: A number with a decimal point or an exponent, not part of a word, an id, a time or a path.
_NUMBER = re.compile(r"(?<![\w.\-/:@#])-?(\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\w.:\-])")
#: Texts that are times, ids or digests, not numbers a person reads.
_NOT_NUMBERS = ("time", "_at", "as_of", "next_eligible", "digest", "run_id", "lock.")


def test_the_scan_finds_unrounded_numbers_only() -> None:
    assert [m.group(1) for m in _NUMBER.finditer(
        "ROC-AUC 0.5764028335564481 (p 1.5780397995207514e-41), 0.576, b0006, "
        "2026-01-07 23:59:42.720000, v1.2.3, run 1ea0ad22")] == [
        "0.5764028335564481", "1.5780397995207514e-41", "0.576"]
    assert _significant("0.5764028335564481") > 4
    assert _significant("1.578e-41") == 4


def _significant(number: str) -> int:
    mantissa = number.lower().split("e")[0].lstrip("-").replace(".", "")
    return len(mantissa.lstrip("0"))


def unrounded_texts(store) -> list[str]:
    """Every tag and description of the store's runs, models and versions that shows a
    number with more than 4 significant digits (full precision belongs in metrics)."""
    client, found = store.client, []

    def scan(where: str, text: str | None) -> None:
        for m in _NUMBER.finditer(text or ""):
            if _significant(m.group(1)) > 4:
                found.append(f"{where}: ...{text[max(0, m.start() - 40):m.end() + 5]}")

    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=500):
            for key, value in run.data.tags.items():
                if not any(word in key for word in _NOT_NUMBERS):
                    scan(f"{exp.name}/{run.info.run_name} {key}", value)
    for model in client.search_registered_models():
        scan(f"{model.name}", model.description)
        for version in client.search_model_versions(f"name='{model.name}'"):
            scan(f"v{version.version}", version.description)
            for key, value in version.tags.items():
                if not any(word in key for word in _NOT_NUMBERS):
                    scan(f"v{version.version} {key}", value)
    return found


def _reasons_and_links_in_the_registry(settings, store, summary) -> None:
    """Issue 20: audit runs say who (Created by) and link the run that moved the aliases; the
    moved versions and the model page give each move's reason; the retraining run names its
    data's batches and window and how the candidate was chosen; numbers are rounded."""
    client, name = store.client, settings.tracking.registered_model_name
    retraining = summary.parent_run_id
    audit = client.get_experiment_by_name(settings.tracking.audit_experiment)
    promote_run = next(r for r in client.search_runs([audit.experiment_id])
                       if r.data.tags["audit.action"] == "promote")
    tags = promote_run.data.tags
    assert tags["mlflow.user"] == tags["audit.actor"]
    assert tags["audit.run_id"] == retraining
    note = tags["mlflow.note.content"]
    assert f"(#/experiments/{summary.experiment_id}/runs/{retraining}" in note
    # named for the run's experiment and id, not its interim name ("retrain running")
    assert f"[the {settings.tracking.retraining_experiment} run]" in note

    v2 = client.get_model_version(name, "2")
    assert v2.tags["promoted_reason"].startswith("candidate ROC-AUC")
    assert v2.tags["promoted_audit_run"] == promote_run.info.run_id
    assert "**Alias moves**" in v2.description
    assert f"runs/{promote_run.info.run_id}?" in v2.description
    assert client.get_model_version(name, "1").tags["fallback_reason"].startswith(
        "promote: @champion moved to v2; candidate ROC-AUC")
    moves = client.get_registered_model(name).description.split("**Latest alias moves**")[1]
    assert "candidate ROC-AUC" in moves  # the reason, not only the move
    assert f"runs/{promote_run.info.run_id}?" in moves

    run = client.get_run(retraining)
    note = run.data.tags["mlflow.note.content"]
    assert not any(line.startswith("|") for line in note.splitlines())  # lists, no tables
    assert "- holdout: " in note
    assert "concept_drift-l2" in note.split("- holdout: ")[1].splitlines()[0]
    assert "**How the candidate was chosen**" in note
    names = [d.dataset.name for d in run.inputs.dataset_inputs]
    holdout = next(n for n in names if n.startswith("retraining-holdout"))
    assert "concept_drift-l2" in holdout
    assert re.search(r"\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}$", holdout)
    assert unrounded_texts(store) == []
