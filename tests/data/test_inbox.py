"""The inbox's files on a real folder: bounded archive names, a file that cannot be settled set
aside, symbolic links refused, names escaped in log lines (issue 19, section 3)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from pipelines.config import DataSettings
from pipelines.data.inbox import Inbox, file_digest
from pipelines.data.sources import InboxSource
from pipelines.errors import DataError

LONG = "x" * 240 + ".csv"  # 244 characters: legal (NAME_MAX 255)
DIGEST = "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("b.csv", "b.0123456789abcdef.csv"),
        (LONG, "x" * 179 + ".0123456789abcdef.csv"),  # 200 bytes
        ("é" * 150 + ".parquet", "é" * 87 + ".0123456789abcdef.parquet"),  # whole characters
    ],
)
def test_archive_names_are_bounded(name: str, expected: str) -> None:
    from pipelines.data.inbox import archive_name

    archived = archive_name(name, DIGEST)
    assert archived == expected
    assert len(os.fsencode(archived + ".reason.txt")) < 255


def _batch(folder: Path, name: str, text: str = "a,b\n1,2\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_a_244_character_name_is_archived(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox")
    claimed = inbox.claim(_batch(inbox.root, LONG))
    archived = inbox.complete(claimed)
    assert archived.parent == inbox.done
    assert archived.read_text() == "a,b\n1,2\n"
    assert archived.name.startswith("xxx")
    assert archived.name.endswith(".csv")


def test_a_refused_220_character_name_gets_its_reason_with_the_full_name(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox")
    name = "r" * 216 + ".csv"
    claimed = inbox.claim(_batch(inbox.root, name))
    moved = inbox.reject(claimed, "column 'churn' missing")
    reason = moved.with_name(moved.name + ".reason.txt").read_text()
    assert f"file: {name}\n" in reason
    assert "column 'churn' missing" in reason


def test_a_released_long_name_meeting_a_new_file_of_that_name_keeps_both(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox")
    claimed = inbox.claim(_batch(inbox.root, LONG, "a\n1\n"))
    _batch(inbox.root, LONG, "a\n2\n")  # a new file of the same name arrived meanwhile
    back = inbox.release(claimed)
    assert sorted(p.read_text() for p in inbox.root.glob("x*")) == ["a\n1\n", "a\n2\n"]
    assert back.parent == inbox.root


def test_a_file_that_cannot_be_archived_is_set_aside_and_the_next_one_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = InboxSource(tmp_path / "inbox", DataSettings())
    first = _batch(source.root, "first.csv", "a\n1\n")
    os.utime(first, (1, 1))  # oldest
    _batch(source.root, "second.csv", "a\n2\n")
    pending = source.pending()
    one = next(pending)
    (source.root / "done").rmdir()
    (source.root / "done").write_text("not a folder")  # archiving into done/ now fails
    with caplog.at_level(logging.ERROR):
        source.settle(one, "monitored")
    (aside,) = (source.root / "failed").glob("*.csv")
    assert aside.name == f"{one.digest}.csv"
    assert aside.read_text() == "a\n1\n"
    reason = aside.with_name(aside.name + ".reason.txt").read_text()
    assert "file: first.csv" in reason
    assert "monitored" in reason
    assert "set aside" in caplog.text
    (source.root / "done").unlink()
    two = next(pending)  # the next file is still offered and settles normally
    source.settle(two, "monitored")
    assert [p.read_text() for p in (source.root / "done").iterdir()] == ["a\n2\n"]
    assert not list(source.root.joinpath(".processing").iterdir())


def test_a_symlink_is_refused_removed_and_its_target_left_alone(tmp_path: Path) -> None:
    outside = _batch(tmp_path / "elsewhere", "secret.csv", "a,b\n1,2\n")
    source = InboxSource(tmp_path / "inbox", DataSettings())
    source.root.mkdir()
    (source.root / "link.csv").symlink_to(outside)
    (pending,) = source.pending()
    with pytest.raises(DataError, match=r"link\.csv is a symbolic link \(to .*secret\.csv\)"):
        pending.load()
    source.settle(pending, "refused", "symbolic link")
    assert outside.read_text() == "a,b\n1,2\n"  # untouched
    everything = list(source.root.rglob("*"))
    assert not any(p.is_symlink() for p in everything)
    (reason,) = (source.root / "rejected").glob("*.reason.txt")
    assert "file: link.csv" in reason.read_text()


def test_a_broken_symlink_is_refused_too(tmp_path: Path) -> None:
    source = InboxSource(tmp_path / "inbox", DataSettings())
    source.root.mkdir()
    (source.root / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    (pending,) = source.pending()
    with pytest.raises(DataError, match="symbolic link"):
        pending.load()


def test_names_in_log_lines_are_escaped() -> None:
    from pipelines.data.io import shown

    assert shown("b.csv") == "b.csv"
    assert shown("é b.csv") == "é b.csv"
    assert shown("a\nINFO forged.csv") == "'a\\nINFO forged.csv'"
    assert "\n" not in shown(Path("/in/a\rb\n.csv"))


def test_the_digest_of_a_claimed_file_is_its_content(tmp_path: Path) -> None:
    source = InboxSource(tmp_path / "inbox", DataSettings())
    path = _batch(source.root, "b.csv")
    digest = file_digest(path)
    (pending,) = source.pending()
    assert pending.digest == digest


def test_setting_aside_never_overwrites_what_is_already_aside(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox")
    for content in ("a\n1\n", "a\n2\n"):
        claimed = inbox.claim(_batch(inbox.root, "same.csv", content))
        inbox.set_aside(claimed, "archiving failed")  # no digest known: the name's
    assert sorted(p.read_text() for p in inbox.failed.glob("*.csv")) == ["a\n1\n", "a\n2\n"]
    assert len(list(inbox.failed.glob("*.reason.txt"))) == 2
