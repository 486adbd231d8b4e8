"""An S3 API server for the tests: moto's standalone server on 127.0.0.1 (it stands in for
AWS S3 or MinIO), started once per session; each test gets a bucket of its own and the AWS
environment (dummy credentials, the endpoint) pointing at it, as a deployment would set it."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import free_port

#: Dummy credentials: moto accepts any; a deployment sets its own in the same variables.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "testing-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
#: AWS variables that would point boto3 elsewhere: removed for the tests.
FOREIGN = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
           "AWS_ENDPOINT_URL_S3", "AWS_REGION")


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    client: Any
    env: dict[str, str]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes) -> str:
        return str(self.client.put_object(Bucket=self.bucket, Key=key, Body=body)["ETag"])

    def keys(self, prefix: str = "") -> list[str]:
        found: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix):
            found.extend(o["Key"] for o in page.get("Contents", ()))
        return sorted(found)


def one_request_at_a_time(app: Any) -> Any:
    """``app`` answering one request at a time. moto checks a conditional write's condition
    and then writes, with other requests free to run in between: two ``If-None-Match: *``
    PUTs of one key can both succeed under load. S3 and MinIO decide such a write atomically;
    serialising moto's requests gives the tests the same guarantee."""
    lock = threading.Lock()

    def serialised(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serialised


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on a free port of 127.0.0.1 (skipped, saying why, without moto)."""
    server_module = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed: pip install -e '.[test]'")
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    app = server_module.DomainDispatcherApplication(server_module.create_backend_app)
    server = make_server("127.0.0.1", port, one_request_at_a_time(app), threaded=True,
                         request_handler=server_module.MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def s3(s3_server: str, _isolated: None, monkeypatch: pytest.MonkeyPatch) -> S3:
    """A fresh bucket on the test server, the AWS environment pointing at it (after the
    isolation fixture cleared the MLFLOW_* variables)."""
    import boto3

    for var in FOREIGN:
        monkeypatch.delenv(var, raising=False)
    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_server, "MLFLOW_S3_ENDPOINT_URL": s3_server}
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    client = boto3.client("s3", endpoint_url=s3_server)
    bucket = f"churnmon-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    assert os.environ["AWS_ENDPOINT_URL"] == s3_server
    return S3(s3_server, bucket, client, env)
