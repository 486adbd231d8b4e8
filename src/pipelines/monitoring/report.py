"""The monitoring verdict of one batch, and its numbers as metric names. Pure, no I/O."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipelines.data.io import to_jsonable
from pipelines.monitoring.alerts import Alert, HealthVerdict, ScoreDrift
from pipelines.monitoring.performance import ConceptDriftFinding
from pipelines.monitoring.quality import QualityReport
from pipelines.problems import problem
from pipelines.stats import FeatureDrift
from pipelines.stats.estimation import Estimate

if TYPE_CHECKING:  # drift that matters (issue 24): objects with their own to_dict/metrics
    from pipelines.monitoring.consecutive import ConsecutiveDrift
    from pipelines.monitoring.impact import ImpactRanking

_KEY_SAFE = re.compile(r"[^0-9A-Za-z_\-. /]")


def safe_name(part: str) -> str:
    """``part`` with characters MLflow refuses in metric keys and artifact names replaced."""
    return _KEY_SAFE.sub("_", part)


def _feature_entry(f: FeatureDrift) -> dict[str, Any]:
    """One feature's verdict; its extra statistics also as keys of their own (``wasserstein``
    stays where report readers found it before statistics were configurable)."""
    return {**asdict(f), **f.statistics}


@dataclass(frozen=True)
class MonitoringReport:
    batch_id: str
    n_rows: int
    has_labels: bool
    created_at: str
    performance: dict[str, float] | None
    baseline: dict[str, float]
    feature_drift: tuple[FeatureDrift, ...]
    drift_share: float
    prediction_drift: ScoreDrift
    target_drift: ScoreDrift | None
    concept_drift: ConceptDriftFinding | None
    quality: QualityReport
    verdict: HealthVerdict
    settings: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    estimated: dict[str, Estimate] = field(default_factory=dict)
    """Performance estimated from the scores alone (calibrated on the reference), with 95 %
    bands: what the labels should show if P(y | score) has not changed. Keyed by the
    problem type's ``estimated_metrics`` (:mod:`pipelines.problems`)."""
    problem_type: str = "binary"
    tables: dict[str, Any] = field(default_factory=dict)
    """Tables logged beside the metrics; multiclass with labels: ``confusion_matrix``
    (``{"classes": [...], "counts": [[...]]}``, rows the true class)."""
    output_drift_detail: tuple[dict[str, Any], ...] = ()
    """Multiclass: each class's probability drift (``class`` plus a ScoreDrift's fields)."""
    impact: ImpactRanking | None = None
    """The drifted features ranked by their impact on the model's output
    (:mod:`pipelines.monitoring.impact`); None when not asked for."""
    consecutive: ConsecutiveDrift | None = None
    """This batch against the previous one (:mod:`pipelines.monitoring.consecutive`)."""
    slices: Any = None
    """The batch per slice (:class:`~pipelines.monitoring.slices.SliceReport`), None when
    ``monitoring.slices`` is empty."""

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.feature_drift if f.drifted)

    @property
    def status(self) -> str:
        return self.verdict.status

    @property
    def alerts(self) -> tuple[Alert, ...]:
        return self.verdict.alerts

    @property
    def retraining_recommended(self) -> bool:
        return self.verdict.retraining_recommended

    def to_dict(self) -> dict[str, Any]:
        """The report as strict-JSON data (NaN/inf become null)."""
        extra: dict[str, Any] = {}
        if self.tables:
            extra["tables"] = self.tables
        if self.output_drift_detail:
            extra["output_drift_detail"] = list(self.output_drift_detail)
        if self.impact is not None:
            extra["impact"] = self.impact.to_dict()
        if self.consecutive is not None:
            extra["consecutive_drift"] = self.consecutive.to_dict()
        if self.slices is not None:
            extra["slices"] = self.slices.to_dict()
        return to_jsonable({
            "batch_id": self.batch_id,
            "problem_type": self.problem_type,
            "created_at": self.created_at,
            "n_rows": self.n_rows,
            "has_labels": self.has_labels,
            "status": self.status,
            "retraining_recommended": self.retraining_recommended,
            "retraining_reasons": list(self.verdict.reasons),
            "alerts": [a.to_dict() for a in self.alerts],
            "performance": self.performance,
            "estimated_performance": {m: asdict(e) for m, e in self.estimated.items()},
            "baseline": self.baseline,
            "drift": {
                "drift_share": self.drift_share,
                "n_drifted_features": len(self.drifted_features),
                "n_features": len(self.feature_drift),
                "drifted_features": list(self.drifted_features),
                "features": [_feature_entry(f) for f in self.feature_drift],
            },
            "prediction_drift": self.prediction_drift.to_dict(),
            **extra,
            "target_drift": self.target_drift.to_dict() if self.target_drift else None,
            "concept_drift": self.concept_drift.to_dict() if self.concept_drift else None,
            "data_quality": self.quality.to_dict(),
            "settings": self.settings,
            "context": self.context,
        })


