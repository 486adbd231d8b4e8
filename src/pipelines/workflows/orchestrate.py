"""The orchestrator: take the next batch(es) from a source, monitor, decide, retrain.

One cycle holds a lock kept in the MLflow registry, so two orchestrators started at once
(say by cron) never monitor the same batch or retrain twice: the second waits up to
``retraining.lock_timeout_seconds`` and then skips, saying so. Retraining is triggered when a
batch recommends it and the cooldown (read from MLflow) allows it, or with ``force``. Every
decision is tagged on the monitoring runs (``orchestrator.decision``) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.config import Settings
from pipelines.data.io import one_line, shown
from pipelines.data.sources import BatchSource, Outcome, Pending
from pipelines.errors import DataError
from pipelines.notify import Notification, broadcast, notifiers_for
from pipelines.retraining.cooldown import check_cooldown
from pipelines.store import (
    AliasMove,
    LockInfo,
    Store,
    alias_version,
    connect,
    default_actor,
    promote,
    registry_lock,
    tag_version,
    tracking_outage,
)
from pipelines.store import contract as c
from pipelines.store.audit import history, last_recorded_version, record_missing
from pipelines.store.auth import permission_refusal, require_permission
from pipelines.store.searches import (
    abandoned_runs,
    find_processed_batch,
    last_retraining_time,
    latest_batch_time,
    undecided_recommendations,
    unfinished_retraining,
)
from pipelines.workflows.family import resolve_settings
from pipelines.workflows.monitor import Monitor, MonitorOutcome
from pipelines.workflows.retrain import retrain

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    batch: str
    status: str  # monitored | refused | failed | duplicate
    run_id: str | None = None
    monitoring_status: str | None = None
    retraining_recommended: bool = False
    message: str = ""
    outage: bool = False
    """Failed because the tracking server stopped answering: the cycle stops there."""


@dataclass
class CycleResult:
    decision: c.CycleDecision
    message: str
    batches: list[BatchResult] = field(default_factory=list)
    retraining: dict[str, Any] | None = None
    next_eligible: str | None = None
    forced: bool = False
    recovery: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _monitored(name: str, outcome: MonitorOutcome) -> BatchResult:
    r = outcome.report
    return BatchResult(name, "monitored", outcome.run_id, r.status, r.retraining_recommended,
                       "; ".join(r.verdict.reasons))


def _settle(source: BatchSource, pending: Pending, outcome: Outcome, reason: str = "") -> None:
    """Tell the source how ``pending`` ended; a source that fails at it costs one log line,
    never the cycle (the verdict is logged already, the next batches still come)."""
    try:
        source.settle(pending, outcome, reason)
    except Exception as exc:
        logger.error("Batch %s: settling it as %s failed (%s: %s); the cycle goes on",
                     shown(pending.name), outcome, type(exc).__name__, exc)


def _process(monitor: Monitor, store: Store, source: BatchSource, pending: Pending,
             tags: dict[str, str] | None = None) -> BatchResult:
    """Monitor one pending batch and tell the source how it ended."""
    name = shown(pending.name)  # in log lines: a newline in a file name cannot split one
    if pending.digest:
        seen = find_processed_batch(store, pending.digest)
        if seen:
            _settle(source, pending, "duplicate")
            logger.warning("Batch %s was already processed (run %s): skipped", name, seen)
            return BatchResult(pending.name, "duplicate", seen,
                               message=f"already monitored in run {seen}; not again")
    try:
        outcome = monitor.run(pending.load(), extra_tags=tags)
    except DataError as exc:
        message = one_line(exc)
        logger.error("Batch %s refused: %s", name, message)
        _settle(source, pending, "refused", message)
        return BatchResult(pending.name, "refused", message=message)
    except Exception as exc:  # kept for retry, reported, the cycle goes on with the next batch
        refused = permission_refusal(exc, store.tracking.registered_model_name)
        if refused is not None:  # the next batch would be refused too: stop, one line
            _settle(source, pending, "failed", one_line(str(refused)))
            raise refused from exc
        outage = tracking_outage(exc, store.uri)
        reason = one_line(outage if outage else f"{type(exc).__name__}: {exc}")
        _settle(source, pending, "failed", reason)
        if outage:  # one line: the cause is known, a traceback would bury it
            logger.error("Batch %s not monitored: %s; it is kept for the next cycle",
                         name, outage)
        else:
            logger.exception("Batch %s failed", name)
        return BatchResult(pending.name, "failed", message=reason, outage=outage is not None)
    except BaseException as exc:  # SIGTERM / SIGINT (Interrupted): the batch goes back first
        _settle(source, pending, "failed", one_line(str(exc) or type(exc).__name__))
        raise
    _settle(source, pending, "monitored")
    return _monitored(pending.name, outcome)


def process_batches(monitor: Monitor, store: Store, source: BatchSource,
                    tags: dict[str, str] | None = None) -> list[BatchResult]:
    """Every batch the source offers, oldest first. Call while holding the lock. Stops at a
    tracking outage: the batches not reached yet stay where they are (unclaimed)."""
    results = []
    for pending in source.pending():
        results.append(_process(monitor, store, source, pending, tags))
        if results[-1].outage:
            break
    return results


RETRY_PREFIX = "retry of interrupted retraining"


def recover_retraining(settings: Settings, store: Store, *, now: datetime,
                       retrain_fn: Callable[..., Any] = retrain,
                       tags: dict[str, str] | None = None,
                       fence: Callable[[], None] | None = None) -> list[str]:
    """Finish what an interrupted retraining left (call while holding the lock), idempotently.

    With a recorded promotion intent the promotion is completed by the same
    :func:`~pipelines.store.registry.promote` (``previous-champion`` then ``champion``), and
    the parent gets its verdict. Without one
    the retraining died before deciding: it is retried once, so the request is not lost.
    """
    run = unfinished_retraining(store)
    if run is None:
        return []
    tracking, run_id, run_tags = settings.tracking, run.info.run_id, run.data.tags
    intent = run_tags.get(c.TAG_PROMOTION_INTENT)
    if intent:
        previous = run_tags.get(c.TAG_PROMOTION_FROM)
        champion = alias_version(store, tracking.champion_alias)
        # the backup's version before the interrupted promotion: its record never got written
        events = history(store)  # read once: nothing below writes a record before the check
        backup_before = last_recorded_version(store, tracking.previous_alias, events=events)
        actor = f"{default_actor(settings.promotion.actor)} (auto)"
        reason = f"completing the promotion interrupted in run {run_id}"
        if champion is None or str(champion.version) != intent:
            if fence is not None:
                fence()
            promote(store, intent, action="promote (recovery)", actor=actor,  # as it was meant
                    reason=reason, record=False)
        # the audit trail gets the whole promotion (backup and champion moves) once, whether
        # the crash came before the champion moved or after (the record is written last)
        moves = ([AliasMove(tracking.previous_alias, backup_before, previous)]
                 if previous and previous != intent else [])
        record_missing(store, "promote (recovery)",
                       [*moves, AliasMove(tracking.champion_alias, previous, intent)],
                       actor=actor, reason=reason, events=events,
                       since=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC))
        tag_version(store, intent, {c.VTAG_PROMOTION_STATUS: c.PROMOTED}, best_effort=True)
        message = (f"promotion of version {intent} (replacing {previous}) completed by "
                   f"recovery after run {run_id} was interrupted")
        store.set_tags({c.TAG_VERDICT: c.PROMOTED, c.TAG_VERDICT_MESSAGE: message,
                        c.TAG_RECOVERED: "promotion completed",
                        c.TAG_RUN_NAME: f"PROMOTED v{intent} recovered"},
                       run_id=run_id)
        logger.warning("Recovery: %s", message)
        return [message]
    if run_tags.get(c.TAG_RETRAINING_REASON, "").startswith(RETRY_PREFIX):
        message = f"retraining {run_id} was itself a retry and failed: not retried again"
        store.set_tags({c.TAG_RECOVERED: "gave up"}, run_id=run_id)
        logger.error("Recovery: %s", message)
        return [message]
    summary = retrain_fn(settings, store=store, now=now, reason=f"{RETRY_PREFIX} {run_id}",
                         extra_tags=tags, fence=fence)
    info = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    store.set_tags({c.TAG_RECOVERED: f"retried by {info.get('parent_run_id')}"}, run_id=run_id)
    message = (f"retraining {run_id} was interrupted before deciding: retried, "
               f"{info.get('decision')}")
    logger.warning("Recovery: %s", message)
    return [message]


def undecided_batches(store: Store, exclude: set[str | None]) -> list[BatchResult]:
    """Batches monitored by earlier cycles that recommended retraining and never got a
    decision (the cycle was killed or interrupted after the verdict, or stopped at an
    outage): decided by this cycle, so a recommendation is never lost. Their files are
    already archived; a copy retried from the inbox is a duplicate."""
    found = []
    for run in undecided_recommendations(store):
        if run.info.run_id in exclude:
            continue
        tags = run.data.tags
        found.append(BatchResult(tags.get(c.TAG_BATCH_ID, run.info.run_id), "monitored",
                                 run.info.run_id, tags.get(c.TAG_STATUS), True,
                                 f"{run.info.run_name} (an earlier cycle's batch, undecided)"))
    return found


def fail_abandoned_runs(store: Store, lock: str, own_epoch: str) -> list[str]:
    """Runs dead cycles left RUNNING become FAILED, saying why; their batches are processed
    again (the inbox recovers its files) and they stay out of history and de-duplication.
    Call while holding ``own_epoch`` of ``lock``."""
    failed = []
    for run in abandoned_runs(store, lock, own_epoch):
        epoch = run.data.tags.get(c.TAG_CYCLE_LOCK)
        store.fail_run(run.info.run_id, f"abandoned: the cycle holding {epoch} died or lost "
                                        "its lease before finishing this run")
        failed.append(run.info.run_id)
        logger.warning("Marked run %s FAILED: left RUNNING by the dead cycle of %s",
                       run.info.run_id, epoch)
    return failed


def _tag_decision(store: Store, results: Sequence[BatchResult], cycle: CycleResult) -> None:
    tags: dict[str, str] = {c.TAG_CYCLE_DECISION: cycle.decision,
                            c.TAG_CYCLE_MESSAGE: cycle.message[:c.TAG_LIMIT]}
    if cycle.next_eligible:
        tags[c.TAG_CYCLE_NEXT_ELIGIBLE] = cycle.next_eligible
    if cycle.forced:
        tags[c.TAG_CYCLE_FORCED] = "true"
    if cycle.retraining:
        tags[c.TAG_CYCLE_RETRAINING_RUN] = str(cycle.retraining.get("parent_run_id", ""))
    note = f"**Orchestrator**: {cycle.decision} ({cycle.message})"
    if cycle.retraining and cycle.retraining.get("parent_run_id"):
        info = cycle.retraining
        note += " · " + c.run_link(str(info.get("experiment_id", "")), info["parent_run_id"],
                                   f"retraining run: {info.get('decision')}")
    for b in results:
        if b.run_id and b.status == "monitored":
            store.set_tags(tags, run_id=b.run_id)
            store.append_description(b.run_id, note)


@contextmanager
def orchestrator_lock(settings: Settings, store: Store
                      ) -> Iterator[tuple[LockInfo, dict[str, str]]]:
    """Hold the model's orchestrator lock (waiting up to ``lock_timeout_seconds``) and yield
    it with the tags every run opened under it carries. Taking it over from a dead holder
    first marks that holder's abandoned runs FAILED. Check ``acquired`` before any work."""
    lock_name = c.lock_name(settings.tracking.registered_model_name)
    with registry_lock(store, lock_name,
                       timeout=settings.retraining.lock_timeout_seconds,
                       lease=settings.retraining.lock_lease_seconds) as lock:
        if not lock.acquired:
            yield lock, {}
            return
        own_epoch = lock.epoch_name(lock_name)
        fail_abandoned_runs(store, lock_name, own_epoch)
        yield lock, {c.TAG_CYCLE_LOCK: own_epoch}


