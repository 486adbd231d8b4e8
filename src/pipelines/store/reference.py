"""A model version's reference in the store: the rows it was validated on (training data for
retraining) and its fitted :class:`~pipelines.monitoring.reference.ReferenceContext` (what
monitoring reads), both under ``reference/`` of the run that logged the model."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.data.schema import FeatureSchema
from pipelines.errors import TrackingError
from pipelines.monitoring.reference import ReferenceContext, output_columns
from pipelines.store import contract as c
from pipelines.store.client import Store
from pipelines.store.models import Champion

logger = logging.getLogger(__name__)


def log_reference(store: Store, frame: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray,
                  context: ReferenceContext) -> None:
    """Store the reference rows (features, labels, model outputs), the schema and the fitted
    context in the active run. The outputs as :func:`output_columns` has them: ``__score__``
    (binary score, regression prediction) or one ``__proba__<class>`` column per class."""
    columns = list(schema.features) + [schema.target]
    ref = frame.loc[:, columns].reset_index(drop=True).assign(**output_columns(schema, scores))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref.to_parquet(folder / c.REFERENCE_FILE, index=False)
        (folder / c.SCHEMA_FILE).write_text(schema.to_json())
        context.save(folder / c.REFERENCE_CONTEXT_FILE)
        store.log_artifacts(folder, c.REFERENCE_DIR)


def load_reference_frame(store: Store, run_id: str) -> pd.DataFrame:
    """The reference rows (features, target, the model's outputs) stored with run
    ``run_id`` (:func:`pipelines.monitoring.reference.outputs_from_frame` reads the
    outputs back)."""
    try:
        return store.read_parquet_artifact(run_id, f"{c.REFERENCE_DIR}/{c.REFERENCE_FILE}")
    except TrackingError as exc:
        raise TrackingError(f"Run {run_id} has no reference set: {exc}") from exc


def load_reference_context(store: Store, champion: Champion, *, n_bins: int,
                           decision_threshold: float) -> ReferenceContext:
    """The champion's fitted reference context. Fitted from its stored reference rows instead
    (and said so) for versions registered before contexts were stored, and when the
    configured decision threshold differs from the one the context was fitted at (binary: the
    baseline accuracy, precision, recall and F1 depend on it; the other types have no
    threshold, and a regression context's loss estimator is costly to refit)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = store.download(champion.run_id,
                                  f"{c.REFERENCE_DIR}/{c.REFERENCE_CONTEXT_FILE}", tmp)
        except TrackingError:
            logger.warning("%s v%s has no stored reference context; fitting it from its "
                           "reference rows", champion.name, champion.version)
            return ReferenceContext.from_reference_frame(
                load_reference_frame(store, champion.run_id), champion.schema, n_bins=n_bins,
                decision_threshold=decision_threshold)
        context = ReferenceContext.load(path)
    if context.problem_type == "binary" and context.decision_threshold != decision_threshold:
        logger.warning("%s v%s: its reference context was fitted at decision threshold %g, "
                       "the configuration says %g; refitting the baseline from its reference "
                       "rows", champion.name, champion.version, context.decision_threshold,
                       decision_threshold)
        return ReferenceContext.from_reference_frame(
            load_reference_frame(store, champion.run_id), champion.schema, n_bins=n_bins,
            decision_threshold=decision_threshold)
    return context
