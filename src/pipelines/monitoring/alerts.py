"""Alert rules: findings in, alerts with severity out, plus the health status and the
retraining recommendation. Pure; thresholds come from the :class:`MonitoringPolicy`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pipelines.monitoring.performance import ConceptDriftFinding
from pipelines.monitoring.policy import MonitoringPolicy, Threshold, format_value
from pipelines.monitoring.quality import QualityReport
from pipelines.problems import problem
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
    sample_notes: Sequence[str] = (),
) -> HealthVerdict:
    """Alerts, status and recommendation. With a ``sample_problem`` (too few labelled rows,
    one class) performance and concept drift are not judged: a ``low_sample`` warning says
    why instead. A batch without labels and with fewer rows than
    ``min_rows_for_performance`` gets a ``low_sample`` warning too (drift tests and estimates
    on a few rows mean little). Either way, a batch of fewer rows than that minimum keeps
    its status but never recommends retraining on its own.

    The performance rules judge the policy's problem type's primary metric (ROC-AUC, macro
    F1 or RMSE) against :attr:`MonitoringPolicy.performance` and say which metric and which
    direction. ``sample_notes``: further ``low_sample`` warnings that do not stop the
    verdict (multiclass: a class with few labelled rows)."""
    alerts: list[Alert] = []
    kind = problem(policy.problem_type)
    metric = kind.primary_metric
    value = (performance or {}).get(metric, math.nan)
    limit = policy.primary
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
    for note in sample_notes:
        alerts.append(Alert("low_sample", "warning", float("nan"), 0.0, note))
    if performance is not None and limit.breached(value):
        alerts.append(Alert("performance", "critical", value, limit.limit,
                            f"{kind.label} {_value(kind.name, value)} is "
                            f"{_beyond(limit, policy)}"))
    guess = (estimated or {}).get(metric)
    if performance is None and guess is not None and limit.breached(guess.value):
        # no labels (or too few): the estimate speaks, and says it is one; not a reason to
        # retrain (that needs labels), but a reason to look
        alerts.append(Alert(
            "performance_estimated", "critical", guess.value, limit.limit,
            f"estimated {kind.label} {_value(kind.name, guess.value)} (95% "
            f"{_value(kind.name, guess.lower)}-{_value(kind.name, guess.upper)}) is "
            f"{_beyond(limit, policy)}: estimated from {_ESTIMATE_SOURCE[kind.name]}, "
            "no labels yet"))
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
            f"{_PREDICTION_WORDS[kind.name]} drifted: {_test(prediction_drift)} "
            f"p={prediction_drift.pvalue:.2e}, PSI={prediction_drift.effect_size:.3f}"))
    if target_drift is not None and target_drift.drifted:
        alerts.append(Alert(
            "target_drift", "warning", target_drift.pvalue, policy.target_drift.p_value,
            f"{'target' if kind.name == 'regression' else 'label'} distribution drifted: "
            f"{_test(target_drift)} p={target_drift.pvalue:.2e}, "
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


_ESTIMATE_SOURCE = {"binary": "the scores", "multiclass": "the class probabilities",
                    "regression": "the features and predictions"}
_PREDICTION_WORDS = {"binary": "model scores", "multiclass": "predicted-class shares",
                     "regression": "model predictions"}
_TEST_WORDS = {"ks": "KS", "chi2": "chi-square"}


def _test(drift: ScoreDrift) -> str:
    return _TEST_WORDS.get(drift.test, drift.test)


def _value(kind: str, value: float) -> str:
    """A metric value as messages show it: 3 decimals for scores, short for RMSE."""
    return format_value(value) if kind == "regression" else f"{value:.3f}"


def _beyond(limit: Threshold, policy: MonitoringPolicy) -> str:
    """``below the floor 0.75`` / ``above the ceiling 30.0 (1.25 x reference 24.0)``."""
    if limit.bad == "below":
        return f"below the floor {limit.limit:.2f}"
    basis = f" ({policy.performance_basis})" if policy.performance_basis else ""
    return f"above the ceiling {format_value(limit.limit)}{basis}"
