"""Monitor a model trained elsewhere: its reference rows, with the scores it gave them and
their labels, become the basis of monitoring, with no training here.

The reference is fitted exactly as for a model trained by this tool (feature profiles, the
score distribution, baseline metrics, the calibration for label-free estimates) but from the
user's own scores; a stand-in model version is registered as champion whose ``predict``
returns the batch's own score column. From then on every batch is judged on the score column
it carries against the reference's scores: the monitor, late labels, the registry story and
the audit trail work unchanged. Retraining is the model owners' business: the orchestrator
says so instead of training a replacement.

Any problem type (``data.problem_type``, recorded on the version as the tag ``problem_type``):
the prediction column holds P(class 1) in [0, 1] (binary) or the predicted value, finite
numbers (regression); a multiclass model gives one probability column per class named
``<prediction_column>_<class>`` (``pred_gold``, ``pred_silver``...; the classes are the
target's labels), each in [0, 1], every row summing to 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import Settings, with_overrides
from pipelines.data.io import read_table, readable
from pipelines.data.schema import infer_schema, target_array, target_classes
from pipelines.errors import DataError
from pipelines.monitoring.reference import ReferenceContext
from pipelines.problems import PROBLEM_TYPE_TAG, problem
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
from pipelines.store.models import metric_text, type_tags
from pipelines.store.scoring import class_columns, external_outputs
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
    """Register ``path`` (features, ``target`` labels, the model's predictions in
    ``prediction_column``: scores in [0, 1] for a binary model, values for a regression model;
    multiclass: ``<prediction_column>_<class>`` probability columns) as the reference of a
    model scored elsewhere, and make it the champion. The family
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
    kind = problem(settings.data.problem_type)
    output_columns = [prediction_column]
    if kind.name == "multiclass":  # the probability columns are outputs, never features
        classes = target_classes(frame, settings.data.target, source)
        output_columns = class_columns(prediction_column, classes)
        stray = [str(col) for col in frame.columns if str(col).startswith(
            f"{prediction_column}_") and str(col) not in output_columns]
        if stray:
            raise DataError(
                f"{source}: column(s) {', '.join(stray)} look like probabilities of classes "
                f"the target {settings.data.target!r} never shows (it has "
                f"{', '.join(map(repr, classes))}); every class the model predicts needs "
                "reference rows with that label. Rename these columns if they are features.")
    schema = infer_schema(frame.drop(columns=[col for col in output_columns
                                              if col in frame.columns]),
                          settings.data, source)
    labels = target_array(frame, schema, source)
    scores = external_outputs(frame, prediction_column, schema.problem_type, schema.classes,
                              source)
    context = ReferenceContext.fit(frame, schema, scores, n_bins=settings.monitoring.psi_bins,
                                   decision_threshold=settings.training.decision_threshold)
    tracking = settings.tracking
    tags = {c.TAG_STEP: "register_reference", "model_origin": "external",
            PROBLEM_TYPE_TAG: schema.problem_type}
    with store.start_run(tracking.pipeline_experiment, run_name=f"reference {Path(path).name}",
                         tags=tags) as run:
        store.log_params({"data_source": source[:500], "prediction_column": prediction_column,
                          "target": schema.target, "n_rows": len(frame),
                          "n_features": len(schema.features)})
        store.log_metrics({f"reference_{k}": v for k, v in context.baseline.items()})
        store.log_dataset(frame, source, "reference", schema.target, context="reference")
        log_reference(store, frame, schema, scores, context)
        info = log_external_model(store, schema, prediction_column, frame[list(
            schema.features) + output_columns])
        version = register_model(store, info.model_uri, tags={
            "source_run_id": run.info.run_id, "model_origin": "external",
            "trained_by": "elsewhere", "scores_column": prediction_column,
            "target": schema.target, "id_column": schema.id_column or "",
            "timestamp_column": schema.timestamp_column or "",
            f"reference_{kind.primary_metric}": readable(
                context.baseline.get(kind.primary_metric, float("nan"))),
            **type_tags(schema)})
        value = context.baseline.get(kind.primary_metric, float("nan"))
        summary = (f"reference {kind.label} {metric_text(kind, value)}, rate "
                   f"{labels.mean():.3f}" if kind.name == "binary" else
                   f"{kind.name}, reference {kind.label} {metric_text(kind, value)}")
        describe_version(store, version.version, (
            f"**Model trained elsewhere**, registered for monitoring by run "
            f"{c.run_link(run.info.experiment_id, run.info.run_id, run.info.run_id[:8])}: "
            f"reference `{source}` ({len(frame):,} rows, {len(schema.features)} features, "
            f"target `{schema.target}`), {_held(output_columns, kind.name)} "
            f"({summary}). Each batch must carry "
            f"{'that column' if len(output_columns) == 1 else 'those columns'}; this tool "
            "does not retrain it."))
        promote(store, version.version, action="register reference",
                actor=default_actor(settings.promotion.actor),
                reason=f"external model, reference {Path(path).name}")
        remember(settings, store, "register_reference", schema)  # for every later command
    logger.info("Registered %s (scored elsewhere, column %s) as %s v%s: %d reference rows, "
                "%s %s", source, prediction_column, tracking.registered_model_name,
                version.version, len(frame), kind.label, metric_text(kind, value))
    return ReferenceResult(run.info.run_id, str(version.version), len(frame), schema.features,
                           dict(context.baseline))


def _held(columns: list[str], problem_type: str) -> str:
    """Where the model's outputs are, for the version's description."""
    if len(columns) == 1:
        what = "predictions" if problem_type == "regression" else "scores"
        return f"{what} from its column `{columns[0]}`"
    return "class probabilities from its columns " + ", ".join(f"`{c}`" for c in columns)
