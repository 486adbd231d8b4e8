"""Undo a promotion: point ``champion`` back at ``previous-champion``.

The two aliases swap, so a second rollback undoes the first. Both model versions are tagged
(``rolled_back_at`` and the version on the other side), so the registry itself tells what
happened.

Order, for crash safety: the versions are tagged first, then ``champion`` moves in one call
(the rollback the user asked for), then ``previous-champion``. A crash before the champion
moves changes nothing; a crash after it leaves the rollback done, both aliases on the restored
version, and the demoted version findable by its ``rolled_back_at`` tag. Last, the
``Fallback`` note (what rolling back would serve) moves from the restored version's
description to the demoted one's.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from pipelines.config import Settings
from pipelines.errors import ModelNotFoundError, TrackingError
from pipelines.notify import Notification, broadcast, notifiers_for
from pipelines.store import (
    AliasMove,
    Store,
    alias_version,
    connect,
    default_actor,
    set_alias,
    tag_version,
)
from pipelines.store.audit import record as record_audit
from pipelines.store.auth import require_permission
from pipelines.store.registry import note_fallback

logger = logging.getLogger(__name__)


def _require_alias(store: Store, alias: str, hint: str) -> str:
    version = alias_version(store, alias)
    if version is None:
        name = store.tracking.registered_model_name
        raise ModelNotFoundError(f"No model version behind {name}@{alias}: {hint}")
    return str(version.version)


def rollback(settings: Settings, store: Store | None = None, *,
             now: datetime | None = None, reason: str = "") -> tuple[str, str]:
    """Point ``champion`` at the ``previous-champion`` version and ``previous-champion`` at the
    version that was champion. Returns ``(from_version, to_version)``.

    Raises :class:`ModelNotFoundError` when either alias is missing, :class:`TrackingError`
    when both already point at the same version (nothing to roll back to) or when there is
    no store (a SQLite file is never created by a rollback).
    """
    store = store or connect(settings.tracking, create=False, purpose="roll back")
    # before anything moves: a refusal changes nothing; the server's user is the actor
    user = require_permission(store, "rollback")
    tracking = settings.tracking
    name = tracking.registered_model_name
    current = _require_alias(store, tracking.champion_alias,
                             "there is no champion to roll back. Train a baseline first.")
    previous = _require_alias(
        store, tracking.previous_alias,
        "nothing to roll back to (no promotion has replaced a champion yet).")
    if current == previous:
        raise TrackingError(
            f"{name}@{tracking.champion_alias} and @{tracking.previous_alias} both point at "
            f"version {current}; there is no other version to roll back to."
        )
    when = (now or datetime.now(UTC)).isoformat()
    tag_version(store, current, {"rolled_back_at": when, "rollback.role": "demoted",
                                 "rolled_back_to": previous})
    tag_version(store, previous, {"rolled_back_at": when, "rollback.role": "restored",
                                  "rolled_back_from": current})
    set_alias(store, tracking.champion_alias, previous)
    set_alias(store, tracking.previous_alias, current)
    note_fallback(store, previous, False)
    note_fallback(store, current, True)
    record_audit(store, "rollback", [AliasMove(tracking.champion_alias, current, previous),
                                     AliasMove(tracking.previous_alias, previous, current)],
                 actor=user or default_actor(settings.promotion.actor),
                 reason=reason or "rollback")
    broadcast(notifiers_for(settings), Notification(
        subject=f"rollback: {name}@{tracking.champion_alias} is version {previous} again "
                f"(version {current} demoted): {reason or 'no reason given'}",
        severity="warning", event="rollback", links={"version": previous}))
    logger.info("Rolled back %s@%s: version %s -> %s (@%s now on %s)", name,
                tracking.champion_alias, current, previous, tracking.previous_alias, current)
    return current, previous
