"""The retraining cooldown: pure decision over times, plus where the last retraining is read.

The state is the start time of the last retraining cycle that trained candidates (decision
``promoted`` or ``rejected``) in the ``<prefix>-Retraining`` experiment, so it holds across
processes, machines and fresh working directories pointed at the same tracking server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlflow.tracking import MlflowClient

#: Decisions that count as a retraining cycle for the cooldown (invalid data trained nothing).
COUNTED_DECISIONS: tuple[str, ...] = ("promoted", "rejected")


@dataclass(frozen=True)
class CooldownDecision:
    allowed: bool
    last_retraining: datetime | None
    next_eligible: datetime | None
    forced: bool
    message: str


def check_cooldown(last_retraining: datetime | None, now: datetime, cooldown_days: float,
                   *, force: bool = False) -> CooldownDecision:
    if last_retraining is None:
        return CooldownDecision(True, None, None, force, "no earlier retraining: allowed")
    next_eligible = last_retraining + timedelta(days=cooldown_days)
    if now >= next_eligible:
        return CooldownDecision(True, last_retraining, next_eligible, force,
                                f"last retraining {last_retraining:%Y-%m-%d %H:%M} UTC is more "
                                f"than {cooldown_days:g} day(s) ago: allowed")
    if force:
        return CooldownDecision(True, last_retraining, next_eligible, True,
                                f"cooldown active until {next_eligible:%Y-%m-%d %H:%M} UTC but "
                                "--force given: retraining anyway")
    return CooldownDecision(False, last_retraining, next_eligible, False,
                            f"cooldown: last retraining {last_retraining:%Y-%m-%d %H:%M} UTC; "
                            f"next eligible {next_eligible:%Y-%m-%d %H:%M} UTC")


def last_retraining_time(client: MlflowClient, experiment_name: str) -> datetime | None:
    """Start time of the newest parent retraining run that trained candidates, or None."""
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return None
    # MLflow's filter has no IN for tags: fetch the newest parents and pick the first that
    # trained candidates (crashed runs carry no decision; invalid_data trained nothing).
    runs = client.search_runs(
        [exp.experiment_id], filter_string="tags.`retraining.role` = 'parent'",
        max_results=200, order_by=["attributes.start_time DESC"])
    for run in runs:
        if run.data.tags.get("decision") in COUNTED_DECISIONS:
            return datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
    return None
