"""The service's one reader of the store: a :class:`Snapshot` of monitoring runs, retraining
runs, aliases and the audit trail (stub)."""

from __future__ import annotations

from typing import Any

from pipelines.config import Settings
from pipelines.service.snapshot import ModelState, Snapshot
from pipelines.store.client import Store


def read_snapshot(store: Store, settings: Settings, previous: Snapshot | None = None
                  ) -> Snapshot:
    import time
    return Snapshot(taken_at=time.time(), read_seconds=0.0,
                    model=ModelState(name=settings.tracking.registered_model_name))


def read_report(store: Store, run_id: str) -> dict[str, Any]:
    return {}
