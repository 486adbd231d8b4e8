"""An inbox folder of batch files, each processed exactly once.

A batch is claimed by an atomic rename into ``.processing/``; after monitoring it moves to
``done/``; a refused batch (bad data) moves to ``rejected/`` with a ``.reason.txt`` beside it;
a batch whose processing failed for another reason goes back to the inbox to be retried. The
file's SHA-256 is tagged on its monitoring run, so the same content is never processed twice,
even from a fresh working directory pointed at the same tracking server.

Archived names are bounded (:func:`archive_name`: a shortened stem, a digest prefix, the
suffix), so any legal name can be archived and given a reason file. A file that cannot be
settled all the same (moved, archived, its reason written) is set aside in ``failed/`` under
its digest with a reason naming it (:meth:`Inbox.set_aside`): one bad file never blocks the
files behind it. A symbolic link is refused (it can point anywhere) and removed; its target is
not touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.data.io import SUPPORTED_SUFFIXES, atomic_write_text, shown

logger = logging.getLogger(__name__)

#: Longest archived name in bytes: NAME_MAX (255) less ``.reason.txt`` and what
#: :func:`~pipelines.data.io.atomic_write` adds for its temporary file, with room to spare.
MAX_NAME_BYTES = 200
_MAX_SUFFIX_BYTES = 16


def archive_name(name: str, digest: str) -> str:
    """``<stem>.<16 hex of digest><suffix>``, the stem shortened (whole characters) so the
    name stays within :data:`MAX_NAME_BYTES` bytes however long ``name`` is."""
    suffix = _suffix(name)
    tail = f".{digest[:16]}{suffix}"
    room = MAX_NAME_BYTES - len(os.fsencode(tail))
    stem = name[:len(name) - len(suffix)]
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem + tail


def _suffix(name: str) -> str:
    suffix = Path(name).suffix
    return suffix if len(os.fsencode(suffix)) <= _MAX_SUFFIX_BYTES else ""


def name_digest(name: str) -> str:
    """A digest of a name (for a file whose content cannot be read)."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()


@dataclass(frozen=True)
class Inbox:
    root: Path

    @property
    def processing(self) -> Path:
        return self.root / ".processing"

    @property
    def done(self) -> Path:
        return self.root / "done"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def failed(self) -> Path:
        """Files that could not be settled (archived, rejected, put back), set aside."""
        return self.root / "failed"

    def ensure(self) -> None:
        for folder in (self.root, self.processing, self.done, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)

    def pending(self) -> list[Path]:
        """Batch files waiting in the inbox, oldest first (modification time, then name).
        Symbolic links are listed too (not followed), to be refused."""
        if not self.root.is_dir():
            return []
        files = []
        for p in self.root.iterdir():
            if p.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            try:
                if p.is_symlink() or p.is_file():
                    files.append((p.lstat().st_mtime, p.name, p))
            except OSError:  # gone meanwhile, or unreadable: not ours to list
                continue
        return [p for *_, p in sorted(files)]

    def claim(self, path: Path) -> Path | None:
        """Move ``path`` into ``.processing/``; None if another process claimed it first."""
        self.ensure()
        target = self.processing / path.name
        try:
            path.rename(target)
        except FileNotFoundError:
            return None
        return target

    def _move(self, path: Path, folder: Path, *, archive: bool = False,
              digest: str | None = None) -> Path:
        """Move ``path`` into ``folder``. Archived files (done/, rejected/) carry their content
        digest in the name (:func:`archive_name`), so two files dropped under one name never
        overwrite each other; the same content archived twice is one file (the second copy
        is dropped, its monitoring run says duplicate)."""
        folder.mkdir(parents=True, exist_ok=True)
        if archive:
            target = folder / archive_name(path.name, digest or file_digest(path))
            if target.exists():
                path.unlink()
                return target
        else:
            target = folder / path.name
            if target.exists():  # a new file of that name arrived meanwhile: keep both
                target = folder / archive_name(path.name, file_digest(path))
        shutil.move(str(path), target)
        return target

    def complete(self, path: Path, digest: str | None = None) -> Path:
        """Archive a processed file in ``done/`` (``digest``: its SHA-256, if known)."""
        return self._move(path, self.done, archive=True, digest=digest)

    def reject(self, path: Path, reason: str, digest: str | None = None,
               name: str | None = None) -> Path:
        """Archive a refused file in ``rejected/`` with ``<archived name>.reason.txt``, which
        names the file as it arrived (``name``, default ``path``'s). A symbolic link is
        removed instead (its target is not touched): only the reason file is written."""
        original = name or path.name
        text = f"file: {shown(original)}\nreason: {reason}\n"
        if path.is_symlink():
            self.rejected.mkdir(parents=True, exist_ok=True)
            moved = self.rejected / archive_name(path.name, digest or name_digest(path.name))
            path.unlink()
        else:
            moved = self._move(path, self.rejected, archive=True, digest=digest)
        atomic_write_text(moved.with_name(moved.name + ".reason.txt"), text)
        return moved

    def release(self, path: Path) -> Path:
        """Put a batch whose processing failed back into the inbox, to be retried."""
        return self._move(path, self.root)

    def set_aside(self, path: Path, reason: str, *, digest: str | None = None,
                  name: str | None = None) -> Path:
        """Move ``path`` to ``failed/<digest><suffix>`` (never over another file there) and
        write ``<that>.reason.txt`` naming the file as it arrived: the last resort when
        settling it failed. Returns that path (if ``path`` was gone already, only the reason
        file is written)."""
        original = name or path.name
        key, suffix = digest or name_digest(original), _suffix(original)
        self.failed.mkdir(parents=True, exist_ok=True)
        target, n = self.failed / f"{key}{suffix}", 1
        while target.exists() or target.is_symlink():
            target, n = self.failed / f"{key}.{n}{suffix}", n + 1
        if path.exists() or path.is_symlink():
            shutil.move(str(path), target)
        atomic_write_text(target.with_name(target.name + ".reason.txt"),
                          f"file: {shown(original)}\nreason: {reason}\n")
        return target

    def recover(self) -> list[Path]:
        """Batches left in ``.processing/`` by a crashed run go back to the inbox.

        Only call while holding the orchestrator lock: then nobody else is processing.
        """
        if not self.processing.is_dir():
            return []
        back = []
        for p in sorted(self.processing.iterdir()):
            if not (p.is_symlink() or p.is_file()):
                continue
            try:
                back.append(self.release(p))
            except OSError as exc:
                logger.error("Could not put %s back into the inbox (%s); it stays in %s",
                             shown(p.name), exc, shown(self.processing))
                continue
            logger.warning("Recovered batch %s left in processing by an interrupted run",
                           shown(back[-1]))
        return back


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
