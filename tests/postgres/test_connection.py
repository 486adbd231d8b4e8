"""Opening a PostgreSQL store: the URI MLflow needs (driver), the URI as it may be shown
(password masked), and a server that is down named in one line at once (no cluster needed)."""

from __future__ import annotations

import importlib.util
import logging

import pytest

from pipelines.cli import run_cli
from pipelines.config import load_settings
from pipelines.errors import TrackingError, TrackingUnavailable
from pipelines.history import main as history_main
from pipelines.store import connect, tracking_outage
from pipelines.store.database import artifact_root_uri, database_kind, driver_uri, masked
from tests.conftest import free_port

SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(("uri", "shown"), [
    (f"postgresql+psycopg://mlflow:{SECRET}@db:5432/mlflow",
     "postgresql+psycopg://mlflow:***@db:5432/mlflow"),
    (f"postgresql://mlflow:{SECRET}@db/mlflow?sslmode=require",
     "postgresql://mlflow:***@db/mlflow?sslmode=require"),
    (f"http://alice:{SECRET}@mlflow.internal:5000", "http://alice:***@mlflow.internal:5000"),
    ("postgresql+psycopg://mlflow@db/mlflow", "postgresql+psycopg://mlflow@db/mlflow"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
])
def test_uris_are_shown_without_their_password(uri: str, shown: str) -> None:
    assert masked(uri) == shown


def test_the_uri_mlflow_opens_and_where_artifacts_go(tmp_path) -> None:
    assert database_kind("postgresql+psycopg://u@h/d") == "postgresql"
    assert database_kind("sqlite:///mlflow.db") is None
    assert database_kind("http://h:5000") is None
    bare = "postgresql://u:p@h:5432/d"
    expected = bare if importlib.util.find_spec("psycopg2") else "postgresql+psycopg://u:p@h:5432/d"
    assert driver_uri(bare) == expected
    assert driver_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert artifact_root_uri("s3://bucket/mlflow") == "s3://bucket/mlflow"
    assert artifact_root_uri("mlartifacts") == (tmp_path / "mlartifacts").as_uri()


def test_a_server_that_is_down_is_named_at_once_without_the_password(
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    uri = f"postgresql+psycopg://churnmon:{SECRET}@127.0.0.1:{port}/mlflow"
    settings = load_settings(env={}, overrides={"tracking.uri": uri})
    with pytest.raises(TrackingError, match=rf"postgresql server 127\.0\.0\.1:{port} of the "
                       rf"MLflow store postgresql\+psycopg://churnmon:\*\*\*@127\.0\.0\.1:"
                       rf"{port}/mlflow is unreachable \(connection refused\)") as raised:
        connect(settings.tracking)
    assert SECRET not in str(raised.value)

    with caplog.at_level(logging.DEBUG):
        code = run_cli(history_main, ["--tracking-uri", uri])
    assert code == 2
    out = capsys.readouterr()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert f"127.0.0.1:{port}" in errors[0]
    assert SECRET not in caplog.text + out.out + out.err


@pytest.mark.parametrize("reason", [
    'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection '
    "refused\n\tIs the server running on that host and accepting TCP/IP connections?",
    "server closed the connection unexpectedly\n\tThis probably means the server terminated "
    "abnormally",
    "terminating connection due to administrator command",
])
def test_a_database_that_goes_away_mid_step_is_an_outage(reason: str) -> None:
    from mlflow.exceptions import MlflowException

    uri = f"postgresql+psycopg://churnmon:{SECRET}@127.0.0.1:5432/mlflow"
    try:
        try:
            raise RuntimeError(f"(psycopg.OperationalError) {reason}")
        except RuntimeError as cause:
            raise MlflowException(f"SQLAlchemy database error: {cause}") from cause
    except MlflowException as exc:
        outage = tracking_outage(exc, uri)
    assert isinstance(outage, TrackingUnavailable)
    assert str(outage).startswith("The MLflow tracking server postgresql+psycopg://churnmon:***@")
    assert reason.split("\n")[0].split(": ")[-1].lower() in str(outage)
    assert SECRET not in str(outage)


@pytest.mark.postgres
@pytest.mark.parametrize(("password", "database", "reason"), [
    ("wrong-pw", "postgres", 'password authentication failed for user "churnmon"'),
    (None, "no_such_db", 'database "no_such_db" does not exist'),
])
def test_a_refused_login_is_named_at_once_without_the_password(
        pg_cluster, password: str | None, database: str, reason: str) -> None:
    from tests.postgres_cluster import PASSWORD

    uri = pg_cluster.uri(database, **({"password": password} if password else {}))
    settings = load_settings(env={}, overrides={"tracking.uri": uri})
    with pytest.raises(TrackingError, match=rf"127\.0\.0\.1:{pg_cluster.port} refused the "
                       r"MLflow store postgresql\+psycopg://churnmon:\*\*\*@") as raised:
        connect(settings.tracking)
    assert reason in str(raised.value)
    assert PASSWORD not in str(raised.value)
    assert (password or PASSWORD) not in str(raised.value)
