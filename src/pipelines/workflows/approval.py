"""The approval gate: in ``promotion.mode = "approval"`` a candidate that passed the gate waits
as ``@challenger``; a person approves it (it becomes champion, the old champion the fallback)
or rejects it (the alias goes, the version stays registered with the reason).

Approval re-checks that the champion is still the version the candidate was compared with:
a gate result against another model says nothing about this one. Both steps hold the
orchestrator lock (never beside a cycle), are recorded in the audit trail, tagged on the
version and on the retraining run, and notified.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.config import Settings
from pipelines.errors import ApprovalRefused, ModelNotFoundError
from pipelines.notify import Notification, broadcast, notifiers_for
from pipelines.store import (
    AliasMove,
    LockInfo,
    Store,
    alias_version,
    connect,
    default_actor,
    delete_alias,
    promote,
    tag_version,
)
from pipelines.store import contract as c
from pipelines.store.audit import record as record_audit
from pipelines.store.auth import require_permission
from pipelines.workflows.orchestrate import orchestrator_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApprovalResult:
    action: str  # approved | rejected
    version: str
    champion_before: str | None
    message: str


def _challenger(store: Store, settings: Settings, version: str | None) -> Any:
    alias = settings.promotion.challenger_alias
    name = settings.tracking.registered_model_name
    found = alias_version(store, alias)
    if found is None:
        raise ModelNotFoundError(f"No version of {name} waits for approval (no @{alias}). "
                                 "Candidates wait there only in promotion.mode = \"approval\".")
    if version is not None and str(found.version) != str(version):
        raise ApprovalRefused(f"Version {version} is not the one waiting for approval: "
                              f"{name}@{alias} is version {found.version}.")
    return found


def _conclude(settings: Settings, store: Store, challenger: Any, done: str, actor: str,
              reason: str, status: str, notification: Notification) -> None:
    """After the aliases moved: who decided and why on the version (``<done>_by``,
    ``<done>_at``) and on its retraining run, then the notification and the log line."""
    when = datetime.now(UTC).isoformat(timespec="seconds")
    prefix = "approval" if done == "approved" else "rejection"
    tag_version(store, str(challenger.version), {
        c.VTAG_PROMOTION_STATUS: status, f"{done}_by": actor, f"{done}_at": when,
        f"{prefix}_reason": reason}, best_effort=True)
    _tag_parent(store, challenger, {"approval": f"{done} by {actor} at {when}: {reason}"})
    broadcast(notifiers_for(settings), notification)
    logger.info("%s: %s", done.capitalize(), notification.subject)


def _tag_parent(store: Store, challenger: Any, tags: dict[str, str]) -> None:
    run_id = (challenger.tags or {}).get("parent_run_id")
    if run_id:
        try:
            store.set_tags(tags, run_id=run_id)
        except Exception as exc:  # the registry is what serves; this is the explanation
            logger.warning("Could not tag retraining run %s: %s", run_id, exc)


@contextmanager
def _decision(settings: Settings, store: Store, version: str | None,
              step: str) -> Iterator[tuple[LockInfo, Any, Any] | None]:
    """Hold the orchestrator lock and yield (lock, the waiting version, the champion), or
    None when a cycle holds the lock."""
    with orchestrator_lock(settings, store) as (lock, _tags):
        if not lock.acquired:
            logger.warning("%s skipped: %s", step, lock.message)
            yield None
            return
        yield (lock, _challenger(store, settings, version),
               alias_version(store, settings.tracking.champion_alias))


def approve(settings: Settings, *, reason: str = "", version: str | None = None,
            store: Store | None = None) -> ApprovalResult | None:
    """Promote the challenger; None when a cycle holds the lock. Raises
    :class:`ApprovalRefused` when the champion changed since the comparison."""
    store = store or connect(settings.tracking, create=False, purpose="approve")
    # before the lock: a refusal changes nothing; the server's user is the actor
    actor = require_permission(store, "approve") or default_actor(settings.promotion.actor)
    with _decision(settings, store, version, "Approval") as held:
        if held is None:
            return None
        lock, challenger, champion = held
        new = str(challenger.version)
        current = str(champion.version) if champion else None
        compared = (challenger.tags or {}).get(c.VTAG_CHAMPION_AT_GATE)
        if current != compared and current != new:
            raise ApprovalRefused(
                f"The champion changed since version {new} was compared with it (compared "
                f"with version {compared}, the champion is now version {current}): that gate "
                f"result says nothing about the current champion. Reject version {new} "
                "(python -m pipelines.reject) and let the next retraining compare against "
                f"version {current}.")
        lock.ensure_held()
        text = reason or "approved"
        retraining_run = (challenger.tags or {}).get("parent_run_id")  # linked from the audit
        if current != new:
            promote(store, new, action="approve", actor=actor, reason=text,
                    run_id=retraining_run)
        delete_alias(store, settings.promotion.challenger_alias)
        record_audit(store, "approve", [AliasMove(settings.promotion.challenger_alias, new,
                                                  None)], actor=actor, reason=text,
                     run_id=retraining_run)
    message = f"version {new} approved by {actor}: champion now, version {current} the fallback"
    _conclude(settings, store, challenger, "approved", actor, text, c.PROMOTED, Notification(
        subject=f"champion is now version {new} ({message})", severity="warning",
        event="promotion", links={"version": new}))
    return ApprovalResult("approved", new, current, message)


def reject(settings: Settings, *, reason: str = "", version: str | None = None,
           store: Store | None = None) -> ApprovalResult | None:
    """Discard the challenger (its alias goes; the version stays, tagged with the reason);
    None when a cycle holds the lock."""
    store = store or connect(settings.tracking, create=False, purpose="reject")
    # before the lock: a refusal changes nothing; the server's user is the actor
    actor = require_permission(store, "reject") or default_actor(settings.promotion.actor)
    with _decision(settings, store, version, "Rejection") as held:
        if held is None:
            return None
        _lock, challenger, champion = held
        new = str(challenger.version)
        text = reason or "rejected by the reviewer"
        delete_alias(store, settings.promotion.challenger_alias)
        record_audit(store, "reject", [AliasMove(settings.promotion.challenger_alias, new,
                                                 None)], actor=actor, reason=text,
                     run_id=(challenger.tags or {}).get("parent_run_id"))
    current = str(champion.version) if champion else None
    message = f"version {new} rejected by {actor} ({text}); version {current} keeps serving"
    _conclude(settings, store, challenger, "rejected", actor, text, "rejected_by_reviewer",
              Notification(subject=message, severity="info", event="approval",
                           links={"version": new}))
    return ApprovalResult("rejected", new, current, message)
