"""Monitor production batches with the champion and log each verdict to MLflow.

The champion and its reference context are loaded once per :class:`Monitor`; each batch is
validated and converted once (:func:`~pipelines.data.batch.prepare_batch`) *before* a run is
opened, so a refused batch leaves no monitoring run behind. The model's outputs come from the
batch's prediction column(s) when configured and present, otherwise from the champion.

A batch is judged as its champion's problem type (``champion.schema.problem_type``, stored
with the model), never the configuration's ``data.problem_type``: a configuration edited after
training cannot make a regression model be judged by ROC-AUC. The outputs are P(class 1)
(binary), the predicted value (regression) or one probability per class in the schema's class
order (multiclass).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Settings
from pipelines.data.batch import Batch, PreparedBatch, prepare_batch
from pipelines.data.io import atomic_write_text, json_text, readable
from pipelines.data.schema import FeatureSchema
from pipelines.data.sources import BatchSource, FileSource
from pipelines.errors import DataError
from pipelines.monitoring import consecutive, html_report, impact, plots, summary
from pipelines.monitoring.consecutive import FeatureCounts
from pipelines.monitoring.counts import (
    ALL,
    BatchCounts,
    BinnedColumn,
    CountsProfile,
    count_features,
)
from pipelines.monitoring.engine import evaluate_batch, evaluate_counts
from pipelines.monitoring.impact import ImpactRanking
from pipelines.monitoring.matters import attach
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import MonitoringReport, report_metrics, safe_name
from pipelines.monitoring.slices import evaluate_slices, evaluate_slices_from_counts, with_slices
from pipelines.monitoring.timing import AFTER_RUN_PHASES, Stopwatch, ops_metrics
from pipelines.notify import Notification, Notifier, broadcast, notifiers_for
from pipelines.problems import PROBLEM_TYPE_TAG, problem
from pipelines.retraining.importance import compare_importances
from pipelines.stats import CategoricalReference, NumericReference
from pipelines.store import (
    Champion,
    Store,
    connect,
    load_champion,
    load_reference_context,
    tag_version,
)
from pipelines.store import contract as c
from pipelines.store.matters import previous_feature_counts
from pipelines.store.registry import set_latest_batch
from pipelines.store.scoring import class_columns, external_outputs
from pipelines.store.searches import (
    find_processed_batch,
    latest_batch_time,
    latest_monitoring_run,
    monitoring_history,
)
from pipelines.workflows import importance
from pipelines.workflows.family import resolve_settings
from pipelines.workflows.slices import SliceCounts, load_slice_set, log_slice_table, slice_tags

logger = logging.getLogger(__name__)

#: Batches shown in each run's performance-over-batches plot (the latest ones): reading
#: every past run's metrics back grew with the history and cost 0.3 s of a cycle early on.
TREND_BATCHES = 50
#: A multiclass batch's confusion matrix, logged as an MLflow table (rows: actual classes).
CONFUSION_TABLE_ARTIFACT = "confusion_matrix.json"


@dataclass(frozen=True)
class MonitorOutcome:
    report: MonitoringReport
    run_id: str
    report_path: Path
    experiment_id: str
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of the cycle (convert, scoring, drift, ..., registry, notify)."""


