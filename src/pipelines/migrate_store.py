"""Move an MLflow store from SQLite to PostgreSQL: every row (runs, metrics, the registry and
its aliases, the audit trail, the lock's epochs), ids and times unchanged. MLflow itself has no
such command (``mlflow migrate-filestore`` targets SQLite only); this uses MLflow's own schema
migrations on both sides, then copies table by table in one transaction
(:mod:`pipelines.store.migrate`).

    churnmon migrate-store --target postgresql+psycopg://mlflow@db.internal:5432/mlflow
    python -m pipelines.migrate_store --source sqlite:///mlflow.db --target ...

--source defaults to the configured store (tracking.uri). Leave the password out of
--target and set PGPASSWORD (libpq reads it); it is never printed. Stop every writer
(orchestrator, cron, `mlflow server`) first. Artifacts stay where they are; to move them, copy
the folder first and pass --artifacts OLD NEW to rewrite the locations in the copied rows.
Exit codes: 0 copied, 2 refused or failed (nothing committed).

Not an MLproject entry point on purpose: `mlflow run` would open a run in the very store
being moved.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pipelines.cli import (
    add_common_options,
    exit_with,
    settings_from_args,
    setup_logging,
    step_parser,
)

logger = logging.getLogger(__name__)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("migrate_store", __doc__, prog)
    p.add_argument("--source", help="the SQLite store (default: the configured tracking.uri)")
    p.add_argument("--target", required=True,
                   help="postgresql+psycopg://user@host:port/database (new, empty)")
    p.add_argument("--artifacts", nargs=2, metavar=("OLD", "NEW"),
                   help="rewrite artifact locations under OLD to NEW (folders or URIs)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    source = args.source or settings_from_args(args).tracking.uri
    from pipelines.store.migrate import migrate

    result = migrate(source, args.target,
                     artifacts=tuple(args.artifacts) if args.artifacts else None)
    for table, rows in result.rows.items():
        if rows:
            logger.info("%-32s %8d rows", table, rows)
    logger.info("%d rows copied from %s to %s", result.total, result.source, result.target)
    return 0


if __name__ == "__main__":
    exit_with(main)
