"""Secrets masked by shape and by value (pure); credentials refused in the configuration;
the audit actor is the authenticated user."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import redact
from pipelines.config import ConfigError, load_settings
from pipelines.data.io import json_text
from pipelines.errors import TrackingError
from pipelines.redact import SecretsFilter, redact_value, without_secrets


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


@pytest.mark.parametrize(("text", "expected"), [
    ("postgresql://mlflow:pg-pa55@db:5432/mlflow", "postgresql://mlflow:***@db:5432/mlflow"),
    ("http://alice:hunter2@127.0.0.1:5000/api", "http://alice:***@127.0.0.1:5000/api"),
    ("GET /runs?token=abc123&limit=5", "GET /runs?token=***&limit=5"),
    ("s3://b/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=f00d",
     "s3://b/k?X-Amz-Credential=***&X-Amz-Signature=***"),
    ("https://hooks.slack.com/services/T0/B0/xyzSECRET failed",
     "https://hooks.slack.com/*** failed"),
    ("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key = ***"),
    ('{"password": "pw-in-json"}', '{"password": "***"}'),
    ("b0004 CRIT 0.58 concept (run 0123abcd)", "b0004 CRIT 0.58 concept (run 0123abcd)"),
    ("http://127.0.0.1:5000/#/experiments/1/runs/a0600fa1a72845a19c2db360dbaeb12b",
     "http://127.0.0.1:5000/#/experiments/1/runs/a0600fa1a72845a19c2db360dbaeb12b"),
])
def test_secrets_by_shape(text: str, expected: str) -> None:
    assert without_secrets(text) == expected


def test_secrets_by_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "plain-pw-42")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "awsKey/Value+9")
    redact.remember_url("http://10.0.0.5:9000/hook/abcdefTOKEN")
    text = "user said plain-pw-42, key awsKey/Value+9, posted to http://10.0.0.5:9000/hook/abcdefTOKEN"
    clean = without_secrets(text)
    assert "plain-pw-42" not in clean
    assert "awsKey/Value+9" not in clean
    assert "abcdefTOKEN" not in clean
    assert "10.0.0.5:9000" in clean
    assert redact_value({"uri": "/hook/abcdefTOKEN", "n": 3}) == {"uri": "***", "n": 3}
    assert "plain-pw-42" not in json_text({"note": "plain-pw-42"})
    assert "plain-pw-42" not in str(TrackingError("cannot reach plain-pw-42"))


def test_the_filter_masks_arguments_and_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-value-77")
    try:
        raise RuntimeError("refused tok-value-77")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "store %s: %r",
                                   ("http://u:p@h", {"t": "tok-value-77"}), sys.exc_info())
    assert SecretsFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "tok-value-77" not in formatted
    assert "u:p@" not in formatted
    assert "RuntimeError" in formatted


@pytest.mark.parametrize("body", ['[tracking]\npassword = "x"\n',
                                  '[tracking]\nusername = "bob"\n',
                                  '[notifications]\napi_token = "t"\n'])
def test_credentials_in_the_config_file_are_refused(tmp_path: Path, body: str) -> None:
    config = tmp_path / "monitoring.toml"
    config.write_text(body)
    with pytest.raises(ConfigError, match="credentials are never read from the configuration; "
                       "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"):
        load_settings(config, env={})


def test_the_actor_is_the_authenticated_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.store import default_actor

    assert default_actor("ops-team") == "ops-team"
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "approver")
    assert default_actor("ops-team") == "approver"
    assert default_actor() == "approver"



def test_a_server_uri_with_credentials_is_refused(tmp_path: Path) -> None:
    from pipelines.store import connect
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, tracking__uri="http://bob:pw-in-uri@127.0.0.1:9")
    with pytest.raises(ConfigError, match="carries credentials: .* set MLFLOW_TRACKING_USERNAME"
                       ) as refused:
        connect(settings.tracking)
    assert "pw-in-uri" not in str(refused.value)


def test_a_refusal_met_midway_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

    from pipelines.cli import EXIT_BAD_INPUT, run_cli

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")

    def step(argv: object) -> int:
        raise MlflowException("API request to endpoint /api/2.0/mlflow/runs/create failed with "
                              "error code 403 != 200. Response body: 'Permission denied'",
                              error_code=PERMISSION_DENIED)

    assert run_cli(step, []) == EXIT_BAD_INPUT
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.startswith("PermissionDenied: the tracking server refused user 'reader' "
                           "(HTTP 403 on /api/2.0/mlflow/runs/create): ask an admin for EDIT")


def test_a_remembered_uri_hides_its_password_not_the_server() -> None:
    redact.remember("http://alice:pa55word-xyz@mlflow.internal:5000")
    redact.remember("sqlite:///mlflow.db")
    assert without_secrets("server http://mlflow.internal:5000 stopped answering") == (
        "server http://mlflow.internal:5000 stopped answering")
    assert without_secrets("store sqlite:///mlflow.db cannot be used") == (
        "store sqlite:///mlflow.db cannot be used")
    assert "pa55word-xyz" not in without_secrets("it said pa55word-xyz")
    # a database URI's bare user (the password in PGPASSWORD) is a name, not a secret
    assert without_secrets("postgresql+psycopg://mlflow@db:5432/mlflow") == (
        "postgresql+psycopg://mlflow@db:5432/mlflow")
    assert without_secrets("https://ghp_tokenvalue@example.com/x") == "https://***@example.com/x"


def test_json_reports_stay_json_and_short_secrets_mask_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "churn")  # too short to mask by value
    text = json_text({"tables": {"rank_changes": {"device_token": 0.31}},
                      "model": "churn-model", "note": "password=hunter2-long"})
    data = json.loads(text)
    assert data["tables"]["rank_changes"] == {"device_token": 0.31}
    assert data["model"] == "churn-model"
    assert data["note"] == "password=***"
