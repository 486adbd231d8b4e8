"""Move an MLflow store from SQLite to PostgreSQL: the same command as
``churnmon migrate-store`` (:mod:`pipelines.migrate_store`, its --help says all), kept for
the documentation's and the scripts' sake.

    PGPASSWORD=... python scripts/sqlite_to_postgres.py --source sqlite:///mlflow.db \\
        --target postgresql+psycopg://mlflow@db.internal:5432/mlflow

Exit codes: 0 copied, 2 refused or failed (nothing committed).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines.cli import run_cli
from pipelines.migrate_store import main as migrate_store


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(lambda a: migrate_store(a, prog="sqlite_to_postgres.py"), argv)


if __name__ == "__main__":
    sys.exit(main())
