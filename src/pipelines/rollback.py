"""Undo a promotion: point ``champion`` back at ``previous-champion``.

``python -m pipelines.rollback`` or :func:`rollback` from Python. The two aliases swap, so a
second rollback undoes the first. Both model versions are tagged (``rolled_back_at`` and the
version on the other side), so the registry itself tells what happened.

Order, for crash safety: the versions are tagged first, then ``champion`` moves in one call
(the rollback the user asked for), then ``previous-champion``. A crash before the champion
moves changes nothing; a crash after it leaves the rollback done, both aliases on the restored
version, and the demoted version findable by its ``rolled_back_at`` tag.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from mlflow.tracking import MlflowClient

from pipelines import tracking as store
from pipelines.cli import add_common_options, exit_with, settings_from_args, setup_logging
from pipelines.config import Settings
from pipelines.errors import ModelNotFoundError, TrackingError

logger = logging.getLogger(__name__)


def _require_alias(client: MlflowClient, name: str, alias: str, hint: str) -> str:
    version = store.alias_version(client, name, alias)
    if version is None:
        raise ModelNotFoundError(f"No model version behind {name}@{alias}: {hint}")
    return str(version.version)


def _tag_versions(client: MlflowClient, name: str, demoted: str, restored: str,
                  when: str) -> None:
    for version, role, other_key, other in ((demoted, "demoted", "rolled_back_to", restored),
                                            (restored, "restored", "rolled_back_from", demoted)):
        client.set_model_version_tag(name, version, "rolled_back_at", when)
        client.set_model_version_tag(name, version, "rollback.role", role)
        client.set_model_version_tag(name, version, other_key, other)


def rollback(settings: Settings, client: MlflowClient | None = None, *,
             now: datetime | None = None) -> tuple[str, str]:
    """Point ``champion`` at the ``previous-champion`` version and ``previous-champion`` at the
    version that was champion. Returns ``(from_version, to_version)``.

    Raises :class:`ModelNotFoundError` when either alias is missing, :class:`TrackingError`
    when both already point at the same version (nothing to roll back to).
    """
    tracking = settings.tracking
    default_client = store.configure_tracking(tracking)
    client = client or default_client
    name = tracking.registered_model_name
    current = _require_alias(client, name, tracking.champion_alias,
                             "there is no champion to roll back. Train a baseline first.")
    previous = _require_alias(
        client, name, tracking.previous_alias,
        "nothing to roll back to (no promotion has replaced a champion yet).")
    if current == previous:
        raise TrackingError(
            f"{name}@{tracking.champion_alias} and @{tracking.previous_alias} both point at "
            f"version {current}; there is no other version to roll back to."
        )
    when = (now or datetime.now(UTC)).isoformat()
    _tag_versions(client, name, demoted=current, restored=previous, when=when)
    client.set_registered_model_alias(name, tracking.champion_alias, previous)
    client.set_registered_model_alias(name, tracking.previous_alias, current)
    logger.info("Rolled back %s@%s: version %s -> %s (@%s now on %s)", name,
                tracking.champion_alias, current, previous, tracking.previous_alias, current)
    return current, previous


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.rollback", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from_version, to_version = rollback(settings)
    t = settings.tracking
    print(f"{t.registered_model_name}@{t.champion_alias}: "  # noqa: T201 (the result)
          f"version {from_version} -> {to_version}")
    return 0


if __name__ == "__main__":
    exit_with(main)
