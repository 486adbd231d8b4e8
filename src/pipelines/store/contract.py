"""The contract with the tracking store: every tag name, artifact path and decision string that
other steps (or a reviewer's search) rely on, declared once.

Steps write these keys and other steps search on them (the cooldown reads the retraining
``decision`` tag, retraining reads the monitoring runs' ``batch/batch.parquet``, the
orchestrator looks a file's ``batch_digest`` up before monitoring it), so a name is never
spelt out anywhere else. No MLflow import: this is
data, usable by pure code too.
"""

from __future__ import annotations

from typing import Final, Literal

# ----------------------------------------------------------------------------- steps

TAG_STEP: Final = "pipeline.step"
STEP_TRAIN: Final = "train"
STEP_MONITOR: Final = "monitor"
STEP_RETRAIN: Final = "retrain"

# ----------------------------------------------------------------------------- monitoring runs

TAG_STATUS: Final = "monitoring.status"
TAG_SEQUENCE: Final = "monitoring.sequence"
TAG_BATCH_ID: Final = "batch_id"
TAG_HAS_LABELS: Final = "has_labels"
TAG_BATCH_DIGEST: Final = "batch_digest"
TAG_BATCH_FILE: Final = "batch_file"
#: The engine that read a batch when it was not the in-memory one: chunked or spark.
TAG_ENGINE: Final = "engine"
TAG_RETRAINING_RECOMMENDED: Final = "retraining_recommended"
TAG_CHAMPION_VERSION: Final = "champion_version"
TAG_CHAMPION_MODEL: Final = "champion_model"
TAG_ALERTS: Final = "alerts"
TAG_DRIFTED_FEATURES: Final = "drifted_features"
#: The slices in alert on a monitoring run (``monitoring.slices``), comma-separated or none.
TAG_SLICES_IN_ALERT: Final = "slices_in_alert"
#: Earliest and latest time in the batch's timestamp column (ISO 8601), when it has one.
TAG_BATCH_TIME_START: Final = "batch.time_start"
TAG_BATCH_TIME_END: Final = "batch.time_end"

#: What the orchestrator decided after monitoring a batch (tagged on its monitoring run).
TAG_CYCLE_DECISION: Final = "orchestrator.decision"
TAG_CYCLE_MESSAGE: Final = "orchestrator.message"
TAG_CYCLE_NEXT_ELIGIBLE: Final = "orchestrator.next_eligible"
TAG_CYCLE_FORCED: Final = "orchestrator.forced"
TAG_CYCLE_RETRAINING_RUN: Final = "orchestrator.retraining_run_id"
#: The lock epoch of the cycle that opened a run: a cycle that takes over the lock from a dead
#: holder finds that holder's unfinished runs by it.
TAG_CYCLE_LOCK: Final = "orchestrator.lock"
TAG_FAILURE_REASON: Final = "failure.reason"
#: MLflow's run name, as a tag: a failed run is renamed ``<bNNNN> FAILED <short reason>``.
TAG_RUN_NAME: Final = "mlflow.runName"
TAG_NOTIFICATION_FAILED: Final = "notification.failed"
#: Labels registered after the batch was monitored (register_labels).
TAG_LABELS_COVERAGE: Final = "labels.coverage"
TAG_LABELS_COUNT: Final = "labels.count"
TAG_LABELS_DIGEST: Final = "labels.digest"
TAG_LABELS_AT: Final = "labels.registered_at"
#: A batch monitored again (the same content digest as an earlier finished run): that run's
#: id. Late labels are back-filled onto the original run only.
TAG_BATCH_REPEAT_OF: Final = "batch.repeat_of"

# ----------------------------------------------------------------------------- model family
#: What an experiment family (``tracking.experiment_prefix``) remembers of its model, as tags
#: on ``<prefix>-Pipeline`` (JSON values): setting key -> tag. Written by register_reference
#: and train_baseline, read by every later command (explicit settings win).
FAMILY_TAGS: Final = {
    "tracking.registered_model_name": "churnmon.registered_model_name",
    "data.target": "churnmon.target",
    "data.id_column": "churnmon.id_column",
    "data.timestamp_column": "churnmon.timestamp_column",
    "data.prediction_column": "churnmon.prediction_column",
    "data.numeric_features": "churnmon.numeric_features",
    "data.categorical_features": "churnmon.categorical_features",
}
#: Who wrote the family's memory last: ``register_reference`` or ``train_baseline``.
TAG_FAMILY_WRITER: Final = "churnmon.registered_by"

# ----------------------------------------------------------------------------- audit trail
TAG_AUDIT_ACTION: Final = "audit.action"
TAG_AUDIT_ACTOR: Final = "audit.actor"
TAG_AUDIT_REASON: Final = "audit.reason"
TAG_AUDIT_TIME: Final = "audit.time"
TAG_AUDIT_MOVES: Final = "audit.moves"
TAG_AUDIT_MODEL: Final = "audit.model"

CycleDecision = Literal["retrain", "cooldown", "nothing_to_do", "lock_busy", "no_batch",
                        "tracking_unavailable", "all_refused"]

# ----------------------------------------------------------------------------- retraining runs

TAG_RETRAINING_ROLE: Final = "retraining.role"
ROLE_PARENT: Final = "parent"
ROLE_CANDIDATE: Final = "candidate"
TAG_RETRAINING_REASON: Final = "retraining.reason"
TAG_RETRAINING_AS_OF: Final = "retraining.as_of"
TAG_VERDICT: Final = "decision"
TAG_VERDICT_MESSAGE: Final = "decision.message"
TAG_NEW_VERSION: Final = "new_version"
#: A promotion's intent, recorded on the parent run before any alias moves: the version to
#: promote and the champion it replaces. A cycle that finds an intent without a verdict
#: (the promoting process died) completes the promotion.
TAG_PROMOTION_INTENT: Final = "promotion.intent_version"
TAG_PROMOTION_FROM: Final = "promotion.from_version"
TAG_RECOVERED: Final = "retraining.recovered"

