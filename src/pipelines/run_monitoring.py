"""The orchestrator: get the next batch(es), monitor, decide, and retrain when warranted.

Usage::

    python -m pipelines.run_monitoring --source simulate --scenario covariate_shift
    python -m pipelines.run_monitoring --source inbox      # every file in paths.inbox_dir
    mlflow run . -e run_monitoring -P source=inbox --env-manager local

One cycle holds a lock kept in the MLflow registry, so two orchestrators started at once
(say by cron) never monitor the same batch or retrain twice: the second waits up to
``retraining.lock_timeout_seconds`` and then skips, saying so. Retraining is triggered when a
batch recommends it and the cooldown (read from MLflow) allows it, or with ``--force``.
Every decision is tagged on the monitoring run (``orchestrator.decision``) and logged.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from mlflow.tracking import MlflowClient

from pipelines.cli import (
    add_common_options,
    bool_arg,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
)
from pipelines.config import Settings
from pipelines.data.generator import SCENARIOS
from pipelines.errors import DataError
from pipelines.monitor_performance import MONITOR_STEP, Monitor, MonitorOutcome, load_batch
from pipelines.orchestration.cooldown import check_cooldown, last_retraining_time
from pipelines.orchestration.inbox import Inbox, file_digest
from pipelines.orchestration.lock import registry_lock
from pipelines.simulate import simulate_batch
from pipelines.tracking import configure_tracking

logger = logging.getLogger(__name__)

Decision = Literal["retrain", "cooldown", "nothing_to_do", "lock_busy", "no_batch"]


@dataclass
class BatchResult:
    batch: str
    status: str  # monitored | refused | failed | duplicate
    run_id: str | None = None
    monitoring_status: str | None = None
    retraining_recommended: bool = False
    message: str = ""


@dataclass
class CycleResult:
    decision: Decision
    message: str
    batches: list[BatchResult] = field(default_factory=list)
    retraining: dict[str, Any] | None = None
    next_eligible: str | None = None
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _already_processed(client: MlflowClient, settings: Settings, digest: str) -> str | None:
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.batch_digest = '{digest}' AND attributes.status = 'FINISHED'",
        max_results=1)
    return runs[0].info.run_id if runs else None


def _monitor_file(monitor: Monitor, path: Path, settings: Settings,
                  digest: str) -> MonitorOutcome:
    frame = load_batch(path, settings)
    return monitor.run(frame, batch_id=path.stem, source=str(path),
                       extra_tags={"batch_digest": digest, "batch_file": path.name})


def process_inbox(monitor: Monitor, client: MlflowClient, settings: Settings) -> list[BatchResult]:
    """Monitor every inbox file once, oldest first. Call while holding the lock."""
    inbox = Inbox(settings.paths.inbox)
    inbox.recover()
    results: list[BatchResult] = []
    for path in inbox.pending():
        claimed = inbox.claim(path)
        if claimed is None:
            continue
        digest = file_digest(claimed)
        seen = _already_processed(client, settings, digest)
        if seen:
            inbox.complete(claimed)
            results.append(BatchResult(path.name, "duplicate", seen,
                                       message=f"already monitored in run {seen}; not again"))
            logger.warning("Batch %s was already processed (run %s): skipped", path.name, seen)
            continue
        try:
            outcome = _monitor_file(monitor, claimed, settings, digest)
        except DataError as exc:
            moved = inbox.reject(claimed, str(exc))
            results.append(BatchResult(path.name, "refused", message=str(exc)))
            logger.error("Batch %s refused, moved to %s: %s", path.name, moved, exc)
            continue
        except Exception as exc:
            inbox.release(claimed)
            results.append(BatchResult(path.name, "failed", message=f"{type(exc).__name__}: {exc}"))
            logger.exception("Batch %s failed; left in the inbox to retry", path.name)
            continue
        inbox.complete(claimed)
        results.append(_result(path.name, outcome))
    return results


def _result(name: str, outcome: MonitorOutcome) -> BatchResult:
    r = outcome.report
    return BatchResult(name, "monitored", outcome.run_id, r.status, r.retraining_recommended,
                       "; ".join(r.decision.reasons))


def process_simulated(monitor: Monitor, settings: Settings, scenario: str, rows: int,
                      seed: int | None) -> list[BatchResult]:
    path = simulate_batch(settings, scenario, rows=rows, seed=seed)
    digest = file_digest(path)
    try:
        outcome = _monitor_file(monitor, path, settings, digest)
    except DataError as exc:
        logger.error("Simulated batch %s refused: %s", path, exc)
        return [BatchResult(path.name, "refused", message=str(exc))]
    return [_result(path.name, outcome)]


def _tag_decision(client: MlflowClient, results: Sequence[BatchResult], cycle: CycleResult) -> None:
    for b in results:
        if b.run_id and b.status == "monitored":
            client.set_tag(b.run_id, "orchestrator.decision", cycle.decision)
            client.set_tag(b.run_id, "orchestrator.message", cycle.message[:5000])
            if cycle.next_eligible:
                client.set_tag(b.run_id, "orchestrator.next_eligible", cycle.next_eligible)
            if cycle.forced:
                client.set_tag(b.run_id, "orchestrator.forced", "true")
            if cycle.retraining:
                client.set_tag(b.run_id, "orchestrator.retraining_run_id",
                               str(cycle.retraining.get("parent_run_id", "")))


def run_cycle(
    settings: Settings,
    *,
    source: Literal["simulate", "inbox"] = "simulate",
    scenario: str = "no_drift",
    rows: int = 5000,
    seed: int | None = None,
    force: bool = False,
    now: datetime | None = None,
    client: MlflowClient | None = None,
    retrain_fn: Callable[..., Any] | None = None,
) -> CycleResult:
    """One orchestrator cycle. ``now`` is injectable for the cooldown (tests)."""
    client = client or configure_tracking(settings.tracking)
    now = now or datetime.now(UTC)
    lock_name = f"{settings.tracking.registered_model_name}.orchestrator-lock"
    with registry_lock(client, lock_name, timeout=settings.retraining.lock_timeout_seconds,
                       stale_after=settings.retraining.lock_stale_seconds) as lock:
        if not lock.acquired:
            cycle = CycleResult("lock_busy", f"skipped: {lock.message}")
            logger.warning("Orchestrator %s", cycle.message)
            return cycle
        monitor = Monitor(settings, client=client)
        if source == "inbox":
            results = process_inbox(monitor, client, settings)
        else:
            results = process_simulated(monitor, settings, scenario, rows, seed)
        cycle = decide_and_retrain(settings, client, results, now=now, force=force,
                                   retrain_fn=retrain_fn)
        _tag_decision(client, results, cycle)
    logger.info("Cycle decision: %s (%s)", cycle.decision, cycle.message)
    return cycle


def decide_and_retrain(settings: Settings, client: MlflowClient, results: list[BatchResult],
                       *, now: datetime, force: bool,
                       retrain_fn: Callable[..., Any] | None = None) -> CycleResult:
    monitored = [b for b in results if b.status == "monitored"]
    if not monitored:
        return CycleResult("no_batch", "no new batch was monitored", results)
    wanted = [b for b in monitored if b.retraining_recommended]
    if not wanted and not force:
        return CycleResult("nothing_to_do", "no batch recommends retraining", results)
    last = last_retraining_time(client, settings.tracking.retraining_experiment)
    cooldown = check_cooldown(last, now, settings.retraining.cooldown_days, force=force)
    next_eligible = cooldown.next_eligible.isoformat() if cooldown.next_eligible else None
    if not cooldown.allowed:
        logger.warning("Retraining recommended but %s", cooldown.message)
        return CycleResult("cooldown", cooldown.message, results, next_eligible=next_eligible)
    if force:
        logger.warning("Retraining forced (--force): %s", cooldown.message)
    if retrain_fn is None:
        from pipelines.trigger_retraining import retrain as retrain_fn
    reason = "forced" if force and not wanted else "; ".join(b.message for b in wanted)[:4000]
    summary = retrain_fn(settings, client=client, now=now, reason=reason or "forced")
    info = summary.to_dict() if hasattr(summary, "to_dict") else dict(summary)
    return CycleResult("retrain", f"retraining ran: {info.get('decision')}; {cooldown.message}",
                       results, retraining=info, next_eligible=next_eligible, forced=force)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.run_monitoring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=("simulate", "inbox"), default="simulate")
    p.add_argument("--scenario", choices=SCENARIOS, default="no_drift")
    p.add_argument("--rows", type=int_arg, default=5000)
    p.add_argument("--seed", type=int_arg)
    p.add_argument("--force", type=bool_arg, nargs="?", const=True, default=False,
                   help="retrain even inside the cooldown (and even if not recommended)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    cycle = run_cycle(settings, source=args.source, scenario=args.scenario, rows=args.rows,
                      seed=args.seed, force=args.force)
    failed = [b for b in cycle.batches if b.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    exit_with(main)

__all__ = ["MONITOR_STEP", "CycleResult", "run_cycle"]
