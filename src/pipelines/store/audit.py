"""The audit trail of the registry: every alias move (promotion, approval, rejection,
rollback, a promotion completed by recovery) as one finished run in the ``<prefix>-Audit``
experiment, named for what happened in the characters the run list shows (``promote
v1→v2``: the champion's move; the other moves are in its description), tagged with time,
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

import mlflow
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


def run_name(action: str, moves: list[AliasMove], champion_alias: str) -> str:
    """What the audit run list shows of a move in its ~22 characters: the action and the
    champion's move (``promote v1→v2``, ``rollback v2→v1``, ``baseline v1``); without a
    champion move, the first alias named (``reject challenger v3→–``)."""
    def versions(m: AliasMove) -> str:
        after = f"v{m.to_version}" if m.to_version else "–"
        return f"v{m.from_version}→{after}" if m.from_version else after

    champion = [m for m in moves if m.alias == champion_alias]
    if champion:
        return f"{action} {versions(champion[0])}"
    return f"{action} {moves[0].alias} {versions(moves[0])}" if moves else action


def default_actor(configured: str = "") -> str:
    """The user the tracking server authenticates (``MLFLOW_TRACKING_USERNAME``) when set,
    else ``promotion.actor`` when set, else ``<user>@<host>``."""
    from pipelines.store.auth import authenticated_user

    authenticated = authenticated_user()
    if authenticated:
        return authenticated
    if configured:
        return configured
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


#: Version tag prefix per alias a move points at a version (``promoted_reason``, ...); other
#: aliases use their own name (``challenger_reason``).
_ROLE_WORDS = {"champion": "promoted", "previous-champion": "fallback"}
#: The paragraph of a version's description that lists the alias moves that concern it.
ALIAS_MOVES_HEAD = "**Alias moves**"
#: How many moves a version's description and the model's description list.
MOVES_SHOWN = 5
#: Characters of a reason quoted in a list line (the audit run keeps the whole reason).
REASON_SHOWN = 240


def _source_run(store: Store, run_id: str | None) -> tuple[str, str] | None:
    """(run id, Markdown link) of the run that moved the aliases: ``run_id``, else the active
    run (a retraining or baseline run moves them from inside its run); None without one."""
    if run_id is None:
        active = mlflow.active_run()
        run_id = active.info.run_id if active is not None else None
    if not run_id:
        return None
    try:
        run = store.client.get_run(run_id)
    except MlflowException as exc:
        logger.warning("Audit trail: run %s that moved the aliases not found: %s", run_id, exc)
        return None
    # not the run's name: a retraining run is still named "retrain running" while it moves
    # the aliases (it is named for its verdict once decided)
    experiment = store.client.get_experiment(run.info.experiment_id).name
    return run_id, c.run_link(run.info.experiment_id, run_id, f"the {experiment} run")


def _shorten(text: str, limit: int = REASON_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def record(store: Store, action: str, moves: list[AliasMove], *, actor: str, reason: str,
           links: dict[str, str] | None = None, run_id: str | None = None) -> str | None:
    """One audit run for ``moves`` (already made); returns its id. ``run_id``: the run that
    made the moves (default: the active run, if any), linked from the audit run's
    description. The run's ``mlflow.user`` is ``actor`` (the UI's "Created by"); each moved
    version gets the reason as tags and in its description. Best effort: the moves are what
    serve, so a failure to record is logged, never raised."""
    moves = [m for m in moves if m.from_version != m.to_version]
    if not moves:
        return None
    tracking = store.tracking
    now = datetime.now(UTC)
    source = _source_run(store, run_id)
    name = run_name(action, moves, tracking.champion_alias)
    model = tracking.registered_model_name
    note = [f"**{action}** by `{actor}` at {now:%Y-%m-%d %H:%M:%S} UTC", "",
            *[f"- {_move_text(model, m)}" for m in moves], "", f"**Reason**: {reason}", ""]
    if source is not None:
        note += [f"**Made by**: {source[1]}", ""]
    note += [f"{k}: {v}" for k, v in (links or {}).items()]
    tags = {c.TAG_AUDIT_ACTION: action, c.TAG_AUDIT_ACTOR: actor,
            c.TAG_AUDIT_REASON: reason[:c.TAG_LIMIT], c.TAG_AUDIT_TIME: now.isoformat(),
            c.TAG_AUDIT_MOVES: json.dumps([asdict(m) for m in moves]),
            c.TAG_AUDIT_MODEL: tracking.registered_model_name,
            "mlflow.user": actor[:250],  # the run page's "Created by"
            **({"audit.run_id": source[0]} if source is not None else {}),
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
    audit_link = c.run_link(experiment_id, run.info.run_id, "audit run")
    for version in dict.fromkeys(v for m in moves for v in (m.to_version, m.from_version) if v):
        _note_moves(store, version, action, moves, actor=actor, reason=reason, when=now,
                    audit_run_id=run.info.run_id, link=audit_link)
    describe_model(store)
    return run.info.run_id


def _move_text(model: str, move: AliasMove) -> str:
    """``@champion v1 -> [v2](link)``: the version a move points at links to its page."""
    before = f"v{move.from_version}" if move.from_version else "none"
    after = (c.version_link(model, move.to_version, f"v{move.to_version}")
             if move.to_version else "removed")
    return f"`@{move.alias}` {before} -> {after}"


def _note_moves(store: Store, version: str, action: str, moves: list[AliasMove], *,
                actor: str, reason: str, when: datetime, audit_run_id: str,
                link: str) -> None:
    """On one version: tags ``<role>_reason``/``_by``/``_audit_run`` for each alias that now
    points at it (``promoted_…`` for the champion, ``fallback_…`` for the previous champion),
    and one line per move in its description's :data:`ALIAS_MOVES_HEAD` list (newest first,
    :data:`MOVES_SHOWN` kept). Best effort."""
    name = store.tracking.registered_model_name
    mine = [m for m in moves if version in (m.to_version, m.from_version)]
    tags: dict[str, str] = {}
    champion = store.tracking.champion_alias
    replaced_by = next((m.to_version for m in moves
                        if m.alias == champion and m.from_version == version), None)
    for m in mine:
        if m.to_version == version:
            role = _ROLE_WORDS.get(m.alias, m.alias)
            why = reason
            if m.alias != champion and replaced_by:  # the fallback: say what replaced it
                why = f"{action}: @{champion} moved to v{replaced_by}; {reason}"
            tags |= {f"{role}_reason": why[:c.TAG_LIMIT], f"{role}_by": actor,
                     f"{role}_audit_run": audit_run_id}
    line = (f"- {when:%Y-%m-%d %H:%M} UTC {action}: "
            + ", ".join(_move_text(name, m) for m in mine)
            + f" by `{actor}`: {_shorten(reason)} ({link})")
    try:
        for key, value in tags.items():
            store.client.set_model_version_tag(name, version, key, value)
        current = store.client.get_model_version(name, version).description or ""
        parts = current.split("\n\n") if current else []
        old: list[str] = []
        kept = []
        i = 0
        while i < len(parts):
            if parts[i].startswith(ALIAS_MOVES_HEAD):
                if i + 1 < len(parts):
                    old = parts[i + 1].splitlines()
                i += 2
                continue
            kept.append(parts[i])
            i += 1
        lines = [line, *old][:MOVES_SHOWN]
        kept += [f"{ALIAS_MOVES_HEAD} of this version (newest first; all in the audit "
                 "experiment)", "\n".join(lines)]
        store.client.update_model_version(name, version,
                                          description="\n\n".join(kept)[:c.DESCRIPTION_LIMIT])
    except MlflowException as exc:
        logger.warning("Could not note the alias moves on version %s: %s", version, exc)


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
    primary metric (ROC-AUC, RMSE, macro F1: the version's ``problem_type``) of the last batch
    it scored while it was champion."""
    status = tags.get(c.VTAG_LAST_STATUS)
    if not status:
        return "it has not been monitored on a production batch"
    from pipelines.problems import PROBLEM_TYPE_TAG, problem

    kind = problem(tags.get(PROBLEM_TYPE_TAG))
    key = (c.VTAG_LAST_ROC_AUC if kind.primary_metric == "roc_auc"
           else f"monitoring.last_{kind.primary_metric}")
    value = tags.get(key, "n/a")
    run = tags.get(c.VTAG_LAST_RUN, "")
    link = tags.get(c.VTAG_LAST_RUN_LINK, "")
    where = f" ([{run}]({link}))" if run and link else f" ({run})" if run else ""
    return (f"its last monitored batch{where} was {status.upper()} with {kind.label} {value}: "
            "rolling back would serve that model again")


def _fallback_facts(store: Store, version: str) -> str:
    try:
        tags = store.client.get_model_version(store.tracking.registered_model_name,
                                              version).tags
    except MlflowException:
        return "its monitoring record could not be read"
    return fallback_facts(tags)


def _when(iso: str) -> str:
    """``2026-12-06 20:34 UTC`` from an ISO time (as it is when it does not parse)."""
    try:
        return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return iso


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
    recent = history(store, limit=MOVES_SHOWN)
    if recent:
        audit_id = store.experiment_id(tracking.audit_experiment, create=False)
        lines += ["", "**Latest alias moves** (experiment "
                  f"`{tracking.audit_experiment}`, or `python -m pipelines.history`):", ""]
        lines += [f"- {_when(e['time'])} {e['action']}: "
                  + ", ".join(_move_text(name, m) for m in e["moves"])
                  + f" by `{e['actor']}`: {_shorten(e['reason'])}"
                  + (f" ({c.run_link(audit_id, e['run_id'], 'audit run')})" if audit_id else "")
                  for e in recent]
    try:
        store.client.update_registered_model(name, description="\n".join(lines))
    except MlflowException as exc:
        logger.warning("Could not update the description of %s: %s", name, exc)