RetrainingVerdict = Literal["promoted", "rejected", "invalid_data", "awaiting_approval"]
PROMOTED: Final = "promoted"
REJECTED: Final = "rejected"
INVALID_DATA: Final = "invalid_data"
AWAITING_APPROVAL: Final = "awaiting_approval"
#: Verdicts that count as a retraining cycle for the cooldown (invalid data trained nothing).
COUNTED_VERDICTS: tuple[str, ...] = (PROMOTED, REJECTED, AWAITING_APPROVAL)
#: Version tag: the champion version the candidate was compared with (approval re-checks it).
VTAG_CHAMPION_AT_GATE: Final = "champion_version_at_gate"
#: When ``champion`` moved to the version (set by :func:`pipelines.store.registry.promote`).
VTAG_PROMOTED_AT: Final = "promoted_at"
#: Version tags on the serving version, updated per monitored batch (its registry page).
VTAG_LAST_STATUS: Final = "monitoring.last_status"
VTAG_LAST_ROC_AUC: Final = "monitoring.last_roc_auc"
VTAG_LAST_RUN: Final = "monitoring.last_run"
VTAG_LAST_RUN_LINK: Final = "monitoring.last_run_link"
VTAG_LAST_AT: Final = "monitoring.last_at"

# ----------------------------------------------------------------------------- artifacts

#: The batch a monitoring run saw (ids, timestamp, features, labels, scores).
BATCH_ARTIFACT: Final = "batch/batch.parquet"
#: Labels registered after the batch was monitored: (id, label) of the rows that have one.
LATE_LABELS_ARTIFACT: Final = "batch/labels.parquet"
MONITORING_REPORT_ARTIFACT: Final = "monitoring_report.json"
#: The whole report again after labels were registered later (register_labels): the verdict
#: the run's tags now show (the original report stays as it was).
LABELLED_REPORT_ARTIFACT: Final = "monitoring_report_labelled.json"
HTML_REPORT_ARTIFACT: Final = "report.html"
DRIFT_TABLE_ARTIFACT: Final = "drift_table.json"
#: One row per slice of the batch (``monitoring.slices``): rows, metric, drift.
SLICE_TABLE_ARTIFACT: Final = "slices.json"
QUALITY_TABLE_ARTIFACT: Final = "quality_table.json"
#: Drift that matters (issue 24): the batch's feature counts on the reference's bins (the next
#: batch's consecutive drift compares with them), the champion's feature importances (beside
#: the reference context of its training run) and a candidate's comparison with them.
FEATURE_COUNTS_ARTIFACT: Final = "consecutive/feature_counts.json"
IMPORTANCE_ARTIFACT: Final = "reference/importance.json"
IMPORTANCE_STABILITY_ARTIFACT: Final = "importance_stability.json"
#: A run's description (Markdown, shown on the run page); a model version's is its own field.
TAG_DESCRIPTION: Final = "mlflow.note.content"
DESCRIPTION_LIMIT: Final = 8000  # MLflow's limit on a tag value
#: Tells the MLflow 3 UI these are model-training experiments (run lists, not GenAI traces).
TAG_EXPERIMENT_KIND: Final = "mlflow.experimentKind"
EXPERIMENT_KIND: Final = "custom_model_development"
#: The dot before a run's name in the UI's run list: the verdict's colour.
TAG_RUN_COLOR: Final = "mlflow.runColor"
STATUS_COLORS: Final = {"ok": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828",
                        "promoted": "#1565c0", "awaiting_approval": "#6a1b9a",
                        "rejected": "#757575", "invalid_data": "#ef6c00"}


#: Opens MLflow 3.17's Model-training view (runs lists, the registry in the sidebar) whatever
#: view the browser remembers; see pipelines.store.landing.
UI_VIEW_QUERY: Final = "workflowType=machine_learning"


def run_link(experiment_id: str, run_id: str, label: str) -> str:
    """A Markdown link to a run's page, relative to the MLflow UI it is shown in."""
    return f"[{label}](#/experiments/{experiment_id}/runs/{run_id}?{UI_VIEW_QUERY})"


def version_link(model: str, version: str, label: str | None = None) -> str:
    """A Markdown link to a model version's page in the MLflow UI."""
    return (f"[{label or f'{model} v{version}'}]"
            f"(#/models/{model}/versions/{version}?{UI_VIEW_QUERY})")
REFERENCE_DIR: Final = "reference"
#: The reference rows a model was validated on (features, target, ``__score__``): training data
#: for retraining, never read by monitoring.
REFERENCE_FILE: Final = "reference.parquet"
#: The fitted reference context (profile, score and label reference, baseline metrics): the
#: one artifact monitoring reads.
REFERENCE_CONTEXT_FILE: Final = "context.npz"
SCHEMA_FILE: Final = "feature_schema.json"
RETRAINING_SUMMARY_ARTIFACT: Final = "retraining_summary.json"
GATE_DECISION_ARTIFACT: Final = "gate_decision.json"

# ----------------------------------------------------------------------------- model versions

VTAG_PROMOTION_STATUS: Final = "promotion_status"
VTAG_VALIDATION_STATUS: Final = "validation_status"

#: Tag value limit used for long texts (MLflow allows 8000 characters in a tag value).
TAG_LIMIT: Final = 5000


def lock_name(model_name: str) -> str:
    """The registered-model name that serves as the orchestrator's lock for ``model_name``."""
    return f"{model_name}.orchestrator-lock"
