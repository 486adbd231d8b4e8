"""Alert rules: findings in, alerts with severity out, plus the health status and the
retraining recommendation. Pure; thresholds come from the :class:`MonitoringPolicy`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pipelines.monitoring.performance import ConceptDriftFinding
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.quality import QualityReport
from pipelines.stats import FeatureDrift
from pipelines.stats.estimation import Estimate

Severity = Literal["warning", "critical"]
Status = Literal["ok", "warning", "critical"]

#: Rules whose firing recommends retraining.
RETRAINING_RULES: tuple[str, ...] = ("performance", "drift_share", "concept_drift")


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: Severity
    value: float
    threshold: float
    message: str
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ScoreDrift:
    """A single two-sample test on one column (model scores, or labels)."""

    test: str
    statistic: float
    pvalue: float
    effect_size: float
    effect_name: str
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HealthVerdict:
    """The batch's alerts, its status and whether retraining is recommended (and why)."""

    alerts: tuple[Alert, ...]
    status: Status
    retraining_recommended: bool
    reasons: tuple[str, ...]


def evaluate_alerts(
    *,
    performance: dict[str, float] | None,
    feature_drift: Sequence[FeatureDrift],
    drift_share: float,
    prediction_drift: ScoreDrift | None,
    target_drift: ScoreDrift | None,
    concept: ConceptDriftFinding | None,
    quality: QualityReport,
    policy: MonitoringPolicy,
    sample_problem: str | None = None,
    estimated: Mapping[str, Estimate] | None = None,
) -> HealthVerdict:
    """Alerts, status and recommendation. With a ``sample_problem`` (too few labelled rows,
    one class) performance and concept drift are not judged: a ``low_sample`` warning says
    why instead. A batch without labels and with fewer rows than
    ``min_rows_for_performance`` gets a ``low_sample`` warning too (drift tests and estimates
    on a few rows mean little). Either way, a batch of fewer rows than that minimum keeps
    its status but never recommends retraining on its own."""
    alerts: list[Alert] = []
    auc = (performance or {}).get("roc_auc", math.nan)
    floor = policy.roc_auc
    if sample_problem is not None:
        alerts.append(Alert("low_sample", "warning", float("nan"), 0.0, sample_problem))
        performance, concept = None, None
    few_rows = performance is None and quality.n_rows < policy.min_rows_for_performance
    if few_rows and sample_problem is None:  # no labels at all
        alerts.append(Alert(
            "low_sample", "warning", float(quality.n_rows),
            float(policy.min_rows_for_performance),
            f"low sample: {quality.n_rows} rows without labels is below "
            f"min_rows_for_performance ({policy.min_rows_for_performance}): drift tests and "
            "estimates on so few rows mean little; retraining is not recommended on this "
            "batch alone"))
    if performance is not None and floor.breached(auc):
        alerts.append(Alert("performance", "critical", auc, floor.limit,
                            f"ROC-AUC {auc:.3f} is below the floor {floor.limit:.2f}"))
    guess = (estimated or {}).get("roc_auc")
    if performance is None and guess is not None and floor.breached(guess.value):
        # no labels (or too few): the estimate speaks, and says it is one; not a reason to
        # retrain (that needs labels), but a reason to look
        alerts.append(Alert(
            "performance_estimated", "critical", guess.value, floor.limit,
            f"estimated ROC-AUC {guess.value:.3f} (95% {guess.lower:.3f}-{guess.upper:.3f}) is "
            f"below the floor {floor.limit:.2f}: estimated from the scores, no labels yet"))
    level = policy.drift.p_value
    drifted = [f for f in feature_drift if f.drifted]
    for f in drifted:
        alerts.append(Alert(
            "feature_drift", "warning", f.pvalue_adjusted, level,
            f"{f.feature}: {f.test} p={f.pvalue:.2e} (adjusted {f.pvalue_adjusted:.2e}, "
            f"{policy.drift.correction}) < {level}, {f.effect_name}={f.effect_size:.3f}",
            (f.feature,)))
    if policy.drift_share.breached(drift_share):
        limit = policy.drift_share.limit
        alerts.append(Alert(
            "drift_share", "critical", drift_share, limit,
            f"{len(drifted)} of {len(feature_drift)} features drifted ({drift_share:.0%}) > "
            f"{limit:.0%}", tuple(f.feature for f in drifted)))
    if prediction_drift is not None and prediction_drift.drifted:
        alerts.append(Alert(
            "prediction_drift", "warning", prediction_drift.pvalue, policy.prediction_drift.p_value,
            f"model scores drifted: KS p={prediction_drift.pvalue:.2e}, "
            f"PSI={prediction_drift.effect_size:.3f}"))
    if target_drift is not None and target_drift.drifted:
        alerts.append(Alert(
            "target_drift", "warning", target_drift.pvalue, policy.target_drift.p_value,
            f"label distribution drifted: chi-square p={target_drift.pvalue:.2e}, "
            f"PSI={target_drift.effect_size:.3f}"))
    if concept is not None and concept.detected:
        alerts.append(Alert("concept_drift", "critical", concept.unexplained_drop,
                            concept.threshold, f"concept drift: {concept.explanation}"))
    if quality.issues:
        cols = quality.problem_columns
        alerts.append(Alert(
            "data_quality", "warning", float(len(quality.issues)), 0.0,
            f"data quality issues in {', '.join(cols)}: "
            + "; ".join(f"{i.column} {i.check} ({i.detail})" for i in quality.issues[:10]),
            cols))
    status: Status = "ok"
    if any(a.severity == "critical" for a in alerts):
        status = "critical"
    elif alerts:
        status = "warning"
    reasons: tuple[str, ...] = () if few_rows else tuple(
        a.message for a in alerts if a.rule in RETRAINING_RULES)
    return HealthVerdict(alerts=tuple(alerts), status=status,
                         retraining_recommended=bool(reasons), reasons=reasons)
