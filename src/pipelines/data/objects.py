"""Objects on S3-compatible storage (AWS S3, MinIO, ...): ``s3://bucket/key`` URIs, a client
configured from the environment, and a batch object fetched into a local file.

Credentials and the endpoint come from the environment only, as for MLflow and the AWS CLI:
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or a profile, an instance role),
``AWS_DEFAULT_REGION``, and for a store other than AWS ``MLFLOW_S3_ENDPOINT_URL`` (MLflow's
variable, used first) or ``AWS_ENDPOINT_URL``. Nothing here logs them.

Batches are read from a local copy: the object is downloaded once into a temporary folder
(its SHA-256 computed on the way), read there like any file and removed afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipelines.config import DataSettings
from pipelines.data.batch import Batch
from pipelines.data.io import SUPPORTED_SUFFIXES, one_line, shown
from pipelines.data.sources import BatchSource, Pending, read_batch_file
from pipelines.errors import ConfigError, DataError, ObjectStoreError

logger = logging.getLogger(__name__)

SCHEME = "s3://"
#: Environment variables naming the endpoint of an S3-compatible store, first found wins.
ENDPOINT_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_BLOCK = 1 << 20


def is_object_uri(location: object) -> bool:
    """True for an ``s3://`` URI (the only object-store scheme read here)."""
    return str(location).startswith(SCHEME)


@dataclass(frozen=True)
class ObjectUri:
    """``s3://<bucket>/<key>``; ``key`` may be a prefix (ending with ``/``) or empty."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> ObjectUri:
        if not is_object_uri(uri):
            raise ConfigError(f"{shown(uri)} is not an s3:// URI (expected "
                              "s3://<bucket>/<key>).")
        bucket, _, key = uri[len(SCHEME):].partition("/")
        if not bucket:
            raise ConfigError(f"{shown(uri)} names no bucket (expected s3://<bucket>/<key>).")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        """The last part of the key (the object's file name)."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]


def endpoint_url() -> str | None:
    """The endpoint of an S3-compatible store from the environment (None: AWS itself)."""
    for variable in ENDPOINT_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    return None


def s3_client() -> Any:
    """A boto3 S3 client for the environment's endpoint and credentials (a few retries,
    bounded timeouts: an unreachable store fails in seconds, not minutes)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - boto3 is a main dependency
        raise ConfigError("s3:// locations need boto3: pip install boto3") from exc
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                    read_timeout=60)
    return boto3.client("s3", endpoint_url=endpoint_url(), config=config)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``PreconditionFailed``,
    ``NoSuchKey``, ...), the HTTP status as text when there is none; "" for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or (str(status) if status else "")


def is_missing(exc: BaseException) -> bool:
    return error_code(exc) in ("NoSuchKey", "404", "NotFound")


def is_precondition_failed(exc: BaseException) -> bool:
    """A conditional write lost (``If-None-Match: *`` on an existing key, ``If-Match`` on a
    changed one); 409 ``ConditionalRequestConflict`` is AWS's answer to a concurrent one."""
    return error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict",
                               "409")


def store_error(action: str, uri: str, exc: BaseException) -> ObjectStoreError:
    """One line saying what could not be done where, and what the store answered (never the
    credentials: botocore's messages do not carry them)."""
    code = error_code(exc)
    detail = f"{code}: {exc}" if code else f"{type(exc).__name__}: {exc}"
    where = endpoint_url() or "AWS"
    return ObjectStoreError(
        f"Could not {action} {shown(uri)} ({detail}); check the bucket, the credentials "
        f"(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the endpoint ({where}).")


