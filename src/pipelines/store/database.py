"""Tracking stores on a database server (PostgreSQL; MySQL and SQL Server URIs are treated
alike): the URI as MLflow's SQLAlchemy store needs it, the URI as it may be shown (password
masked), and a quick probe of the server's port so that a server that is down stops a command
at once with one line, instead of SQLAlchemy's and MLflow's retries.

SQLite stores are handled in :mod:`pipelines.store.client` (busy timeout, file checks).
"""

from __future__ import annotations

import importlib.util
import socket
import urllib.parse
from pathlib import Path

from pipelines.errors import TrackingError

#: URI schemes (before any ``+driver``) of database servers MLflow's SQLAlchemy store speaks.
SERVER_DATABASES = ("postgresql", "mysql", "mssql")
#: Port of each database when the URI names none.
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}
HIDDEN = "***"


def database_kind(uri: str) -> str | None:
    """``postgresql`` for ``postgresql://`` and ``postgresql+psycopg://`` URIs (likewise
    mysql, mssql), None for anything else (sqlite, http, file)."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    kind = scheme.split("+", 1)[0]
    return kind if kind in SERVER_DATABASES else None


def masked(uri: str) -> str:
    """``uri`` with the password of its user part replaced by ``***`` (any URI: a database's
    ``user:password@``, a server's ``http://user:token@``); other URIs unchanged."""
    if "://" not in uri:
        return uri
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return uri
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{HIDDEN}@{host}"))


def driver_uri(uri: str) -> str:
    """The URI MLflow can open. A bare ``postgresql://`` means SQLAlchemy's default driver
    (psycopg2); when only psycopg 3 (the project's ``postgres`` extra) is installed it becomes
    ``postgresql+psycopg://``. Raises :class:`TrackingError` when no driver is installed."""
    if database_kind(uri) != "postgresql":
        return uri
    scheme, rest = uri.split("://", 1)
    has_psycopg = importlib.util.find_spec("psycopg") is not None
    if scheme.lower() == "postgresql":
        if importlib.util.find_spec("psycopg2") is not None:
            return uri
        if has_psycopg:
            return f"postgresql+psycopg://{rest}"
    elif scheme.lower() != "postgresql+psycopg" or has_psycopg:
        return uri
    raise TrackingError(
        f"No PostgreSQL driver for tracking.uri {masked(uri)}: install the project's postgres "
        "extra (pip install -e '.[postgres]', which brings psycopg 3).")


def server_address(uri: str) -> tuple[str, int]:
    """(host, port) of a database URI (the database's default port when none is given)."""
    parts = urllib.parse.urlsplit(uri)
    kind = database_kind(uri) or ""
    try:
        port = parts.port
    except ValueError as exc:
        raise TrackingError(f"tracking.uri {masked(uri)} has an invalid port.") from exc
    return parts.hostname or "localhost", port or DEFAULT_PORTS.get(kind, 0)


def probe(uri: str, timeout: float) -> None:
    """Raise :class:`TrackingError` naming the server (and the URI, password masked) unless
    its port accepts a connection within ``timeout`` seconds."""
    host, port = server_address(uri)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise TrackingError(
            f"The {database_kind(uri)} server {host}:{port} of the MLflow store "
            f"{masked(uri)} is unreachable ({reason.lower()}). Start it or check "
            "tracking.uri / MLFLOW_TRACKING_URI.") from exc
    if database_kind(uri) == "postgresql":
        _log_in(uri, host, port, timeout)


def _log_in(uri: str, host: str, port: int, timeout: float) -> None:
    """One connection with the URI's user, password (or PGPASSWORD) and database: a refusal
    (wrong password, no such database) is one line now, instead of MLflow's ten attempts
    over about 100 s."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args={"connect_timeout": max(1, int(timeout))})
    try:
        with engine.connect():
            return
    except sqlalchemy.exc.DBAPIError as exc:
        text = str(exc.orig or exc)
        reason = text.rsplit("FATAL:", 1)[-1].strip().splitlines()[0] if "FATAL:" in text \
            else text.strip().splitlines()[0]
        raise TrackingError(
            f"The {database_kind(uri)} server {host}:{port} refused the MLflow store "
            f"{masked(uri)}: {reason}. Check the user, the password (PGPASSWORD) and the "
            "database name in tracking.uri / MLFLOW_TRACKING_URI.") from exc
    finally:
        engine.dispose()


def artifact_root_uri(root: str) -> str:
    """Where experiments created on a database store keep their artifacts: ``root`` as it is
    when it is a URI (``s3://bucket/prefix``, ``file:///...``), else the local folder
    ``root`` (relative to the working directory) as a ``file://`` URI."""
    if "://" in root:
        return root
    return Path(root).resolve().as_uri()
