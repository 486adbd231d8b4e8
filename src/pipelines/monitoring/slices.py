"""Slices: the batch's verdict per segment of rows ("for which customers?"). Pure, no I/O.

A slice specification is a string of ``monitoring.slices``:

* a column name (``contract_type``): one slice per value, the ``max_slice_values`` most
  frequent values *of the reference* each their own slice, the rest pooled as
  ``<column>=other`` (missing values count as the value ``<missing>``);
* a comparison ``<column> <op> <literal>`` with ``op`` one of ``== != < <= > >=`` and a
  number (numeric feature) or a quoted string (categorical feature, ``==`` / ``!=`` only),
  parsed by one regular expression: nothing is evaluated. Missing values fall in no
  comparison slice but ``!=``.

:class:`SliceSet` holds the resolved slices and, per slice, a
:class:`~pipelines.monitoring.reference.ReferenceContext` fitted on the reference rows of that
slice (the whole reference's calibration and estimators kept). Each slice of a batch is
evaluated by the engine's own function (:func:`~pipelines.monitoring.engine.evaluate_batch`
or, from counts, :func:`~pipelines.monitoring.engine.evaluate_counts`) against its slice
reference; :func:`summarise` then applies the corrections across slices: the feature
p-values of every judged slice adjusted together (BH across features *and* slices) with the
same effect floor, the prediction-drift p-values across slices. A slice with fewer than
``min_slice_rows`` rows in the batch or in the reference is reported ``too small``, not
judged. :func:`slice_alerts` raises an alert only where a slice crosses a threshold the
whole batch does not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.data.batch import Batch, PreparedBatch
from pipelines.data.schema import target_array
from pipelines.errors import ConfigError
from pipelines.monitoring.alerts import Alert, HealthVerdict, ScoreDrift
from pipelines.monitoring.policy import MonitoringPolicy
from pipelines.monitoring.reference import (
    PREDICTED_CLASS_KEY,
    PROBA_KEY,
    ReferenceContext,
    check_outputs,
    outputs_from_frame,
)
from pipelines.monitoring.slice_specs import (
    SliceSpec,
    check_slices,
)
from pipelines.problems import problem
from pipelines.stats import FeatureDrift, fit_categorical_reference, fit_reference_profile
from pipelines.stats.drift import adjust_pvalues, fit_numeric_reference
from pipelines.stats.estimation import Z95
from pipelines.stats.evaluation import performance_metrics
from pipelines.stats.profile import DriftThresholds, _adjust

#: The pooled slice of a column's less frequent values, and the label of missing values.
OTHER = "other"
MISSING = "<missing>"
#: Alert rules of slices; ``slice_performance`` recommends retraining like ``performance``.
SLICE_RULES = ("slice_performance", "slice_performance_estimated", "slice_drift")
SLICE_RETRAINING_RULES = ("slice_performance",)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal}


# --------------------------------------------------------------------------- slices


@dataclass(frozen=True)
class Slice:
    """One slice: its key (``contract_type=monthly``, ``contract_type=other``,
    ``tenure_months > 24``) and how its rows are selected."""

    key: str
    spec: SliceSpec
    values: tuple[Any, ...] = ()
    """Column slice: the value it holds (or, for ``other``, the values it excludes)."""
    other: bool = False


def _labels(column: Any) -> np.ndarray:
    """A column's values as comparable labels: float64 for a numeric column (missing as NaN,
    in no value's slice), text for a categorical one (missing as :data:`MISSING`)."""
    series = column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.astype(object).where(series.notna(), MISSING).astype(str).to_numpy(
        dtype=object)


