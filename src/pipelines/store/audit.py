"""The audit trail of the registry: every alias move (promotion, approval, rejection,
rollback, a promotion completed by recovery) as one finished run in the ``<prefix>-Audit``
experiment, named for what happened (``promote champion v1→v2, previous-champion none→v1``),
tagged with time,
actor, the moves and the reason. The MLflow UI lists them; ``python -m pipelines.history``
prints them. After each move the registered model's description is rewritten to say which
version serves, which is the fallback (or that there is none) and which waits for approval.
"""

from __future__ import annotations

import getpass
import json
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException

from pipelines.store import contract as c
from pipelines.store.client import Store
from pipelines.store.searches import retraining_parents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: str | None
    to_version: str | None  # None: the alias was removed

    def text(self) -> str:
        before = f"v{self.from_version}" if self.from_version else "none"
        after = f"v{self.to_version}" if self.to_version else "removed"
        return f"@{self.alias} {before} -> {after}"


def default_actor(configured: str = "") -> str:
    """``promotion.actor`` when set, else ``<user>@<host>``."""
    if configured:
        return configured
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def record(store: Store, action: str, moves: list[AliasMove], *, actor: str, reason: str,
           links: dict[str, str] | None = None) -> str | None:
    """One audit run for ``moves`` (already made); returns its id. Best effort: the moves
    are what serve, so a failure to record is logged, never raised."""
    moves = [m for m in moves if m.from_version != m.to_version]
    if not moves:
        return None
    tracking = store.tracking
    now = datetime.now(UTC)
    # the run list shows ~25 characters: the champion's move first, compact
    ordered = sorted(moves, key=lambda m: m.alias != tracking.champion_alias)
    name = f"{action} " + ", ".join(
        f"{m.alias} {'v' + m.from_version if m.from_version else 'none'}→"
        f"{'v' + m.to_version if m.to_version else 'removed'}" for m in ordered)
    note = [f"**{action}** by `{actor}` at {now.isoformat(timespec='seconds')}", "",
            *[f"- {m.text()}" for m in moves], "", f"Reason: {reason}"]
    note += [f"{k}: {v}" for k, v in (links or {}).items()]
    tags = {c.TAG_AUDIT_ACTION: action, c.TAG_AUDIT_ACTOR: actor,
            c.TAG_AUDIT_REASON: reason[:c.TAG_LIMIT], c.TAG_AUDIT_TIME: now.isoformat(),
            c.TAG_AUDIT_MOVES: json.dumps([asdict(m) for m in moves]),
            c.TAG_AUDIT_MODEL: tracking.registered_model_name,
            c.TAG_DESCRIPTION: "\n".join(note)[:c.DESCRIPTION_LIMIT],
            c.TAG_RUN_COLOR: c.STATUS_COLORS["rejected" if action == "reject" else
                                             "critical" if action == "rollback" else
                                             "promoted"],
            **{f"audit.link.{k}": v for k, v in (links or {}).items()}}
    try:
        experiment_id = store.experiment_id(tracking.audit_experiment)
        assert experiment_id is not None
        run = store.client.create_run(experiment_id, run_name=name[:250], tags=tags,
                                      start_time=int(time.time() * 1000))
        store.client.set_terminated(run.info.run_id, "FINISHED")
    except MlflowException as exc:
        logger.error("Audit trail: could not record %r: %s", name, exc)
        return None
    logger.info("Audit: %s by %s (%s)", name, actor, reason[:200])
    describe_model(store)
    return run.info.run_id


