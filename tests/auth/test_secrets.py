"""No secret anywhere written: an orchestrator cycle against the basic-auth server, with a
tracking password, a webhook URL carrying tokens in its path and query, and an AWS secret
key in its environment; then every file it wrote, its log, the store's database and its
params and tags (through the client), the HTML and JSON reports and the notification bodies
a local receiver got are searched for each secret."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.data.generator import generate_batch
from tests.auth.conftest import MODEL, PASSWORDS, AuthServer, as_user
from tests.conftest import PASSTHROUGH_ENV, free_port

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess]

PATH_TOKEN = "XOXBpathT0kenQ7wz"
QUERY_TOKEN = "qryT0kenZ9k2"
AWS_SECRET = "awsS3cretKeyVq8Lm/Xy+Zw"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A local webhook endpoint: yields its URL (tokens in path and query) and the bodies
    it received."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            bodies.append(self.path.encode() + b"\n"
                          + self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield (f"http://127.0.0.1:{port}/services/T000/B000/{PATH_TOKEN}?token={QUERY_TOKEN}",
               bodies)
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _hits(blob: bytes, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s.encode() in blob]


def test_no_secret_in_anything_a_cycle_writes(auth_server: AuthServer, tmp_path: Path,
                                              receiver: tuple[str, list[bytes]]) -> None:
    url, bodies = receiver
    password = PASSWORDS["orchestrator"]
    secrets = [password, PATH_TOKEN, QUERY_TOKEN, AWS_SECRET]
    config = tmp_path / "monitoring.toml"
    config.write_text(f'[notifications]\nwebhook_url = "{url}"\nmin_severity = "info"\n')
    inbox = tmp_path / "monitoring" / "inbox"
    inbox.mkdir(parents=True)
    generate_batch("covariate_shift", 800, seed=23).to_csv(inbox / "b1.csv", index=False)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env |= {**PASSTHROUGH_ENV, "MLFLOW_TRACKING_USERNAME": "orchestrator",
            "MLFLOW_TRACKING_PASSWORD": password, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_ACCESS_KEY_ID": "AKIATESTONLY"}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "--source", "inbox", "-v",
         "--config", str(config), "--tracking-uri", auth_server.uri],
        cwd=tmp_path, env=env, capture_output=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log.decode(errors="replace")[-4000:]
    assert list((inbox / "done").iterdir()), "the batch was monitored"
    assert bodies, "notifications were delivered"
    # the webhook's endpoint is logged (-v): its host shown, its secret path and query masked
    host = url.split("/services/", 1)[0]
    assert f"the webhook {host}***".encode() in log

    found: dict[str, list[str]] = {}
    if hits := _hits(log, secrets):
        found["the command's log"] = hits
    for i, body in enumerate(bodies):
        # the receiver's own copy of the request path is the URL itself: only the body counts
        if hits := _hits(body.split(b"\n", 1)[1], secrets):
            found[f"notification {i}"] = hits
    written = [p for root in (tmp_path, auth_server.root) for p in root.rglob("*")
               if p.is_file() and p != config]
    assert any(p.name == "report.html" for p in written)
    assert any(p.suffix == ".json" and "monitoring_report" in p.name for p in written)
    for path in written:
        if hits := _hits(path.read_bytes(), secrets):
            found[str(path)] = hits

    with as_user("admin"):
        client = auth_server.admin_client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run in client.search_runs(experiments, max_results=1000):
            text = repr(run.data.params) + repr(run.data.tags)
            if hits := _hits(text.encode(), secrets):
                found[f"run {run.info.run_id}"] = hits
        model = client.get_registered_model(MODEL)
        text = repr(model.description) + repr(model.tags) + "".join(
            repr(v.tags) + repr(v.description)
            for v in client.search_model_versions(f"name = '{MODEL}'"))
        if hits := _hits(text.encode(), secrets):
            found["the registry"] = hits
    assert found == {}
