"""One exception hierarchy for the whole product.

Every error a user can meet derives from :class:`MonitoringError`; each also inherits the
built-in it refines (``ValueError``, ``LookupError``, ``RuntimeError``) so that callers'
existing ``except ValueError`` keeps working. Messages say what was expected, what came,
and where (file, column, key), so the user can act on them.
"""

from __future__ import annotations


class MonitoringError(Exception):
    """Root of every error raised by this project. Its text never shows a secret (a password
    in a URI, a token, a webhook's path: :func:`pipelines.redact.without_secrets`)."""

    def __str__(self) -> str:
        from pipelines.redact import without_secrets

        return without_secrets(super().__str__())


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


class StoreWriteFailed(TrackingUnavailable):
    """A file of a run (an artifact) or a local report cannot be written: the disk is full,
    read-only or refuses it. The run was marked FAILED and its batch is retried once the
    cause is fixed: nothing was lost."""


class StoreLocked(TrackingUnavailable):
    """The SQLite store stayed locked by another writer for longer than
    ``tracking.sqlite_busy_timeout_seconds``: nothing was written, run again later."""


class ModelNotFoundError(TrackingError, LookupError):
    """No model version behind the requested registered model / alias."""


class PermissionDenied(MonitoringError, PermissionError):
    """The tracking server refused the authenticated user (HTTP 403, or 401: not
    authenticated) an action on the registered model or an experiment: the message names the
    user, the permission needed and the resource. Checked before anything changes; nothing
    was changed. Exit code 2: an admin must grant the permission first."""


class ApprovalRefused(MonitoringError):
    """An approval or rejection cannot be carried out as asked (wrong version, the champion
    changed since the comparison)."""


class RetrainingRefused(MonitoringError):
    """Retraining was refused (invalid data, cooldown, another run holds the lock)."""


class ObjectStoreError(MonitoringError, RuntimeError):
    """An S3-compatible object store cannot be reached or used (endpoint, bucket,
    credentials, permissions)."""


class Interrupted(BaseException):  # noqa: N818 (like KeyboardInterrupt)
    """SIGTERM or SIGINT arrived: raised in the main thread so that every ``with`` block
    unwinds (the open run marked FAILED, the batch file returned, the lock released). A
    ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` does not swallow it."""

    def __init__(self, signal_name: str, exit_code: int) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name
        self.exit_code = exit_code
