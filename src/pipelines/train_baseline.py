"""Baseline training: train the candidates, log the best to MLflow, register it as champion.

``python -m pipelines.train_baseline [--data FILE --target COL]`` or ``mlflow run . -e train``.
Data are validated before anything is logged, so bad input registers nothing.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
)
from pipelines.config import Settings
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, binary_target, infer_schema
from pipelines.data.sources import load_training_data
from pipelines.models import positive_scores
from pipelines.tracking import (
    configure_tracking,
    log_dataset,
    log_model,
    log_reference,
    promote,
    register_model,
    start_run,
)
from pipelines.training import train_baseline_models

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineResult:
    run_id: str
    model_version: str
    model_uri: str
    model_type: str
    test_metrics: dict[str, float]


def write_reference_profile(reference: pd.DataFrame, folder: Path, schema: FeatureSchema,
                            n_bins: int) -> None:
    """Fit the drift reference once (sorted values, bins, category counts) and save it."""
    from pipelines.stats import fit_reference_profile, save_profile

    profile = fit_reference_profile(
        reference, list(schema.numeric) + [SCORE_COLUMN], list(schema.categorical), n_bins=n_bins
    )
    save_profile(profile, folder / "profile.npz")


def train_baseline(settings: Settings) -> BaselineResult:
    """Train, log, register and alias the baseline. Returns where it went."""
    client = configure_tracking(settings.tracking)  # unreachable store: fail before training
    frame, source = load_training_data(settings.data)
    schema = infer_schema(frame, settings.data, source)
    binary_target(frame, schema.target, source)
    outcome = train_baseline_models(frame, schema, settings.training, source)
    best, split = outcome.best, outcome.split
    reference = pd.concat([split.validation, split.test])
    ref_scores = positive_scores(best.estimator, best.flavor, reference, schema)

    tracking = settings.tracking
    tags = {"pipeline.step": "train", "model_type": best.name, "data.source": source}
    with start_run(client, tracking, tracking.pipeline_experiment,
                   run_name="baseline-training", tags=tags) as run:
        mlflow.log_params({
            **{f"{best.name}.{k}": v for k, v in best.params.items()},
            "selected_model": best.name,
            "candidates": ",".join(c.name for c in outcome.candidates),
            "data_source": source,
            "n_train": len(split.train), "n_validation": len(split.validation),
            "n_test": len(split.test), "n_features": len(schema.features),
            "target": schema.target, "decision_threshold": settings.training.decision_threshold,
        })
        mlflow.log_metrics({
            **outcome.test_metrics,
            **{f"val_roc_auc/{c.name}": c.metrics["val_roc_auc"] for c in outcome.candidates},
        })
        log_dataset(split.train, source, "training", schema.target, context="training")
        log_dataset(reference, source, "reference", schema.target, context="reference")
        info = log_model(best, schema, split.test.head(50))
        log_reference(
            reference, schema, ref_scores,
            profile_writer=lambda ref, folder: write_reference_profile(
                ref, folder, schema, settings.monitoring.psi_bins),
        )
        version = register_model(client, info.model_uri, tracking.registered_model_name, tags={
            "source_run_id": run.info.run_id, "model_type": best.name,
            "test_roc_auc": round(outcome.test_metrics["roc_auc"], 6),
            "trained_by": "baseline",
        })
        previous = promote(client, tracking, version.version)
        mlflow.set_tags({"registered_model": tracking.registered_model_name,
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.train_baseline", description=__doc__)
    p.add_argument("--data", help="CSV or Parquet training file (default: the demo generator)")
    p.add_argument("--target", help="target column (default churn)")
    p.add_argument("--demo-rows", type=int_arg, help="rows of generated demo data")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args, {
        "data.path": args.data, "data.target": args.target, "data.demo_rows": args.demo_rows,
    })
    result = train_baseline(settings)
    logger.info("Done: run %s, model version %s", result.run_id, result.model_version)
    return 0


if __name__ == "__main__":
    exit_with(main)
