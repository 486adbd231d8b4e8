"""Secrets kept out of what the service logs and answers: a token in a query string (the
dashboard's ``/?token=...`` lands in the access log), credentials in a store URI
(``http://user:password@host``, ``postgresql://user:password@host/db``)."""

from __future__ import annotations

import logging
import re

_QUERY_TOKEN = re.compile(r"(?i)([?&](?:token|access_token)=)[^&#\s\"']*")
_USERINFO = re.compile(r"(?<=://)[^/@\s\"']+@")
HIDDEN = "***"


def without_secrets(text: str) -> str:
    """``text`` with query-string tokens and URI credentials replaced by ``***``."""
    return _USERINFO.sub(f"{HIDDEN}@", _QUERY_TOKEN.sub(rf"\g<1>{HIDDEN}", text))


class SecretsFilter(logging.Filter):
    """A logging filter that rewrites a record's message and string arguments
    :func:`without_secrets` (uvicorn's access log passes the request path as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = without_secrets(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(without_secrets(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def guard_logs(*names: str) -> None:
    """Put a :class:`SecretsFilter` on each named logger (records logged on it directly)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretsFilter) for f in logger.filters):
            logger.addFilter(SecretsFilter())
