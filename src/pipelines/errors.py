"""One exception hierarchy for the whole product.

Every error a user can meet derives from :class:`MonitoringError`; each also inherits the
built-in it refines (``ValueError``, ``LookupError``, ``RuntimeError``) so that callers'
existing ``except ValueError`` keeps working. Messages say what was expected, what came,
and where (file, column, key), so the user can act on them.
"""

from __future__ import annotations


class MonitoringError(Exception):
    """Root of every error raised by this project."""


class ConfigError(MonitoringError, ValueError):
    """A configuration value is missing, unknown or out of range."""


class DataError(MonitoringError, ValueError):
    """A data file or frame cannot be used: missing, empty, unparsable or invalid."""


class SchemaError(DataError):
    """Columns are missing or have the wrong type."""


class TrackingError(MonitoringError, RuntimeError):
    """The MLflow tracking store or registry cannot be reached or used."""


class TrackingUnavailable(TrackingError):
    """The tracking server stopped answering in the middle of a step (an outage): nothing
    was lost, the step can be run again once the server is back."""


class ModelNotFoundError(TrackingError, LookupError):
    """No model version behind the requested registered model / alias."""


class ApprovalRefused(MonitoringError):
    """An approval or rejection cannot be carried out as asked (wrong version, the champion
    changed since the comparison)."""


class RetrainingRefused(MonitoringError):
    """Retraining was refused (invalid data, cooldown, another run holds the lock)."""
