"""Labels that arrive weeks later: joined by id to every stored batch, realized metrics
back-filled onto the original monitoring run (same step, so the charts line up), its
performance alerts and status re-evaluated, its label coverage tagged.

Labels are read as the champion's problem type (stored with the model): 0/1 for a binary
model, numbers for a regression model, class labels for a multiclass model (checked against
the champion's classes: a label it was not trained on refuses the file, naming it). Each
batch is judged as the type of the version that scored it, with the outputs it stored.

The batch's drift and quality verdict stay as they were (they did not need labels); what
the labels add is judged on the labelled rows with the scores the batch was monitored with,
against the reference of the model version that scored it. A batch below
``monitoring.label_coverage_min`` only gets its coverage recorded. Registering the same file
twice changes nothing (a digest of each batch's labels is tagged on its run).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Settings
from pipelines.data.batch import Batch, output_columns, prepare_batch, stored_outputs
from pipelines.data.io import read_table, write_table
from pipelines.data.schema import FeatureSchema
from pipelines.errors import ConfigError, TrackingError
from pipelines.monitoring import summary
from pipelines.monitoring.alerts import RETRAINING_RULES
from pipelines.monitoring.engine import evaluate_batch
from pipelines.monitoring.labels import LabelSet, clean_labels, join_labels, labels_digest
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import chart_metrics
from pipelines.problems import PROBLEM_TYPE_TAG, problem
from pipelines.store import Store, connect, load_model_version, load_reference_context
from pipelines.store import contract as c
from pipelines.store.registry import alias_version
from pipelines.store.searches import finished_monitoring_runs
from pipelines.workflows.family import resolve_settings

logger = logging.getLogger(__name__)

#: The confusion matrix of the labelled rows (multiclass), beside the run's report.
LABELLED_CONFUSION_ARTIFACT = "confusion_matrix_labelled.json"
#: What labels can change: the verdicts that need them.
LABEL_RULES = ("performance", "concept_drift", "target_drift", "low_sample")
_SEVERITY = {"ok": 0, "warning": 1, "critical": 2}


@dataclass
class BatchLabels:
    run_id: str
    run_name: str
    n_rows: int
    n_labelled: int
    coverage: float
    action: str
    """metrics | coverage_only | unchanged | no_ids | labelled_at_monitoring | repeat |
    other_type (scored by a model of another problem type than the labels': left as is)"""
    status_before: str = ""
    status_after: str = ""
    repeat_of: str = ""
    """For action ``repeat``: the run that monitored the same batch first (labels go there)."""


@dataclass
class LabelsOutcome:
    source: str
    n_rows: int
    duplicates: int
    conflicting: int
    unknown: int
    batches: list[BatchLabels] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Versions:
    """Reference contexts of the versions that scored the batches, loaded once each."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.cache: dict[str, ReferenceContext] = {}
        self.policies: dict[str, MonitoringPolicy] = {}

    def policy(self, version: str) -> MonitoringPolicy:
        """The policy a batch scored by ``version`` is judged by: its model's type."""
        if version not in self.policies:
            self.policies[version] = MonitoringPolicy.from_settings(
                self.settings.monitoring, self.settings.training.decision_threshold,
                problem_type=self.context(version).schema.problem_type)
        return self.policies[version]

    def champion_schema(self) -> FeatureSchema | None:
        """The champion's schema (its type and classes), None when there is no champion."""
        version = alias_version(self.store, self.settings.tracking.champion_alias)
        return None if version is None else self.context(str(version.version)).schema

    def context(self, version: str) -> ReferenceContext:
        if version not in self.cache:
            client = self.store.client
            model = client.get_model_version(self.settings.tracking.registered_model_name,
                                             version)
            champion = load_model_version(self.store, model)
            self.cache[version] = load_reference_context(
                self.store, champion, n_bins=self.settings.monitoring.psi_bins,
                decision_threshold=self.settings.training.decision_threshold)
        return self.cache[version]


def register_labels(settings: Settings, path: str | Path, *,
                    store: Store | None = None) -> LabelsOutcome:
    """Join the labels in ``path`` (id, label[, label time]) to every stored batch and
    back-fill what they reveal. Unknown ids and conflicting labels are written beside the
    reports (``labels_unknown_<ts>.csv``, ``labels_conflicting_<ts>.csv``) and counted."""
    store = store or connect(settings.tracking)
    settings = resolve_settings(settings, store)  # the target and id the model was given
    id_column, target = settings.data.id_column, settings.data.target
    if not id_column:
        raise ConfigError("Labels are joined to batches by id: set data.id_column to the "
                          "column that identifies a prediction.")
    raw = read_table(path)
    versions = _Versions(settings, store)
    schema = versions.champion_schema()  # the champion's type, never the configuration's
    kind = schema.problem_type if schema is not None else settings.data.problem_type
    labels = clean_labels(raw, id_column, target, str(path), problem_type=kind,
                          classes=schema.classes if schema is not None else ())
    outcome = LabelsOutcome(str(path), labels.n_rows, labels.duplicates,
                            len(labels.conflicting_ids), 0)
    matched: set[str] = set()
    now = datetime.now(UTC)
    first_of: dict[str, str] = {}  # batch digest -> the run that monitored it first
    for run in finished_monitoring_runs(store):  # oldest first
        digest = run.data.tags.get(c.TAG_BATCH_DIGEST)
        if digest and digest in first_of:  # the same batch again: back-filled once
            outcome.batches.append(_repeat(run, first_of[digest]))
            continue
        if digest:
            first_of[digest] = run.info.run_id
        result = _one_batch(settings, store, run, labels, versions, matched, now)
        if result is not None:
            outcome.batches.append(result)
    skipped = [b for b in outcome.batches if b.action == "repeat"]
    if skipped:
        logger.info("Skipped %d run(s) of batches monitored again (labels back-filled onto the "
                    "first run only): %s", len(skipped), ", ".join(
                        f"{b.run_name} ({b.run_id}, repeat of {b.repeat_of})" for b in skipped))
    unknown = labels.labels.index.difference(pd.Index(sorted(matched)))
    outcome.unknown = len(unknown)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    out = settings.paths.output
    if len(unknown):
        target_path = out / f"labels_unknown_{stamp}.csv"
        write_table(pd.DataFrame({id_column: unknown, target: labels.values(
            labels.labels[unknown].to_numpy(dtype=np.float64))}), target_path)
        outcome.reports.append(str(target_path))
        logger.warning("%d label(s) match no stored batch: %s", len(unknown), target_path)
    if labels.conflicting_ids:
        conflict_path = out / f"labels_conflicting_{stamp}.csv"
        write_table(raw[raw[id_column].astype("string").isin(labels.conflicting_ids)],
                    conflict_path)
        outcome.reports.append(str(conflict_path))
        logger.warning("%d id(s) have conflicting labels, used for no batch: %s",
                       len(labels.conflicting_ids), conflict_path)
    if labels.duplicates:
        logger.info("%d duplicate label row(s) counted once", labels.duplicates)
    return outcome


def _repeat(run: Any, original: str) -> BatchLabels:
    info = run.info
    return BatchLabels(info.run_id, info.run_name, int(run.data.metrics.get("n_rows", 0)), 0,
                       0.0, "repeat", repeat_of=original)


def _one_batch(settings: Settings, store: Store, run: Any, labels: LabelSet,
               versions: _Versions, matched: set[str], now: datetime) -> BatchLabels | None:
    info, tags = run.info, run.data.tags
    id_column, target = settings.data.id_column, settings.data.target
    try:
        stored = store.read_parquet_artifact(info.run_id, c.BATCH_ARTIFACT)
    except TrackingError:
        return None  # stored without its batch (monitoring.store_batch = false)
    if id_column not in stored.columns:
        return BatchLabels(info.run_id, info.run_name, len(stored), 0, 0.0, "no_ids")
    ids = stored[id_column]
    joined = join_labels(ids, labels)
    known = np.isfinite(joined)
    n_labelled = int(known.sum())
    if n_labelled == 0:
        return None
    matched.update(ids.astype("string")[known].tolist())  # known ids, never "unknown"
    coverage = n_labelled / len(stored)
    if target in stored.columns:  # labelled when monitored: its verdict already has them
        return BatchLabels(info.run_id, info.run_name, len(stored), n_labelled, coverage,
                           "labelled_at_monitoring")
    result = BatchLabels(info.run_id, info.run_name, len(stored), n_labelled, coverage,
                         "unchanged", tags.get(c.TAG_STATUS, ""), tags.get(c.TAG_STATUS, ""))
    digest = labels_digest(ids, joined, labels.problem_type)
    if tags.get(c.TAG_LABELS_DIGEST) == digest:
        return result  # the same labels again: nothing to do
    version = tags.get(c.TAG_CHAMPION_VERSION)
    scored_as = tags.get(PROBLEM_TYPE_TAG, "binary")  # runs from before types: binary
    if scored_as != labels.problem_type:
        logger.warning("Labels for %s left aside: its batch was scored by a %s model (v%s), "
                       "the labels are read as the champion's type, %s", info.run_name,
                       scored_as, version, labels.problem_type)
        result.action = "other_type"
        return result
    label_tags = {c.TAG_LABELS_COVERAGE: f"{coverage:.4f}", c.TAG_LABELS_COUNT: n_labelled,
                  c.TAG_LABELS_DIGEST: digest, c.TAG_LABELS_AT: now.isoformat()}
    # the labels themselves, beside the batch: retraining uses the rows that have one
    store.log_parquet_to(info.run_id, pd.DataFrame({
        id_column: ids.astype("string")[known].to_numpy(dtype=object),
        target: labels.values(joined[known])}), c.LATE_LABELS_ARTIFACT)
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    if coverage < settings.monitoring.label_coverage_min:
        store.set_tags(label_tags, run_id=info.run_id)
        store.append_description(info.run_id, (
            f"**Labels registered** {when}: {n_labelled:,} of {len(stored):,} rows "
            f"({coverage:.0%}); realized metrics once "
            f"{settings.monitoring.label_coverage_min:.0%} have labels."))
        result.action = "coverage_only"
        return result
    _backfill(settings, store, run, stored[known], labels.values(joined[known]), versions,
              label_tags, result, when)
    return result


def _backfill(settings: Settings, store: Store, run: Any, rows: pd.DataFrame,
              y: np.ndarray, versions: _Versions, label_tags: dict[str, Any],
              result: BatchLabels, when: str) -> None:
    """Judge the labelled rows with the outputs the batch was monitored with (``y``: the
    labels as a batch carries them, per type) and write what they reveal onto its run."""
    info, tags, metrics = run.info, run.data.tags, run.data.metrics
    version = tags[c.TAG_CHAMPION_VERSION]
    ref, policy = versions.context(version), versions.policy(version)
    schema = ref.schema
    outputs = stored_outputs(rows, schema)
    frame = rows.drop(columns=[k for k in output_columns(schema) if k in rows.columns]).assign(
        **{schema.target: y})
    prepared = prepare_batch(Batch(frame, tags.get(c.TAG_BATCH_ID, info.run_id),
                                   "registered labels"), schema)
    report = evaluate_batch(prepared, outputs, ref, policy,
                            settings=settings.monitoring.model_dump())
    found = [a for a in report.alerts if a.rule in LABEL_RULES]
    before = tags.get(c.TAG_STATUS, "ok")
    worst = max([_SEVERITY.get(before, 0)] + [_SEVERITY[a.severity] for a in found])
    after = {v: k for k, v in _SEVERITY.items()}[worst]
    old_rules = [r for r in tags.get(c.TAG_ALERTS, "none").split(",") if r and r != "none"]
    rules = list(dict.fromkeys(old_rules + [a.rule for a in found]))
    recommended = (tags.get(c.TAG_RETRAINING_RECOMMENDED) == "true"
                   or any(a.rule in RETRAINING_RULES for a in found))
    new_metrics: dict[str, float] = dict(report.performance or {})
    if report.target_drift is not None:
        new_metrics["target_drift_pvalue"] = report.target_drift.pvalue
        new_metrics["target_drift_psi"] = report.target_drift.effect_size
    if report.concept_drift is not None:
        new_metrics["concept_drift_unexplained_drop"] = report.concept_drift.unexplained_drop
    new_metrics.update({"status_level": float(worst),
                        "n_alerts": metrics.get("n_alerts", 0.0) + len(found),
                        "retraining_recommended": float(recommended),
                        "label_coverage": result.coverage})
    sequence = int(tags.get(c.TAG_SEQUENCE, "0"))
    finite = {k: float(v) for k, v in new_metrics.items() if v is not None and np.isfinite(v)}
    kind = problem(schema.problem_type)
    store.log_metrics_to(info.run_id, {**finite, **chart_metrics(finite, kind.name)},
                         step=sequence)
    value = (report.performance or {}).get(kind.primary_metric, float("nan"))
    name = summary.batch_name(sequence, after,
                              summary.measured(value, None, True, kind.name), set(rules),
                              kind.name)
    store.set_tags({**label_tags, c.TAG_STATUS: after, c.TAG_ALERTS: ",".join(rules) or "none",
                    c.TAG_RETRAINING_RECOMMENDED: str(recommended).lower(),
                    c.TAG_RUN_COLOR: c.STATUS_COLORS[after], "mlflow.runName": name},
                   run_id=info.run_id)
    estimated = metrics.get(f"estimated_{kind.primary_metric}")
    lines = [f"**Labels registered** {when}: {result.n_labelled:,} of {result.n_rows:,} rows "
             f"({result.coverage:.0%}). Realized {kind.label} {_number(value, kind.name)}"
             + (f" (estimated before: {_number(estimated, kind.name)})"
                if estimated is not None else "")
             + f"; status {before} -> {after}."]
    lines += [f"- **{a.severity}** `{a.rule}`: {a.message}" for a in found]
    store.append_description(info.run_id, "\n".join(lines))
    store.log_text_to(info.run_id, report.to_dict(), c.LABELLED_REPORT_ARTIFACT)
    confusion = summary.confusion_table(report)
    if confusion is not None:  # JSON in MLflow's table layout, rewritten by later labels
        store.log_text_to(info.run_id, confusion.to_dict(orient="split", index=False),
                          LABELLED_CONFUSION_ARTIFACT)
    result.action, result.status_after = "metrics", after
    logger.info("Labels for %s: %d rows (%.0f%%), %s %s, status %s -> %s",
                info.run_name, result.n_labelled, 100 * result.coverage, kind.label,
                _number(value, kind.name), before, after)


def _number(value: float, kind: str) -> str:
    return summary.metric_text(value, kind)