def retrain_under_lock(settings: Settings, *, reason: str, store: Store | None = None,
                       now: datetime | None = None) -> Any:
    """A retraining asked for by hand (``trigger_retraining``), under the orchestrator's lock
    like a cycle's: never at the same time as a cycle, and a crash mid-way is cleaned up and
    recovered by the next cycle. Returns its summary, or None when the lock is busy."""
    store = store or connect(settings.tracking)
    require_permission(store, "retrain")  # before the lock: a refusal changes nothing
    settings = resolve_settings(settings, store)  # the model and columns the family knows
    with orchestrator_lock(settings, store) as (lock, tags):
        if not lock.acquired:
            logger.warning("Retraining skipped: %s", lock.message)
            return None
        return retrain(settings, store=store, now=now, reason=reason, extra_tags=tags,
                       fence=lock.ensure_held)


def run_cycle(
    settings: Settings,
    source: BatchSource,
    *,
    force: bool = False,
    now: datetime | None = None,
    store: Store | None = None,
    retrain_fn: Callable[..., Any] = retrain,
) -> CycleResult:
    """One orchestrator cycle over ``source``. ``now`` is injectable for the cooldown (tests)."""
    store = store or connect(settings.tracking)
    settings = resolve_settings(settings, store)  # the model and columns the family knows
    source.read_with(settings.data)
    now = now or datetime.now(UTC)
    with orchestrator_lock(settings, store) as (lock, cycle_tags):
        if not lock.acquired:
            cycle = CycleResult("lock_busy", f"skipped: {lock.message}")
            logger.warning("Orchestrator %s", cycle.message)
            _notify_cycle(settings, cycle, lock_since=lock.since, now=now)
            return cycle
        source.hold(cycle_tags[c.TAG_CYCLE_LOCK])  # a shared inbox's claims carry the epoch
        try:
            recovery = recover_retraining(settings, store, now=now, retrain_fn=retrain_fn,
                                          tags=cycle_tags, fence=lock.ensure_held)
        except Exception as exc:  # recovery must not stop this cycle's batches
            refused = permission_refusal(exc, store.tracking.registered_model_name)
            if refused is not None:
                raise refused from exc
            outage = tracking_outage(exc, store.uri)
            if outage:
                raise outage from exc
            logger.exception("Recovery of an interrupted retraining failed")
            recovery = [f"recovery failed: {type(exc).__name__}: {exc}"]
        source.begin(latest_batch_time(store))
        results = process_batches(Monitor(settings, store=store), store, source, cycle_tags)
        if any(b.outage for b in results):
            cycle = CycleResult("tracking_unavailable", results[-1].message, results,
                                recovery=recovery)
            logger.warning("Cycle decision: tracking_unavailable (stopped; the next cycle "
                           "takes over this one's lock and goes on)")
            _notify_cycle(settings, cycle, now=now)
            return cycle
        earlier = undecided_batches(store, exclude={b.run_id for b in results})
        for b in earlier:
            recovery.append(f"batch {b.batch} (run {b.run_id}) recommended retraining, but "
                            "its cycle ended before deciding: decided now")
            logger.warning("Recovery: %s", recovery[-1])
        cycle = decide_and_retrain(settings, store, [*earlier, *results], now=now,
                                   force=force, retrain_fn=retrain_fn, tags=cycle_tags,
                                   fence=lock.ensure_held)
        cycle.recovery = recovery
        _tag_decision(store, cycle.batches, cycle)
    logger.info("Cycle decision: %s (%s)", cycle.decision, cycle.message)
    _notify_cycle(settings, cycle, now=now)
    return cycle


