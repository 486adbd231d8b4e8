"""The retraining cooldown: a pure decision over times.

The state it is given is the start time of the last retraining cycle that trained candidates,
read from the ``<prefix>-Retraining`` experiment
(:func:`pipelines.store.searches.last_retraining_time`), so it holds across processes,
machines and fresh working directories pointed at the same tracking server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CooldownCheck:
    allowed: bool
    last_retraining: datetime | None
    next_eligible: datetime | None
    forced: bool
    message: str


def check_cooldown(last_retraining: datetime | None, now: datetime, cooldown_days: float,
                   *, force: bool = False) -> CooldownCheck:
    if last_retraining is None:
        return CooldownCheck(True, None, None, force, "no earlier retraining: allowed")
    next_eligible = last_retraining + timedelta(days=cooldown_days)
    if now >= next_eligible:
        return CooldownCheck(True, last_retraining, next_eligible, force,
                                f"last retraining {last_retraining:%Y-%m-%d %H:%M} UTC is more "
                                f"than {cooldown_days:g} day(s) ago: allowed")
    if force:
        return CooldownCheck(True, last_retraining, next_eligible, True,
                                f"cooldown active until {next_eligible:%Y-%m-%d %H:%M} UTC but "
                                "--force given: retraining anyway")
    return CooldownCheck(False, last_retraining, next_eligible, False,
                            f"cooldown: last retraining {last_retraining:%Y-%m-%d %H:%M} UTC; "
                            f"next eligible {next_eligible:%Y-%m-%d %H:%M} UTC")
