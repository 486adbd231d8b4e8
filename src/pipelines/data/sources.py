"""Where data come from: training data (the user's file or the demo generator) and production
batches, through one :class:`BatchSource` per origin.

A source offers :class:`Pending` batches (loaded lazily, so a file that cannot be read is
refused like any bad batch) and is told how each one ended (:meth:`BatchSource.settle`):
monitored, refused, failed or a duplicate. Today: one file (:class:`FileSource`), an inbox
folder processed exactly once (:class:`InboxSource`), the demo generator in memory
(:class:`SimulatedSource`); a Spark table is the next one. The monitor's command line and
the orchestrator both take a source (``workflows.monitor.monitor_source``,
``workflows.orchestrate.run_cycle``).
"""

from __future__ import annotations

import logging
import os
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from pipelines.config import DataSettings, Settings
from pipelines.data.batch import Batch
from pipelines.data.inbox import Inbox, file_digest, name_digest
from pipelines.data.io import one_line, read_table, shown, write_table
from pipelines.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

Outcome = Literal["monitored", "refused", "failed", "duplicate"]


def demo_task(data: DataSettings) -> str:
    """The demo generator's task for these data settings: ``data.problem_type``. For a
    regression or multiclass demo the configured target must be the generator's target
    column for that type (a ConfigError says what to set); the binary demo is left as it is."""
    from pipelines.data.generator import TASK_TARGETS

    task = data.problem_type
    expected = TASK_TARGETS[task]
    if task != "binary" and data.target != expected:
        own = "" if data.path else ", or set data.path to your own data"
        raise ConfigError(
            f"data.problem_type = {task} with the demo generator: set data.target = {expected} "
            f"(it is {data.target!r}; examples/{task}.toml has the demo's settings){own}.")
    return task


def load_training_data(data: DataSettings) -> tuple[pd.DataFrame, str]:
    """The training frame and a description of its source (file path or generator call)."""
    if data.path:
        return read_table(data.path, parse_dates=_dates(data)), str(data.path)
    from pipelines.data.generator import generate_reference

    task = demo_task(data)
    frame = generate_reference(data.demo_rows, seed=data.seed, task=task)
    kind = "" if task == "binary" else f"task={task},"
    return frame, f"generated:churn-demo({kind}rows={data.demo_rows},seed={data.seed})"


def _dates(data: DataSettings) -> tuple[str, ...]:
    return tuple(c for c in (data.timestamp_column,) if c)


def read_batch_file(path: str | Path, data: DataSettings, *, batch_id: str | None = None,
                    digest: str | None = None) -> Batch:
    """A batch file (CSV or Parquet) as a :class:`Batch`; its id defaults to the file name's
    stem (control characters escaped: it names runs and log lines), its digest (SHA-256 of
    the content, what identifies it for exactly-once processing and retraining) is computed
    unless given."""
    p = Path(path)
    frame = read_table(p, parse_dates=_dates(data))
    return Batch(frame=frame, batch_id=batch_id or one_line(p.stem), source=str(p),
                 digest=digest or file_digest(p), file_name=p.name)


@dataclass
class Pending:
    """A batch offered by a source: its name, content digest if known, and how to load it."""

    name: str
    load: Callable[[], Batch]
    digest: str | None = None
    handle: object = None


class BatchSource(ABC):
    """An origin of production batches."""

    @abstractmethod
    def pending(self) -> Iterator[Pending]:
        """The batches to process now, oldest first (claimed: no other process gets them)."""

    def settle(self, pending: Pending, outcome: Outcome, reason: str = "") -> None:  # noqa: B027
        """Told how ``pending`` ended; the default keeps nothing."""

    def read_with(self, data: DataSettings) -> None:  # noqa: B027
        """Told, before :meth:`pending`, the data settings the batches are read with (the
        configured ones completed with what the model's family remembers, such as its
        timestamp column); a source that reads no files keeps nothing."""

    def begin(self, latest_time: pd.Timestamp | None) -> None:  # noqa: B027
        """Told, before :meth:`pending`, the data time of the newest batch monitored so far
        (None: none yet); a source that makes batches up continues from there."""

    def hold(self, token: str) -> None:  # noqa: B027
        """Told, before :meth:`pending`, the lease token of the orchestrator lock the caller
        holds (its epoch); a source shared between orchestrators claims with it."""