def batch_scores(prepared: PreparedBatch, champion: Champion,
                 prediction_column: str | None) -> tuple[np.ndarray, str]:
    """The model's outputs logged by the serving system if configured and present, else the
    champion's, per the champion's problem type: binary P(class 1) in [0, 1]; regression
    finite numbers; multiclass one column per class, ``<prediction_column>_<class>``, each in
    [0, 1], rows summing to 1 (the rule models scored elsewhere follow:
    :func:`~pipelines.store.scoring.external_outputs`)."""
    frame, source, schema = prepared.frame, prepared.batch.source, champion.schema
    if not prediction_column:
        return champion.score(frame), f"champion v{champion.version}"
    if schema.problem_type == "multiclass":
        names = class_columns(prediction_column, schema.classes)
        if any(n in frame.columns for n in names):  # a partial set is refused, naming them
            return (external_outputs(frame, prediction_column, schema.problem_type,
                                     schema.classes, source),
                    f"columns {names[0]} .. {names[-1]}")
    elif prediction_column in frame.columns:
        if schema.problem_type == "regression":
            return (external_outputs(frame, prediction_column, schema.problem_type, (),
                                     source), f"column {prediction_column}")
        s = pd.to_numeric(frame[prediction_column], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(s) | (s < 0) | (s > 1)
        if bad.any():
            raise DataError(f"{source}: prediction column {prediction_column!r} has "
                            f"{int(bad.sum())} value(s) that are missing or outside [0, 1].")
        return s, f"column {prediction_column}"
    return champion.score(frame), f"champion v{champion.version}"


def performance_params(settings: Settings, problem_type: str,
                       baseline: dict[str, float]) -> dict[str, object]:
    """The performance limit a run logs as params, per type: ``roc_auc_floor`` (binary, as
    before), ``macro_f1_floor`` (multiclass), ``rmse_ceiling`` (regression, resolved against
    the reference's RMSE when relative; ``rmse_ratio_ceiling`` then too) and
    ``problem_type`` for the non-binary types."""
    m = settings.monitoring
    if problem_type == "multiclass":
        return {"problem_type": problem_type, "macro_f1_floor": m.macro_f1_floor}
    if problem_type == "regression":
        out: dict[str, object] = {"problem_type": problem_type}
        if m.rmse_ceiling is None:
            out["rmse_ratio_ceiling"] = m.rmse_ratio_ceiling
        ceiling = summary.rmse_ceiling(m.model_dump(), baseline.get("rmse", float("nan")))
        out["rmse_ceiling"] = readable(ceiling)
        return out
    return {"roc_auc_floor": m.roc_auc_floor}


def last_metric_tag(metric: str) -> str:
    """The model version tag of the latest batch's primary metric (binary keeps
    ``monitoring.last_roc_auc``)."""
    return c.VTAG_LAST_ROC_AUC if metric == "roc_auc" else f"monitoring.last_{metric}"


def write_stored_batch(frame: pd.DataFrame, path: Path) -> None:
    """A stored batch as Parquet, written for speed: dictionary encoding for text columns
    only (it costs time and saves nothing on floats), no column statistics (nothing filters
    on them): 0.25 s instead of 0.38 s at 1M rows x 27 columns, the same size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    text = [f.name for f in table.schema
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            or pa.types.is_dictionary(f.type)]
    pq.write_table(table, path, use_dictionary=text, write_statistics=False)


def report_tags(report: MonitoringReport, champion: Champion, sequence: int) -> dict[str, str]:
    return {
        c.TAG_STEP: c.STEP_MONITOR,
        c.TAG_STATUS: report.status,
        c.TAG_SEQUENCE: str(sequence),
        c.TAG_RETRAINING_RECOMMENDED: str(report.retraining_recommended).lower(),
        c.TAG_BATCH_ID: report.batch_id,
        c.TAG_HAS_LABELS: str(report.has_labels).lower(),
        c.TAG_CHAMPION_VERSION: champion.version,
        c.TAG_CHAMPION_MODEL: champion.name,
        c.TAG_ALERTS: ",".join(dict.fromkeys(a.rule for a in report.alerts)) or "none",
        c.TAG_DRIFTED_FEATURES: ",".join(report.drifted_features)[:c.TAG_LIMIT] or "none",
        PROBLEM_TYPE_TAG: report.problem_type,  # how late labels are read for this run
    }


def _batch_times(prepared: PreparedBatch | None) -> pd.Series | None:
    """The batch's data times, from its timestamp column (None without one)."""
    if prepared is None:
        return None
    column = prepared.schema.timestamp_column
    if not column or column not in prepared.frame.columns:
        return None
    times = pd.to_datetime(prepared.frame[column], errors="coerce").dropna()
    return None if times.empty else times


def _time_tags(prepared: PreparedBatch) -> dict[str, str]:
    """The batch's data time span, from its timestamp column (none without one)."""
    times = _batch_times(prepared)
    if times is None:
        return {}
    return {c.TAG_BATCH_TIME_START: times.min().isoformat(),
            c.TAG_BATCH_TIME_END: times.max().isoformat()}


def run_ops_metrics(report: MonitoringReport, timer: Stopwatch,
                    prepared: PreparedBatch | None) -> dict[str, float]:
    """The operational metrics a monitoring run logs before it closes: the seconds of each
    phase so far, the champion's scoring time per 1,000 rows (when the champion scored, in
    a phase of its own) and the batch's freshness (when it has data times)."""
    scored_by = str(report.context.get("scored_by", ""))
    scoring = timer.seconds.get("scoring") if scored_by.startswith("champion") else None
    times = _batch_times(prepared)
    newest = None if times is None else times.max().to_pydatetime()
    return ops_metrics(timer.seconds, n_rows=report.n_rows, scoring_seconds=scoring,
                       newest_time=newest, now=datetime.now(UTC))


def _notification(report: MonitoringReport, run_id: str, report_path: Path) -> Notification:
    severity = {"ok": "info", "warning": "warning", "critical": "critical"}[report.status]
    return Notification(
        subject=f"batch {report.batch_id}: {report.status}"
                + (" (retraining recommended)" if report.retraining_recommended else ""),
        severity=severity,  # type: ignore[arg-type]
        findings=tuple((a.severity, f"{a.rule}: {a.message}") for a in report.alerts),
        links={"run": run_id, "report": str(report_path)})


class Monitor:
    """The champion and its reference context, loaded once, then any number of batches."""

    def __init__(self, settings: Settings, store: Store | None = None,
                 experiment: str | None = None,
                 notifiers: list[Notifier] | None = None) -> None:
        self.settings = settings
        self.store = store or connect(settings.tracking)
        self.champion = load_champion(self.store)
        self.reference = load_reference_context(
            self.store, self.champion, n_bins=settings.monitoring.psi_bins,
            decision_threshold=settings.training.decision_threshold)
        # the champion's type, stored with the model: never the configuration's
        self.problem_type = self.champion.schema.problem_type
        self.policy = MonitoringPolicy.from_settings(settings.monitoring,
                                                     settings.training.decision_threshold,
                                                     problem_type=self.problem_type)
        self.experiment = experiment or settings.tracking.monitoring_experiment
        self.notifiers = notifiers_for(settings) if notifiers is None else notifiers
        self.slice_set = load_slice_set(self.store, self.champion, self.reference, settings)

    def evaluate(self, batch: Batch, timer: Stopwatch | None = None
                 ) -> tuple[MonitoringReport, PreparedBatch, np.ndarray]:
        """Validate, score and evaluate a batch; nothing is logged. Raises on bad input."""
        timer = timer or Stopwatch()
        with timer("convert"):
            prepared = prepare_batch(batch, self.champion.schema)
        with timer("scoring"):
            scores, scored_by = batch_scores(prepared, self.champion,
                                             self.settings.data.prediction_column)
        report = evaluate_batch(
            prepared, scores, self.reference, self.policy,
            settings=self.settings.monitoring.model_dump(),
            context={"source": batch.source, "scored_by": scored_by,
                     "champion_version": self.champion.version,
                     "champion_model": self.champion.name,
                     "reference_run_id": self.champion.run_id},
            timer=timer,
        )
        if self.slice_set is not None:
            with timer("slices"):
                report = with_slices(report, evaluate_slices(
                    prepared, scores, self.slice_set, self.policy, report), self.policy)
        return report, prepared, scores

    def run(self, batch: Batch, extra_tags: dict[str, str] | None = None) -> MonitorOutcome:
        """Evaluate ``batch`` and log it: one MLflow run, the JSON report, a notification.
        The outcome's ``timings`` say where the time went."""
        timer = Stopwatch()
        report, prepared, scores = self.evaluate(batch, timer)
        report, kept = self.drift_that_matters(report, prepared=prepared, timer=timer)
        return self._log(report, BatchInfo.of(batch), Evidence(prepared=prepared, scores=scores,
                                                              feature_counts=kept),
                         extra_tags, timer)

    def evaluate_counts(self, counts: BatchCounts, info: BatchInfo, *, engine: str,
                        scored_by: str, slices: SliceCounts | None = None) -> MonitoringReport:
        """The verdict on a batch reduced to counts (chunked and Spark engines); ``slices``:
        the counts and rows per slice when slices are configured."""
        report = evaluate_counts(
            counts, self.counts_profile, self.reference, self.policy, batch_id=info.batch_id,
            settings=self.settings.monitoring.model_dump(),
            context={"source": info.source, "scored_by": scored_by, "engine": engine,
                     "ks_bins": self.counts_profile.ks_bins,
                     "champion_version": self.champion.version,
                     "champion_model": self.champion.name,
                     "reference_run_id": self.champion.run_id})
        if self.slice_set is not None and slices is not None:
            report = with_slices(report, evaluate_slices_from_counts(
                slices.counts, slices.rows, self.slice_counts_profiles, self.slice_set,
                self.policy, report), self.policy)
        return report

    @cached_property
    def slice_counts_profiles(self) -> dict[str, CountsProfile]:
        """Each judged slice's reference as bins (built once, on first use)."""
        contexts = {} if self.slice_set is None else self.slice_set.contexts
        return {key: CountsProfile.from_context(ctx, self.settings.engine.ks_bins)
                for key, ctx in contexts.items() if ctx is not None}

    def run_counts(self, counts: BatchCounts, info: BatchInfo, *, engine: str,
                   scored_by: str, timer: Stopwatch | None = None,
                   slices: SliceCounts | None = None) -> MonitorOutcome:
        """Evaluate and log a batch reduced to counts: the same run, report and notification
        as :meth:`run`, figures drawn from the counts, the rows themselves not stored.
        ``timer``: the one that timed the counting (its phases are the run's too)."""
        timer = timer or Stopwatch()
        with timer("statistics"):
            report = self.evaluate_counts(counts, info, engine=engine, scored_by=scored_by,
                                          slices=slices)
        report, kept = self.drift_that_matters(report, counts=counts, timer=timer)
        return self._log(report, info, Evidence(counts=counts, feature_counts=kept),
                         {c.TAG_ENGINE: engine}, timer)

    def drift_that_matters(self, report: MonitoringReport, *,
                           prepared: PreparedBatch | None = None,
                           counts: BatchCounts | None = None,
                           timer: Stopwatch | None = None
                           ) -> tuple[MonitoringReport, FeatureCounts | None]:
        """Issue 24: ``report`` with the drifted features ranked by impact and the comparison
        with the previous batch (as configured), and the feature counts this batch keeps for
        the next one (None when consecutive drift is off)."""
        timer = timer or Stopwatch()
        m = self.settings.monitoring
        ranking = None
        if m.impact_ranking:
            with timer("impact"):
                ranking = self._impact(report, prepared)
        against = kept = None
        if m.consecutive_drift:
            with timer("consecutive drift"):
                profile = self.counts_profile
                if counts is None:
                    assert prepared is not None
                    counts = count_features(profile, prepared)
                previous, reason = previous_feature_counts(self.store, self.experiment)
                against = (consecutive.consecutive_drift(previous, counts, profile,
                                                         self.policy.drift, report.feature_drift)
                           if previous is not None else consecutive.not_computed(reason))
                kept = FeatureCounts.of(counts, profile, report.feature_drift, report.batch_id)
        if m.importance_on_batch and prepared is not None and prepared.labels is not None:
            with timer("importance"):
                stability = self._batch_importance(prepared)
            if stability is not None:
                report = replace(report, tables={**report.tables,
                                                 "importance_stability": stability})
        return (attach(report, impact=ranking, consecutive=against,
                       consecutive_alerts=m.consecutive_drift_alerts), kept)

    @cached_property
    def _reference_importances(self) -> Any:
        """The champion's permutation importance on its reference rows (once per monitor)."""
        return importance.reference_importances(self.store, self.champion,
                                                self.settings.monitoring.impact_seed)

    def _batch_importance(self, prepared: PreparedBatch) -> dict[str, Any] | None:
        """The champion's permutation importance on this labelled batch against the same
        on its reference rows (``importance_on_batch``)."""
        seed = self.settings.monitoring.impact_seed
        frame = prepared.frame
        try:
            recorded = self._reference_importances
            now = importance.batch_importances(self.champion, frame, seed)
        except Exception as exc:  # noqa: BLE001 (an add-on to the verdict)
            logger.warning("Importance on batch %s: %s", prepared.batch.batch_id, exc)
            return None
        if recorded is None or now is None:
            return None
        comparison = compare_importances(recorded, now, self.settings.monitoring.importance_top_k)
        return {**comparison.to_dict(), "batch": now.to_dict()}

    def _impact(self, report: MonitoringReport, prepared: PreparedBatch | None) -> ImpactRanking:
        """The impact ranking of the batch's drifted features, or why there is none."""
        kind = self.problem_type
        if prepared is None:
            return impact.not_computed(
                "counts engine: the ranking scores rows again, and the rows never reach this "
                "process (chunked, Spark); monitor a sample of the batch with engine.name = "
                "memory for it", kind)
        if self.champion.external:
            return impact.not_computed(
                "the model is scored elsewhere (registered with register-reference): there is "
                "no model here to score the rows again", kind)
        m = self.settings.monitoring
        ref = self.reference
        try:
            return impact.rank_impact(
                prepared.frame, report.feature_drift, ref.profile, self.champion.score,
                problem_type=kind,
                reference_mean=impact.reference_output_mean(kind, ref.score_reference,
                                                            ref.class_references),
                scale=ref.score_reference.std, max_rows=m.impact_max_rows, seed=m.impact_seed,
                harmless_below=(m.impact_harmless_sd if kind == "regression"
                                else m.impact_harmless))
        except Exception as exc:  # an add-on: the verdict stands without it  # noqa: BLE001
            logger.warning("The impact ranking of batch %s failed: %s", report.batch_id, exc)
            return impact.not_computed(f"the model could not score the moved rows: {exc}", kind)

    @cached_property
    def reference_story(self) -> str:
        """What the champion's reference is, in words (the report says it under the verdict):
        read once from its version's tags and, for a retrained version, its retraining run.
        Best effort: what cannot be read (a deleted run) is left out, the cycle goes on."""
        champion = self.champion
        tags: dict[str, str] = {}
        retraining = None
        try:
            tags = dict(self.store.client.get_model_version(champion.name,
                                                            champion.version).tags)
            parent = tags.get("parent_run_id")
            if tags.get("trained_by") == "retraining" and parent:
                run = self.store.client.get_run(parent)
                retraining = {**run.data.params, "run_id": parent,
                              "run_name": run.info.run_name or parent}
        except Exception as exc:  # the report's sentence only  # noqa: BLE001
            logger.warning("Where the reference of %s v%s comes from could not be read: %s",
                           champion.name, champion.version, exc)
        return html_report.reference_text(self.reference.profile.n_rows, champion.version,
                                          tags, retraining)

    @cached_property
    def counts_profile(self) -> CountsProfile:
        """The champion's reference as bins (built once, on first use)."""
        return CountsProfile.from_context(self.reference, self.settings.engine.ks_bins)

    def _log(self, report: MonitoringReport, info: BatchInfo, evidence: Evidence,
             extra_tags: dict[str, str] | None = None,
             timer: Stopwatch | None = None) -> MonitorOutcome:
        timer = timer or Stopwatch()
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
            stored = Path(tmp) / Path(c.BATCH_ARTIFACT).name
            # the batch's Parquet copy is encoded in a thread from the start (Arrow releases
            # the GIL) while the run, the tables and the plots are written; it is uploaded
            # once the run exists, and the cycle waits for it before it ends
            writing = (pool.submit(self._write_batch, evidence, stored)
                       if self.settings.monitoring.store_batch and evidence.prepared is not None
                       else None)
            # the distribution figures need the batch alone: drawn in the other thread while
            # the run is written (SQLite's writes and PNG encoding release the GIL)
            drawing = pool.submit(self._distribution_figures, report, evidence)
            return self._log_run(report, info, evidence, extra_tags, timer, pool, writing,
                                 stored, drawing)

    def _log_run(self, report: MonitoringReport, info: BatchInfo, evidence: Evidence,
                 extra_tags: dict[str, str] | None, timer: Stopwatch, pool: ThreadPoolExecutor,
                 writing: Future[None] | None, stored: Path,
                 drawing: Future[dict[str, bytes]]) -> MonitorOutcome:
        settings = self.settings
        prepared = evidence.prepared
        with timer("mlflow run"):
            previous = latest_monitoring_run(self.store, self.experiment)
            sequence = int(previous.data.tags.get(c.TAG_SEQUENCE, "0")) + 1 if previous else 1
            tags = {**report_tags(report, self.champion, sequence), **slice_tags(report),
                    **(extra_tags or {})}
            tags[c.TAG_DESCRIPTION] = self._description(report, previous)
            tags[c.TAG_RUN_COLOR] = c.STATUS_COLORS[report.status]
            if info.digest:
                tags[c.TAG_BATCH_DIGEST] = info.digest
            if info.file_name:
                tags[c.TAG_BATCH_FILE] = info.file_name
            if prepared is not None:
                tags.update(_time_tags(prepared))
            report_text = json_text(report.to_dict())
            run_name = summary.run_name(report, sequence)
        # the run is FINISHED only once everything it stands for is written, the local report
        # files included: if any write fails (a full or read-only disk), the run ends FAILED
        # with the reason, and the batch is retried (de-duplication counts FINISHED runs only)
        with self.store.start_run(self.experiment, run_name=run_name, tags=tags) as run, \
                _settled(pool) as submit:
            run_id = run.info.run_id
            experiment_id = run.info.experiment_id
            uploading = (submit(self._upload_batch, writing, stored, run_id)
                         if writing is not None else None)
            with timer("mlflow run"):
                self.store.log_params({
                    "batch_source": info.source[:500], "n_rows": report.n_rows,
                    **performance_params(settings, self.problem_type, report.baseline),
                    "drift_p_value": settings.monitoring.drift_p_value,
                    "drift_share_limit": settings.monitoring.drift_share,
                    "correction": settings.monitoring.correction,
                })
                self.store.log_metrics(report_metrics(report), step=sequence)
                if prepared is not None:
                    target = self.champion.schema.target if report.has_labels else None
                    self.store.log_dataset(prepared.frame, info.source, info.batch_id, target,
                                           context="production")
            with timer("artifacts"):
                self.store.log_text(report_text, c.MONITORING_REPORT_ARTIFACT)
                self.store.log_table(summary.feature_table(report), c.DRIFT_TABLE_ARTIFACT)
                self.store.log_table(summary.quality_table(report), c.QUALITY_TABLE_ARTIFACT)
                if evidence.feature_counts is not None:  # the next batch's consecutive drift
                    self.store.log_text(evidence.feature_counts.to_json(),
                                        c.FEATURE_COUNTS_ARTIFACT)
                confusion = summary.confusion_table(report)
                if confusion is not None:
                    self.store.log_table(confusion, CONFUSION_TABLE_ARTIFACT)
                log_slice_table(self.store, report)
            with timer("plots"):  # the wait for the distribution figures, and the trend
                images = {**drawing.result(), **self._trend_figure(experiment_id)}
            with timer("artifacts"):
                folder = stored.parent / "plots"
                folder.mkdir()
                for name, png in images.items():
                    (folder / name).write_bytes(png)
                self.store.log_artifacts(folder, "plots")
                page = html_report.render(report, title=run_name, images=images, links={
                    "run": run_id,
                    "model": f"{self.champion.name} v{self.champion.version}",
                    "scored by": report.context.get("scored_by", "")},
                    reference=self.reference_story)
                self.store.log_text(page, c.HTML_REPORT_ARTIFACT)
            with timer("batch storage (waited for)"):
                if uploading is not None:
                    uploading.result()
            with timer("report files"):
                path = _write_report_files(settings.paths.output, report_text, page)
            self.store.log_metrics(run_ops_metrics(report, timer, prepared), step=sequence)
        with timer("registry"):
            metric = problem(self.problem_type).primary_metric
            value = (report.performance or {}).get(metric)
            tag_version(self.store, self.champion.version, {  # the registry page: latest health
                c.VTAG_LAST_STATUS: report.status,
                last_metric_tag(metric): "n/a" if value is None else (
                    f"{value:.4f}" if metric == "roc_auc" else readable(value)),
                c.VTAG_LAST_RUN: run_name,
                c.VTAG_LAST_RUN_LINK: f"#/experiments/{experiment_id}/runs/{run_id}",
                c.VTAG_LAST_AT: datetime.now(UTC).isoformat(timespec="seconds"),
            }, best_effort=True)
            set_latest_batch(self.store, self.champion.version, c.run_link(
                experiment_id, run_id, run_name) + f" ({report.n_rows:,} rows, "
                f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
        with timer("notify"):
            failures = broadcast(self.notifiers, _notification(report, run_id, path))
            if failures:  # recorded where the reviewer looks; the verdict itself stands
                self.store.set_tags(
                    {c.TAG_NOTIFICATION_FAILED: "; ".join(failures)[:c.TAG_LIMIT]},
                    run_id=run_id)
        self._log_after_run(run_id, sequence, report.n_rows, timer)
        logger.info("Batch %s: status %s, retraining recommended: %s; report %s, run %s",
                    info.batch_id, report.status, report.retraining_recommended, path, run_id)
        logger.debug("Batch %s timings: %s", info.batch_id,
                     ", ".join(f"{k} {v:.3f} s" for k, v in timer.seconds.items()))
        return MonitorOutcome(report=report, run_id=run_id, report_path=path,
                              experiment_id=experiment_id, timings=dict(timer.seconds))

    def _log_after_run(self, run_id: str, sequence: int, n_rows: int,
                       timer: Stopwatch) -> None:
        """The phases timed after the run closed (registry, notify), the cycle's total and
        rows per second, onto the closed run; best effort (the verdict is written)."""
        metrics = ops_metrics(timer.seconds, n_rows=n_rows, total_seconds=timer.elapsed(),
                              phases=AFTER_RUN_PHASES)
        try:
            self.store.log_metrics_to(run_id, metrics, step=sequence)
        except Exception as exc:  # the cycle's timings only  # noqa: BLE001
            logger.warning("The operational metrics of run %s after it closed could not be "
                           "logged: %s", run_id, exc)

    def _description(self, report: MonitoringReport, previous: object) -> str:
        champion = self.champion
        links = {"model": c.version_link(champion.name, champion.version)}
        if previous is not None:
            info = previous.info  # type: ignore[attr-defined]
            links["previous batch"] = c.run_link(info.experiment_id, info.run_id,
                                                 info.run_name or info.run_id)
        return summary.description(report, links)[:c.DESCRIPTION_LIMIT]

    @staticmethod
    def _write_batch(evidence: Evidence, path: Path) -> None:
        """The batch and its scores as Parquet (what the run keeps, so that retraining and
        labels that arrive later find it from MLflow alone)."""
        assert evidence.prepared is not None
        assert evidence.scores is not None
        write_stored_batch(evidence.prepared.stored_frame(evidence.scores), path)

    def _upload_batch(self, writing: Future[None], path: Path, run_id: str) -> None:
        writing.result()
        self.store.log_artifact(run_id, path, str(Path(c.BATCH_ARTIFACT).parent))

    def _distribution_figures(self, report: MonitoringReport,
                              evidence: Evidence) -> dict[str, bytes]:
        """The batch's figures as PNG bytes, by file name: drifted features (up to
        ``max_drift_plots``) and scores; from the batch's values, or from its counts (counts
        engines). Each is rendered as soon as it is drawn and released."""
        limit = self.settings.monitoring.max_drift_plots
        ref, correction = self.reference, self.settings.monitoring.correction
        rendered: dict[str, bytes] = {}
        for f in [f for f in report.feature_drift if f.drifted][:limit]:
            if f.kind == "numeric":
                title = (f"{f.feature}: PSI {f.effect_size:.3f}, KS p {f.pvalue_adjusted:.1e} "
                         f"({correction}-adjusted)")
                fig = evidence.numeric_figure(ref.profile.numeric[f.feature],
                                              self._binned(f.feature), title)
            else:
                title = (f"{f.feature}: PSI {f.effect_size:.3f}, chi-square p "
                         f"{f.pvalue_adjusted:.1e} ({correction}-adjusted)")
                fig = evidence.categorical_figure(ref.profile.categorical[f.feature], title)
            rendered[f"drift_{safe_name(f.feature)}.png"] = _render(fig)
        schema = self.champion.schema
        target = schema.target
        if schema.problem_type != "binary":  # the outputs' figures of the model's type
            for name, fig in evidence.output_figures(schema, report, ref):
                rendered[name] = _render(fig)
            return rendered
        rendered["score_distribution.png"] = _render(evidence.score_figure(
            ref.score_reference, self._binned(None), "Model scores: reference vs current",
            f"score P({target} = 1)"))
        return rendered

    def _trend_figure(self, experiment_id: str) -> dict[str, bytes]:
        """Performance over the latest batches (this one included: its metrics are logged):
        the champion's primary metric (its type's, read from the champion, not the
        configuration) with its floor or ceiling."""
        kind = problem(self.champion.schema.problem_type)
        metric = kind.primary_metric
        past = monitoring_history(self.store, experiment_id, limit=TREND_BATCHES,
                                  metrics=() if kind.name == "binary"
                                  else (metric, f"estimated_{metric}"))
        return {"performance_over_time.png": _render(plots.timeline(
            past, self._performance_limit(), self.policy.drift_share.limit, kind.name))}

    def _performance_limit(self) -> float | None:
        """The trend's line: the primary metric's floor (ceiling, for RMSE); the policy's
        when it has one, else from the settings (the relative RMSE ceiling times the
        reference's RMSE); None when there is none to draw."""
        kind = self.champion.schema.problem_type
        if kind == "binary":
            return self.policy.roc_auc.limit
        policy = self.policy
        resolve = getattr(policy, "for_reference", None)  # a relative ceiling made absolute
        if resolve is not None:
            policy = resolve(self.reference.baseline)
        limit = getattr(getattr(policy, "performance", None), "limit", None)
        if limit is not None and np.isfinite(limit):
            return float(limit)
        settings = self.settings.monitoring
        if kind == "multiclass":
            return settings.macro_f1_floor
        if settings.rmse_ceiling is not None:
            return settings.rmse_ceiling
        reference = self.reference.baseline.get("rmse", np.nan)
        return settings.rmse_ratio_ceiling * reference if np.isfinite(reference) else None

    def _binned(self, feature: str | None) -> BinnedColumn | None:
        if "counts_profile" not in self.__dict__:  # in-memory batches never build it
            return None
        profile = self.counts_profile
        return profile.score if feature is None else profile.numeric[feature]


def _render(fig: object) -> bytes:
    try:
        return plots.png_bytes(fig)  # type: ignore[arg-type]
    finally:
        plots.close(fig)  # type: ignore[arg-type]


def _write_report_files(folder: Path, report_text: str, page: str) -> Path:
    """The local copies of the report (JSON and HTML), both or neither. An OS error names
    the file it could not write."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"monitoring_report_{stamp}.json"
    written: list[Path] = []
    try:
        for target, text in ((path, report_text), (path.with_suffix(".html"), page)):
            try:
                written.append(atomic_write_text(target, text))
            except OSError as exc:  # the file meant, not its temporary twin
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
    except BaseException:
        for done in written:
            done.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def _settled(pool: ThreadPoolExecutor) -> Iterator[Callable[..., Future[Any]]]:
    """Submit work to ``pool`` for the block; when the block fails, the work not started is
    cancelled and the work under way waited for before the failure goes on, so an upload
    still running cannot land in a run already marked FAILED and cleaned."""
    submitted: list[Future[Any]] = []

    def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        submitted.append(pool.submit(fn, *args))
        return submitted[-1]

    try:
        yield submit
    except BaseException:
        for future in submitted:
            future.cancel()
        wait(submitted)
        raise


@dataclass(frozen=True)
class BatchInfo:
    """What the run records of where a batch came from."""

    batch_id: str
    source: str
    digest: str | None = None
    file_name: str | None = None

    @classmethod
    def of(cls, batch: Batch) -> BatchInfo:
        return cls(batch.batch_id, batch.source, batch.digest, batch.file_name)


@dataclass(frozen=True)
class Evidence:
    """What the figures (and the stored batch) come from: the batch's values in memory, or
    its counts (counts engines)."""

    prepared: PreparedBatch | None = None
    scores: np.ndarray | None = None
    counts: BatchCounts | None = None
    feature_counts: FeatureCounts | None = None
    """What the batch keeps for the next one's consecutive drift (issue 24)."""

    def numeric_figure(self, ref: NumericReference, binned: BinnedColumn | None,
                       title: str) -> object:
        if self.counts is not None and binned is not None:
            k = binned.n_bins
            return plots.binned_distribution(binned.edges, binned.reference,
                                             self.counts.numeric[binned.name][:k], title,
                                             xlabel=binned.name)
        assert self.prepared is not None
        return plots.numeric_distribution(ref, self.prepared.numeric[ref.name], title,
                                          xlabel=ref.name)

    def categorical_figure(self, ref: CategoricalReference, title: str) -> object:
        if self.counts is not None:
            labels, values, missing = self.counts.category_counts(ref.name)
            shares = pd.Series([*values.tolist(), missing], index=[*labels, "<missing>"],
                               dtype=float)
            return plots.categorical_shares(ref, shares[shares > 0] / max(shares.sum(), 1.0),
                                            title)
        assert self.prepared is not None
        return plots.categorical_distribution(ref, self.prepared.categorical[ref.name], title)

    def score_figure(self, ref: NumericReference, binned: BinnedColumn | None, title: str,
                     xlabel: str) -> object:
        if self.counts is not None and binned is not None:
            return plots.binned_distribution(binned.edges, binned.reference,
                                             self.counts.scores[ALL], title, xlabel=xlabel)
        return plots.numeric_distribution(ref, self.scores, title, xlabel=xlabel)

    def output_figures(self, schema: FeatureSchema, report: MonitoringReport,
                       ref: ReferenceContext) -> Iterator[tuple[str, object]]:
        """A regression or multiclass model's figures (batches in memory only: the counts
        engines judge binary models), by artifact name, one at a time: render each before
        asking for the next."""
        assert self.prepared is not None
        assert self.scores is not None
        labels = self.prepared.labels
        if schema.problem_type == "regression":
            baseline = report.baseline
            prediction_ref = getattr(ref, "score_reference", None)
            yield from plots.regression_figures(
                self.scores, labels,
                prediction_reference=(prediction_ref if isinstance(prediction_ref,
                                                                   NumericReference) else None),
                reference_rmse=baseline.get("rmse"), reference_bias=baseline.get("bias"),
                target=schema.target)
            return
        classes = list(schema.classes)
        table = (getattr(report, "tables", None) or {}).get("confusion_matrix") or {}
        confusion = (table.get("counts") if [str(c) for c in table.get("classes", ())]
                     == classes else None)
        shares = plots.reference_class_shares
        yield from plots.multiclass_figures(
            classes, self.scores, labels, confusion=confusion,
            reference_predicted=shares(getattr(ref, "prediction_classes", None), classes),
            reference_actual=(None if labels is None else
                              shares(getattr(ref, "target_reference", None), classes)),
            probability_drift=plots.class_drift_rows(
                getattr(report, "output_drift_detail", None), classes))


def monitor_source(settings: Settings, source: BatchSource, *, experiment: str | None = None,
                   store: Store | None = None) -> list[MonitorOutcome]:
    """Monitor every batch ``source`` offers (no cooldown, no retraining: that is the
    orchestrator's). A refused or failed batch is settled with its source and re-raised."""
    store = store or connect(settings.tracking)
    settings = resolve_settings(settings, store)  # the model and columns the family knows
    source.read_with(settings.data)  # the resolved columns
    name = store.experiment_name(experiment) if experiment else None
    monitor = Monitor(settings, store=store, experiment=name)
    source.begin(latest_batch_time(store, monitor.experiment))
    outcomes = []
    for pending in source.pending():
        try:
            batch = pending.load()
            outcomes.append(monitor.run(batch, _repeat_tags(store, batch)))
        except DataError as exc:
            source.settle(pending, "refused", str(exc))
            raise
        except Exception as exc:
            source.settle(pending, "failed", f"{type(exc).__name__}: {exc}")
            raise
        source.settle(pending, "monitored")
    return outcomes


def _repeat_tags(store: Store, batch: Batch) -> dict[str, str]:
    """A batch whose content was monitored before (a finished run with its digest) is
    monitored again, as asked, with a warning naming the earlier run and a tag pointing at it
    (late labels are back-filled onto the earlier run only)."""
    earlier = find_processed_batch(store, batch.digest) if batch.digest else None
    if earlier is None:
        return {}
    run = store.client.get_run(earlier)
    if run.data.tags.get(c.TAG_BATCH_REPEAT_OF):  # a repeat itself: point at the original
        earlier = run.data.tags[c.TAG_BATCH_REPEAT_OF]
        run = store.client.get_run(earlier)
    logger.warning("%s has the same content (digest %s) as the batch monitored by run %s (%s) "
                   "on %s; monitoring it again as asked, tagged %s=%s; late labels go to the "
                   "earlier run only", batch.source, batch.digest[:12], run.info.run_name,
                   earlier, datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
                   .strftime("%Y-%m-%d %H:%M UTC"), c.TAG_BATCH_REPEAT_OF, earlier)
    return {c.TAG_BATCH_REPEAT_OF: earlier}


def monitor_batch(settings: Settings, batch: Batch | str | Path | pd.DataFrame, *,
                  batch_id: str | None = None, source: str | None = None,
                  experiment: str | None = None, store: Store | None = None) -> MonitorOutcome:
    """Monitor one batch (a :class:`Batch`, a file path or a frame) end to end; ``batch_id``
    and ``source`` name a path's or a frame's batch."""
    if isinstance(batch, str | Path):
        (outcome,) = monitor_source(settings, FileSource(Path(batch), settings.data, batch_id),
                                    experiment=experiment, store=store)
        return outcome
    if isinstance(batch, pd.DataFrame):
        batch = Batch(batch, batch_id or datetime.now(UTC).strftime("batch-%Y%m%dT%H%M%SZ"),
                      source or "dataframe")
    store = store or connect(settings.tracking)
    name = store.experiment_name(experiment) if experiment else None
    return Monitor(settings, store=store, experiment=name).run(batch)
