"""One pure function per endpoint of the service: a :class:`Snapshot` in, a JSON-able dict out.

No MLflow, no I/O: the app calls these on the newest snapshot (and, for one batch, on its
downloaded report). Unknown things raise :class:`NotFound`, bad parameters :class:`BadQuery`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.errors import MonitoringError
from pipelines.service.snapshot import Snapshot


class NotFound(MonitoringError, LookupError):
    """The batch, feature or record asked for does not exist (HTTP 404)."""


class BadQuery(MonitoringError, ValueError):
    """A query parameter is out of range or unparsable (HTTP 422)."""


def health(state_health: dict) -> dict:
    return dict(state_health)


def alerts(snap: Snapshot, *, limit: int = 50, min_severity: str = "warning") -> dict:
    return {"alerts": []}


def metrics_baseline(snap: Snapshot) -> dict:
    return {}


def metrics_latest(snap: Snapshot) -> dict:
    return {}


def metrics_history(snap: Snapshot, *, metric: str | None = None, since: str | None = None,
                    limit: int = 500) -> dict:
    return {"points": []}


def drift_data(snap: Snapshot) -> dict:
    return {}


def drift_concept(snap: Snapshot) -> dict:
    return {}


def retraining_status(snap: Snapshot, *, now: float) -> dict:
    return {}


def models(snap: Snapshot) -> dict:
    return {}


def batches(snap: Snapshot, *, since: str | None = None, status: str | None = None,
            limit: int = 50, offset: int = 0) -> dict:
    return {"batches": []}


def batch(snap: Snapshot, key: str, report: Mapping[str, Any] | None = None) -> dict:
    raise NotFound(key)


def feature_drift(snap: Snapshot, name: str, *, limit: int = 500) -> dict:
    raise NotFound(name)


def drift_matrix(snap: Snapshot, *, limit: int = 50) -> dict:
    return {}


def quality_history(snap: Snapshot, *, limit: int = 500) -> dict:
    return {"points": []}


def audit(snap: Snapshot, *, limit: int = 50) -> dict:
    return {"events": []}
