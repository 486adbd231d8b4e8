"""An inbox on S3-compatible object storage, with the local inbox's guarantees.

Layout under ``s3://<bucket>/<prefix>/`` (``paths.inbox_dir``)::

    <prefix>/<name>.parquet|.csv             batches waiting (direct children only)
    <prefix>/.claims/<name>.claim            the claim of a batch being processed
    <prefix>/done/<archived name>            monitored batches (a duplicate's copy is dropped)
    <prefix>/rejected/<archived name>        refused batches, with <archived name>.reason.txt
    <prefix>/failed/<digest><suffix>         batches that could not be settled, with a reason

Archived names are the local inbox's (:func:`~pipelines.data.inbox.archive_name`: the stem,
16 hex digits of the content's SHA-256, the suffix).

**Claim.** Object stores have no rename, so a batch is claimed by creating its claim marker
with a conditional write (``If-None-Match: *``): of two orchestrators only one creates it,
the other gets 412 and moves on. The marker holds the claimant's lease token (the
orchestrator lock's epoch, ``<lock>.<n>``, when the orchestrator gives it), its host and
process, when it claimed and until when (``expires_at``: the claim's lease), and the ETag of
the object it claimed.

**Stale claims** (the claimant crashed) are taken over with ``If-Match`` on the marker's
ETag, so of two orchestrators taking over the same claim only one wins. A claim is stale when
its lease expired, or, for a claimant that held the orchestrator lock, when its epoch is older
than the current holder's (the lock was taken over, so its holder is dead or lost its lease:
the local inbox's recovery of ``.processing/`` under the lock).

**Settling.** Before a batch is archived the claimant checks its marker is still its own
(the fence); then ``done/`` (or ``rejected/``) gets the content with ``If-None-Match: *``
(the same content archived twice is one object), the batch object is deleted with
``If-Match`` on the ETag that was read (a new object uploaded under the same name meanwhile
stays, to be processed), and the marker is deleted. A failed batch only loses its marker: it
is pending again. A crash anywhere leaves the object with a marker that goes stale; the batch
is then processed again and, its digest being tagged on the monitoring run, found a
duplicate: every batch is monitored exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.config import DataSettings
from pipelines.data.batch import Batch
from pipelines.data.inbox import _suffix, archive_name, name_digest
from pipelines.data.io import SUPPORTED_SUFFIXES, one_line, read_table, shown
from pipelines.data.objects import (
    SCHEME,
    ObjectUri,
    download,
    error_code,
    is_missing,
    is_precondition_failed,
    s3_client,
    store_error,
)
from pipelines.data.sources import BatchSource, Outcome, Pending
from pipelines.errors import DataError

logger = logging.getLogger(__name__)

CLAIMS = ".claims/"
DONE = "done/"
REJECTED = "rejected/"
FAILED = "failed/"
REASON_SUFFIX = ".reason.txt"
#: A claim's lease when none is given: the orchestrator lock's default lease.
DEFAULT_LEASE_SECONDS = 120.0


@dataclass(frozen=True)
class InboxObject:
    """A batch object waiting in the inbox."""

    name: str
    key: str
    etag: str
    modified: datetime


@dataclass
class Claim:
    """A batch claimed by this process: the object, the marker's key and ETag, and once read
    the content's ETag and SHA-256."""

    item: InboxObject
    marker: str
    marker_etag: str
    read_etag: str = ""
    digest: str | None = None
    local: Path | None = None


def _epoch(token: str) -> tuple[str, int] | None:
    """``<lock>.<n>`` as (lock, n); None for a token of another form."""
    lock, _, n = token.rpartition(".")
    return (lock, int(n)) if lock and n.isdigit() else None


def claim_is_stale(claim: dict[str, Any], *, token: str, now: datetime) -> bool:
    """Whether the claim (a marker's JSON) may be taken over by ``token`` at ``now``: its
    lease expired, or it was made under an older epoch of the lock ``token`` holds."""
    try:
        expires = datetime.fromisoformat(str(claim.get("expires_at", "")))
    except ValueError:
        return True  # not a marker this code wrote: nobody will renew it
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if now >= expires:
        return True
    theirs, ours = _epoch(str(claim.get("token", ""))), _epoch(token)
    return theirs is not None and ours is not None and theirs[0] == ours[0] \
        and theirs[1] < ours[1]


