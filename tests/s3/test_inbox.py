"""The inbox on object storage, against moto's S3 server: claims by conditional write, stale
claims taken over, archive / refuse / release, two claimants at once (no MLflow here)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.config import DataSettings
from pipelines.data.inbox import archive_name
from pipelines.data.objects import ObjectUri, fetched
from pipelines.data.s3_inbox import S3Inbox, S3InboxSource, claim_is_stale
from pipelines.data.sources import inbox_source
from pipelines.errors import ConfigError, DataError
from tests.conftest import PASSTHROUGH_ENV
from tests.s3.conftest import S3

pytestmark = pytest.mark.s3

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("claim", "token", "stale"), [
    ({"token": "x", "expires_at": (T0 + timedelta(seconds=1)).isoformat()}, "y", False),
    ({"token": "x", "expires_at": T0.isoformat()}, "y", True),  # its lease ran out
    ({"token": "lock.3", "expires_at": "2099-01-01T00:00:00+00:00"}, "lock.4", True),
    ({"token": "lock.4", "expires_at": "2099-01-01T00:00:00+00:00"}, "lock.3", False),
    ({"token": "other.3", "expires_at": "2099-01-01T00:00:00+00:00"}, "lock.4", False),
    ({"token": "lock.3"}, "lock.4", True),  # not a marker of this code
])
def test_when_a_claim_is_stale(claim: dict, token: str, stale: bool) -> None:
    assert claim_is_stale(claim, token=token, now=T0) is stale


@pytest.mark.parametrize(("uri", "match"), [
    ("http://bucket/key", "not an s3:// URI"),
    ("s3:///key", "names no bucket"),
])
def test_bad_object_uris_are_refused(uri: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ObjectUri.parse(uri)


def _csv(rows: int, seed: int = 0) -> bytes:
    return ("a,b\n" + "".join(f"{seed + i},{i % 3}\n" for i in range(rows))).encode()


def test_claims_are_exclusive_and_stale_ones_are_taken_over(s3: S3) -> None:
    s3.put("in/x.csv", _csv(3))
    now = [T0]
    a = S3Inbox(s3.uri("in/"), 60, token="lock.1", clock=lambda: now[0])
    b = S3Inbox(s3.uri("in"), 60, token="other", clock=lambda: now[0])
    (item,) = a.pending()
    assert item.name == "x.csv"
    mine = a.claim(item)
    assert mine is not None
    assert b.claim(item) is None  # If-None-Match: * refused the second claim
    ((name, marker),) = a.claims()
    assert (name, marker["token"], marker["object"]) == ("x.csv", "lock.1", "in/x.csv")
    now[0] = T0 + timedelta(seconds=61)  # a's lease ran out: b takes the claim over
    theirs = b.claim(item)
    assert theirs is not None
    assert a.holds(mine) is False
    assert b.holds(theirs)
    with pytest.raises(DataError, match="taken over by another orchestrator"):
        a.complete(mine)  # the fence: a never archives what it no longer holds
    assert s3.keys("in/done/") == []
    # the next holder of the orchestrator lock takes an older epoch's claim over at once
    c = S3Inbox(s3.uri("in/"), 60, token="lock.2", clock=lambda: now[0])
    b.release(theirs)
    first = a.claim(item)
    assert first is not None
    assert c.claim(item) is not None
    assert not a.holds(first)
    # an object archived by another claimant after the listing is not claimed again
    s3.client.delete_object(Bucket=s3.bucket, Key="in/x.csv")
    s3.client.delete_object(Bucket=s3.bucket, Key="in/.claims/x.csv.claim")
    assert b.claim(item) is None
    assert s3.keys("in/.claims/") == []


def test_the_source_archives_refuses_and_releases(s3: S3) -> None:
    for name, body in (("a.csv", _csv(5)), ("b.csv", _csv(5, 100)), ("c.csv", _csv(5, 200)),
                       ("notes.txt", b"not a batch"), ("sub/d.csv", _csv(2))):
        s3.put(f"in/{name}", body)
        time.sleep(0.01)
    source = inbox_source(s3.uri("in/"), DataSettings())
    assert isinstance(source, S3InboxSource)
    source.hold("lock.7")
    seen, copies = {}, []
    for pending in source.pending():
        seen[pending.name] = pending
        copies.append(pending.handle.local)
        batch = pending.load()
        assert batch.source == s3.uri(f"in/{pending.name}")
        assert batch.file_name == pending.name
        assert batch.digest == pending.digest
        assert len(batch.frame) == 5
        # while claimed, its marker carries the lock's epoch
        assert dict(source.inbox.claims())[pending.name]["token"] == "lock.7"
        outcome = {"a.csv": "monitored", "b.csv": "refused", "c.csv": "failed"}[pending.name]
        source.settle(pending, outcome, "a reason a user can act on")
    assert list(seen) == ["a.csv", "b.csv", "c.csv"]  # oldest first; subfolders and .txt not
    done = archive_name("a.csv", seen["a.csv"].digest)
    rejected = archive_name("b.csv", seen["b.csv"].digest)
    assert s3.keys("in/done/") == [f"in/done/{done}"]
    assert re.fullmatch(r"a\.[0-9a-f]{16}\.csv", done)
    assert s3.keys("in/rejected/") == [f"in/rejected/{rejected}",
                                       f"in/rejected/{rejected}.reason.txt"]
    assert source.inbox.reason(f"in/rejected/{rejected}") == (
        "file: b.csv\nreason: a reason a user can act on\n")
    assert [o.name for o in source.inbox.pending()] == ["c.csv"]  # failed: back, unclaimed
    assert s3.keys("in/.claims/") == []
    assert not any(p.exists() for p in copies)  # nothing downloaded is left behind
    # a batch replaced while it was processed: the new object stays, to be processed
    (pending,) = source.pending()
    s3.put("in/c.csv", _csv(7, 300))
    source.settle(pending, "monitored")
    (again,) = source.pending()
    assert len(again.load().frame) == 7
    source.settle(again, "duplicate")
    assert [k.rsplit("/", 1)[-1].split(".")[0] for k in s3.keys("in/done/")] == ["a", "c", "c"]
    # a bad object is refused naming the object, not a temporary copy
    s3.put("in/broken.parquet", b"PAR1 not parquet")
    (bad,) = source.pending()
    with pytest.raises(DataError, match=re.escape(s3.uri("in/broken.parquet"))):
        bad.load()
    source.settle(bad, "refused", "unreadable")
    assert len(s3.keys("in/rejected/")) == 4


def test_fetched_reads_an_object_or_a_prefix_of_parts(s3: S3) -> None:
    s3.put("b/one.csv", _csv(4))
    with fetched(s3.uri("b/one.csv")) as local:
        assert local.name == "one.csv"
        assert local.read_bytes() == _csv(4)
    assert not local.exists()
    with pytest.raises(DataError, match="does not exist"):
        with fetched(s3.uri("b/missing.csv")):
            pass
    with pytest.raises(DataError, match="unsupported type"):
        with fetched(s3.uri("b/one.txt")):
            pass
    s3.put("b/parts/part-0.parquet", b"x")
    s3.put("b/parts/_SUCCESS", b"")
    with fetched(s3.uri("b/parts/")) as folder:
        assert [p.name for p in folder.iterdir()] == ["part-00000.parquet"]


CLAIMANT = """
import json, sys, time
from pipelines.config import DataSettings
from pipelines.data.s3_inbox import S3InboxSource
uri, start, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
time.sleep(max(0.0, start - time.time()))
source, mine = S3InboxSource(uri, DataSettings()), []
for _ in range(3):  # a few passes, as cycles would
    for pending in source.pending():
        mine.append(pending.name)
        time.sleep(0.02)  # "monitoring"
        source.settle(pending, "monitored")
open(out, "w").write(json.dumps(mine))
"""


@pytest.mark.subprocess
def test_two_claimants_at_once_process_every_object_once(s3: S3, tmp_path: Path) -> None:
    """Two processes work one inbox at the same moment, with no lock between them: the
    conditional claim alone gives every object to exactly one."""
    names = [f"b{i:02d}.csv" for i in range(24)]
    for i, name in enumerate(names):
        s3.put(f"in/{name}", _csv(3, i))
    env = {"PATH": "/usr/bin:/bin", **PASSTHROUGH_ENV, **s3.env}
    start = time.time() + 3  # both interpreters up, then off together
    outs = [tmp_path / f"claimant{i}.json" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMANT, s3.uri("in/"), str(start),
                               str(out)], env=env, stderr=subprocess.PIPE, text=True)
             for out in outs]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    got = [json.loads(out.read_text()) for out in outs]
    assert sorted(got[0] + got[1]) == names  # every object once: none twice, none lost
    assert got[0], got  # both took part
    assert got[1], got
    assert len(s3.keys("in/done/")) == len(names)
    assert s3.keys("in/.claims/") == []
    assert [k for k in s3.keys("in/") if k.count("/") == 1] == []