#: The section of the chart view a reviewer reads first, and what it charts. MLflow 3.17's
#: chart view (experiment and run page alike) shows the ``<section>/...`` keys first, their
#: sections in alphabetical order, and the keys without ``/`` last ("Model metrics"),
#: alphabetically: ``roc_auc`` and ``status_level`` came after every other chart. The
#: headline numbers are therefore also logged under this section (the same values: the
#: flat keys stay what searches and every reader use).
CHART_SECTION = "health"
CHART_METRICS = ("status_level", "roc_auc", "estimated_roc_auc", "drift_share")
"""The binary model's headline (:func:`chart_metric_names` for every type)."""


def chart_metric_names(problem_type: str = "binary") -> tuple[str, ...]:
    """The headline metrics of a model of ``problem_type``: status, its primary metric,
    that metric's label-free estimate, the drifted-feature share."""
    primary = problem(problem_type).primary_metric
    return ("status_level", primary, f"estimated_{primary}", "drift_share")

#: Prefix of the reference (champion's) values. Flat, not ``reference/<metric>``: the run
#: page titles a chart by the key's last ``/`` part, so ``reference/roc_auc`` (like the
#: ``baseline/roc_auc`` before it) was a chart titled ``roc_auc`` showing the champion's
#: reference value, not the batch's.
REFERENCE_PREFIX = "reference_"


def chart_metrics(metrics: dict[str, float], problem_type: str = "binary") -> dict[str, float]:
    """The headline numbers of ``metrics`` (:func:`chart_metric_names` of the type) again
    under :data:`CHART_SECTION` (the chart view's first section); the chart of each is
    titled as the metric itself."""
    return {f"{CHART_SECTION}/{k}": metrics[k] for k in chart_metric_names(problem_type)
            if k in metrics}


def report_metrics(report: MonitoringReport) -> dict[str, float]:
    """The report's numbers as MLflow metrics (finite values only), every one the batch's
    own under its plain name (``roc_auc`` is this batch's realized ROC-AUC), the champion's
    reference values as ``reference_<metric>``, the headline numbers also in the chart
    view's first section (:func:`chart_metrics`). Per-feature evidence is in the logged
    tables (``drift_table.json``) and the report, not in charts a reviewer scrolls past."""
    m: dict[str, float | None] = {
        "n_rows": report.n_rows,
        "status_level": {"ok": 0, "warning": 1, "critical": 2}[report.status],
        "drift_share": report.drift_share,
        "n_drifted_features": len(report.drifted_features),
        "n_alerts": len(report.alerts),
        "prediction_drift_pvalue": report.prediction_drift.pvalue,
        "prediction_drift_psi": report.prediction_drift.effect_size,
        "data_quality_issues": len(report.quality.issues),
        "retraining_recommended": float(report.retraining_recommended),
    }
    m.update(report.performance or {})
    m.update({f"estimated_{name}": e.value for name, e in report.estimated.items()})
    primary = problem(report.problem_type).primary_metric
    if primary in report.estimated:
        m[f"estimated_{primary}_lower"] = report.estimated[primary].lower
        m[f"estimated_{primary}_upper"] = report.estimated[primary].upper
    m.update({f"{REFERENCE_PREFIX}{safe_name(name)}": value
              for name, value in report.baseline.items()})
    if report.target_drift is not None:
        m["target_drift_pvalue"] = report.target_drift.pvalue
        m["target_drift_psi"] = report.target_drift.effect_size
    if report.concept_drift is not None:
        if report.problem_type == "binary":
            m["expected_roc_auc"] = report.concept_drift.expected_auc
        m["concept_drift_unexplained_drop"] = report.concept_drift.unexplained_drop
    if report.impact is not None:  # drift that matters (issue 24)
        m.update({f"impact/{safe_name(f.feature)}": f.shift for f in report.impact.features})
    if report.consecutive is not None:
        m.update(report.consecutive.metrics())
    stability = report.tables.get("importance_stability")
    if stability:  # the champion's importances on this labelled batch against its own
        m["importance/spearman"] = stability.get("spearman")
        m["importance/top_k_overlap"] = stability.get("top_k_overlap")
    if report.slices is not None:  # slice/<key>/<metric>: a handful per slice
        m.update(report.slices.metrics())
    finite = {k: float(v) for k, v in m.items() if v is not None and np.isfinite(v)}
    return {**finite, **chart_metrics(finite, report.problem_type)}
