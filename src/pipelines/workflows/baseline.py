"""Baseline training: train the candidates, log the best to MLflow, register it as champion.

Data are validated before anything is logged, so bad input registers nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.config import Settings
from pipelines.data.io import readable
from pipelines.data.schema import binary_target, infer_schema
from pipelines.data.sources import load_training_data
from pipelines.monitoring.reference import ReferenceContext
from pipelines.retraining.candidates import positive_scores
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
    binary_target(frame, schema.target, source)
    outcome = train_baseline_models(frame, schema, settings.training, source)
    best, split = outcome.best, outcome.split
    reference = pd.concat([split.validation, split.test])
    ref_scores = positive_scores(best.estimator, best.flavor, reference, schema)
    context = ReferenceContext.fit(reference, schema, ref_scores,
                                   n_bins=settings.monitoring.psi_bins,
                                   decision_threshold=settings.training.decision_threshold)
    tracking = settings.tracking
    tags = {c.TAG_STEP: c.STEP_TRAIN, "model_type": best.name, "data.source": source}
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
            **{f"val_roc_auc/{cand.name}": cand.metrics["val_roc_auc"]
               for cand in outcome.candidates},
        })
        store.log_dataset(split.train, source, "training", schema.target, context="training")
        store.log_dataset(reference, source, "reference", schema.target, context="reference")
        info = log_model(store, best, schema, split.test.head(50))
        log_reference(store, reference, schema, ref_scores, context)
        version = register_model(store, info.model_uri, tags={
            "source_run_id": run.info.run_id, "model_type": best.name,
            "test_roc_auc": readable(outcome.test_metrics["roc_auc"]),
            "trained_by": "baseline",
        })
        auc = outcome.test_metrics["roc_auc"]
        describe_version(store, version.version, (
            f"**Baseline** {best.name}, trained by run "
            f"{c.run_link(run.info.experiment_id, run.info.run_id, run.info.run_id[:8])} on "
            f"{len(split.train):,} rows of `{source}` ({len(schema.features)} features, "
            f"target `{schema.target}`). Test ROC-AUC {auc:.4f} on {len(split.test):,} rows. "
            "Became champion because it is the baseline: no earlier champion to beat."))
        previous = promote(store, version.version, action="baseline",
                           actor=default_actor(settings.promotion.actor),
                           reason=f"baseline {best.name}, test ROC-AUC {auc:.4f}")
        remember(settings, store, "train_baseline", schema)  # what later commands use
        store.set_tags({"registered_model": tracking.registered_model_name,
                        "registered_version": version.version,
                        "previous_champion": previous or ""})
    logger.info(
        "Baseline %s: test ROC-AUC %.4f, registered %s version %s as @%s",
        best.name, outcome.test_metrics["roc_auc"], tracking.registered_model_name,
        version.version, tracking.champion_alias,
    )
    return BaselineResult(
        run_id=run.info.run_id, model_version=str(version.version), model_uri=info.model_uri,
        model_type=best.name,
        test_metrics={k: float(v) for k, v in outcome.test_metrics.items() if np.isfinite(v)},
    )
