"""Evaluate one production batch against the reference: performance, drift, quality, alerts.

Pure computation over a :class:`~pipelines.data.batch.PreparedBatch` and the champion's
:class:`~pipelines.monitoring.reference.ReferenceContext` (fitted once per model version),
judged by a :class:`~pipelines.monitoring.policy.MonitoringPolicy`. MLflow and files are the
workflows' business (:mod:`pipelines.workflows.monitor`).

Every problem type (the reference's ``problem_type``) gets the same verdict with its own
numbers: performance through :func:`pipelines.stats.evaluation.performance_metrics`, the
label-free estimate (binary: calibrated scores; regression: direct loss estimation;
multiclass: calibrated class probabilities), drift of the model's outputs (scores,
predictions, predicted-class shares) and of the target, and concept drift judged with the
same estimator on the batch and on the reference. The chunked and Spark engines
(:func:`evaluate_counts`) judge binary models only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from pipelines.data.batch import PreparedBatch
from pipelines.errors import ConfigError, DataError
from pipelines.monitoring.alerts import ScoreDrift, evaluate_alerts
from pipelines.monitoring.counts import (
    ABOVE,
    ALL,
    ATOMS,
    BELOW,
    INF,
    NAN,
    NEGATIVE,
    P_SUM,
    POSITIVE,
    PQ_SUM,
    Q_SUM,
    BatchCounts,
    BinnedColumn,
    CountsProfile,
)
from pipelines.monitoring.performance import (
    ConceptDriftFinding,
    assess_accuracy_concept_drift,
    assess_concept_drift,
    assess_rmse_concept_drift,
)
from pipelines.monitoring.policy import MonitoringPolicy, ScoreDriftRule
from pipelines.monitoring.quality import QualityReport, check_quality, quality_from_counts
from pipelines.monitoring.reference import ReferenceContext, check_outputs
from pipelines.monitoring.report import MonitoringReport
from pipelines.monitoring.timing import Stopwatch
from pipelines.stats import (
    CategoricalReference,
    FeatureDrift,
    NumericReference,
    chi2_test,
    compute_feature_drift,
)
from pipelines.stats.binned import (
    aggregate,
    auc_from_histograms,
    expected_auc_from_bins,
    ks_from_counts,
    psi_from_counts,
    wasserstein_from_counts,
)
from pipelines.stats.classification import classification_metrics, metrics_from_counts
from pipelines.stats.drift import _chi2_from_counts
from pipelines.stats.estimation import Estimate, estimate_from_scores, estimates_from_sums
from pipelines.stats.evaluation import performance_metrics
from pipelines.stats.methods import NumericSample, get_statistic
from pipelines.stats.multiclass import confusion_matrix
from pipelines.stats.multiclass_estimation import estimate_multiclass
from pipelines.stats.profile import DriftThresholds, _adjust


def numeric_drift(reference: NumericReference, values: np.ndarray,
                  rule: ScoreDriftRule) -> ScoreDrift:
    """KS test and PSI of one numeric column of the batch against its reference profile."""
    sample = NumericSample.prepare(reference, values)
    ks = get_statistic("numeric", "ks").compute(reference, sample)  # type: ignore[attr-defined]
    effect = get_statistic("numeric", "psi").compute(reference, sample)  # type: ignore[attr-defined]
    pvalue = float(ks.pvalue if ks.pvalue is not None else 1.0)
    return ScoreDrift("ks", ks.value, pvalue, effect.value, "psi",
                      rule.drifted(pvalue, effect.value))


def categorical_drift(reference: CategoricalReference, values: np.ndarray,
                      rule: ScoreDriftRule) -> ScoreDrift:
    """Chi-square test and PSI of one categorical column against its reference counts."""
    res = chi2_test(reference, values)
    return ScoreDrift("chi2", res.statistic, res.pvalue, res.psi, "psi",
                      rule.drifted(res.pvalue, res.psi))


def prediction_drift(ref: ReferenceContext, scores: np.ndarray,
                     policy: MonitoringPolicy) -> ScoreDrift:
    """The model outputs' drift: KS test and PSI of the batch's scores (binary) or
    predictions (regression) against the reference's; multiclass: chi-square and PSI of the
    predicted-class shares."""
    if ref.problem_type == "multiclass" and ref.prediction_classes is not None:
        return categorical_drift(ref.prediction_classes, predicted_classes(ref, scores),
                                 policy.prediction_drift)
    return numeric_drift(ref.score_reference, scores, policy.prediction_drift)


def predicted_classes(ref: ReferenceContext, proba: np.ndarray) -> np.ndarray:
    """Each row's predicted class label (argmax of its probabilities) as text."""
    classes = np.asarray(ref.schema.classes, dtype=object)
    return classes[np.argmax(np.asarray(proba, dtype=np.float64), axis=1)]


