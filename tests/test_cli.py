"""Entry-point plumbing: exit codes and one-line errors, tracking outages told apart from
other failures."""

from __future__ import annotations

import logging

import pytest
import requests
from mlflow.exceptions import MlflowException

from pipelines.cli import run_cli
from pipelines.errors import ConfigError, TrackingUnavailable
from pipelines.store import tracking_outage
from tests.conftest import free_port


def _refused() -> MlflowException:
    """What MLflow raises when the server is gone: its own exception, the connection
    error in the chain (as ``rest_utils.http_request`` raises it)."""
    port = free_port()
    try:
        requests.get(f"http://127.0.0.1:{port}/api", timeout=2)
    except requests.exceptions.ConnectionError as exc:
        try:
            raise MlflowException(f"API request to http://127.0.0.1:{port}/api failed with "
                                  f"exception {exc}")  # noqa: B904 (MLflow does this)
        except MlflowException as wrapped:
            return wrapped
    raise AssertionError("nothing listens there, the request must fail")


def test_a_refused_connection_is_an_outage_named_in_a_few_words() -> None:
    outage = tracking_outage(_refused(), "http://127.0.0.1:5000")
    assert isinstance(outage, TrackingUnavailable)
    assert str(outage) == ("The MLflow tracking server http://127.0.0.1:5000 stopped "
                           "answering (connection refused)")


@pytest.mark.parametrize(("error", "words"), [
    (MlflowException("API request to endpoint /x failed with error code 503 != 200. "
                     "Response body: 'upstream down'"), "http 503"),
    (requests.exceptions.ReadTimeout("HTTPConnectionPool(host='h', port=1): Read timed "
                                     "out. (read timeout=10)"), "read timed out"),
    (TimeoutError("timed out"), "timed out"),
])
def test_gateway_errors_and_timeouts_are_outages(error: Exception, words: str) -> None:
    outage = tracking_outage(error, "http://h")
    assert outage is not None
    assert f"({words})" in str(outage)


@pytest.mark.parametrize("error", [
    MlflowException("RESOURCE_ALREADY_EXISTS: registered model 'x' already exists"),
    MlflowException("API request to endpoint /x failed with error code 400 != 200."),
    ValueError("could not convert string to float"),
])
def test_refusals_and_bugs_are_not_outages(error: Exception) -> None:
    assert tracking_outage(error, "http://h") is None


def test_run_cli_exit_codes_and_one_line(caplog: pytest.LogCaptureFixture) -> None:
    def outage(argv):  # noqa: ANN001, ANN202
        raise _refused()

    def bad_config(argv):  # noqa: ANN001, ANN202
        raise ConfigError("The 'cooldown_days' parameter must be >= 0. Got -1 instead.")

    def bug(argv):  # noqa: ANN001, ANN202
        raise KeyError("not an outage")

    with caplog.at_level(logging.ERROR, logger="pipelines"):
        assert run_cli(outage, []) == 1  # retry as is once the server is back
        assert run_cli(bad_config, []) == 2  # fix something first
        assert run_cli(lambda argv: 0, []) == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "stopped answering (connection refused); run again once it is back" in lines[0]
    assert lines[1].startswith("ConfigError: The 'cooldown_days'")
    with pytest.raises(KeyError):  # a bug keeps its traceback
        run_cli(bug, [])
