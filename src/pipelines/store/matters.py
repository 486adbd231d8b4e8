"""Drift that matters (issue 24) in the store: the previous batch's feature counts (consecutive
drift) and the champion's feature importances, read back from their runs."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from pipelines.errors import TrackingError
from pipelines.monitoring.consecutive import FeatureCounts
from pipelines.store import contract as c
from pipelines.store.client import Store
from pipelines.store.searches import _FINISHED, _search, _tag, _where

logger = logging.getLogger(__name__)


def previous_feature_counts(store: Store, experiment: str) -> tuple[FeatureCounts | None, str]:
    """The feature counts kept by the newest finished monitoring run of ``experiment``, or
    None and the reason there are none."""
    runs = _search(store, experiment, _where(_tag(c.TAG_STEP, c.STEP_MONITOR), _FINISHED),
                   max_results=1)
    if not runs:
        return None, "first monitored batch: no previous batch to compare with"
    run = runs[0]
    batch_id = run.data.tags.get(c.TAG_BATCH_ID, run.info.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = store.download(run.info.run_id, c.FEATURE_COUNTS_ARTIFACT, tmp)
        except TrackingError:
            return None, (f"the previous batch ({batch_id}) kept no feature counts (monitored "
                          "with consecutive drift off, or before it existed)")
        text = Path(path).read_text(encoding="utf-8")
    counts = FeatureCounts.from_json(text)
    sequence = int(run.data.tags.get(c.TAG_SEQUENCE, "0") or 0)
    return FeatureCounts(**{**counts.__dict__, "batch_id": counts.batch_id or batch_id,
                            "sequence": sequence}), ""


def log_importances(store: Store, importances: dict[str, Any]) -> None:
    """The champion-to-be's feature importances, on the active (training) run."""
    store.log_text(json.dumps(importances, indent=1), c.IMPORTANCE_ARTIFACT)


def load_importances(store: Store, run_id: str) -> dict[str, Any] | None:
    """The importances logged with a model's training run, or None (models registered
    before they were recorded)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = store.download(run_id, c.IMPORTANCE_ARTIFACT, tmp)
        except TrackingError:
            return None
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data