def _value_mask(column: Any, values: tuple[Any, ...]) -> np.ndarray:
    """The rows whose label (:func:`_labels`) is one of ``values``; text columns compared
    as they are (no conversion of every row to a Python string)."""
    series = column if isinstance(column, pd.Series) else pd.Series(np.asarray(column))
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric and pd.api.types.is_string_dtype(series):
        text = [v for v in values if v != MISSING]
        mask = series.isin(text).to_numpy(dtype=bool)
        return mask | series.isna().to_numpy(dtype=bool) if MISSING in values else mask
    labels = _labels(series)
    return np.isin(labels, np.array(values, dtype=labels.dtype))


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve_slices(specs: Sequence[SliceSpec], reference: Mapping[str, Any],
                   max_values: int) -> tuple[Slice, ...]:
    """The slices of ``specs`` on the reference rows: a column's ``max_values`` most frequent
    values (ties by value), the rest pooled as ``other`` when the reference has more."""
    out: list[Slice] = []
    for spec in specs:
        if spec.op is not None:
            out.append(Slice(key=spec.text, spec=spec))
            continue
        counts = pd.Series(_labels(reference[spec.column])).value_counts(dropna=True)
        ranked = sorted(counts.items(), key=lambda kv: (-int(kv[1]), _shown(kv[0])))
        top = tuple(v.item() if isinstance(v, np.generic) else v
                    for v, _ in ranked[:max_values])
        out.extend(Slice(key=f"{spec.column}={_shown(v)}", spec=spec, values=(v,))
                   for v in top)
        if len(ranked) > max_values:
            out.append(Slice(key=f"{spec.column}={OTHER}", spec=spec, values=top, other=True))
    keys = [s.key for s in out]
    if len(set(keys)) < len(keys):
        raise ConfigError(f"two slices have the same key among {keys}; list each once")
    return tuple(out)


