"""Secrets kept out of what the service logs and answers: now the project-wide
:mod:`pipelines.redact` (kept here so that the service's imports keep working)."""

from __future__ import annotations

from pipelines.redact import HIDDEN, SecretsFilter, guard_logs, without_secrets

__all__ = ["HIDDEN", "SecretsFilter", "guard_logs", "without_secrets"]
