"""The model registry: aliases (champion, previous-champion), registration, promotion, the
version tags that explain them. Order of alias moves is chosen so that a crash at any point
leaves ``champion`` on a working version."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipelines.errors import TrackingError
from pipelines.store import audit
from pipelines.store import contract as c
from pipelines.store.audit import AliasMove
from pipelines.store.client import Store

logger = logging.getLogger(__name__)

_ABSENT = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND")


def alias_version(store: Store, alias: str) -> ModelVersion | None:
    """The version behind ``<model>@alias``, or None if the model or alias does not exist."""
    name = store.tracking.registered_model_name
    try:
        return store.client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in _ABSENT:
            return None
        raise TrackingError(f"Cannot read alias {name}@{alias}: {exc}") from exc


def register_model(store: Store, model_uri: str,
                   tags: Mapping[str, Any] | None = None) -> ModelVersion:
    """A new version of the configured registered model from ``model_uri``."""
    store.use()
    name = store.tracking.registered_model_name
    version = mlflow.register_model(model_uri, name,
                                    tags={k: str(v) for k, v in (tags or {}).items()})
    logger.info("Registered %s version %s from %s", name, version.version, model_uri)
    return version


def promote(store: Store, version: str, *, actor: str = "", reason: str = "",
            action: str = "promote", record: bool = True,
            run_id: str | None = None) -> str | None:
    """Point ``champion`` at ``version``, keeping the old champion as ``previous-champion``,
    and record the move in the audit trail (unless ``record`` is false: the caller records)
    with a link to ``run_id``, the run that decided it (default: the active run).

    The backup alias is written first, then ``champion`` moves in one call, so a crash at any
    point leaves ``champion`` on a working version. Returns the old champion version.
    """
    tracking = store.tracking
    name = tracking.registered_model_name
    old = alias_version(store, tracking.champion_alias)
    backup = alias_version(store, tracking.previous_alias)
    old_v = str(old.version) if old else None
    moves = []
    if old_v is not None and old_v != str(version):
        store.client.set_registered_model_alias(name, tracking.previous_alias, old_v)
        moves.append(AliasMove(tracking.previous_alias,
                               str(backup.version) if backup else None, old_v))
    store.client.set_registered_model_alias(name, tracking.champion_alias, str(version))
    moves.append(AliasMove(tracking.champion_alias, old_v, str(version)))
    if old_v != str(version):  # taken when the alias has moved, not when the job started
        tag_version(store, str(version), {c.VTAG_PROMOTED_AT: datetime.now(UTC).isoformat()},
                    best_effort=True)
    logger.info("%s@%s -> version %s (previous: %s)", name, tracking.champion_alias, version,
                old_v)
    if old_v is not None and old_v != str(version):
        if backup is not None and str(backup.version) not in (old_v, str(version)):
            note_fallback(store, str(backup.version), False)
        note_fallback(store, str(version), False)
        note_fallback(store, old_v, True)
    if record:
        audit.record(store, action, moves, actor=actor or audit.default_actor(), reason=reason,
                     run_id=run_id)
    return old_v


def set_alias(store: Store, alias: str, version: str) -> None:
    store.client.set_registered_model_alias(store.tracking.registered_model_name, alias, version)


def delete_alias(store: Store, alias: str) -> None:
    store.client.delete_registered_model_alias(store.tracking.registered_model_name, alias)


def describe_version(store: Store, version: str, markdown: str) -> None:
    """A model version's description (shown on its registry page). Best effort."""
    try:
        store.client.update_model_version(store.tracking.registered_model_name, version,
                                          description=markdown[:c.DESCRIPTION_LIMIT])
    except MlflowException as exc:
        logger.warning("Could not describe version %s: %s", version, exc)


def tag_version(store: Store, version: str, tags: Mapping[str, Any], *,
                best_effort: bool = False) -> None:
    """Tags on one version of the configured model; ``best_effort`` logs a failure instead of
    raising (the aliases are what serve, the tags explain)."""
    name = store.tracking.registered_model_name
    for key, value in tags.items():
        try:
            store.client.set_model_version_tag(name, version, key, str(value))
        except MlflowException as exc:
            if not best_effort:
                raise
            logger.warning("Could not tag %s version %s with %s=%s: %s", name, version, key,
                           value, exc)


LATEST_BATCH_HEAD = "**Latest monitored batch**:"


def set_latest_batch(store: Store, version: str, markdown: str) -> None:
    """Put ``markdown`` (one line about the newest batch this version scored) at the top of
    the version's description, replacing the previous such line. Best effort."""
    name = store.tracking.registered_model_name
    try:
        current = store.client.get_model_version(name, version).description or ""
        if current.startswith(LATEST_BATCH_HEAD):
            current = current.split("\n\n", 1)[1] if "\n\n" in current else ""
        text = f"{LATEST_BATCH_HEAD} {markdown}" + (f"\n\n{current}" if current else "")
        store.client.update_model_version(name, version, description=text[:c.DESCRIPTION_LIMIT])
    except MlflowException as exc:
        logger.warning("Could not update the description of version %s: %s", version, exc)


FALLBACK_HEAD = "**Fallback**"


def note_fallback(store: Store, version: str, on: bool) -> None:
    """Add (``on``) or remove the paragraph saying this version is ``@previous-champion``,
    how to roll back to it and what that would serve. It goes under the latest-batch line
    (which :func:`set_latest_batch` keeps first). Best effort."""
    tracking = store.tracking
    name = tracking.registered_model_name
    try:
        mv = store.client.get_model_version(name, version)
        parts = [p for p in (mv.description or "").split("\n\n")
                 if p and not p.startswith(FALLBACK_HEAD)]
        if on:
            note = (f"{FALLBACK_HEAD} (`@{tracking.previous_alias}`): "
                    f"`python -m pipelines.rollback` makes it the champion again; "
                    f"{audit.fallback_facts(mv.tags)}.")
            at = 1 if parts and parts[0].startswith(LATEST_BATCH_HEAD) else 0
            parts.insert(at, note)
        text = "\n\n".join(parts)
        if text != (mv.description or ""):
            store.client.update_model_version(name, version,
                                              description=text[:c.DESCRIPTION_LIMIT])
    except MlflowException as exc:
        logger.warning("Could not update the fallback note of version %s: %s", version, exc)
