"""An inbox folder of batch files, each processed exactly once.

A batch is claimed by an atomic rename into ``.processing/``; after monitoring it moves to
``done/``; a refused batch (bad data) moves to ``rejected/`` with a ``.reason.txt`` beside it;
a batch whose processing failed for another reason goes back to the inbox to be retried. The
file's SHA-256 is tagged on its monitoring run, so the same content is never processed twice,
even from a fresh working directory pointed at the same tracking server.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.data.io import SUPPORTED_SUFFIXES, atomic_write_text

logger = logging.getLogger(__name__)


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

    def ensure(self) -> None:
        for folder in (self.root, self.processing, self.done, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)

    def pending(self) -> list[Path]:
        """Batch files waiting in the inbox, oldest first (modification time, then name)."""
        if not self.root.is_dir():
            return []
        files = [p for p in self.root.iterdir()
                 if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES]
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

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
        digest in the name, so two files dropped under one name never overwrite each other;
        the same content archived twice is one file (the second copy is dropped, its
        monitoring run says duplicate)."""
        folder.mkdir(parents=True, exist_ok=True)
        if archive:
            target = folder / f"{path.stem}.{(digest or file_digest(path))[:16]}{path.suffix}"
            if target.exists():
                path.unlink()
                return target
        else:
            target = folder / path.name
            if target.exists():  # a new file of that name arrived meanwhile: keep both
                target = folder / f"{path.stem}.{file_digest(path)[:16]}{path.suffix}"
        shutil.move(str(path), target)
        return target

    def complete(self, path: Path, digest: str | None = None) -> Path:
        """Archive a processed file in ``done/`` (``digest``: its SHA-256, if known)."""
        return self._move(path, self.done, archive=True, digest=digest)

    def reject(self, path: Path, reason: str, digest: str | None = None) -> Path:
        moved = self._move(path, self.rejected, archive=True, digest=digest)
        atomic_write_text(moved.with_name(moved.name + ".reason.txt"), reason + "\n")
        return moved

    def release(self, path: Path) -> Path:
        """Put a batch whose processing failed back into the inbox, to be retried."""
        return self._move(path, self.root)

    def recover(self) -> list[Path]:
        """Batches left in ``.processing/`` by a crashed run go back to the inbox.

        Only call while holding the orchestrator lock: then nobody else is processing.
        """
        if not self.processing.is_dir():
            return []
        back = [self.release(p) for p in sorted(self.processing.iterdir()) if p.is_file()]
        for p in back:
            logger.warning("Recovered batch %s left in processing by an interrupted run", p)
        return back


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
