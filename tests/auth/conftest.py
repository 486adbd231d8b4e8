"""One `mlflow server --app-name basic-auth` per session on 127.0.0.1, in front of a COPY of
the session's trained store (its users in their own SQLite file), with four users:

- ``admin`` (from ``basic_auth.ini``),
- ``approver``: MANAGE on the registered model, EDIT on the family's experiments,
- ``orchestrator``: EDIT on the registered model and on the family's experiments,
- ``reader``: nothing granted (the server's default permission, READ).

A second model version waits as ``@challenger`` (and is ``@previous-champion``), so that
approve, reject and rollback would each move an alias if they were allowed to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MlflowServer, copy_store

pytest.importorskip("flask_wtf", reason="mlflow's basic-auth app needs Flask-WTF "
                    "(pip install -e '.[auth]')")

MODEL = "churn-model"
PASSWORDS = {"admin": "adm1n-S3cret-pass", "approver": "appr0ver-S3cret-pass",
             "orchestrator": "orch3strator-S3cret-pass", "reader": "r3ader-S3cret-pass"}


@contextmanager
def as_user(name: str) -> Iterator[None]:
    """MLflow's credential variables set to ``name``'s for the block, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME",
                                             "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_USERNAME"] = name
    os.environ["MLFLOW_TRACKING_PASSWORD"] = PASSWORDS[name]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class AuthServer:
    uri: str
    root: Path  # the store copy: mlflow.db, its artifacts, the server's log
    log: Path

    def admin_client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


def _server(root: Path) -> MlflowServer:
    """The basic-auth server over the store in ``root`` (not started)."""
    ini = root / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = READ\n"
                   f"database_uri = sqlite:///{root / 'auth.db'}\n"
                   f"admin_username = admin\nadmin_password = {PASSWORDS['admin']}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                   # one password hash per user and minute, not one per request
                   "auth_cache_ttl_seconds = 300\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env |= {"MLFLOW_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-flask-key"}
    return MlflowServer(root, root / "mlflow.db", artifacts=str(root / "server-artifacts"),
                        args=("--app-name", "basic-auth"), env=env)


def _grant(uri: str) -> None:
    from mlflow.server import get_app_client

    with as_user("admin"):
        auth = get_app_client("basic-auth", tracking_uri=uri)
        for user in ("approver", "orchestrator", "reader"):
            auth.create_user(user, PASSWORDS[user])
        auth.grant_user_permission("approver", "registered_model", MODEL, "MANAGE")
        auth.grant_user_permission("orchestrator", "registered_model", MODEL, "EDIT")
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for exp in client.search_experiments():
            for user in ("approver", "orchestrator"):
                auth.grant_user_permission(user, "experiment", exp.experiment_id, "EDIT")
        # a second version waits for approval and is the fallback
        v1 = client.get_model_version_by_alias(MODEL, "champion")
        v2 = client.create_model_version(MODEL, v1.source, run_id=v1.run_id,
                                         tags={"champion_version_at_gate": str(v1.version)},
                                         model_id=v1.source.removeprefix("models:/"))
        client.set_registered_model_alias(MODEL, "challenger", v2.version)
        client.set_registered_model_alias(MODEL, "previous-champion", v2.version)


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory,
                trained_template: tuple[Path, Any]) -> Iterator[AuthServer]:
    template, _result = trained_template
    root = tmp_path_factory.mktemp("auth") / "store"
    copy_store(template, root)
    server = _server(root)
    try:
        uri = server.start()
        _grant(uri)
        yield AuthServer(uri, root, server.log)
    finally:
        server.stop()