@dataclass
class FileSource(BatchSource):
    """One batch file given on the command line."""

    path: Path
    data: DataSettings
    batch_id: str | None = None

    def read_with(self, data: DataSettings) -> None:
        self.data = data

    def pending(self) -> Iterator[Pending]:
        yield Pending(self.path.name, lambda: read_batch_file(self.path, self.data,
                                                              batch_id=self.batch_id))


@dataclass
class InboxSource(BatchSource):
    """Every file in an inbox folder, each exactly once (see :class:`~pipelines.data.inbox.Inbox`).

    Claim by atomic rename; afterwards ``done/``, ``rejected/`` (with the reason) or back to
    the inbox to be retried; ``failed/`` when that fails. Symbolic links and unreadable files
    are refused without being read. Call only while holding the orchestrator lock: recovery
    of files left in ``.processing/`` by a crashed run assumes nobody else is processing.
    """

    root: Path
    data: DataSettings
    inbox: Inbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = Inbox(self.root)

    def read_with(self, data: DataSettings) -> None:
        self.data = data

    def pending(self) -> Iterator[Pending]:
        self.inbox.recover()
        for path in self.inbox.pending():
            claimed = self.inbox.claim(path)
            if claimed is None:
                continue
            refusal, digest = _unreadable(claimed)
            if refusal is not None:
                yield Pending(path.name, _refuse(refusal), digest=digest, handle=claimed)
                continue
            yield Pending(path.name, lambda c=claimed, d=digest: read_batch_file(
                c, self.data, digest=d), digest=digest, handle=claimed)

    def settle(self, pending: Pending, outcome: Outcome, reason: str = "") -> None:
        """Archive, reject or put back the claimed file. Whatever fails on the way (a name the
        file system refuses, a full disk, a permission) sets the file aside in ``failed/``
        with a reason, one log line, and the cycle goes on: the batch's verdict is in MLflow
        already, and its digest keeps it from being monitored twice if it comes back."""
        claimed = pending.handle
        assert isinstance(claimed, Path)
        name = shown(pending.name)
        try:
            if outcome == "refused":
                logger.info("Batch %s moved to %s", name, shown(self.inbox.reject(
                    claimed, reason, pending.digest, name=pending.name)))
            elif outcome == "failed":
                self.inbox.release(claimed)
                logger.info("Batch %s left in the inbox to retry", name)
            else:
                self.inbox.complete(claimed, pending.digest)
        except Exception as exc:  # any failure to settle one file: set it aside, go on
            why = one_line(f"{outcome}{f' ({reason})' if reason else ''}; then settling it "
                           f"failed: {type(exc).__name__}: {exc}")
            try:
                aside = self.inbox.set_aside(claimed, why, digest=pending.digest,
                                             name=pending.name)
            except Exception as again:
                logger.error("Batch %s (%s) could not be set aside either: %s: %s; it stays "
                             "in %s", name, why, type(again).__name__, again,
                             shown(self.inbox.processing))
                return
            logger.error("Batch %s set aside in %s: %s", name, shown(aside), why)


def inbox_source(location: str | Path, data: DataSettings, *,
                 lease_seconds: float = 120.0) -> BatchSource:
    """The inbox at ``location`` (``paths.inbox_dir``): a local folder
    (:class:`InboxSource`), or ``s3://bucket/prefix/`` on S3-compatible object storage
    (:class:`~pipelines.data.s3_inbox.S3InboxSource`, claims leased for ``lease_seconds``)."""
    if str(location).startswith("s3://"):
        from pipelines.data.s3_inbox import S3InboxSource

        return S3InboxSource(str(location), data, lease_seconds=lease_seconds)
    return InboxSource(Path(location), data)