def class_probability_drift(ref: ReferenceContext, proba: np.ndarray,
                            policy: MonitoringPolicy) -> tuple[dict[str, Any], ...]:
    """Multiclass: each class's probability column against its reference profile (KS and
    PSI, judged as the scores are), one entry per class in class order."""
    p = np.asarray(proba, dtype=np.float64)
    return tuple(
        {"class": name, **numeric_drift(reference, p[:, j], policy.prediction_drift).to_dict()}
        for j, (name, reference) in enumerate(zip(ref.schema.classes, ref.class_references,
                                                  strict=True)))


def target_drift(ref: ReferenceContext, labels: np.ndarray,
                 policy: MonitoringPolicy) -> ScoreDrift:
    """The target's drift: chi-square test and PSI of the batch's labels against the
    reference labels (binary; multiclass over the class labels), KS and PSI of the
    target values (regression)."""
    reference = ref.target_reference
    if isinstance(reference, NumericReference):
        return numeric_drift(reference, np.asarray(labels, dtype=np.float64),
                             policy.target_drift)
    if ref.problem_type == "multiclass":
        classes = np.asarray(ref.schema.classes, dtype=object)
        return categorical_drift(reference, classes[np.asarray(labels, dtype=np.int64)],
                                 policy.target_drift)
    return categorical_drift(reference, np.asarray(labels, dtype=np.int8),  # labels '0', '1'
                             policy.target_drift)


def evaluate_batch(
    batch: PreparedBatch,
    scores: np.ndarray,
    ref: ReferenceContext,
    policy: MonitoringPolicy,
    *,
    context: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    timer: Stopwatch | None = None,
) -> MonitoringReport:
    """The full monitoring verdict for one batch; without labels, drift, quality and the
    label-free estimate only. ``scores``: the model's outputs on the batch as the
    reference's problem type has them (P(class 1), the predictions, or (n, k) class
    probabilities in ``schema.classes`` order); ``batch.labels`` likewise (0/1, the target
    values, class indices). ``policy`` must be built for the same problem type.
    ``timer``: a :class:`~pipelines.monitoring.timing.Stopwatch` told each phase's time."""
    timer = timer or Stopwatch()
    kind = ref.problem_type
    source = batch.batch.source
    if policy.problem_type != kind:
        raise ConfigError(f"the monitoring policy is for a {policy.problem_type} model, the "
                          f"reference context for a {kind} model; build it with "
                          f"problem_type={kind!r}.")
    policy = policy.for_reference(ref.baseline)
    outputs = check_outputs(scores, ref.schema, source)
    if kind == "multiclass" and not np.isfinite(outputs).all():
        raise DataError(f"{source}: {int((~np.isfinite(outputs).all(axis=1)).sum())} row(s) "
                        "have a class probability that is not a finite number.")
    samples: dict[str, Any] = {}  # the drift's sorted values and counts, reused by quality
    with timer("drift"):
        features = compute_feature_drift(ref.profile, batch, policy.drift, samples)
    with timer("prediction drift"):
        prediction = prediction_drift(ref, outputs, policy)
        detail = class_probability_drift(ref, outputs, policy) if kind == "multiclass" else ()
    with timer("quality"):
        quality = check_quality(batch, ref.profile, policy.quality, samples)
    labels = batch.labels
    tables: dict[str, Any] = {}
    notes: tuple[str, ...] = ()
    sample_problem = None
    with timer("performance"):
        estimated = _estimate(batch, outputs, ref, policy)
        performance = tgt = None
        if labels is not None:
            performance = _performance(kind, labels, outputs, ref, policy, source)
            tgt = target_drift(ref, labels, policy)
            sample_problem = policy.sample_problem_of_type(labels)
            if kind == "multiclass":
                tables["confusion_matrix"] = confusion_table(ref, labels, outputs)
                note = (policy.class_shortage(labels, ref.schema.classes)
                        if sample_problem is None else None)
                notes = (note,) if note else ()
    with timer("alerts"):
        return _report(
            batch_id=batch.batch.batch_id, n_rows=batch.n_rows, features=features,
            prediction=prediction, quality=quality, performance=performance, target=tgt,
            sample_problem=sample_problem, estimated=estimated, ref=ref, policy=policy,
            context=context, settings=settings, tables=tables, output_detail=detail,
            sample_notes=notes)