def slice_masks(slices: Sequence[Slice], columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Each slice's rows of ``columns`` (a batch or the reference) as a boolean mask."""
    masks: dict[str, np.ndarray] = {}
    for s in slices:
        spec = s.spec
        if spec.op is None:
            inside = _value_mask(columns[spec.column], s.values)
            labels = _labels(columns[spec.column]) if s.other else None
            if labels is not None and labels.dtype == np.float64:
                # a numeric column's missing values are in no value's slice, "other" included
                # (a categorical column's are the value <missing>)
                inside = inside | np.isnan(labels)
            masks[s.key] = ~inside if s.other else inside
            continue
        raw = columns[spec.column]
        if isinstance(spec.literal, float):
            values = (raw.to_numpy(dtype=np.float64, na_value=np.nan)
                      if isinstance(raw, pd.Series) else np.asarray(raw, dtype=np.float64))
            with np.errstate(invalid="ignore"):
                masks[s.key] = np.asarray(_COMPARE[spec.op](values, spec.literal), dtype=bool)
        else:
            series = raw if isinstance(raw, pd.Series) else pd.Series(raw)
            equal = series.astype(object).eq(spec.literal).fillna(False).to_numpy(dtype=bool)
            masks[s.key] = equal if spec.op == "==" else ~equal
    return masks


def subset_batch(batch: PreparedBatch, mask: np.ndarray, key: str) -> PreparedBatch:
    """The rows of ``batch`` where ``mask`` holds, as a batch of their own: its converted
    features and labels taken once; its frame is made of these (the id and timestamp
    columns left out: duplicate ids are the whole batch's finding)."""
    rows = np.flatnonzero(mask)
    numeric = {k: v[rows] for k, v in batch.numeric.items()}
    categorical = {k: v.take(rows).reset_index(drop=True) for k, v in batch.categorical.items()}
    frame = pd.DataFrame({**numeric, **categorical}, copy=False)
    return PreparedBatch(
        batch=Batch(frame, f"{batch.batch.batch_id}[{key}]", f"{batch.batch.source} [{key}]"),
        schema=batch.schema, numeric=numeric, categorical=categorical,
        labels=None if batch.labels is None else batch.labels[rows])


def _verdict_only(policy: MonitoringPolicy) -> MonitoringPolicy:
    """``policy`` without the further drift statistics (Wasserstein, Cramér's V): a slice's
    row shows the verdict's tests and effects, and these cost as much as the tests."""
    return replace(policy, drift=replace(policy.drift, numeric_statistics=(),
                                         categorical_statistics=()))


def slice_context(whole: ReferenceContext, frame: pd.DataFrame,
                  n_bins: int = 10) -> ReferenceContext:
    """The reference context of one slice: the features', outputs' and target's profiles and
    the baseline metrics refitted on the slice's reference rows (``frame``, with the model's
    outputs as stored); the whole reference's calibration and estimators are kept (the
    estimate of a slice applies the model's calibration to the slice's rows)."""
    schema = whole.schema
    kind = schema.problem_type
    outputs = check_outputs(outputs_from_frame(frame, schema), schema, "reference slice")
    score = outputs.max(axis=1) if kind == "multiclass" else outputs
    y = target_array(frame, schema, "reference slice")
    columns: dict[str, Any] = {name: frame[name] for name in schema.features}
    columns["__slice_score__"] = score
    profile = fit_reference_profile(columns, [*schema.numeric, "__slice_score__"],
                                    list(schema.categorical), n_bins=n_bins)
    numeric = {k: v for k, v in profile.numeric.items() if k != "__slice_score__"}
    score_ref = replace(profile.numeric["__slice_score__"], name=whole.score_reference.name)
    try:
        baseline = performance_metrics(kind, y, outputs, classes=schema.classes,
                                       threshold=whole.decision_threshold)
    except ValueError:  # one class alone in the slice's reference
        baseline = {k: math.nan for k in whole.baseline}
    ctx = replace(whole, profile=replace(profile, numeric=numeric), score_reference=score_ref,
                  baseline=baseline)
    if kind == "regression":
        features = frame.loc[:, list(schema.features)].reset_index(drop=True)
        estimated = ({} if whole.loss_estimator is None else
                     {k: e.value for k, e in
                      whole.loss_estimator.estimate(features, outputs).items()})
        return replace(ctx, target_reference=fit_numeric_reference(schema.target, y, n_bins),
                       reference_estimated=estimated)
    if kind == "multiclass":
        from pipelines.stats.multiclass_estimation import estimate_multiclass

        classes = np.asarray(schema.classes, dtype=object)
        return replace(
            ctx, target_reference=fit_categorical_reference(schema.target, classes[y]),
            prediction_classes=fit_categorical_reference(
                PREDICTED_CLASS_KEY, classes[np.argmax(outputs, axis=1)]),
            class_references=tuple(fit_numeric_reference(PROBA_KEY.format(j), outputs[:, j],
                                                         n_bins)
                                   for j in range(len(classes))),
            reference_estimated=({} if whole.multiclass_calibration is None else
                                 {k: e.value for k, e in estimate_multiclass(
                                     outputs, whole.multiclass_calibration).items()}))
    from pipelines.monitoring.performance import expected_roc_auc

    return replace(ctx, target_reference=fit_categorical_reference(
        schema.target, np.asarray(y).astype(int).astype(str)),
        expected_auc=expected_roc_auc(score))


@dataclass(frozen=True)
class SliceSet:
    """The configured slices resolved on a reference, each with its reference context (None
    when the slice has fewer than ``min_rows`` reference rows: it is never judged)."""

    slices: tuple[Slice, ...]
    contexts: dict[str, ReferenceContext | None]
    reference_rows: dict[str, int]
    min_rows: int

    @classmethod
    def fit(cls, specs: Sequence[SliceSpec], reference: pd.DataFrame, whole: ReferenceContext,
            *, max_values: int, min_rows: int, n_bins: int = 10) -> SliceSet:
        """Resolve ``specs`` on the stored reference rows (features, target, outputs) and fit
        each slice's reference context."""
        check_slices(specs, whole.schema)
        slices = resolve_slices(specs, reference, max_values)
        masks = slice_masks(slices, reference)
        contexts: dict[str, ReferenceContext | None] = {}
        rows: dict[str, int] = {}
        for s in slices:
            mask = masks[s.key]
            rows[s.key] = int(mask.sum())
            contexts[s.key] = (slice_context(whole, reference.loc[mask].reset_index(drop=True),
                                             n_bins) if rows[s.key] >= min_rows else None)
        return cls(slices=slices, contexts=contexts, reference_rows=rows, min_rows=min_rows)

    def judged(self, key: str, batch_rows: int) -> bool:
        return self.contexts.get(key) is not None and batch_rows >= self.min_rows


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SliceResult:
    """One slice of one batch. ``status``: ``judged`` or ``too small`` (only the rows
    then). ``metric``: the model type's primary metric (realized when labels allow it),
    ``reference``: its value on the slice's reference rows."""

    key: str
    rows: int
    reference_rows: int
    status: Literal["judged", "too small"]
    features: tuple[FeatureDrift, ...] = ()
    drift_share: float = math.nan
    prediction: ScoreDrift | None = None
    metric: float = math.nan
    estimated: float = math.nan
    estimated_lower: float = math.nan
    estimated_upper: float = math.nan
    reference: float = math.nan
    positive_rate: float = math.nan
    performance_judged: bool = False

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    def row(self, primary: str) -> dict[str, Any]:
        """The slice as one row of the slice table."""
        pred = self.prediction
        return {
            "slice": self.key, "status": self.status, "rows": self.rows,
            "reference_rows": self.reference_rows, primary: self.metric,
            f"estimated_{primary}": self.estimated, f"reference_{primary}": self.reference,
            "drift_share": self.drift_share,
            "drifted_features": ",".join(self.drifted_features),
            "prediction_drift_pvalue_adjusted": None if pred is None else pred.pvalue,
            "prediction_drift_psi": None if pred is None else pred.effect_size,
            "prediction_drifted": None if pred is None else pred.drifted,
        }


@dataclass(frozen=True)
class SliceReport:
    """Every slice of one batch and the alerts they raise."""

    primary: str
    results: tuple[SliceResult, ...]
    alerts: tuple[Alert, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def in_alert(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for a in self.alerts for k in a.columns))

    def metrics(self) -> dict[str, float]:
        return slice_metrics(self)

    def table(self) -> list[dict[str, Any]]:
        return [r.row(self.primary) for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {"primary_metric": self.primary, "in_alert": list(self.in_alert),
                "alerts": [a.to_dict() for a in self.alerts], "notes": list(self.notes),
                "slices": self.table()}


def summarise(sub_reports: Mapping[str, Any], slice_set: SliceSet,
              rows: Mapping[str, int], policy: MonitoringPolicy) -> list[SliceResult]:
    """The slice results from each judged slice's own report (``sub_reports``: key ->
    :class:`~pipelines.monitoring.report.MonitoringReport` of the slice's rows against the
    slice's reference), with the corrections across slices: the feature p-values of all
    judged slices adjusted together, each feature drifted when its adjusted p-value is below
    the level and its effect reaches the floor; the prediction-drift p-values adjusted
    across the slices."""
    thresholds: DriftThresholds = policy.drift
    primary = problem(policy.problem_type).primary_metric
    judged = [k for k in (s.key for s in slice_set.slices) if k in sub_reports]
    pooled = [f for k in judged for f in sub_reports[k].feature_drift]
    adjusted = _adjust(pooled, thresholds)
    pred_p = adjust_pvalues(np.array([sub_reports[k].prediction_drift.pvalue for k in judged],
                                     dtype=np.float64), thresholds.correction) if judged else []
    results: list[SliceResult] = []
    start = 0
    for s in slice_set.slices:
        key = s.key
        if key not in sub_reports:
            results.append(SliceResult(key=key, rows=int(rows.get(key, 0)),
                                       reference_rows=slice_set.reference_rows[key],
                                       status="too small"))
            continue
        sub = sub_reports[key]
        n = len(sub.feature_drift)
        features = tuple(adjusted[start:start + n])
        start += n
        i = judged.index(key)
        pd_ = sub.prediction_drift
        prediction = replace(pd_, pvalue=float(pred_p[i]),
                             drifted=policy.prediction_drift.drifted(float(pred_p[i]),
                                                                     pd_.effect_size))
        estimate = sub.estimated.get(primary)
        performance = sub.performance or {}
        low = any(a.rule == "low_sample" for a in sub.alerts)
        context = slice_set.contexts[key]
        results.append(SliceResult(
            key=key, rows=sub.n_rows, reference_rows=slice_set.reference_rows[key],
            status="judged", features=features,
            drift_share=(sum(f.drifted for f in features) / n) if n else 0.0,
            prediction=prediction, metric=float(performance.get(primary, math.nan)),
            estimated=math.nan if estimate is None else estimate.value,
            estimated_lower=math.nan if estimate is None else estimate.lower,
            estimated_upper=math.nan if estimate is None else estimate.upper,
            reference=float((context.baseline if context else {}).get(primary, math.nan)),
            positive_rate=float(performance.get("positive_rate", math.nan)),
            performance_judged=bool(performance) and not low))
    return results


def auc_standard_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley and McNeil's (1982) standard error of a ROC-AUC from its class sizes."""
    if n_pos < 1 or n_neg < 1 or not math.isfinite(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
           + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return math.sqrt(max(var, 0.0))


def slice_alerts(results: Sequence[SliceResult], *, batch_metric: float,
                 batch_estimated: float, batch_drift_share: float,
                 policy: MonitoringPolicy) -> tuple[Alert, ...]:
    """Alerts for the slices that cross a threshold the whole batch does not.

    ``slice_performance`` (critical, recommends retraining): the slice's realized primary
    metric breaches the performance limit, the batch's does not, the slice's own reference
    value did not (a slice always below the floor is reported, not alerted every batch),
    and, for ROC-AUC, the drop from the slice's reference is significant (the difference's
    95 % bound, Hanley-McNeil standard errors of both values combined, below zero).
    ``slice_performance_estimated`` (warning): no realized metric, and the estimate's whole
    95 % band breaches the limit while the batch's estimate does not. ``slice_drift``
    (warning): more than the ``drift_share`` limit of the slice's features drifted, while the
    batch's share did not.
    """
    kind = problem(policy.problem_type)
    primary = kind.primary_metric
    alerts: list[Alert] = []
    overall_share = policy.drift_share.breached(batch_drift_share)
    for r in results:
        if r.status != "judged":
            continue
        limit = policy.for_reference({"rmse": r.reference}).primary
        batch_limit = policy.primary
        where = f"{r.key} ({r.rows:,} rows)"
        if r.performance_judged:
            significant = True
            if primary == "roc_auc":
                # both values are estimates: the batch slice's and the reference slice's
                # standard errors (Hanley-McNeil; the reference's classes sized by the
                # batch slice's positive rate) add up
                n_pos = round(r.positive_rate * r.rows)
                n_ref_pos = round(r.positive_rate * r.reference_rows)
                se = math.hypot(
                    auc_standard_error(r.metric, n_pos, r.rows - n_pos),
                    auc_standard_error(r.reference, n_ref_pos, r.reference_rows - n_ref_pos))
                significant = math.isfinite(se) and r.metric + Z95 * se < r.reference
            if (limit.breached(r.metric) and not batch_limit.breached(batch_metric)
                    and not limit.breached(r.reference) and significant):
                alerts.append(Alert(
                    "slice_performance", "critical", r.metric, limit.limit,
                    f"{kind.label} {_fmt(r.metric)} on {where} while {_fmt(batch_metric)} "
                    f"overall ({_fmt(r.reference)} on this slice's reference): beyond the "
                    f"limit {_fmt(limit.limit)}", (r.key,)))
        elif math.isfinite(r.estimated) and not batch_limit.breached(batch_estimated):
            band = (r.estimated_lower, r.estimated_upper)
            if (all(limit.breached(v) for v in band) and not limit.breached(r.reference)):
                alerts.append(Alert(
                    "slice_performance_estimated", "warning", r.estimated, limit.limit,
                    f"estimated {kind.label} {_fmt(r.estimated)} (95% {_fmt(band[0])}-"
                    f"{_fmt(band[1])}) on {where} while {_fmt(batch_estimated)} overall: "
                    f"beyond the limit {_fmt(limit.limit)}, no labels yet", (r.key,)))
        if policy.drift_share.breached(r.drift_share) and not overall_share:
            drifted = r.drifted_features
            alerts.append(Alert(
                "slice_drift", "warning", r.drift_share, policy.drift_share.limit,
                f"{len(drifted)} of {len(r.features)} features drifted on {where} "
                f"({r.drift_share:.0%} > {policy.drift_share.limit:.0%}) while "
                f"{batch_drift_share:.0%} overall: {', '.join(drifted)}", (r.key,)))
    return tuple(alerts)


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else (
        f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}")


def merge_verdict(verdict: HealthVerdict, alerts: Sequence[Alert],
                  few_rows: bool) -> HealthVerdict:
    """The batch's verdict with the slice alerts added: status recomputed; a
    ``slice_performance`` alert recommends retraining unless the batch is too small."""
    if not alerts:
        return verdict
    every = (*verdict.alerts, *alerts)
    status = ("critical" if any(a.severity == "critical" for a in every)
              else "warning" if every else "ok")
    extra = () if few_rows else tuple(a.message for a in alerts
                                      if a.rule in SLICE_RETRAINING_RULES)
    reasons = (*verdict.reasons, *extra)
    return HealthVerdict(alerts=every, status=status,  # type: ignore[arg-type]
                         retraining_recommended=bool(reasons), reasons=reasons)


def slice_metrics(report: SliceReport) -> dict[str, float]:
    """A handful of metrics per slice: rows, drift share, the primary metric (realized) and
    its estimate, under ``slice/<key>/``."""
    out: dict[str, float] = {"slices_in_alert": float(len(report.in_alert))}
    for r in report.results:
        base = f"slice/{_metric_key(r.key)}"
        out[f"{base}/rows"] = float(r.rows)
        for name, value in ((report.primary, r.metric), ("drift_share", r.drift_share),
                            (f"estimated_{report.primary}", r.estimated)):
            if math.isfinite(value):
                out[f"{base}/{name}"] = float(value)
    return out


_KEY = re.compile(r"[^0-9A-Za-z_\-.]+")


def _metric_key(key: str) -> str:
    """A slice key as one MLflow metric-key part (``tenure_months > 24`` ->
    ``tenure_months_gt_24``)."""
    words = {" > ": "_gt_", " >= ": "_ge_", " < ": "_lt_", " <= ": "_le_", " == ": "_eq_",
             " != ": "_ne_", "=": "_eq_"}
    for sym, word in words.items():
        key = key.replace(sym, word)
    return _KEY.sub("_", key).strip("_")[:100]


# --------------------------------------------------------------------------- evaluation


def _slice_report(sub_reports: Mapping[str, Any], rows: Mapping[str, int],
                  slice_set: SliceSet, policy: MonitoringPolicy, whole: Any) -> SliceReport:
    primary = problem(policy.problem_type).primary_metric
    policy = policy.for_reference(whole.baseline)
    results = summarise(sub_reports, slice_set, rows, policy)
    estimate = whole.estimated.get(primary)
    alerts = slice_alerts(
        results, batch_metric=float((whole.performance or {}).get(primary, math.nan)),
        batch_estimated=math.nan if estimate is None else estimate.value,
        batch_drift_share=whole.drift_share, policy=policy)
    small = [r.key for r in results if r.status != "judged"]
    notes = ((f"{len(small)} slice(s) below {slice_set.min_rows} rows in the batch or the "
              f"reference, reported not judged: {', '.join(small)}",) if small else ())
    return SliceReport(primary=primary, results=tuple(results), alerts=alerts, notes=notes)


def evaluate_slices(batch: PreparedBatch, scores: np.ndarray, slice_set: SliceSet,
                    policy: MonitoringPolicy, whole: Any) -> SliceReport:
    """Every slice of an in-memory batch, each judged by
    :func:`~pipelines.monitoring.engine.evaluate_batch` against its slice reference;
    ``whole``: the batch's own report (the thresholds the slices must cross alone)."""
    from pipelines.monitoring.engine import evaluate_batch

    masks = slice_masks(slice_set.slices, batch)
    outputs = np.asarray(scores, dtype=np.float64)
    judged = _verdict_only(policy)
    sub_reports: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for s in slice_set.slices:
        mask = masks[s.key]
        rows[s.key] = int(mask.sum())
        context = slice_set.contexts[s.key]
        if context is None or rows[s.key] < slice_set.min_rows:
            continue
        sub_reports[s.key] = evaluate_batch(subset_batch(batch, mask, s.key), outputs[mask],
                                            context, judged)
    return _slice_report(sub_reports, rows, slice_set, policy, whole)


def evaluate_slices_from_counts(counts: Mapping[str, Any], rows: Mapping[str, int],
                                profiles: Mapping[str, Any], slice_set: SliceSet,
                                policy: MonitoringPolicy, whole: Any) -> SliceReport:
    """:func:`evaluate_slices` from each slice's counts (chunked and Spark engines):
    ``counts`` and ``profiles`` by slice key (:class:`~pipelines.monitoring.counts.BatchCounts`
    and :class:`~pipelines.monitoring.counts.CountsProfile` of the slices with a reference
    context), ``rows``: every slice's rows."""
    from pipelines.monitoring.engine import evaluate_counts

    sub_reports = {
        s.key: evaluate_counts(counts[s.key], profiles[s.key], context, _verdict_only(policy),
                               batch_id=f"{whole.batch_id}[{s.key}]")
        for s in slice_set.slices
        if (context := slice_set.contexts[s.key]) is not None
        and s.key in counts and rows.get(s.key, 0) >= slice_set.min_rows}
    return _slice_report(sub_reports, rows, slice_set, policy, whole)


def with_slices(report: Any, slice_report: SliceReport, policy: MonitoringPolicy) -> Any:
    """``report`` (a :class:`~pipelines.monitoring.report.MonitoringReport`) with its slices
    and their alerts in the verdict."""
    few = report.n_rows < policy.min_rows_for_performance
    return replace(report, slices=slice_report,
                   verdict=merge_verdict(report.verdict, slice_report.alerts, few))


def count_slices(slice_set: SliceSet, profiles: Mapping[str, Any], batch: PreparedBatch,
                 scores: np.ndarray, counts: dict[str, Any], rows: dict[str, int]) -> None:
    """Add one chunk's counts per slice to ``counts`` (slices with a profile) and its rows
    per slice to ``rows``: the counted engines' slice drift (bin counts grouped by slice)."""
    from pipelines.monitoring.counts import count_chunk

    outputs = np.asarray(scores, dtype=np.float64)
    for key, mask in slice_masks(slice_set.slices, batch).items():
        n = int(mask.sum())
        rows[key] = rows.get(key, 0) + n
        if key not in profiles or n == 0:
            continue
        part = count_chunk(profiles[key], subset_batch(batch, mask, key), outputs[mask])
        counts[key] = part if key not in counts else counts[key] + part