#: A lock held longer than this many leases means a stuck orchestrator, not an overlap.
STUCK_LEASES = 10


def _notify_cycle(settings: Settings, cycle: CycleResult, *, now: datetime,
                  lock_since: str | None = None) -> None:
    """Tell the channels when the orchestrator is failing (a batch failed, the tracking
    server stopped answering) or stuck (the lock held for many leases); batch verdicts and
    retraining outcomes are notified where they happen."""
    failed = [b for b in cycle.batches if b.status == "failed"]
    subject, severity = "", "warning"
    if cycle.decision == "tracking_unavailable":
        subject, severity = f"orchestrator failing: {cycle.message}", "critical"
    elif failed:
        subject = (f"orchestrator: {len(failed)} batch(es) failed and stay in the inbox: "
                   + "; ".join(f"{b.batch}: {b.message}" for b in failed)[:400])
        severity = "critical"
    elif cycle.decision == "lock_busy" and lock_since:
        aware = now if now.tzinfo else now.replace(tzinfo=UTC)
        held = (aware - datetime.fromisoformat(lock_since)).total_seconds()
        if held > STUCK_LEASES * settings.retraining.lock_lease_seconds:
            subject = (f"orchestrator stuck? the lock has been held for {held / 60:.0f} min: "
                       f"{cycle.message}")
    if subject:  # the log already has it, in the lines above: the other channels only
        broadcast(notifiers_for(settings, log=False),
                  Notification(subject=subject, severity=severity, event="orchestrator"))