def _estimate(batch: PreparedBatch, outputs: np.ndarray, ref: ReferenceContext,
              policy: MonitoringPolicy) -> dict[str, Estimate]:
    """The label-free estimate of the batch's performance for the reference's type (empty
    when the context has no estimator: a regression reference under 100 rows)."""
    if ref.problem_type == "regression":
        if ref.loss_estimator is None:
            return {}
        features = batch.frame.loc[:, list(ref.schema.features)].reset_index(drop=True)
        return ref.loss_estimator.estimate(features, outputs)
    if ref.problem_type == "multiclass":
        if ref.multiclass_calibration is None:
            return {}
        return estimate_multiclass(outputs, ref.multiclass_calibration)
    return estimate_from_scores(outputs, ref.calibration, policy.decision_threshold)


def _performance(kind: str, labels: np.ndarray, outputs: np.ndarray, ref: ReferenceContext,
                 policy: MonitoringPolicy, source: str) -> dict[str, float]:
    """The realized metrics; a model output or label the metrics refuse is a DataError."""
    if kind == "binary":
        return classification_metrics(labels, outputs, policy.decision_threshold)
    try:
        return performance_metrics(kind, labels, outputs, classes=ref.schema.classes)
    except ValueError as exc:
        raise DataError(f"{source}: cannot compute the {kind} metrics: {exc}") from None


def confusion_table(ref: ReferenceContext, labels: np.ndarray,
                    proba: np.ndarray) -> dict[str, Any]:
    """The batch's confusion matrix as logged: rows the true class, columns the predicted
    one, both in ``schema.classes`` order."""
    k = len(ref.schema.classes)
    counts = confusion_matrix(np.asarray(labels, dtype=np.int64),
                              np.argmax(np.asarray(proba, dtype=np.float64), axis=1), k)
    return {"classes": list(ref.schema.classes),
            "counts": np.asarray(counts, dtype=np.int64).tolist()}


