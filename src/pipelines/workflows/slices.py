"""Slices in the monitoring workflow: the champion's slice references, fitted once per
:class:`~pipelines.workflows.monitor.Monitor` from its stored reference rows, and what a run
logs of them (one table artifact, a tag). The statistics are
:mod:`pipelines.monitoring.slices`'."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

from pipelines.config import Settings
from pipelines.monitoring.counts import BatchCounts
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import MonitoringReport
from pipelines.monitoring.slice_specs import parse_slices
from pipelines.monitoring.slices import SliceSet
from pipelines.store import Champion, Store
from pipelines.store import contract as c
from pipelines.store.reference import load_reference_frame

logger = logging.getLogger(__name__)


def load_slice_set(store: Store, champion: Champion, context: ReferenceContext,
                   settings: Settings) -> SliceSet | None:
    """The configured slices resolved on the champion's reference rows, each slice's
    reference context fitted (None without ``monitoring.slices``). Fitted when monitoring
    starts, not stored at registration: the slice list is monitoring configuration, and a
    changed list needs no new model version."""
    monitoring = settings.monitoring
    if not monitoring.slices:
        return None
    specs = parse_slices(monitoring.slices)
    started = time.perf_counter()
    frame = load_reference_frame(store, champion.run_id)
    slice_set = SliceSet.fit(specs, frame, context, max_values=monitoring.max_slice_values,
                             min_rows=monitoring.min_slice_rows, n_bins=monitoring.psi_bins)
    logger.info("%d slice(s) of %s v%s fitted on %d reference rows in %.2f s",
                len(slice_set.slices), champion.name, champion.version, len(frame),
                time.perf_counter() - started)
    return slice_set


def slice_tags(report: MonitoringReport) -> dict[str, str]:
    """The run's tag of slices in alert (none without slices configured)."""
    if report.slices is None:
        return {}
    return {c.TAG_SLICES_IN_ALERT: ",".join(report.slices.in_alert)[:c.TAG_LIMIT] or "none"}


def log_slice_table(store: Store, report: MonitoringReport) -> None:
    """The slice table (one row per slice) as the run's ``slices.json`` table artifact."""
    if report.slices is not None:
        store.log_table(pd.DataFrame(report.slices.table()), c.SLICE_TABLE_ARTIFACT)


@dataclass
class SliceCounts:
    """A counted batch's slices: counts by slice key (the slices with a reference profile)
    and rows of every slice, filled chunk by chunk by
    :func:`~pipelines.monitoring.slices.count_slices`."""

    counts: dict[str, BatchCounts] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def add(self, other: SliceCounts) -> None:
        """Add ``other``'s counts and rows (another partition's) to these."""
        for key, n in other.rows.items():
            self.rows[key] = self.rows.get(key, 0) + n
        for key, part in other.counts.items():
            self.counts[key] = part if key not in self.counts else self.counts[key] + part

    def to_json(self) -> str:
        return json.dumps({"rows": self.rows,
                           "counts": {k: c.to_json() for k, c in self.counts.items()}})

    @classmethod
    def from_json(cls, text: str) -> SliceCounts:
        data = json.loads(text)
        return cls(counts={k: BatchCounts.from_json(v) for k, v in data["counts"].items()},
                   rows={k: int(v) for k, v in data["rows"].items()})
