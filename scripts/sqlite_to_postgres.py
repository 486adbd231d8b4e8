"""Move an MLflow store from SQLite to PostgreSQL: every row (runs, metrics, the registry and
its aliases, the audit trail, the lock's epochs), ids and times unchanged. MLflow itself has no
such command (``mlflow migrate-filestore`` targets SQLite only); this uses MLflow's own schema
migrations on both sides, then copies table by table in one transaction
(:mod:`pipelines.store.migrate`).

    python scripts/sqlite_to_postgres.py --source sqlite:///mlflow.db \\
        --target postgresql+psycopg://mlflow@db.internal:5432/mlflow

Leave the password out of --target and set PGPASSWORD (libpq reads it); it is never printed.
Stop every writer (orchestrator, cron, `mlflow server`) first. Artifacts stay where they are;
to move them, copy the folder first and pass --artifacts OLD NEW to rewrite the locations in
the copied rows.
Exit codes: 0 copied, 1 refused or failed (nothing committed).
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="sqlite:///mlflow.db",
                        help="the SQLite store (default sqlite:///mlflow.db)")
    parser.add_argument("--target", required=True,
                        help="postgresql+psycopg://user[:password]@host:port/database (new)")
    parser.add_argument("--artifacts", nargs=2, metavar=("OLD", "NEW"),
                        help="rewrite artifact locations under OLD to NEW (folders or URIs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    from pipelines.errors import TrackingError
    from pipelines.store.migrate import migrate

    try:
        result = migrate(args.source, args.target,
                         artifacts=tuple(args.artifacts) if args.artifacts else None)
    except TrackingError as exc:
        logging.getLogger("sqlite_to_postgres").error("%s", exc)
        return 1
    for table, rows in result.rows.items():
        if rows:
            logging.getLogger("sqlite_to_postgres").info("%-32s %8d rows", table, rows)
    logging.getLogger("sqlite_to_postgres").info(
        "%d rows copied from %s to %s", result.total, result.source, result.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