def evaluate_counts(
    counts: BatchCounts,
    profile: CountsProfile,
    ref: ReferenceContext,
    policy: MonitoringPolicy,
    *,
    batch_id: str,
    context: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> MonitoringReport:
    """The verdict of :func:`evaluate_batch` from a batch's counts (chunked and Spark
    engines): the same statistics, KS and ROC-AUC from bins (see
    :mod:`pipelines.stats.binned`), duplicate ids not checked. Binary models only: a
    :class:`ConfigError` for the other types."""
    if ref.problem_type != "binary":
        raise ConfigError(f"the chunked and spark engines judge binary models only; this "
                          f"model is {ref.problem_type}: use engine.name = memory.")
    if counts.n_rows == 0:
        raise DataError(f"{batch_id}: the batch has no rows.")
    if 0 < counts.n_labelled < counts.n_rows:
        raise DataError(
            f"{batch_id}: target {ref.schema.target!r} is missing in "
            f"{counts.n_rows - counts.n_labelled} of {counts.n_rows} rows; send a batch with "
            "labels for every row, or drop the column.")
    features = feature_drift_from_counts(profile, counts, policy.drift)
    score = profile.score
    score_counts = counts.scores[ALL]
    ks = ks_from_counts(score.reference, score_counts, score.atoms, counts.scores[ATOMS])
    effect = psi_from_counts(score.psi_reference,
                             aggregate(score_counts, score.groups, score.psi_edges.size + 1), 0)
    prediction = ScoreDrift("ks", ks.statistic, ks.pvalue, effect, "psi",
                            policy.prediction_drift.drifted(ks.pvalue, effect))
    # the threshold is an edge: scores >= it fill the bins after it
    decided_bins = slice(int(np.searchsorted(score.edges, profile.decision_threshold)) + 1, None)
    prob = counts.probabilities
    estimated = estimates_from_sums(
        auc=expected_auc_from_bins(prob[P_SUM], prob[Q_SUM], prob[PQ_SUM]),
        n=float(counts.n_rows), predicted_positive=float(score_counts[decided_bins].sum()),
        tp=float(prob[P_SUM][decided_bins].sum()),
        fn=float(prob[P_SUM].sum() - prob[P_SUM][decided_bins].sum()),
        var_tp=float(prob[PQ_SUM][decided_bins].sum()),
        var_fn=float(prob[PQ_SUM].sum() - prob[PQ_SUM][decided_bins].sum()))
    performance = tgt = None
    sample_problem = None
    if counts.n_labelled:
        pos, neg = counts.scores[POSITIVE], counts.scores[NEGATIVE]
        tp, fp = int(pos[decided_bins].sum()), int(neg[decided_bins].sum())
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        performance = metrics_from_counts(
            tp=tp, fp=fp, fn=n_pos - tp, n=counts.n_rows,
            roc_auc=auc_from_histograms(pos, neg),
            log_loss_sum=float(counts.label_sums[0]), brier_sum=float(counts.label_sums[1]))
        assert isinstance(ref.target_reference, CategoricalReference)
        res = _chi2_from_counts(ref.target_reference, ["0", "1"],
                                np.array([n_neg, n_pos], dtype=np.int64), 0)
        tgt = ScoreDrift("chi2", res.statistic, res.pvalue, res.psi, "psi",
                         policy.target_drift.drifted(res.pvalue, res.psi))
        sample_problem = policy.sample_problem_of_counts(n_pos, n_neg)
    numeric_counts = {name: (int(a[NAN]), int(a[INF]), int(a[BELOW] + a[ABOVE]))
                      for name, a in counts.numeric.items()}
    categorical_counts = {name: (counts.categorical[name], counts.categorical_missing[name])
                          for name in counts.categorical}
    quality = quality_from_counts(counts.n_rows, numeric_counts, categorical_counts,
                                  counts.dtypes, ref.profile, policy.quality)
    bounds = [f.statistics.get("ks_bound", 0.0) for f in features if f.kind == "numeric"]
    note = (f"Counts engine: KS from {profile.ks_bins} reference-quantile bins per feature, "
            f"each exact KS statistic at most {max(bounds, default=0.0):.2g} above the one "
            "shown; PSI and chi-square exact")
    if performance is not None:
        pos, neg = counts.scores[POSITIVE], counts.scores[NEGATIVE]
        tied = float(np.sum(pos * neg.astype(np.float64))) / max(
            float(pos.sum()) * float(neg.sum()), 1.0)
        note += f"; ROC-AUC with ties inside a score bin (within {tied / 2:.2g} of exact)"
    note += "; duplicate ids not checked."
    return _report(
        batch_id=batch_id, n_rows=counts.n_rows, features=features, prediction=prediction,
        quality=quality, performance=performance, target=tgt, sample_problem=sample_problem,
        estimated=estimated, ref=ref, policy=policy,
        context={**(context or {}), "engine_note": note}, settings=settings)


def feature_drift_from_counts(profile: CountsProfile, counts: BatchCounts,
                              thresholds: DriftThresholds) -> list[FeatureDrift]:
    """The counts path's :func:`~pipelines.stats.compute_feature_drift`: every feature's test,
    effect and adjusted p-value from the batch's counts."""
    return _adjust([
        *(_binned_numeric(column, counts, thresholds) for column in profile.numeric.values()),
        *(_binned_categorical(cat, counts, thresholds)
          for cat in profile.categorical.values()),
    ], thresholds)


def _binned_numeric(column: BinnedColumn, counts: BatchCounts,
                    thresholds: DriftThresholds) -> FeatureDrift:
    ints = counts.numeric[column.name]
    k = column.n_bins
    bins = ints[:k]
    ks = ks_from_counts(column.reference, bins, column.atoms, ints[k:2 * k])
    effect = psi_from_counts(column.psi_reference,
                             aggregate(bins, column.groups, column.psi_edges.size + 1),
                             int(ints[NAN] + ints[INF]))
    statistics = {"ks_bound": ks.bound}
    if "wasserstein" in thresholds.statistics("numeric"):
        n = max(int(bins.sum()), 1)
        excess = counts.excess[column.name]
        statistics["wasserstein"] = wasserstein_from_counts(
            column.edges, column.reference, bins, column.excess,
            (float(excess[0]) / n, float(excess[1]) / n), column.std)
    return FeatureDrift(
        feature=column.name, kind="numeric", test="ks", statistic=ks.statistic,
        pvalue=ks.pvalue, pvalue_adjusted=ks.pvalue, effect_size=effect, effect_name="psi",
        drifted=False, n_reference=int(column.reference.sum()), n_current=int(bins.sum()),
        statistics=statistics)


def _binned_categorical(ref: CategoricalReference, counts: BatchCounts,
                        thresholds: DriftThresholds) -> FeatureDrift:
    labels, values, missing = counts.category_counts(ref.name)
    res = _chi2_from_counts(ref, labels, values, missing)
    statistics = ({"cramers_v": res.cramers_v}
                  if "cramers_v" in thresholds.statistics("categorical") else {})
    return FeatureDrift(
        feature=ref.name, kind="categorical", test="chi2", statistic=res.statistic,
        pvalue=res.pvalue, pvalue_adjusted=res.pvalue, effect_size=res.psi,
        effect_name="psi", drifted=False, n_reference=ref.n + ref.n_missing,
        n_current=int(values.sum()) + missing, statistics=statistics)


def _report(*, batch_id: str, n_rows: int, features: list[FeatureDrift],
            prediction: ScoreDrift, quality: QualityReport,
            performance: dict[str, float] | None, target: ScoreDrift | None,
            sample_problem: str | None, estimated: dict[str, Estimate], ref: ReferenceContext,
            policy: MonitoringPolicy, context: dict[str, Any] | None,
            settings: dict[str, Any] | None, tables: dict[str, Any] | None = None,
            output_detail: tuple[dict[str, Any], ...] = (),
            sample_notes: tuple[str, ...] = ()) -> MonitoringReport:
    """Alerts and the report, the same for every engine."""
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features) if features else 0.0
    concept = (None if performance is None
               else _concept(performance, estimated, ref, policy, share))
    verdict = evaluate_alerts(
        performance=performance, feature_drift=features, drift_share=share,
        prediction_drift=prediction, target_drift=target, concept=concept, quality=quality,
        policy=policy, sample_problem=sample_problem, estimated=estimated,
        sample_notes=sample_notes)
    return MonitoringReport(
        batch_id=batch_id, n_rows=n_rows, has_labels=performance is not None,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        performance=performance, baseline=ref.baseline, feature_drift=tuple(features),
        drift_share=share, prediction_drift=prediction, target_drift=target,
        concept_drift=concept, quality=quality, verdict=verdict, settings=dict(settings or {}),
        context=dict(context or {}), estimated=estimated, problem_type=ref.problem_type,
        tables=dict(tables or {}), output_drift_detail=output_detail,
    )


def _concept(performance: dict[str, float], estimated: dict[str, Estimate],
             ref: ReferenceContext, policy: MonitoringPolicy,
             share: float) -> ConceptDriftFinding | None:
    """Concept drift with the same estimator on both sides: the batch's realized metric
    against its estimate, relative to the reference's realized metric against its own."""
    nan = float("nan")
    if ref.problem_type == "regression":
        guess = estimated.get("rmse")
        return assess_rmse_concept_drift(
            performance["rmse"], nan if guess is None else guess.value, ref.baseline["rmse"],
            ref.reference_estimated.get("rmse", nan), share, policy.concept_drift_rmse_increase)
    if ref.problem_type == "multiclass":
        guess = estimated.get("accuracy")
        return assess_accuracy_concept_drift(
            performance["accuracy"], nan if guess is None else guess.value,
            ref.baseline["accuracy"], ref.reference_estimated.get("accuracy", nan), share,
            policy.concept_drift_accuracy_drop)
    return assess_concept_drift(
        performance["roc_auc"], np.empty(0), ref.baseline["roc_auc"],
        ref.calibrated_expected_auc, share, policy.concept_drift_auc_drop,
        expected_auc=estimated["roc_auc"].value)