def download(client: Any, bucket: str, key: str, target: Path) -> tuple[str, str]:
    """Stream object ``key`` into ``target``; returns (SHA-256 of the content, its ETag).
    A missing object raises :class:`DataError`, any other failure :class:`ObjectStoreError`."""
    uri = f"{SCHEME}{bucket}/{key}"
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if is_missing(exc) or error_code(exc) == "NoSuchBucket":
            raise DataError(f"Object {shown(uri)} does not exist.") from exc
        raise store_error("read", uri, exc) from exc
    digest = hashlib.sha256()
    body = answer["Body"]
    try:
        with target.open("wb") as out:
            for block in iter(lambda: body.read(_BLOCK), b""):
                digest.update(block)
                out.write(block)
    except Exception as exc:
        if isinstance(exc, OSError) and not error_code(exc):
            raise  # the local disk: not the store's fault
        raise store_error("read", uri, exc) from exc
    finally:
        body.close()
    return digest.hexdigest(), str(answer.get("ETag", ""))


def _batch_keys(client: Any, uri: ObjectUri) -> list[str]:
    """The keys a batch URI stands for: the object itself, or under a prefix ending with
    ``/`` its Parquet part files (as Spark writes them), in name order."""
    if not uri.key.endswith("/") and uri.key:
        return [uri.key]
    keys = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=uri.bucket,
                                                                     Prefix=uri.key):
            keys.extend(o["Key"] for o in page.get("Contents", ()))
    except Exception as exc:
        raise store_error("list", str(uri), exc) from exc
    parts = sorted(k for k in keys if k.lower().endswith((".parquet", ".pq"))
                   and not k.rsplit("/", 1)[-1].startswith(("_", ".")))
    if not parts:
        raise DataError(f"{shown(str(uri))} holds no Parquet objects (*.parquet).")
    return parts


@contextmanager
def fetched(uri: str, client: Any = None) -> Iterator[Path]:
    """A batch at ``uri`` (an object, or a prefix ending with ``/`` of Parquet parts) as a
    local file (or folder) in a temporary folder, removed when the block ends."""
    where = ObjectUri.parse(uri)
    if where.key and not where.key.endswith("/") and \
            Path(where.name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise DataError(f"Object {shown(uri)} has unsupported type "
                        f"{Path(where.name).suffix or '(none)'!r}; expected one of "
                        f"{', '.join(SUPPORTED_SUFFIXES)}, or a prefix ending with / of "
                        "Parquet objects.")
    client = client or s3_client()
    keys = _batch_keys(client, where)
    with tempfile.TemporaryDirectory(prefix="churnmon-s3-") as tmp:
        if len(keys) == 1 and keys[0] == where.key:
            local = Path(tmp) / where.name
            download(client, where.bucket, where.key, local)
        else:
            local = Path(tmp) / (where.name or where.bucket)
            local.mkdir()
            for n, key in enumerate(keys):
                download(client, where.bucket, key,
                         local / f"part-{n:05d}{Path(key).suffix.lower()}")
        logger.info("Fetched %s (%d object(s)) into a temporary folder", shown(uri), len(keys))
        yield local


def object_source(uri: str, data: DataSettings, batch_id: str | None = None) -> BatchSource:
    """The batch object at ``uri`` as a source (``monitor_performance --batch s3://...``)."""
    return ObjectSource(uri, data, batch_id)


@dataclass
class ObjectSource(BatchSource):
    """One batch object on S3-compatible storage, read from a temporary local copy; the
    batch's source is the URI, its id the object's name without suffix."""

    uri: str
    data: DataSettings
    batch_id: str | None = None

    def read_with(self, data: DataSettings) -> None:
        self.data = data

    def pending(self) -> Iterator[Pending]:
        name = ObjectUri.parse(self.uri).name
        with fetched(self.uri) as local:
            def load() -> Batch:
                try:
                    batch = read_batch_file(local, self.data, batch_id=self.batch_id or
                                            one_line(Path(name).stem))
                except DataError as exc:  # name the object, not the temporary copy
                    raise DataError(str(exc).replace(shown(local), shown(self.uri))) from exc
                return replace(batch, source=self.uri, file_name=name)

            yield Pending(name, load)
