"""Against a real basic-auth `mlflow server`: a reader's approve, reject, rollback and
retraining are refused in one line (exit 2) and change nothing; the approver's approval goes
through and the audit trail names the authenticated user."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pipelines import approve, reject, rollback, trigger_retraining
from pipelines.cli import EXIT_BAD_INPUT, run_cli
from tests.auth.conftest import MODEL, PASSWORDS, AuthServer, as_user

pytestmark = [pytest.mark.slow, pytest.mark.server]


def _state(server: AuthServer) -> dict[str, Any]:
    """What a refused command must not change: the aliases, the audit trail, the versions'
    tags, the lock's epochs."""
    from pipelines.store.audit import history
    from pipelines.store.client import connect
    from tests.conftest import make_settings

    with as_user("admin"):
        client = server.admin_client()
        settings = make_settings(server.root, tracking__uri=server.uri)
        store = connect(settings.tracking, create=False)
        return {
            "aliases": dict(client.get_registered_model(MODEL).aliases),
            "audit": [(e["action"], e["actor"], e["run_id"]) for e in history(store)],
            "tags": {v.version: dict(v.tags) for v in
                     client.search_model_versions(f"name = '{MODEL}'")},
            "locks": sorted(p.name for p in client.search_prompts()),
        }


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_reader_is_refused_and_approver_approves(auth_server: AuthServer,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    uri = auth_server.uri
    before = _state(auth_server)
    assert before["aliases"] == {"champion": "1", "challenger": "2", "previous-champion": "2"}

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS["reader"])
    for main, args, needed, action in (
            (approve.main, [], "MANAGE", "approve"),
            (reject.main, [], "MANAGE", "reject"),
            (rollback.main, [], "EDIT", "rollback"),
            (trigger_retraining.main, ["--reason", "by hand"], "EDIT", "retrain")):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            code = run_cli(main, ["--tracking-uri", uri, *args])
        assert code == EXIT_BAD_INPUT, action
        (line,) = _errors(caplog)
        assert "\n" not in line
        assert line.startswith(f"PermissionDenied: user 'reader' lacks {needed} permission "
                               f"on registered model '{MODEL}' (has READ), needed to {action}")
        assert "ask an admin" in line
        assert "nothing was changed" in line
        assert PASSWORDS["reader"] not in caplog.text
    assert _state(auth_server) == before  # nothing moved, nothing recorded, no lock taken

    # wrong password: one line naming the variables, exit 2
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
    caplog.clear()
    assert run_cli(approve.main, ["--tracking-uri", uri]) == EXIT_BAD_INPUT
    (line,) = _errors(caplog)
    assert "HTTP 401" in line
    assert "MLFLOW_TRACKING_PASSWORD" in line
    assert "not-the-password" not in caplog.text

    # the approver (MANAGE) approves: the aliases move, the audit names the user
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "approver")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS["approver"])
    caplog.clear()
    assert run_cli(approve.main, ["--tracking-uri", uri, "--reason", "looks right"]) == 0, \
        _errors(caplog)
    after = _state(auth_server)
    assert after["aliases"] == {"champion": "2", "previous-champion": "1"}
    action, actor, _run = after["audit"][0]
    assert (action, actor) == ("approve", "approver")
    assert after["tags"]["2"]["approved_by"] == "approver"
    assert PASSWORDS["approver"] not in caplog.text
