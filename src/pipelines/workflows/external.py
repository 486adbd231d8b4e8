"""Monitor a model trained elsewhere: its reference rows, with the scores it gave them and
their labels, become the basis of monitoring, with no training here.

The reference is fitted exactly as for a model trained by this tool (feature profiles, the
score distribution, baseline metrics, the calibration for label-free estimates) but from the
user's own scores; a stand-in model version is registered as champion whose ``predict``
returns the batch's own score column. From then on every batch is judged on the score column
it carries against the reference's scores: the monitor, late labels, the registry story and
the audit trail work unchanged. Retraining is the model owners' business: the orchestrator
says so instead of training a replacement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import Settings, with_overrides
from pipelines.data.io import read_table, readable
from pipelines.data.schema import binary_target, infer_schema
from pipelines.monitoring.reference import ReferenceContext
from pipelines.store import (
    Store,
    connect,
    default_actor,
    describe_version,
    log_external_model,
    log_reference,
    promote,
    register_model,
)
from pipelines.store import contract as c
from pipelines.store.scoring import external_scores
from pipelines.workflows.family import remember, resolve_settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReferenceResult:
    run_id: str
    model_version: str
    n_rows: int
    features: tuple[str, ...]
    baseline: dict[str, float]


def register_reference(settings: Settings, path: str | Path, prediction_column: str, *,
                       target: str | None = None, store: Store | None = None) -> ReferenceResult:
    """Register ``path`` (features, ``target`` labels, ``prediction_column`` scores in [0, 1])
    as the reference of a model scored elsewhere, and make it the champion. The family
    (experiment prefix) remembers the model name and columns for every later command
    (:mod:`pipelines.workflows.family`); unset ones are taken from what it remembers."""
    overrides = {"data.prediction_column": prediction_column}
    if target:
        overrides["data.target"] = target
    settings = with_overrides(settings, overrides)
    store = store or connect(settings.tracking)
    # unless told otherwise: the model name and columns the family registered last
    settings = resolve_settings(settings, store, registering=True)
    source = str(path)
    frame = read_table(path)
    schema = infer_schema(frame, settings.data, source)
    labels = binary_target(frame, schema.target, source)
    scores = external_scores(frame, prediction_column, source)
    context = ReferenceContext.fit(frame, schema, scores, n_bins=settings.monitoring.psi_bins,
                                   decision_threshold=settings.training.decision_threshold)
    tracking = settings.tracking
    tags = {c.TAG_STEP: "register_reference", "model_origin": "external"}
    with store.start_run(tracking.pipeline_experiment, run_name=f"reference {Path(path).name}",
                         tags=tags) as run:
        store.log_params({"data_source": source[:500], "prediction_column": prediction_column,
                          "target": schema.target, "n_rows": len(frame),
                          "n_features": len(schema.features)})
        store.log_metrics({f"reference_{k}": v for k, v in context.baseline.items()})
        store.log_dataset(frame, source, "reference", schema.target, context="reference")
        log_reference(store, frame, schema, scores, context)
        info = log_external_model(store, schema, prediction_column, frame[list(
            schema.features) + [prediction_column]])
        version = register_model(store, info.model_uri, tags={
            "source_run_id": run.info.run_id, "model_origin": "external",
            "trained_by": "elsewhere", "scores_column": prediction_column,
            "target": schema.target, "id_column": schema.id_column or "",
            "timestamp_column": schema.timestamp_column or "",
            "reference_roc_auc": readable(context.baseline.get("roc_auc", float("nan")))})
        auc = context.baseline.get("roc_auc", float("nan"))
        describe_version(store, version.version, (
            f"**Model trained elsewhere**, registered for monitoring by run "
            f"{c.run_link(run.info.experiment_id, run.info.run_id, run.info.run_id[:8])}: "
            f"reference `{source}` ({len(frame):,} rows, {len(schema.features)} features, "
            f"target `{schema.target}`), scores from its column `{prediction_column}` "
            f"(reference ROC-AUC {auc:.4f}, rate {labels.mean():.3f}). Each batch must carry "
            "that column; this tool does not retrain it."))
        promote(store, version.version, action="register reference",
                actor=default_actor(settings.promotion.actor),
                reason=f"external model, reference {Path(path).name}")
        remember(settings, store, "register_reference", schema)  # for every later command
    logger.info("Registered %s (scored elsewhere, column %s) as %s v%s: %d reference rows, "
                "ROC-AUC %.4f", source, prediction_column, tracking.registered_model_name,
                version.version, len(frame), auc)
    return ReferenceResult(run.info.run_id, str(version.version), len(frame), schema.features,
                           dict(context.baseline))
