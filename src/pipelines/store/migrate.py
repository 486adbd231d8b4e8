"""Move an MLflow store from SQLite to PostgreSQL (or any database MLflow's SQLAlchemy store
speaks), rows as they are: experiments, runs, metrics, params, tags, inputs, logged models,
the registry (models, versions, aliases, tags: the champion, the audit trail's runs, the
lock's epochs), traces; ids, times and artifact locations unchanged.

MLflow has no such command (``mlflow migrate-filestore`` moves a file store into SQLite only),
so this does it with MLflow's own pieces: the target's schema is created by MLflow's SQLAlchemy
store (the migrations ``mlflow db upgrade`` runs), the source is brought to the same revision
the same way, then every table is copied in foreign-key order in one transaction (nothing is
committed if any row fails) and the target's id sequences are moved past the copied ids.

Artifacts are not moved: the runs keep pointing where they were (the folder beside the SQLite
file); copy that folder elsewhere first and give ``artifacts=(old, new)`` to rewrite the
locations in the copied rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from pipelines.errors import TrackingError
from pipelines.store.database import database_kind, driver_uri, masked, probe

logger = logging.getLogger(__name__)

#: Rows inserted per statement.
CHUNK = 5_000
#: Tables never copied: the schema's revision is the target's own.
SKIPPED = {"alembic_version"}


@dataclass
class MigrationResult:
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _schema(uri: str) -> None:
    """Create or upgrade MLflow's schema at ``uri`` (what opening MLflow's store does)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri, registry_uri=uri).search_experiments(max_results=1)


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _user_data(conn: sa.Connection, meta: sa.MetaData) -> list[str]:
    """What the target already holds beyond a fresh schema (its Default experiment)."""
    found = []
    for table in ("runs", "registered_models", "logged_models"):
        if table in meta.tables and conn.execute(
                sa.select(sa.func.count()).select_from(meta.tables[table])).scalar():
            found.append(table)
    experiments = meta.tables["experiments"]
    if conn.execute(sa.select(sa.func.count()).select_from(experiments)
                    .where(experiments.c.experiment_id != 0)).scalar():
        found.append("experiments")
    return found


def _converter(column: sa.Column, artifacts: tuple[str, str] | None) -> Any:
    """What a source value becomes in ``column`` (SQLite keeps booleans as integers)."""
    if isinstance(column.type, sa.Boolean):
        return lambda v: None if v is None else bool(v)
    if artifacts and isinstance(column.type, sa.String | sa.Text):
        old, new = artifacts
        return lambda v: v.replace(old, new) if isinstance(v, str) else v
    return None


def migrate(source: str, target: str, *, artifacts: tuple[str, str] | None = None,
            timeout: float = 10.0) -> MigrationResult:
    """Copy the MLflow store ``source`` (``sqlite:///mlflow.db``) into ``target``
    (``postgresql+psycopg://user:password@host:port/db``), which must hold no runs, models or
    experiments yet (a new database, or one MLflow just created). Raises
    :class:`TrackingError` naming what is wrong; the target is left unchanged then."""
    if not source.startswith("sqlite:///"):
        raise TrackingError(f"The source must be a SQLite store (sqlite:///...), not "
                            f"{masked(source)}.")
    db = Path(source.removeprefix("sqlite:///").split("?", 1)[0])
    if not db.is_file():
        raise TrackingError(f"No SQLite store at {db.resolve()}.")
    if database_kind(target) is None:
        raise TrackingError(f"The target must be a database server's URI "
                            f"(postgresql+psycopg://...), not {masked(target)}.")
    target = driver_uri(target)
    probe(target, timeout)
    if artifacts:
        artifacts = (_as_location(artifacts[0]), _as_location(artifacts[1]))
    cwd = Path.cwd()
    os.chdir(db.resolve().parent)  # MLflow's Default experiment of a new schema: ./mlruns here
    try:
        _schema(source)
        _schema(target)
    finally:
        os.chdir(cwd)
    src, dst = sa.create_engine(source), sa.create_engine(target)
    try:
        if _revision(src) != _revision(dst):
            raise TrackingError(f"Schema revisions differ after the upgrade: source "
                                f"{_revision(src)}, target {_revision(dst)}.")
        src_meta, dst_meta = sa.MetaData(), sa.MetaData()
        src_meta.reflect(src)
        dst_meta.reflect(dst)
        result = MigrationResult(source, masked(target))
        with src.connect() as read, dst.begin() as write:
            held = _user_data(write, dst_meta)
            if held:
                raise TrackingError(f"The target {masked(target)} already holds "
                                    f"{', '.join(held)}: migrate into a new database.")
            ordered = [t for t in dst_meta.sorted_tables if t.name not in SKIPPED]
            for table in reversed(ordered):  # the fresh schema's rows (Default experiment)
                write.execute(table.delete())
            for table in ordered:
                if table.name not in src_meta.tables:
                    continue
                result.rows[table.name] = _copy(read, write, src_meta.tables[table.name],
                                                table, artifacts)
            if dst.dialect.name == "postgresql":
                _advance_sequences(write, ordered)
        logger.info("Copied %d rows in %d tables from %s to %s", result.total,
                    len(result.rows), source, masked(target))
        return result
    finally:
        src.dispose()
        dst.dispose()


def _as_location(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


def _copy(read: sa.Connection, write: sa.Connection, src: sa.Table, dst: sa.Table,
          artifacts: tuple[str, str] | None) -> int:
    columns = [c for c in dst.columns if c.name in src.c]
    convert: Mapping[str, Any] = {c.name: f for c in columns
                                  if (f := _converter(c, artifacts)) is not None}
    rows = read.execute(sa.select(*(src.c[c.name] for c in columns)))
    count = 0
    while chunk := rows.fetchmany(CHUNK):
        values = []
        for row in chunk:
            record = dict(row._mapping)
            for name, fn in convert.items():
                record[name] = fn(record[name])
            values.append(record)
        write.execute(dst.insert(), values)
        count += len(values)
    return count


def _advance_sequences(write: sa.Connection, tables: list[sa.Table]) -> None:
    """Serial / identity columns continue after the copied ids (new experiments get the next
    id, not 1)."""
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = write.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                     {"t": table.name, "c": column.name}).scalar()
            if sequence:
                write.execute(sa.text(
                    f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM '
                    f'"{table.name}"), 0) + 1, false)'), {"s": sequence})
