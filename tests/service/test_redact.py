"""Secrets out of the service's log and answers (pure)."""

from __future__ import annotations

import logging

from pipelines.service.redact import SecretsFilter, without_secrets


def test_query_tokens_and_uri_credentials_are_hidden() -> None:
    assert without_secrets('"GET /?token=s3cret&refresh=5 HTTP/1.1"') == (
        '"GET /?token=***&refresh=5 HTTP/1.1"')
    assert without_secrets("/alerts?limit=2&access_token=abc") == "/alerts?limit=2&access_token=***"
    assert without_secrets("store http://alice:hunter2@127.0.0.1:9/ refused") == (
        "store http://alice:***@127.0.0.1:9/ refused")
    assert without_secrets("postgresql://u:p@db/mlflow") == "postgresql://u:***@db/mlflow"
    assert without_secrets("/batches?since=3&status=ok") == "/batches?since=3&status=ok"


def test_the_filter_rewrites_uvicorns_access_record() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", "/?token=s3cret", "1.1", 200), None)
    assert SecretsFilter().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "/?token=***" in record.getMessage()
