"""Monitor one production batch with the champion model and log the verdict to MLflow.

Usage::

    python -m pipelines.monitor_performance --batch FILE [--batch-id ID]
    python src/pipelines/monitor_performance.py [EXPERIMENT_ID_OR_NAME]   # a simulated batch
    mlflow run . -e monitor -P batch=FILE --env-manager local

The batch is read and validated (required columns, dtypes, labels) *before* a run is opened,
so a refused batch leaves no monitoring run behind. Scores come from the batch's prediction
column when configured and present, otherwise from ``models:/<name>@champion``.
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # run as a script: import the package from src/
    import sys
    from pathlib import Path as _Path

    _here = _Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if _Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import argparse
import logging
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
)
from pipelines.config import Settings
from pipelines.data.io import read_table
from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, check_columns
from pipelines.errors import DataError, TrackingError
from pipelines.monitoring import plots
from pipelines.monitoring.engine import MonitoringReport, ReferenceContext, evaluate_batch
from pipelines.stats import load_profile
from pipelines.tracking import (
    REFERENCE_DIR,
    REFERENCE_FILE,
    Champion,
    configure_tracking,
    download_run_artifact,
    ensure_experiment,
    load_champion,
    log_dataset,
    log_json,
    start_run,
)

logger = logging.getLogger(__name__)

MONITOR_STEP = "monitor"
_KEY_SAFE = re.compile(r"[^0-9A-Za-z_\-. /]")


@dataclass(frozen=True)
class MonitorOutcome:
    report: MonitoringReport
    run_id: str | None
    report_path: Path | None
    experiment_id: str | None


# ----------------------------------------------------------------------------- batch input


def load_batch(path: str | Path, settings: Settings) -> pd.DataFrame:
    parse = tuple(c for c in (settings.data.timestamp_column,) if c)
    return read_table(path, parse_dates=parse)


def batch_labels(batch: pd.DataFrame, schema: FeatureSchema, source: str) -> np.ndarray | None:
    """0/1 labels when the batch carries them (all rows), None when it carries none.

    A partly labelled batch is refused: ground truth either arrived for the batch or not.
    """
    if schema.target not in batch.columns:
        return None
    y = batch[schema.target]
    missing = int(y.isna().sum())
    if missing == len(y):
        return None
    if missing:
        raise DataError(
            f"{source}: target {schema.target!r} is missing in {missing} of {len(y)} rows; "
            "send a batch with labels for every row, or drop the column."
        )
    values = set(pd.unique(y).tolist())
    if not values <= {0, 1, True, False}:
        shown = ", ".join(map(repr, sorted(values, key=str)[:10]))
        raise DataError(f"{source}: target {schema.target!r} must be 0/1; found {shown}.")
    return y.astype("int8").to_numpy()


def batch_scores(batch: pd.DataFrame, champion: Champion, settings: Settings,
                 source: str) -> tuple[np.ndarray, str]:
    """Scores logged by the serving system if configured and present, else the champion's."""
    col = settings.data.prediction_column
    if col and col in batch.columns:
        s = pd.to_numeric(batch[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(s) | (s < 0) | (s > 1)
        if bad.any():
            raise DataError(f"{source}: prediction column {col!r} has {int(bad.sum())} value(s) "
                            "that are missing or outside [0, 1].")
        return s, f"column {col}"
    return champion.score(batch), f"champion v{champion.version}"


def validate_batch(batch: pd.DataFrame, schema: FeatureSchema, source: str) -> None:
    if batch.empty:
        raise DataError(f"{source}: the batch has no rows.")
    check_columns(batch, schema, source)


# ----------------------------------------------------------------------------- reference


def load_reference_context(champion: Champion, settings: Settings) -> ReferenceContext:
    """The champion's reference profile and baseline, read back from its source run."""
    with tempfile.TemporaryDirectory() as tmp:
        profile = load_profile(download_run_artifact(
            champion.run_id, f"{REFERENCE_DIR}/profile.npz", tmp))
        ref = pd.read_parquet(
            download_run_artifact(champion.run_id, f"{REFERENCE_DIR}/{REFERENCE_FILE}", tmp),
            columns=[champion.schema.target, SCORE_COLUMN],
        )
    return ReferenceContext.build(
        champion.schema, profile, ref[champion.schema.target].to_numpy(),
        ref[SCORE_COLUMN].to_numpy(), settings.training.decision_threshold)


# ----------------------------------------------------------------------------- logging


def _key(*parts: str) -> str:
    return "/".join(_KEY_SAFE.sub("_", p) for p in parts)[:250]


def report_metrics(report: MonitoringReport) -> dict[str, float]:
    """Every number of the report as MLflow metrics (finite values only)."""
    m: dict[str, float] = {
        "n_rows": report.n_rows,
        "drift_share": report.drift_share,
        "n_drifted_features": len(report.drifted_features),
        "n_alerts": len(report.alerts),
        "prediction_drift_pvalue": report.prediction_drift.pvalue,
        "prediction_drift_statistic": report.prediction_drift.statistic,
        "prediction_drift_psi": report.prediction_drift.effect_size,
        "data_quality_issues": len(report.quality.issues),
        "retraining_recommended": float(report.retraining_recommended),
    }
    for name, value in (report.performance or {}).items():
        m[name] = value
    for name, value in report.baseline.items():
        m[_key("baseline", name)] = value
    if report.target_drift is not None:
        m["target_drift_pvalue"] = report.target_drift.pvalue
        m["target_drift_cramers_v"] = report.target_drift.effect_size
    if report.concept_drift is not None:
        m["expected_roc_auc"] = report.concept_drift.expected_auc
        m["concept_drift_unexplained_drop"] = report.concept_drift.unexplained_drop
    for f in report.feature_drift:
        m[_key("drift", f.feature, "statistic")] = f.statistic
        m[_key("drift", f.feature, "pvalue")] = f.pvalue
        m[_key("drift", f.feature, "pvalue_adjusted")] = f.pvalue_adjusted
        m[_key("drift", f.feature, f.effect_name)] = f.effect_size
        m[_key("drift", f.feature, "drifted")] = float(f.drifted)
        if f.wasserstein is not None:
            m[_key("drift", f.feature, "wasserstein")] = f.wasserstein
    for c in report.quality.columns:
        m[_key("quality", c.column, "missing_share")] = c.missing_share
        if c.out_of_range_share is not None:
            m[_key("quality", c.column, "out_of_range_share")] = c.out_of_range_share
        if c.unseen_category_share is not None:
            m[_key("quality", c.column, "unseen_category_share")] = c.unseen_category_share
    return {k: float(v) for k, v in m.items() if v is not None and np.isfinite(v)}


def report_tags(report: MonitoringReport, champion: Champion, sequence: int) -> dict[str, str]:
    return {
        "pipeline.step": MONITOR_STEP,
        "monitoring.status": report.status,
        "monitoring.sequence": str(sequence),
        "retraining_recommended": str(report.retraining_recommended).lower(),
        "batch_id": report.batch_id,
        "has_labels": str(report.has_labels).lower(),
        "champion_version": champion.version,
        "champion_model": champion.name,
        "alerts": ",".join(dict.fromkeys(a.rule for a in report.alerts)) or "none",
        "drifted_features": ",".join(report.drifted_features)[:5000] or "none",
    }


def _next_sequence(client: MlflowClient, experiment_id: str) -> int:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`pipeline.step` = '{MONITOR_STEP}'",
        max_results=1, order_by=["attributes.start_time DESC"])
    if not runs:
        return 1
    return int(runs[0].data.tags.get("monitoring.sequence", "0")) + 1


def history(client: MlflowClient, experiment_id: str, limit: int = 500) -> pd.DataFrame:
    """roc_auc and drift_share of the monitoring runs so far, by sequence."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`pipeline.step` = '{MONITOR_STEP}'",
        max_results=limit, order_by=["attributes.start_time DESC"])
    rows = [{
        "sequence": int(r.data.tags.get("monitoring.sequence", "0")),
        "roc_auc": r.data.metrics.get("roc_auc", np.nan),
        "drift_share": r.data.metrics.get("drift_share", np.nan),
    } for r in runs]
    return pd.DataFrame(rows, columns=["sequence", "roc_auc", "drift_share"]).sort_values(
        "sequence")


def log_plots(report: MonitoringReport, ref: ReferenceContext, batch: pd.DataFrame,
              scores: np.ndarray, settings: Settings, past: pd.DataFrame) -> None:
    drifted = [f for f in report.feature_drift if f.drifted][: settings.monitoring.max_drift_plots]
    for f in drifted:
        if f.kind == "numeric":
            fig = plots.numeric_distribution(
                ref.profile.numeric[f.feature], batch[f.feature].to_numpy(dtype=np.float64,
                                                                         na_value=np.nan),
                f"{f.feature}: PSI {f.effect_size:.3f}, KS p {f.pvalue_adjusted:.1e}")
        else:
            fig = plots.categorical_distribution(
                ref.profile.categorical[f.feature], batch[f.feature],
                f"{f.feature}: Cramér's V {f.effect_size:.3f}, p {f.pvalue_adjusted:.1e}")
        mlflow.log_figure(fig, f"plots/drift_{_KEY_SAFE.sub('_', f.feature)}.png")
        plots.close(fig)
    fig = plots.numeric_distribution(ref.score_reference, scores,
                                     "Model scores P(churn): reference vs current")
    mlflow.log_figure(fig, "plots/score_distribution.png")
    plots.close(fig)
    fig = plots.timeline(past, settings.monitoring.roc_auc_floor, settings.monitoring.drift_share)
    mlflow.log_figure(fig, "plots/performance_over_time.png")
    plots.close(fig)


BATCH_ARTIFACT = "batch/batch.parquet"


def write_batch_file(batch: pd.DataFrame, scores: np.ndarray, schema: FeatureSchema,
                     folder: Path) -> Path:
    """The batch (ids, timestamp, features, labels if any) and its scores as Parquet, to keep
    in the run so that retraining and late-arriving labels find it from MLflow alone."""
    keep = [c for c in (schema.id_column, schema.timestamp_column, *schema.features,
                        schema.target) if c and c in batch.columns]
    frame = batch.loc[:, keep]
    frame = frame.assign(**{SCORE_COLUMN: scores})
    path = folder / Path(BATCH_ARTIFACT).name
    frame.to_parquet(path, index=False)
    return path


def write_report(report: MonitoringReport, output_dir: Path) -> Path:
    """``<output_dir>/monitoring_report_<UTC timestamp>.json``, written atomically."""
    import json

    output_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = output_dir / f"monitoring_report_{stamp}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------- the monitor


class Monitor:
    """The champion and its reference, loaded once, then any number of batches."""

    def __init__(self, settings: Settings, client: MlflowClient | None = None,
                 experiment: str | None = None) -> None:
        self.settings = settings
        self.client = client or configure_tracking(settings.tracking)
        self.champion = load_champion(self.client, settings.tracking)
        self.reference = load_reference_context(self.champion, settings)
        self.experiment = experiment or settings.tracking.monitoring_experiment

    def evaluate(self, batch: pd.DataFrame, *, batch_id: str, source: str
                 ) -> tuple[MonitoringReport, np.ndarray]:
        """Validate, score and evaluate a batch; nothing is logged. Raises on bad input."""
        schema = self.champion.schema
        validate_batch(batch, schema, source)
        labels = batch_labels(batch, schema, source)
        scores, scored_by = batch_scores(batch, self.champion, self.settings, source)
        report = evaluate_batch(
            batch, scores, labels, self.reference, self.settings.monitoring,
            batch_id=batch_id, decision_threshold=self.settings.training.decision_threshold,
            context={"source": source, "scored_by": scored_by,
                     "champion_version": self.champion.version,
                     "champion_model": self.champion.name,
                     "reference_run_id": self.champion.run_id},
        )
        return report, scores

    def _store_batch(self, batch: pd.DataFrame, scores: np.ndarray, folder: Path,
                     run_id: str) -> None:
        path = write_batch_file(batch, scores, self.champion.schema, folder)
        self.client.log_artifact(run_id, str(path), str(Path(BATCH_ARTIFACT).parent))

    def run(self, batch: pd.DataFrame, *, batch_id: str, source: str,
            extra_tags: dict[str, str] | None = None) -> MonitorOutcome:
        """Evaluate ``batch`` and log it: one MLflow run, the JSON report, alerts to the log."""
        report, scores = self.evaluate(batch, batch_id=batch_id, source=source)
        for alert in report.alerts:
            log = logger.error if alert.severity == "critical" else logger.warning
            log("[%s] %s: %s", alert.severity.upper(), alert.rule, alert.message)
        experiment_id = ensure_experiment(self.client, self.experiment, self.settings.tracking)
        sequence = _next_sequence(self.client, experiment_id)
        tags = {**report_tags(report, self.champion, sequence), **(extra_tags or {})}
        with start_run(self.client, self.settings.tracking, self.experiment,
                       run_name=f"monitor-{batch_id}", tags=tags) as run:
            mlflow.log_params({
                "batch_source": source[:500], "n_rows": report.n_rows,
                "roc_auc_floor": self.settings.monitoring.roc_auc_floor,
                "drift_p_value": self.settings.monitoring.drift_p_value,
                "drift_share_limit": self.settings.monitoring.drift_share,
                "correction": self.settings.monitoring.correction,
            })
            mlflow.log_metrics(report_metrics(report), step=sequence)
            target = self.champion.schema.target if report.has_labels else None
            log_dataset(batch, source, batch_id, target, context="production")
            log_json(report.to_dict(), "monitoring_report.json")
            with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
                # Parquet encoding and the artifact copy release the GIL: store the batch
                # while the plots render (the client call needs no thread-local active run)
                pending = (pool.submit(self._store_batch, batch, scores, Path(tmp),
                                       run.info.run_id)
                           if self.settings.monitoring.store_batch else None)
                past = history(self.client, run.info.experiment_id)
                log_plots(report, self.reference, batch, scores, self.settings, past)
                if pending is not None:
                    pending.result()
            run_id = run.info.run_id
        path = write_report(report, self.settings.paths.output)
        logger.info("Batch %s: status %s, retraining recommended: %s; report %s, run %s",
                    batch_id, report.status, report.retraining_recommended, path, run_id)
        return MonitorOutcome(report=report, run_id=run_id, report_path=path,
                              experiment_id=run.info.experiment_id)


def monitor_batch(settings: Settings, batch: str | Path | pd.DataFrame, *,
                  batch_id: str | None = None, experiment: str | None = None,
                  source: str | None = None) -> MonitorOutcome:
    """Monitor one batch (a file path or a frame) end to end."""
    if isinstance(batch, str | Path):
        source = str(batch)
        frame = load_batch(batch, settings)
        batch_id = batch_id or Path(batch).stem
    else:
        frame = batch
        source = source or "dataframe"
        batch_id = batch_id or datetime.now(UTC).strftime("batch-%Y%m%dT%H%M%SZ")
    return Monitor(settings, experiment=experiment).run(frame, batch_id=batch_id, source=source)


def resolve_experiment(client: MlflowClient, ident: str) -> str:
    """An experiment name from an id or a name (names are created on first use)."""
    if ident.isdigit():
        try:
            return client.get_experiment(ident).name
        except Exception as exc:
            raise TrackingError(f"No experiment with id {ident}.") from exc
    return ident


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.monitor_performance",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", nargs="?",
                   help="monitoring experiment id or name (default <prefix>-Monitoring)")
    p.add_argument("--batch", help="CSV or Parquet batch; without it a batch is simulated")
    p.add_argument("--batch-id", help="batch id (default: the file name)")
    p.add_argument("--scenario", default="no_drift",
                   help="scenario of the simulated batch (no_drift, covariate_shift, "
                        "label_shift, concept_drift, data_quality)")
    p.add_argument("--rows", type=int_arg, default=5000, help="rows of the simulated batch")
    p.add_argument("--seed", type=int_arg, default=None, help="seed of the simulated batch")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    experiment = None
    if args.experiment:
        experiment = resolve_experiment(configure_tracking(settings.tracking), args.experiment)
    batch = args.batch
    if not batch:
        from pipelines.simulate import simulate_batch

        batch = simulate_batch(settings, args.scenario, rows=args.rows, seed=args.seed)
    monitor_batch(settings, batch, batch_id=args.batch_id or None, experiment=experiment)
    return 0


if __name__ == "__main__":
    exit_with(main)