@dataclass
class S3Inbox:
    """The inbox at ``uri`` (``s3://bucket/prefix/``). ``token`` is this claimant's lease
    token (a random one until :meth:`hold` gives the orchestrator lock's epoch)."""

    uri: str
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    client: Any = None
    token: str = field(default_factory=lambda: f"claimant-{uuid.uuid4().hex}")
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)

    def __post_init__(self) -> None:
        where = ObjectUri.parse(self.uri)
        self.bucket = where.bucket
        self.prefix = where.key if not where.key or where.key.endswith("/") else where.key + "/"
        if self.client is None:
            self.client = s3_client()

    def hold(self, token: str) -> None:
        """Claim from now on with ``token`` (the orchestrator lock's epoch)."""
        self.token = token

    def _uri(self, key: str) -> str:
        return f"{SCHEME}{self.bucket}/{key}"

    def key(self, folder: str, name: str) -> str:
        return f"{self.prefix}{folder}{name}"

    # ----------------------------------------------------------------------- listing

    def pending(self) -> list[InboxObject]:
        """Batch objects waiting directly under the prefix, oldest first (then by name)."""
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix, Delimiter="/")
            for page in pages:
                for o in page.get("Contents", ()):
                    name = o["Key"][len(self.prefix):]
                    if not name or Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                        continue
                    found.append(InboxObject(name, o["Key"], str(o.get("ETag", "")),
                                             o["LastModified"]))
        except Exception as exc:
            raise store_error("list the inbox", self._uri(self.prefix), exc) from exc
        return sorted(found, key=lambda o: (o.modified, o.name))

    def listed(self, folder: str) -> list[str]:
        """Names of the objects in ``folder`` (``done/``, ``rejected/``, ``failed/``,
        ``.claims/``)."""
        names, prefix = [], self.key(folder, "")
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix):
                names.extend(o["Key"][len(prefix):] for o in page.get("Contents", ()))
        except Exception as exc:
            raise store_error("list", self._uri(prefix), exc) from exc
        return sorted(names)

    # ----------------------------------------------------------------------- claiming

    def _marker_body(self, item: InboxObject) -> bytes:
        now = self.clock()
        return json.dumps({
            "token": self.token, "host": socket.gethostname(), "pid": os.getpid(),
            "claimed_at": now.isoformat(),
            "expires_at": (now + timedelta(seconds=self.lease_seconds)).isoformat(),
            "object": item.key, "etag": item.etag}, indent=1).encode()

    def claim(self, item: InboxObject) -> Claim | None:
        """Claim ``item``; None when another claimant holds it (or it is gone)."""
        marker = self.key(CLAIMS, item.name + ".claim")
        body = self._marker_body(item)
        try:
            etag = self.client.put_object(Bucket=self.bucket, Key=marker, Body=body,
                                          IfNoneMatch="*")["ETag"]
        except Exception as exc:
            if not is_precondition_failed(exc):
                raise store_error("claim", self._uri(item.key), exc) from exc
            etag = self._take_over(item, marker, body)
            if etag is None:
                return None
        claim = Claim(item, marker, etag)
        try:  # processed and archived by another claimant between the listing and the claim
            self.client.head_object(Bucket=self.bucket, Key=item.key)
        except Exception as exc:
            if not is_missing(exc):
                raise store_error("read", self._uri(item.key), exc) from exc
            self.release(claim)
            return None
        return claim

    def _take_over(self, item: InboxObject, marker: str, body: bytes) -> str | None:
        """Replace a stale marker (``If-Match`` on its ETag): the new marker's ETag, or None
        when the claim is live or another claimant took it over first."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=marker)
            held, held_etag = answer["Body"].read(), str(answer["ETag"])
        except Exception as exc:
            if is_missing(exc):  # released meanwhile: the next cycle gets it
                return None
            raise store_error("read the claim", self._uri(marker), exc) from exc
        try:
            current = json.loads(held)
        except ValueError:
            current = {}
        if not claim_is_stale(current, token=self.token, now=self.clock()):
            return None
        try:
            etag = str(self.client.put_object(Bucket=self.bucket, Key=marker, Body=body,
                                              IfMatch=held_etag)["ETag"])
        except Exception as exc:
            if is_precondition_failed(exc) or is_missing(exc):
                return None
            raise store_error("take over the claim", self._uri(marker), exc) from exc
        logger.warning("Took over the stale claim of %s (held by %s since %s)",
                       shown(item.name), shown(str(current.get("token", "?"))),
                       current.get("claimed_at", "?"))
        return etag

    def holds(self, claim: Claim) -> bool:
        """Whether ``claim``'s marker is still this claimant's (nobody took it over)."""
        try:
            answer = self.client.head_object(Bucket=self.bucket, Key=claim.marker)
        except Exception as exc:
            if is_missing(exc):
                return False
            raise store_error("read the claim", self._uri(claim.marker), exc) from exc
        return str(answer.get("ETag", "")) == claim.marker_etag

    def fetch(self, claim: Claim, folder: Path) -> Path:
        """Download the claimed object into ``folder``; records its ETag and SHA-256."""
        local = folder / f"churnmon-s3-{uuid.uuid4().hex}{_suffix(claim.item.name)}"
        claim.digest, claim.read_etag = download(self.client, self.bucket, claim.item.key,
                                                 local)
        claim.local = local
        return local

    # ----------------------------------------------------------------------- settling

    def _put_new(self, key: str, body: Any) -> bool:
        """Create ``key`` unless it exists (``If-None-Match: *``); False when it did."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except Exception as exc:
            if is_precondition_failed(exc):
                return False
            raise store_error("write", self._uri(key), exc) from exc
        return True

    def _archive(self, claim: Claim, folder: str) -> str:
        """Put the claimed content into ``folder`` under its archived name (once: an existing
        copy is the same content); returns that key."""
        digest = claim.digest or name_digest(claim.item.name)
        key = self.key(folder, archive_name(claim.item.name, digest))
        if claim.local is not None and claim.local.exists():
            with claim.local.open("rb") as fh:
                self._put_new(key, fh)
        else:  # never read (unreadable): a server-side copy, or a placeholder
            try:
                self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={
                    "Bucket": self.bucket, "Key": claim.item.key})
            except Exception as exc:
                if not is_missing(exc):
                    raise store_error("archive", self._uri(claim.item.key), exc) from exc
        return key

    def _remove(self, claim: Claim) -> None:
        """Delete the batch object (only the version that was read) and the marker."""
        etag = claim.read_etag or claim.item.etag
        try:
            self.client.delete_object(Bucket=self.bucket, Key=claim.item.key, IfMatch=etag)
        except Exception as exc:
            if is_precondition_failed(exc):
                logger.warning("%s was replaced while it was processed: the new object "
                               "stays in the inbox", shown(claim.item.name))
            elif not is_missing(exc):
                raise store_error("delete", self._uri(claim.item.key), exc) from exc
        self.release(claim)

    def _fence(self, claim: Claim) -> None:
        if not self.holds(claim):
            raise DataError(f"the claim of {shown(claim.item.name)} was taken over by another "
                            "orchestrator (this one outlived its lease): left to it")

    def complete(self, claim: Claim) -> str:
        """Archive a monitored (or duplicate) batch in ``done/``; returns the archived key."""
        self._fence(claim)
        key = self._archive(claim, DONE)
        self._remove(claim)
        return key

    def reject(self, claim: Claim, reason: str, name: str | None = None) -> str:
        """Archive a refused batch in ``rejected/`` with ``<archived name>.reason.txt``."""
        self._fence(claim)
        key = self._archive(claim, REJECTED)
        text = f"file: {shown(name or claim.item.name)}\nreason: {reason}\n"
        self._put_new(key + REASON_SUFFIX, text.encode())
        self._remove(claim)
        return key

    def set_aside(self, claim: Claim, reason: str, name: str | None = None) -> str:
        """Move a batch that could not be settled to ``failed/<digest><suffix>`` (never over
        another object there) with a reason file; the last resort."""
        original = name or claim.item.name
        base, suffix = claim.digest or name_digest(original), _suffix(original)
        text = f"file: {shown(original)}\nreason: {reason}\n".encode()
        for n in range(1000):
            key = self.key(FAILED, f"{base}{f'.{n}' if n else ''}{suffix}")
            if self._put_new(key + REASON_SUFFIX, text):
                break
        try:
            self.client.copy_object(Bucket=self.bucket, Key=key,
                                    CopySource={"Bucket": self.bucket, "Key": claim.item.key})
        except Exception as exc:
            if not is_missing(exc):
                raise store_error("set aside", self._uri(claim.item.key), exc) from exc
        self._remove(claim)
        return key

    def release(self, claim: Claim) -> None:
        """Give the claim up (the batch is pending again): delete the marker if still ours."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=claim.marker,
                                      IfMatch=claim.marker_etag)
        except Exception as exc:
            if is_precondition_failed(exc) or is_missing(exc):
                return
            raise store_error("release the claim", self._uri(claim.marker), exc) from exc

    def reason(self, key: str) -> str:
        """The text of ``<key>.reason.txt`` (for tests and tools)."""
        try:
            return self.client.get_object(Bucket=self.bucket,
                                          Key=key + REASON_SUFFIX)["Body"].read().decode()
        except Exception as exc:
            raise store_error("read", self._uri(key + REASON_SUFFIX), exc) from exc

    def claims(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """The markers present, as (batch name, marker JSON)."""
        for name in self.listed(CLAIMS):
            try:
                body = self.client.get_object(Bucket=self.bucket,
                                              Key=self.key(CLAIMS, name))["Body"].read()
            except Exception as exc:
                if is_missing(exc):
                    continue
                raise store_error("read", self._uri(self.key(CLAIMS, name)), exc) from exc
            yield name.removesuffix(".claim"), json.loads(body)


def describe(exc: BaseException) -> str:
    """One line for a log: the S3 error code when there is one."""
    code = error_code(exc)
    return one_line(f"{type(exc).__name__}{f' ({code})' if code else ''}: {exc}")


@dataclass
class S3InboxSource(BatchSource):
    """Every batch object of an inbox on object storage, each exactly once (see
    :class:`S3Inbox`): claimed by a conditional write, downloaded once into a temporary
    folder (its SHA-256 computed on the way), then archived in ``done/``, refused to
    ``rejected/`` with the reason, or released to be retried; ``failed/`` when settling fails.
    """

    uri: str
    data: DataSettings
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    client: Any = None
    inbox: S3Inbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = S3Inbox(self.uri, self.lease_seconds, self.client)

    def read_with(self, data: DataSettings) -> None:
        self.data = data

    def hold(self, token: str) -> None:
        self.inbox.hold(token)

    def pending(self) -> Iterator[Pending]:
        folder = Path(tempfile.gettempdir())  # each copy removed when its batch is settled
        for item in self.inbox.pending():
            claim = self.inbox.claim(item)
            if claim is None:
                continue
            try:
                self.inbox.fetch(claim, folder)
            except DataError:  # gone meanwhile (archived by another claimant)
                self.inbox.release(claim)
                continue
            except Exception as exc:  # the store failed mid-read: retried next cycle
                yield Pending(item.name, _raise(exc), handle=claim)
                continue
            yield Pending(item.name, lambda c=claim: self._read(c), digest=claim.digest,
                          handle=claim)

    def _read(self, claim: Claim) -> Batch:
        assert claim.local is not None
        uri = self.inbox._uri(claim.item.key)
        try:
            frame = read_table(claim.local, parse_dates=tuple(
                c for c in (self.data.timestamp_column,) if c))
        except DataError as exc:  # name the object, not the temporary copy
            raise DataError(str(exc).replace(shown(claim.local), shown(uri))) from exc
        return Batch(frame=frame, batch_id=one_line(Path(claim.item.name).stem), source=uri,
                     digest=claim.digest, file_name=claim.item.name)

    def settle(self, pending: Pending, outcome: Outcome, reason: str = "") -> None:
        """Archive, reject or release the claimed object. A claim taken over meanwhile is
        left alone; whatever else fails on the way sets the object aside in ``failed/`` with
        a reason, one log line, and the cycle goes on."""
        claim = pending.handle
        assert isinstance(claim, Claim)
        name = shown(pending.name)
        try:
            if not self.inbox.holds(claim):
                logger.error("Batch %s: its claim was taken over by another orchestrator "
                             "(this cycle outlived the claim's lease); left to it", name)
                return
            if outcome == "refused":
                logger.info("Batch %s moved to %s", name, shown(self.inbox._uri(
                    self.inbox.reject(claim, reason, name=pending.name))))
            elif outcome == "failed":
                self.inbox.release(claim)
                logger.info("Batch %s left in the inbox to retry", name)
            else:
                self.inbox.complete(claim)
        except Exception as exc:  # any failure to settle one object: set it aside, go on
            why = one_line(f"{outcome}{f' ({reason})' if reason else ''}; then settling it "
                           f"failed: {describe(exc)}")
            try:
                aside = self.inbox.set_aside(claim, why, name=pending.name)
            except Exception as again:
                logger.error("Batch %s (%s) could not be set aside either: %s; its claim "
                             "goes stale and it is processed again", name, why,
                             describe(again))
                return
            logger.error("Batch %s set aside in %s: %s", name,
                         shown(self.inbox._uri(aside)), why)
        finally:
            if claim.local is not None:
                claim.local.unlink(missing_ok=True)


def _raise(exc: BaseException) -> Callable[[], Batch]:
    def load() -> Batch:
        raise exc
    return load