def decide_and_retrain(settings: Settings, store: Store, results: list[BatchResult],
                       *, now: datetime, force: bool,
                       retrain_fn: Callable[..., Any] = retrain,
                       tags: dict[str, str] | None = None,
                       fence: Callable[[], None] | None = None) -> CycleResult:
    monitored = [b for b in results if b.status == "monitored"]
    refused = [b for b in results if b.status == "refused"]
    if not monitored and refused:  # bad input only: run_monitoring exits 2
        message = (f"{len(refused)} batch(es) refused, none monitored: "
                   + "; ".join(f"{shown(b.batch)}: {b.message}" for b in refused))[:1000]
        return CycleResult("all_refused", message, results)
    if not monitored:
        return CycleResult("no_batch", "no new batch was monitored", results)
    wanted = [b for b in monitored if b.retraining_recommended]
    if not wanted and not force:
        return CycleResult("nothing_to_do", "no batch recommends retraining", results)
    champion = alias_version(store, settings.tracking.champion_alias)
    if champion is not None and (champion.tags or {}).get("model_origin") == "external":
        message = ("retraining recommended, but the champion is a model trained elsewhere "
                   "(registered with register_reference): its owners retrain it")
        logger.warning("Orchestrator: %s", message)
        return CycleResult("nothing_to_do", message, results)
    cooldown = check_cooldown(last_retraining_time(store), now,
                              settings.retraining.cooldown_days, force=force)
    next_eligible = cooldown.next_eligible.isoformat() if cooldown.next_eligible else None
    if not cooldown.allowed:
        logger.warning("Retraining recommended but %s", cooldown.message)
        return CycleResult("cooldown", cooldown.message, results, next_eligible=next_eligible)
    if force:
        logger.warning("Retraining forced (--force): %s", cooldown.message)
    reason = "forced" if force and not wanted else "; ".join(b.message for b in wanted)[:4000]
    summary = retrain_fn(settings, store=store, now=now, reason=reason or "forced",
                         extra_tags=tags, fence=fence)
    info = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    return CycleResult("retrain", f"retraining ran: {info.get('decision')}; {cooldown.message}",
                       results, retraining=info, next_eligible=next_eligible, forced=force)
