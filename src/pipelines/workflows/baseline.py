"""Baseline training: train the candidates, log the best to MLflow, register it as champion.

Data are validated before anything is logged, so bad input registers nothing. Any problem type
(``data.problem_type``): the type's metrics are logged, the registered version carries the tag
``problem_type`` (and, multiclass, ``classes``: the class labels as a JSON list, in the order
of the model's probability columns).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import Settings
from pipelines.data.io import readable
from pipelines.data.schema import FeatureSchema, infer_schema, target_array
from pipelines.data.sources import load_training_data
from pipelines.monitoring.reference import ReferenceContext
from pipelines.problems import PROBLEM_TYPE_TAG, problem
from pipelines.retraining.candidates import model_outputs
from pipelines.retraining.training import train_baseline_models
from pipelines.store import (
    Store,
    connect,
    default_actor,
    describe_version,
    log_model,
    log_reference,
    promote,
    register_model,
)
from pipelines.store import contract as c
from pipelines.store.models import metric_text, type_tags
from pipelines.workflows import importance
from pipelines.workflows.family import remember

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineResult:
    run_id: str
    model_version: str
    model_uri: str
    model_type: str
    test_metrics: dict[str, float]


def train_baseline(settings: Settings, store: Store | None = None) -> BaselineResult:
    """Train, log, register and alias the baseline. Returns where it went."""
    store = store or connect(settings.tracking)  # unreachable store: fail before training
    frame, source = load_training_data(settings.data)
    schema = infer_schema(frame, settings.data, source)
    target_array(frame, schema, source)
    kind = problem(schema.problem_type)
    primary, val_key = kind.primary_metric, f"val_{kind.primary_metric}"
    outcome = train_baseline_models(frame, schema, settings.training, source)
    best, split = outcome.best, outcome.split
    reference = pd.concat([split.validation, split.test])
    ref_scores = model_outputs(best.estimator, best.flavor, reference, schema)
    context = ReferenceContext.fit(reference, schema, ref_scores,
                                   n_bins=settings.monitoring.psi_bins,
                                   decision_threshold=settings.training.decision_threshold)
    importances = importance.importances_of(best.estimator, best.flavor, reference, schema,
                                            settings.training.random_state)
    tracking = settings.tracking
    tags = {c.TAG_STEP: c.STEP_TRAIN, "model_type": best.name, "data.source": source,
            PROBLEM_TYPE_TAG: schema.problem_type}
    with store.start_run(tracking.pipeline_experiment, run_name="baseline-training",
                         tags=tags) as run:
        store.log_params({
            **{f"{best.name}.{k}": v for k, v in best.params.items()},
            "selected_model": best.name,
            "candidates": ",".join(cand.name for cand in outcome.candidates),
            "data_source": source,
            "n_train": len(split.train), "n_validation": len(split.validation),
            "n_test": len(split.test), "n_features": len(schema.features),
            "target": schema.target, "decision_threshold": settings.training.decision_threshold,
        })
        store.log_metrics({
            **outcome.test_metrics,
            **{f"{val_key}/{cand.name}": cand.metrics[val_key]
               for cand in outcome.candidates},
        })
        store.log_dataset(split.train, source, "training", schema.target, context="training")
        store.log_dataset(reference, source, "reference", schema.target, context="reference")
        info = log_model(store, best, schema, split.test.head(50))
        log_reference(store, reference, schema, ref_scores, context)
        importance.record(store, importances)  # issue 24: importance stability
        version = register_model(store, info.model_uri, tags={
            "source_run_id": run.info.run_id, "model_type": best.name,
            f"test_{primary}": readable(outcome.test_metrics[primary]),
            "trained_by": "baseline", **type_tags(schema),
        })
        score = outcome.test_metrics[primary]
        describe_version(store, version.version, (
            f"**Baseline** {best.name}, trained by run "
            f"{c.run_link(run.info.experiment_id, run.info.run_id, run.info.run_id[:8])} on "
            f"{len(split.train):,} rows of `{source}` ({len(schema.features)} features, "
            f"target `{schema.target}`{_type_note(schema)}). Test {kind.label} "
            f"{metric_text(kind, score)} on {len(split.test):,} rows. "
            "Became champion because it is the baseline: no earlier champion to beat."))
        previous = promote(store, version.version, action="baseline",
                           actor=default_actor(settings.promotion.actor),
                           reason=f"baseline {best.name}, test {kind.label} "
                                  f"{metric_text(kind, score)}")
        remember(settings, store, "train_baseline", schema)  # what later commands use
        store.set_tags({"registered_model": tracking.registered_model_name,
                        "registered_version": version.version,
                        "previous_champion": previous or ""})
    logger.info(
        "Baseline %s: test %s %s, registered %s version %s as @%s",
        best.name, kind.label, metric_text(kind, score), tracking.registered_model_name,
        version.version, tracking.champion_alias,
    )
    return BaselineResult(
        run_id=run.info.run_id, model_version=str(version.version), model_uri=info.model_uri,
        model_type=best.name,
        test_metrics={k: float(v) for k, v in outcome.test_metrics.items() if np.isfinite(v)},
    )


def _type_note(schema: FeatureSchema) -> str:
    """Nothing for the binary default; else the type (and multiclass, the classes)."""
    if schema.problem_type == "binary":
        return ""
    if schema.problem_type == "multiclass":
        return f", multiclass: {', '.join(schema.classes)}"
    return f", {schema.problem_type}"