def history(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """Audit events of the configured model, newest first."""
    tracking = store.tracking
    experiment_id = store.experiment_id(tracking.audit_experiment, create=False)
    if experiment_id is None:
        return []
    runs = store.client.search_runs(
        [experiment_id], f"tags.`{c.TAG_AUDIT_MODEL}` = '{tracking.registered_model_name}'",
        max_results=limit, order_by=["attributes.start_time DESC"])
    return [{"time": r.data.tags.get(c.TAG_AUDIT_TIME, ""),
             "action": r.data.tags.get(c.TAG_AUDIT_ACTION, ""),
             "moves": [AliasMove(**m) for m in json.loads(r.data.tags.get(c.TAG_AUDIT_MOVES,
                                                                            "[]"))],
             "actor": r.data.tags.get(c.TAG_AUDIT_ACTOR, ""),
             "reason": r.data.tags.get(c.TAG_AUDIT_REASON, ""),
             "run_id": r.info.run_id} for r in runs]


def last_recorded_version(store: Store, alias: str, limit: int = 200,
                          events: list[dict[str, Any]] | None = None) -> str | None:
    """The version the newest recorded move of ``alias`` pointed it at (None: no move of it
    recorded, or the alias was removed); ``events``: :func:`history`, if already read."""
    for event in history(store, limit=limit) if events is None else events:
        for move in event["moves"]:
            if move.alias == alias:
                return move.to_version
    return None


def record_missing(store: Store, action: str, moves: list[AliasMove], *, actor: str,
                   reason: str, since: datetime, limit: int = 200,
                   events: list[dict[str, Any]] | None = None) -> str | None:
    """:func:`record` ``moves`` unless an event since ``since`` already records the last of
    them (the one that completes the change, such as the champion's): recovery writes the
    record a crash kept from being written, once. ``events``: :func:`history`, if already
    read. Returns the new audit run's id, or None."""
    moves = [m for m in moves if m.from_version != m.to_version]
    if not moves:
        return None
    final = moves[-1]
    for event in history(store, limit=limit) if events is None else events:
        if event["time"] and datetime.fromisoformat(event["time"]) < since:
            break  # newest first: the rest is older than the interrupted promotion
        if final in event["moves"]:
            return None
    return record(store, action, moves, actor=actor, reason=reason)


def _alias(store: Store, alias: str) -> str | None:
    try:
        return str(store.client.get_model_version_by_alias(
            store.tracking.registered_model_name, alias).version)
    except MlflowException:
        return None


def fallback_facts(tags: Mapping[str, str]) -> str:
    """What rolling back to a version would serve, from its monitoring tags: the status and
    ROC-AUC of the last batch it scored while it was champion."""
    status = tags.get(c.VTAG_LAST_STATUS)
    if not status:
        return "it has not been monitored on a production batch"
    auc = tags.get(c.VTAG_LAST_ROC_AUC, "n/a")
    run = tags.get(c.VTAG_LAST_RUN, "")
    link = tags.get(c.VTAG_LAST_RUN_LINK, "")
    where = f" ([{run}]({link}))" if run and link else f" ({run})" if run else ""
    return (f"its last monitored batch{where} was {status.upper()} with ROC-AUC {auc}: "
            "rolling back would serve that model again")


def _fallback_facts(store: Store, version: str) -> str:
    try:
        tags = store.client.get_model_version(store.tracking.registered_model_name,
                                              version).tags
    except MlflowException:
        return "its monitoring record could not be read"
    return fallback_facts(tags)


def describe_model(store: Store, challenger_alias: str = "challenger") -> None:
    """Rewrite the registered model's description: serving version, fallback (or its
    absence), challenger, and the latest alias moves. Best effort."""
    tracking = store.tracking
    name = tracking.registered_model_name
    champion = _alias(store, tracking.champion_alias)
    previous = _alias(store, tracking.previous_alias)
    challenger = _alias(store, challenger_alias)
    lines = [f"**Serving**: {c.version_link(name, champion) if champion else 'nothing'} "
             f"(`@{tracking.champion_alias}`)"]
    if previous and previous != champion:
        lines.append(f"**Fallback**: {c.version_link(name, previous)} "
                     f"(`@{tracking.previous_alias}`; `python -m pipelines.rollback` restores it); "
                     f"{_fallback_facts(store, previous)}")
    else:
        lines.append(f"**Fallback**: none (`@{tracking.previous_alias}` "
                     f"{'is the serving version' if previous else 'is not set'}): no rollback "
                     "is possible until a promotion replaces the champion.")
    lines.append(f"**Waiting for approval**: {c.version_link(name, challenger)} "
                 f"(`@{challenger_alias}`; `python -m pipelines.approve` or `reject`)"
                 if challenger else "**Waiting for approval**: nothing")
    last = retraining_parents(store, limit=1)
    if last:
        run = last[0]
        # no verdict yet: say what the run is (running, failed, killed), not a guess
        verdict = run.data.tags.get(c.TAG_VERDICT) or run.info.status.lower()
        lines.append(f"**Last retraining**: {verdict} "
                     f"({c.run_link(run.info.experiment_id, run.info.run_id, run.info.run_name)})"
                     + ("; rejected candidates are not registered, their runs keep them"
                        if verdict == c.REJECTED else ""))
    recent = history(store, limit=5)
    if recent:
        lines += ["", "**Latest alias moves** (experiment "
                  f"`{tracking.audit_experiment}`, or `python -m pipelines.history`):", ""]
        lines += [f"- {e['time'][:19]} {e['action']}: "
                  + ", ".join(m.text() for m in e["moves"]) + f" by `{e['actor']}`"
                  for e in recent]
    try:
        store.client.update_registered_model(name, description="\n".join(lines))
    except MlflowException as exc:
        logger.warning("Could not update the description of %s: %s", name, exc)
