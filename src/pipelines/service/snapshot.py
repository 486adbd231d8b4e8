"""What the service knows at one moment: the store's verdicts as plain, immutable data.

Built by :mod:`pipelines.service.state` from :mod:`pipelines.store.views` in the background;
every response is computed from one snapshot (pure code, no MLflow), so it is fast whatever the
number of batches and consistent within itself. Times are epoch seconds (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift evidence in one batch (a row of the run's drift table)."""

    feature: str
    kind: str
    """``numeric`` or ``categorical``."""
    test: str
    """The test that decided (``ks``, ``chi2``, ...)."""
    statistic: float | None
    p_value: float | None
    """As corrected for multiple tests (what the decision used)."""
    effect: float | None
    """PSI (the effect size the floor applies to)."""
    drifted: bool


@dataclass(frozen=True)
class AlertRecord:
    """One alert of one batch, as its report states it."""

    rule: str
    severity: str
    """``info``, ``warning`` or ``critical``."""
    message: str
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class BatchRecord:
    """One monitoring run (a monitored batch), newest state of its tags and metrics."""

    run_id: str
    experiment_id: str
    sequence: int
    run_name: str
    run_status: str
    """MLflow's: FINISHED, RUNNING, FAILED, KILLED."""
    status: str
    """The verdict: ``ok``, ``warning``, ``critical`` (empty for a failed run)."""
    started_at: float
    ended_at: float | None
    batch_id: str = ""
    batch_file: str = ""
    time_start: str = ""
    """The batch's earliest data time (ISO 8601), empty without a timestamp column."""
    time_end: str = ""
    n_rows: int | None = None
    has_labels: bool = False
    """Labels at monitoring time or registered later (``register_labels``)."""
    labels_registered_at: str = ""
    champion_version: str = ""
    decision: str = ""
    """The orchestrator's decision after this batch (``retrain``, ``cooldown``, ...)."""
    decision_message: str = ""
    retraining_recommended: bool = False
    retraining_run_id: str = ""
    alert_rules: tuple[str, ...] = ()
    drifted_features: tuple[str, ...] = ()
    engine: str = "memory"
    notification_failed: str = ""
    failure_reason: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """Every metric of the run (``roc_auc``, ``estimated_roc_auc``, ``drift_share``,
    ``reference_roc_auc``, ``ops/...``), newest value."""


@dataclass(frozen=True)
class BatchDetail:
    """What the service keeps from a run's ``monitoring_report.json`` (read once per run and
    labels registration, cached)."""

    alerts: tuple[AlertRecord, ...] = ()
    features: tuple[FeatureDrift, ...] = ()
    quality: Mapping[str, Any] = field(default_factory=dict)
    """The report's data-quality section (issues, missing shares, ...)."""
    concept_drift: Mapping[str, Any] | None = None
    prediction_drift: Mapping[str, Any] | None = None
    target_drift: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version the service names (serving, fallback, challenger)."""

    version: str
    run_id: str
    created_at: float
    promoted_at: str = ""
    trained_by: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelState:
    name: str
    problem_type: str = "binary"
    primary_metric: str = "roc_auc"
    serving: VersionInfo | None = None
    """``@champion``."""
    fallback: VersionInfo | None = None
    """``@previous-champion``."""
    challenger: VersionInfo | None = None
    """``@challenger``: a candidate waiting for approval."""


@dataclass(frozen=True)
class RetrainingRecord:
    """One parent retraining run."""

    run_id: str
    experiment_id: str
    run_name: str
    run_status: str
    started_at: float
    ended_at: float | None
    verdict: str = ""
    """``promoted``, ``rejected``, ``invalid_data``, ``awaiting_approval``; empty: none yet."""
    message: str = ""
    reason: str = ""
    new_version: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """Everything one read of the store found."""

    taken_at: float
    read_seconds: float
    """How long the read took."""
    model: ModelState
    batches: tuple[BatchRecord, ...] = ()
    """Monitoring runs, by sequence (oldest first); failed runs included (their status says)."""
    details: Mapping[str, BatchDetail] = field(default_factory=dict)
    """By run id; a run whose report could not be read has none."""
    retrainings: tuple[RetrainingRecord, ...] = ()
    """Newest first."""
    audit: tuple[Mapping[str, Any], ...] = ()
    """Alias moves, newest first (``pipelines.store.audit.history``'s events, moves as dicts)."""
    cooldown_days: float = 7.0
    performance_limit: float | None = None
    """The primary metric's alert line (the ROC-AUC or macro-F1 floor, the RMSE ceiling)."""
    refused_files: int = 0
    """Files in the inbox's ``rejected/`` folder (bad batches refused, reasons beside them)."""
    monitoring_experiment_id: str = ""
    retraining_experiment_id: str = ""
    mlflow_ui_url: str = ""
    """The MLflow UI the batch links point at (``service.mlflow_ui_url``); empty: links are
    relative (``#/experiments/...``)."""
