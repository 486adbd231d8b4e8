"""``python -m pipelines.serve``: its options, a store it cannot serve, CORS when configured, a
tracking server that stops (503 in bounded time, then 200 again once it is back), SIGTERM,
and ``mlflow run . -e serve``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines import serve
from pipelines.cli import run_cli
from pipelines.config import Settings, with_overrides
from tests.conftest import PASSTHROUGH_ENV, MlflowServer, copy_store, free_port, make_settings
from tests.service.serving import ServiceProcess, get

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- options


def test_port_option() -> None:
    assert serve.port_arg("9000") == 9000
    assert serve.port_arg("9000.0") == 9000  # as `mlflow run` passes a number
    assert serve.port_arg("") is None  # the MLproject default: the configured port
    parser = serve.build_parser()
    for bad in ("0", "70000", "12.5", "http"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--port", bad])


def test_host_and_port_override_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    args = serve.build_parser().parse_args(["--host", "0.0.0.0", "--port", "9001"])
    from pipelines.cli import settings_from_args

    settings = settings_from_args(args, {"service.host": args.host, "service.port": args.port})
    assert (settings.service.host, settings.service.port) == ("0.0.0.0", 9001)
    args = serve.build_parser().parse_args(["--host", "", "--port", ""])
    monkeypatch.setenv("CHURNMON_SERVICE__PORT", "9002")
    settings = settings_from_args(args, {"service.host": args.host, "service.port": args.port})
    assert (settings.service.host, settings.service.port) == ("127.0.0.1", 9002)


def test_the_addresses_it_prints() -> None:
    assert serve.urls("127.0.0.1", 8765) == ("http://127.0.0.1:8765/",
                                            "http://127.0.0.1:8765/docs")
    assert serve.urls("0.0.0.0", 80)[0] == "http://127.0.0.1:80/"
    assert serve.urls("::1", 8765)[1] == "http://[::1]:8765/docs"


def test_a_missing_store_is_one_line_and_exit_2(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "nowhere.db"
    code = run_cli(serve.main, ["--tracking-uri", f"sqlite:///{db}"])
    assert code == 2
    assert "nothing to serve" in caplog.text
    assert not db.exists()  # never created: the service does not write


def test_a_tracking_server_down_at_start_is_a_warning(settings: Settings,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The service may start before its tracking server: it serves 503 until it answers."""
    uri = f"http://127.0.0.1:{free_port()}"
    down = with_overrides(settings, {"tracking.uri": uri})
    assert serve.resolve(down) == down
    assert f"{uri} is unreachable" in caplog.text
    assert "/health answers 503 until the store answers" in caplog.text


def test_the_family_memory_names_the_model(settings: Settings) -> None:
    """What ``register_reference`` remembered (here: a model name) is what is served."""
    from pipelines.store import connect
    from pipelines.store.family import remember_settings

    store = connect(settings.tracking)
    remember_settings(store, {"tracking.registered_model_name": "churn-external"}, "test")
    assert serve.resolve(settings).tracking.registered_model_name == "churn-external"


# --------------------------------------------------------------------------- CORS, in process


@pytest.fixture
def in_process(settings: Settings) -> Iterator[Any]:
    """create_app served by uvicorn in a thread of this process, with CORS for one origin."""
    import uvicorn

    from pipelines.service.app import create_app

    configured = with_overrides(settings, {"service.cors_origins": ["http://dash.example"]})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(configured), host="127.0.0.1",
                                           port=port, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the app did not start"
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.server
def test_cors_answers_the_configured_origin_only(in_process: str) -> None:
    def preflight(origin: str) -> Any:
        return get(in_process + "/batches", method="OPTIONS", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})

    allowed = preflight("http://dash.example")
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == "http://dash.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight("http://evil.example")
    assert "access-control-allow-origin" not in {k.lower() for k in refused.headers}
    reply = get(in_process + "/batches", headers={"Origin": "http://dash.example"})
    assert reply.status == 200, reply.text  # no token configured: open
    assert reply.json["total"] == 0  # an empty store
    assert reply.headers["access-control-allow-origin"] == "http://dash.example"


# --------------------------------------------------------------------------- outage


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
def test_a_stopped_tracking_server_is_503_in_bounded_time_then_200_again(
        tmp_path: Path, story_template: tuple[Path, list[Any]]) -> None:
    template, _ = story_template
    copy_store(template, tmp_path / "store")
    settings = make_settings(tmp_path / "store")
    tracking = MlflowServer(tmp_path / "server", db=tmp_path / "store" / "mlflow.db")
    uri = tracking.start()
    timeout, refresh = 2.0, 1.0
    service = ServiceProcess(
        with_overrides(settings, {"tracking.uri": uri}), tmp_path / "service.log",
        token="outage-token",
        args=["--set", f"service.store_timeout_seconds={timeout}",
              "--set", f"service.refresh_seconds={refresh}"])
    try:
        service.start()
        # the first read (six reports through the server) may outlast the 2 s: it lands later
        assert service.wait_for("/health", 200, timeout=120).json["batches"] == 6
        assert service.get("/batches/2").status == 200  # reports come through the server

        tracking.kill()
        down = service.wait_for("/health", 503, timeout=refresh + timeout + 10)
        assert down.json["status"] == "unavailable"
        assert down.json["store"] == "unreachable"
        assert uri in down.json["message"]
        for path in ("/batches", "/metrics/latest", "/batches/4", "/drift/matrix"):
            reply = service.get(path)
            assert reply.status == 503, (path, reply.text)
            assert reply.seconds < timeout + 2, (path, reply.seconds)
            error = reply.json["error"]
            assert error["status"] == 503
            assert uri in error["message"], error["message"]
        assert service.get("/batches", authorized=False).status == 401  # still checked first

        tracking.start()  # the same port, the same store
        back = service.wait_for("/batches", 200, timeout=120)
        assert back.json["total"] == 6
        assert service.get("/health").json["status"] == "ok"
        assert service.get("/batches/4").json["report"]["status"]
    finally:
        code = service.stop(signal.SIGTERM)
        tracking.stop()
    assert code == 0, service.log()[-3000:]
    log = service.log()
    assert "dashboard http://127.0.0.1:" in log
    assert "/docs" in log
    assert "Stopped by SIGTERM: the service shut down cleanly" in log
    assert "Traceback" not in log


# --------------------------------------------------------------------------- mlflow run


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
def test_mlflow_run_serve_starts_the_service(tmp_path: Path, settings: Settings) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(PASSTHROUGH_ENV)
    env["MLFLOW_TRACKING_URI"] = settings.tracking.uri
    log = tmp_path / "mlflow-run.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "serve", "--env-manager",
         "local", "--experiment-name", settings.tracking.pipeline_experiment,
         "-P", f"port={port}"],
        env=env, cwd=tmp_path, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not _listening(port):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        health = get(f"http://127.0.0.1:{port}/health")
        assert health.status == 200, health.text
        assert health.json["model"] == "churn-model"
        assert get(f"http://127.0.0.1:{port}/batches").json["total"] == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
    # the service got SIGTERM with `mlflow run` (one process group) and shuts down, maybe
    # after `mlflow run` ended
    deadline = time.monotonic() + 30
    while _listening(port) or "Shutting down" not in log.read_text():
        assert time.monotonic() < deadline, ("the service outlived `mlflow run`",
                                             log.read_text()[-3000:])
        time.sleep(0.5)
    shutil.rmtree(tmp_path / "mlruns", ignore_errors=True)