def _unreadable(path: Path) -> tuple[str | None, str | None]:
    """Why a claimed file is refused before reading (a symbolic link, unreadable), and its
    digest: the content's, or for a link or an unreadable file one of its name and target."""
    if path.is_symlink():
        target = shown(os.readlink(path))
        return (f"{shown(path.name)} is a symbolic link (to {target}): refused, the link is "
                "removed and its target left alone. A link can point anywhere, and the "
                "archive would keep a pointer, not the data: copy the file into the inbox "
                "instead.", name_digest(f"symlink:{path.name}->{target}"))
    try:
        return None, file_digest(path)
    except OSError as exc:
        return (f"{shown(path.name)} could not be read: {exc.strerror or exc}",
                name_digest(f"unreadable:{path.name}"))


def _refuse(reason: str) -> Callable[[], Batch]:
    def load() -> Batch:
        raise DataError(reason)
    return load


def simulate_frame(scenario: str, *, rows: int, seed: int | None = None,
                   start_time: pd.Timestamp | None = None,
                   options: Mapping[str, Any] | None = None,
                   task: str = "binary") -> pd.DataFrame:
    """A batch of ``scenario`` for the generator's ``task`` (``options``: the generator's
    scenario options, such as ``shift_features``); without a seed, one derived from the
    clock (a new sample)."""
    from pipelines.data.generator import generate_batch

    if seed is None:
        seed = zlib.crc32(datetime.now(UTC).isoformat().encode()) % 100_000
    return generate_batch(scenario, rows, seed, start_time=start_time, task=task,
                          **dict(options or {}))


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass
class SimulatedSource(BatchSource):
    """One batch from the demo generator, in memory (nothing is written and read back).

    ``task`` None: the generator's task follows the data settings the source is told
    (:meth:`read_with`: ``data.problem_type``, as the model's family remembers it); binary
    when it is never told."""

    scenario: str
    rows: int = 5000
    seed: int | None = None
    start_time: pd.Timestamp | None = None
    batch_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    task: str | None = None

    def read_with(self, data: DataSettings) -> None:
        """The task from ``data.problem_type`` (unless given); its target must be the
        generator's (see :func:`demo_task`)."""
        task = demo_task(data)
        if self.task is None:
            self.task = task

    def begin(self, latest_time: pd.Timestamp | None) -> None:
        """Without a given start time, the batch covers the day after the newest batch (the
        day after the demo's training data for the first one): time moves batch by batch."""
        if self.start_time is not None:
            return
        from pipelines.data.generator import DEFAULT_PERIOD, DEFAULT_START_TIME

        last = DEFAULT_START_TIME if latest_time is None else pd.Timestamp(latest_time)
        self.start_time = last.floor("D") + DEFAULT_PERIOD

    def pending(self) -> Iterator[Pending]:
        batch_id = self.batch_id or f"production_batch_{_stamp()}"

        def load() -> Batch:
            frame = simulate_frame(self.scenario, rows=self.rows, seed=self.seed,
                                   start_time=self.start_time, options=self.options,
                                   task=self.task or "binary")
            logger.info("Simulated %s batch of %d rows (%s)", self.scenario, self.rows, batch_id)
            return Batch(frame, batch_id, f"simulated:{self.scenario}(rows={self.rows},"
                                          f"seed={self.seed})")

        yield Pending(batch_id, load)


def write_simulated_batch(settings: Settings, scenario: str, *, rows: int = 5000,
                          seed: int | None = None, out_dir: Path | None = None,
                          with_labels: bool = True) -> Path:
    """Write a simulated batch as ``production_batch_<UTC timestamp>.csv``; returns its path.
    The generator's task is ``settings.data.problem_type`` (its target: ``data.target``)."""
    frame = simulate_frame(scenario, rows=rows, seed=seed, task=demo_task(settings.data))
    if not with_labels:
        frame = frame.drop(columns=[settings.data.target])
    path = (out_dir or settings.paths.output) / f"production_batch_{_stamp()}.csv"
    write_table(frame, path)
    logger.info("Simulated %s batch of %d rows -> %s", scenario, rows, path)
    return path
