"""The only package that imports MLflow: client set-up, the contract (tag names, artifact
paths, searches), models, registry (champion, aliases, promotion, lock) and artifacts.

Workflows receive a :class:`Store` (from :func:`connect`) and call the functions here; the
statistics, monitoring and retraining packages never see MLflow.
"""

from pipelines.store import contract
from pipelines.store.audit import AliasMove, default_actor, describe_model
from pipelines.store.client import Store, connect, tracking_outage
from pipelines.store.lock import LockInfo, registry_lock
from pipelines.store.models import (
    Champion,
    load_champion,
    load_model_version,
    log_external_model,
    log_model,
)
from pipelines.store.reference import (
    load_reference_context,
    load_reference_frame,
    log_reference,
)
from pipelines.store.registry import (
    alias_version,
    delete_alias,
    describe_version,
    promote,
    register_model,
    set_alias,
    tag_version,
)

__all__ = [
    "AliasMove",
    "Champion",
    "LockInfo",
    "Store",
    "alias_version",
    "connect",
    "contract",
    "default_actor",
    "delete_alias",
    "describe_model",
    "describe_version",
    "load_champion",
    "load_model_version",
    "load_reference_context",
    "load_reference_frame",
    "log_external_model",
    "log_model",
    "log_reference",
    "promote",
    "register_model",
    "registry_lock",
    "set_alias",
    "tag_version",
    "tracking_outage",
]
