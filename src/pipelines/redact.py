"""Secrets kept out of everything the project writes: logs, error messages, run params and
tags, the JSON and HTML reports, notifications, the service's answers.

Two kinds of masking, both in :func:`without_secrets`:

* **by shape**: credentials in a URI (``http://user:password@host``,
  ``postgresql://user:password@host/db``: the whole user-info becomes ``***``), tokens in a
  query string (``?token=``, ``access_token``, ``api_key``, ``sig``, S3 presigned
  ``X-Amz-Signature`` / ``X-Amz-Credential``, ...), ``Authorization: Bearer|Basic <value>``,
  ``password=`` / ``aws_secret_access_key=`` assignments, the path of Slack, Discord and
  Microsoft Teams webhook URLs;
* **by value**: the values of the credential environment variables (:data:`SECRET_ENV_VARS`:
  ``MLFLOW_TRACKING_PASSWORD``, ``MLFLOW_TRACKING_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ...),
  read at each call, and values registered with :func:`remember` (the configured webhook
  URL's path and query, a password found in a configured URI), wherever they appear.

Pure (standard library only): every layer may import it. The entry points install
:class:`SecretsFilter` on the log handlers (:func:`guard_handlers`), so no record reaches a
terminal or a file unmasked.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

HIDDEN = "***"
#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV_VARS = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                   "MLFLOW_TRACKING_CLIENT_CERT_PATH", "AWS_SECRET_ACCESS_KEY",
                   "AWS_SESSION_TOKEN", "PGPASSWORD", "MLFLOW_AUTH_ADMIN_PASSWORD",
                   "MLFLOW_FLASK_SERVER_SECRET_KEY", "CHURNMON_NOTIFICATIONS__WEBHOOK_URL",
                   "CHURNMON_SERVICE__TOKEN")
#: A remembered or environment value shorter than this is not masked: a short value would
#: mask words, names and numbers everywhere (a password ``churn`` in ``churn-model``).
MIN_SECRET_LENGTH = 8

_QUERY_KEYS = ("token", "access_token", "refresh_token", "id_token", "api_key", "apikey",
               "key", "secret", "client_secret", "password", "passwd", "pwd", "sig",
               "signature", "auth", "x-amz-signature", "x-amz-credential",
               "x-amz-security-token", "awsaccesskeyid", "sv", "se")
_QUERY_TOKEN = re.compile(r"(?i)([?&](?:" + "|".join(re.escape(k) for k in _QUERY_KEYS)
                          + r")=)[^&#\s\"'<>]*")
#: ``user:password@`` keeps the user (who it is helps; the password is the secret); a bare
#: ``token@`` is masked whole, but a database URI's bare ``user@`` (the password given in
#: PGPASSWORD) is a user name and stays.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*)://(?:([^/@:\s\"'<>]+):)?([^/@\s\"'<>]+)@")
_DATABASE_SCHEMES = ("postgres", "mysql", "mssql", "oracle", "sqlite")


def _userinfo(match: re.Match[str]) -> str:
    scheme, user = match.group(1), match.group(2)
    if user:
        return f"{scheme}://{user}:{HIDDEN}@"
    if scheme.lower().startswith(_DATABASE_SCHEMES):
        return match.group(0)
    return f"{scheme}://{HIDDEN}@"
_AUTH_HEADER = re.compile(r"(?i)\b((?:authorization|proxy-authorization)\s*[:=]\s*"
                          r"(?:bearer|basic|token)?\s*)[^\s\"',}]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_ASSIGNMENT = re.compile(
    r"(?i)\b((?:[a-z0-9_]*_)?(?:password|passwd|secret|secret_access_key|session_token|"
    r"api_key|token)[\"']?\s*[:=]\s*[\"']?)([^\s\"',}&]+)")
_WEBHOOK = re.compile(
    r"(?i)(https?://(?:hooks\.slack\.com|discord(?:app)?\.com/api/webhooks|"
    r"[a-z0-9.-]*webhook\.office\.com|[a-z0-9.-]*\.logic\.azure\.com)[^/\s\"'<>]*/)"
    r"[^\s\"'<>)]+")

_remembered: set[str] = set()
_lock = threading.Lock()


def remember(*values: str | None) -> None:
    """Mask these values from now on wherever they appear (a webhook URL: its path and
    query too; a URI: the password in it). Empty and very short values are ignored."""
    with _lock:
        for value in values:
            for secret in _parts(value or ""):
                if len(secret) >= MIN_SECRET_LENGTH:
                    _remembered.add(secret)


def remember_url(url: str | None) -> None:
    """A URL whose path and query are secret (a webhook): all of it after the host."""
    if not url:
        return
    parts = urllib.parse.urlsplit(url)
    tail = url[len(f"{parts.scheme}://{parts.netloc}"):] if parts.netloc else url
    remember(tail if tail not in ("", "/") else url)  # the host stays readable


def forget_all() -> None:
    """Drop every remembered value (tests)."""
    with _lock:
        _remembered.clear()


def _parts(value: str) -> Iterable[str]:
    """The secret parts of ``value``: a URI's password (``scheme://user:password@host``; the
    rest of the URI names a server, which messages must keep); any other value whole."""
    if "://" not in value:
        yield value
        return
    parts = urllib.parse.urlsplit(value)
    if parts.password:
        yield parts.password
        yield urllib.parse.unquote(parts.password)


def _known() -> list[str]:
    values = set(_remembered)
    for name in SECRET_ENV_VARS:
        raw = os.environ.get(name, "")
        if name == "CHURNMON_NOTIFICATIONS__WEBHOOK_URL" and raw:
            parts = urllib.parse.urlsplit(raw)
            tail = raw[len(f"{parts.scheme}://{parts.netloc}"):] if parts.netloc else ""
            values.add(tail if len(tail) > 1 else raw)
        elif len(raw) >= MIN_SECRET_LENGTH:
            values.add(raw)
    return sorted(values, key=len, reverse=True)  # a longer value before its parts


def without_secrets(text: str) -> str:
    """``text`` with every secret this module knows (by shape or by value) replaced by
    ``***``."""
    if not text:
        return text
    for secret in _known():
        if secret in text:
            text = text.replace(secret, HIDDEN)
    text = _WEBHOOK.sub(rf"\g<1>{HIDDEN}", text)
    text = _QUERY_TOKEN.sub(rf"\g<1>{HIDDEN}", text)
    text = _USERINFO.sub(_userinfo, text)
    text = _AUTH_HEADER.sub(rf"\g<1>{HIDDEN}", text)
    text = _BEARER.sub(rf"\g<1>{HIDDEN}", text)
    return _ASSIGNMENT.sub(rf"\g<1>{HIDDEN}", text)


def redact_value(value: Any) -> Any:
    """A string masked by :func:`without_secrets`; mappings and lists masked item by item
    (keys too); any other value as it is."""
    if isinstance(value, str):
        return without_secrets(value)
    if isinstance(value, Mapping):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def redact_mapping(values: Mapping[str, Any]) -> dict[str, Any]:
    """Params or tags with secret-looking values masked (values turned to text as MLflow
    will store them)."""
    return {k: without_secrets(str(v)) for k, v in values.items()}


class SecretsFilter(logging.Filter):
    """Rewrites a record so that its formatted message (arguments merged in) and its
    traceback are :func:`without_secrets`. On a handler it covers every record the handler
    writes, whichever logger made it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a broken record: let logging report it as usual)
            return True
        clean = without_secrets(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = without_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = without_secrets(record.stack_info)
        return True


def guard_logs(*names: str) -> None:
    """Put a :class:`SecretsFilter` on each named logger (records logged on it directly)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretsFilter) for f in logger.filters):
            logger.addFilter(SecretsFilter())


def guard_handlers(logger: logging.Logger | None = None) -> None:
    """Put a :class:`SecretsFilter` on every handler of ``logger`` (default: the root
    logger), so records propagated from any library are masked before they are written."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretsFilter) for f in handler.filters):
            handler.addFilter(SecretsFilter())


_DATA_URI = re.compile(r"(base64,[A-Za-z0-9+/=]+)")


def without_secrets_in_page(page: str) -> str:
    """An HTML page :func:`without_secrets`, its embedded ``base64,`` images left whole
    (masking a value inside an image's bytes would break the image, not hide a secret)."""
    pieces = _DATA_URI.split(page)
    return "".join(piece if i % 2 else without_secrets(piece) for i, piece in enumerate(pieces))
