"""Who the tracking server knows this process as, and whether it may change the registered
model: checked *before* an approval, a rejection, a rollback or a retraining that may promote
moves anything, and a refusal met midway (HTTP 403 / 401) turned into the same one line.

Credentials come from MLflow's own environment variables only (``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD``, or ``MLFLOW_TRACKING_TOKEN``), read by MLflow's client for
every request; the project never reads them from its configuration, logs or stores them.

The check asks the server's basic-auth API (``mlflow server --app-name basic-auth``):
``GET /api/2.0/mlflow/users/current`` (who am I, am I an admin) and ``GET
/api/3.0/mlflow/users/permissions/get`` (my effective permission on the registered model, the
server's own resolution, default permission included). A server without authentication
answers 404 there: nothing to check. Local stores (SQLite, PostgreSQL) have no users.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from pipelines.errors import PermissionDenied, TrackingError
from pipelines.redact import without_secrets
from pipelines.store.client import Store, _chain

logger = logging.getLogger(__name__)

USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
#: MLflow's permission levels, weakest first (basic-auth's ``PERMISSION_PRIORITY``).
LEVELS = ("NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE")
#: What each action needs on the registered model. Setting an alias needs EDIT (MLflow's
#: ``can_update``); deleting one needs MANAGE (``can_delete``): approve and reject remove
#: ``@challenger``.
NEEDED = {"approve": "MANAGE", "reject": "MANAGE", "rollback": "EDIT", "retrain": "EDIT",
          "promote": "EDIT"}
_REFUSED = ("PERMISSION_DENIED", "UNAUTHENTICATED")
_CURRENT_USER = "/api/2.0/mlflow/users/current"
_USER_PERMISSION = "/api/3.0/mlflow/users/permissions/get"


@dataclass(frozen=True)
class Identity:
    username: str
    is_admin: bool


def authenticated_user() -> str | None:
    """The user this process authenticates as (``MLFLOW_TRACKING_USERNAME``), or None."""
    return os.environ.get(USERNAME_ENV) or None


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _get(uri: str, endpoint: str, params: dict[str, str] | None = None) -> tuple[int, dict]:
    """GET ``endpoint`` on the tracking server with the client's own credentials."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    response = http_request(get_default_host_creds(uri), endpoint, "GET", params=params,
                            max_retries=0)
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def whoami(store: Store) -> Identity | None:
    """Who the server authenticated this process as; None when the store has no users (a
    local store, a server without authentication). Raises :class:`PermissionDenied` when
    the server refuses the credentials (401)."""
    if not _is_server(store.uri):
        return None
    try:
        status, body = _get(store.uri, _CURRENT_USER)
    except MlflowException as exc:
        raise TrackingError(f"Cannot ask {without_secrets(store.uri)} who this user is: "
                            f"{without_secrets(str(exc))}") from exc
    if status == 401:
        raise PermissionDenied(_unauthenticated(store.uri))
    if status != 200 or "user" not in body:
        return None  # 404: no authentication app on this server
    user = body["user"]
    return Identity(str(user.get("username", "")), bool(user.get("is_admin", False)))


def permission_on_model(store: Store, username: str) -> str:
    """The effective permission (``READ``, ``EDIT``, ``MANAGE``, ...) of ``username`` on the
    configured registered model, as the server resolves it for a real request."""
    name = store.tracking.registered_model_name
    status, body = _get(store.uri, _USER_PERMISSION, {
        "username": username, "resource_type": "registered_model", "resource_id": name})
    if status != 200:
        raise TrackingError(f"{without_secrets(store.uri)} did not say what user {username!r} "
                            f"may do with registered model {name!r} (HTTP {status}).")
    return str(body.get("permission", "NO_PERMISSIONS"))


def require_permission(store: Store, action: str) -> str | None:
    """Refuse ``action`` (a key of :data:`NEEDED`) before anything changes when the
    authenticated user lacks the permission it needs on the registered model: raises
    :class:`PermissionDenied` naming the user, the permission and the model. Returns the
    user's name (None: a store without users, nothing checked)."""
    needed = NEEDED[action]
    identity = whoami(store)
    if identity is None:
        return None
    if identity.is_admin:
        return identity.username
    has = permission_on_model(store, identity.username)
    if _rank(has) < _rank(needed):
        raise PermissionDenied(refusal_text(identity.username, needed,
                                            store.tracking.registered_model_name, action,
                                            has=has))
    logger.debug("User %r has %s on %s: %s allowed", identity.username, has,
                 store.tracking.registered_model_name, action)
    return identity.username


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else 0


def refusal_text(username: str | None, needed: str, model: str, action: str,
                 has: str | None = None) -> str:
    """The one line of a refusal."""
    who = f"user {username!r}" if username else "this user (MLFLOW_TRACKING_USERNAME unset)"
    holding = f" (has {has})" if has else ""
    return (f"{who} lacks {needed} permission on registered model {model!r}{holding}, "
            f"needed to {action}: ask an admin of the tracking server to grant it "
            f"(AuthServiceClient.grant_user_permission({username or '<user>'!r}, "
            f"'registered_model', {model!r}, {needed!r})); nothing was changed")


def _unauthenticated(uri: str) -> str:
    user = authenticated_user()
    return (f"the tracking server {without_secrets(uri)} refused the credentials of "
            + (f"user {user!r}" if user else "this process (no MLFLOW_TRACKING_USERNAME)")
            + " (HTTP 401): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
            "MLFLOW_TRACKING_TOKEN) in the environment; they are never read from the "
            "configuration file")


def permission_refusal(exc: BaseException, model: str | None = None) -> PermissionDenied | None:
    """A :class:`PermissionDenied` when ``exc`` (or its cause) is the tracking server's 403
    or 401, else None: a refusal met midway, in one line."""
    for cause in _chain(exc):
        if isinstance(cause, PermissionDenied):
            return cause
        if isinstance(cause, MlflowException) and cause.error_code in _REFUSED:
            if cause.error_code == "UNAUTHENTICATED":
                from mlflow import get_tracking_uri

                return PermissionDenied(_unauthenticated(get_tracking_uri()))
            endpoint = _endpoint(str(cause))
            user = authenticated_user()
            who = f"user {user!r}" if user else "this user"
            what = f"registered model {model!r}" if model and "registered-model" in endpoint \
                else "the registered model or experiment it touches"
            return PermissionDenied(
                f"the tracking server refused {who} (HTTP 403 on {endpoint or 'a request'}): "
                f"ask an admin for EDIT (MANAGE to approve or reject) permission on {what}")
    return None


def _endpoint(text: str) -> str:
    marker = "endpoint "
    at = text.find(marker)
    return text[at + len(marker):].split(" ", 1)[0] if at >= 0 else ""
