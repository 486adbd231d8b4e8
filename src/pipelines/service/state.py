"""The service's view of the store, refreshed in the background (stub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipelines.config import Settings
from pipelines.service.snapshot import Snapshot
from pipelines.store.client import Store


class ServiceState:
    def __init__(self, settings: Settings, *,
                 store_factory: Callable[[], Store] | None = None) -> None:
        self.settings = settings
        self._store_factory = store_factory

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def snapshot(self) -> Snapshot:
        raise NotImplementedError

    def report(self, run_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        return {}
