"""What a reviewer reads first: a run name that is the verdict, a Markdown description with
the alerts and the drifted features, and the per-feature table sorted by evidence. Pure:
links come in as ready-made strings."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipelines.data.io import readable
from pipelines.monitoring.report import MonitoringReport
from pipelines.problems import problem

#: The headline of a verdict: the most telling alert first.
_HEADLINE_ORDER = ("concept_drift", "performance", "performance_estimated", "drift_share",
                   "slice_performance", "slice_performance_estimated", "slice_drift",
                   "feature_drift", "prediction_drift", "target_drift", "data_quality",
                   "low_sample")

FEATURE_TABLE_COLUMNS = ("feature", "kind", "test", "statistic", "pvalue", "pvalue_adj",
                         "effect_name", "effect", "verdict", "missing_share")


#: What the alert rules that need the model's type read as, per type (the rest is shared).
_TYPE_WORDS: dict[str, dict[str, str]] = {
    "binary": {"performance": "auc below floor",
               "performance_estimated": "estimated auc below floor",
               "prediction_drift": "score drift"},
    "regression": {"performance": "rmse above ceiling",
                   "performance_estimated": "estimated rmse above ceiling",
                   "prediction_drift": "prediction drift"},
    "multiclass": {"performance": "macro f1 below floor",
                   "performance_estimated": "estimated macro f1 below floor",
                   "prediction_drift": "predicted-class drift"},
}


def headline(rules: set[str], n_drifted: int, n_features: int,
             problem_type: str = "binary") -> str:
    """The most telling finding in a few words, from the alert rules that fired. When many
    features drifted (``drift_share``) the drift comes first: concept drift is only the part
    of the drop the inputs do not explain, so it is named as that part
    (``10 of 24 features drifted, partly concept drift``); "concept drift" alone only when
    few features drifted. The performance words name the type's metric and direction
    (``auc below floor``, ``rmse above ceiling``, ``macro f1 below floor``)."""
    if {"concept_drift", "drift_share"} <= rules:
        return f"{n_drifted} of {n_features} features drifted, partly concept drift"
    words = {
        "concept_drift": "concept drift",
        "drift_share": f"{n_drifted} of {n_features} features drifted",
        "data_quality": "data quality",
        "target_drift": "label drift",
        "feature_drift": f"{n_drifted} feature{'s' if n_drifted != 1 else ''} drifted",
        "low_sample": "low sample",
        "slice_performance": "a slice degraded", "slice_drift": "a slice drifted",
        "slice_performance_estimated": "a slice estimated degraded",
        **_TYPE_WORDS.get(problem_type, _TYPE_WORDS["binary"]),
    }
    for rule in _HEADLINE_ORDER:
        if rule in rules:
            return words[rule]
    return "stable"


def _problem_type(report: MonitoringReport) -> str:
    return report.problem_type or "binary"


def _headline(report: MonitoringReport) -> str:
    return headline({a.rule for a in report.alerts}, len(report.drifted_features),
                    len(report.feature_drift), _problem_type(report))


#: About what MLflow's run lists show of a name (no tooltip): the verdict fits in it.
NAME_WIDTH = 22
_STATUS_WORDS = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}
#: The cause a run name gives, first that fired wins: drift before concept drift (concept
#: drift is only what the inputs do not explain); none when the primary metric alone is past
#: its limit (the number is in the name) or nothing fired.
_CAUSE_WORDS = (("drift_share", "drift"), ("concept_drift", "concept"),
                ("feature_drift", "drift"), ("data_quality", "quality"),
                ("prediction_drift", "scores"), ("target_drift", "labels"),
                ("low_sample", "few rows"), ("slice_performance", "slice"),
                ("slice_drift", "slice"), ("slice_performance_estimated", "slice"))
#: The output-drift cause per type: a regression model's outputs are predictions, a
#: multiclass model's drift is in its predicted-class shares.
_OUTPUT_CAUSE = {"binary": "scores", "regression": "preds", "multiclass": "classes"}
#: The primary metric's short name in a run name: none for binary (the bare ROC-AUC, as
#: before types), ``rmse`` for regression, ``f1`` (macro F1) for multiclass.
METRIC_SHORT = {"binary": "", "regression": "rmse", "multiclass": "f1"}


def metric_number(value: float, problem_type: str = "binary") -> str:
    """The primary metric as a run name shows it: scores and F1 with two decimals
    (``0.58``), an RMSE in the target's units with three significant digits and no exponent
    below 10,000 (``41.2``, ``0.123``, ``1234``)."""
    if problem_type != "regression":
        return f"{value:.2f}"
    size = abs(value)
    if size >= 10_000:
        return f"{value:.3g}"
    if size >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if size < 1 else f"{value:.{3 - len(str(int(size)))}f}"


def measured(value: float | None, estimate: float | None, has_labels: bool,
             problem_type: str = "binary") -> str:
    """The primary metric a run name shows: realized (``0.58``, ``rmse 41.2``,
    ``f1 0.41``), else estimated without labels (``est 0.79``, ``est rmse 38.0``), else why
    there is none."""
    short = METRIC_SHORT.get(problem_type, "")
    label = f"{short} " if short else ""
    if value is not None and math.isfinite(value):
        return f"{label}{metric_number(value, problem_type)}"
    if estimate is not None and math.isfinite(estimate):
        return f"est {label}{metric_number(estimate, problem_type)}"
    return "no labels" if not has_labels else f"{short or 'auc'} n/a"


def batch_name(sequence: int, status: str, metric_text: str, rules: set[str],
               problem_type: str = "binary") -> str:
    """``b0006 CRIT 0.70 drift``, ``b0003 ok 0.86``, ``b0007 WARN est 0.79``,
    ``b0004 CRIT rmse 41.2 concept``, ``b0004 CRIT f1 0.41 concept``: sequence, status,
    the primary metric (:func:`measured`) and the cause in about :data:`NAME_WIDTH`
    characters (a few more with a metric's name); the whole verdict is the description's
    first line."""
    causes = dict(_CAUSE_WORDS)
    causes["prediction_drift"] = _OUTPUT_CAUSE.get(problem_type, "scores")
    cause = next((causes[rule] for rule, _ in _CAUSE_WORDS if rule in rules), "")
    return " ".join(part for part in (f"b{sequence:04d}", _STATUS_WORDS.get(status, status),
                                      metric_text, cause) if part)


def run_name(report: MonitoringReport, sequence: int) -> str:
    """The run's name as :func:`batch_name`, from the report (its model's type)."""
    kind = _problem_type(report)
    metric = problem(kind).primary_metric
    guess = report.estimated.get(metric)
    text = measured((report.performance or {}).get(metric), guess.value if guess else None,
                    report.has_labels, kind)
    return batch_name(sequence, report.status, text, {a.rule for a in report.alerts}, kind)


def feature_table(report: MonitoringReport) -> pd.DataFrame:
    """One row per feature: test, statistic, p-value and adjusted p-value, effect size and
    verdict, drifted features first, then by adjusted p-value and effect."""
    missing = {c.column: c.missing_share for c in report.quality.columns}
    rows = [{
        "feature": f.feature, "kind": f.kind, "test": f.test, "statistic": f.statistic,
        "pvalue": f.pvalue, "pvalue_adj": f.pvalue_adjusted, "effect_name": f.effect_name,
        "effect": f.effect_size, "verdict": "drifted" if f.drifted else "stable",
        "missing_share": missing.get(f.feature, math.nan),
    } for f in report.feature_drift]
    table = pd.DataFrame(rows, columns=list(FEATURE_TABLE_COLUMNS))
    if table.empty:
        return table
    table["_order"] = table["verdict"].eq("stable")
    table = (table.sort_values(["_order", "pvalue_adj", "effect"], ascending=[True, True, False],
                               kind="stable")
             .drop(columns="_order").reset_index(drop=True))
    return _with_drift_that_matters(table, report)


def _impact_words(report: MonitoringReport, feature: str) -> str:
    """``; moves the mean score by +0.071`` for a ranked feature (issue 24), else nothing."""
    from pipelines.monitoring.impact import format_shift

    ranked = report.impact.by_feature() if report.impact is not None else {}
    f = ranked.get(feature)
    if f is None or report.impact is None:
        return ""
    return (f"; moves the mean output by {format_shift(f.shift, report.impact.problem_type)}"
            + (" (harmless)" if f.harmless else ""))


def _with_drift_that_matters(table: pd.DataFrame, report: MonitoringReport) -> pd.DataFrame:
    """Issue 24: with an impact ranking, its columns (``impact``, ``impact_share``,
    ``harmless``) and the drifted features in its order, largest impact first; with a
    consecutive comparison, ``psi_vs_previous`` and ``consecutive_label``. Unchanged
    without either."""
    impact, consecutive = report.impact, report.consecutive
    if impact is not None and impact.computed:
        ranked = impact.by_feature()
        table["impact"] = [ranked[f].shift if f in ranked else math.nan
                           for f in table["feature"]]
        table["impact_share"] = [ranked[f].share if f in ranked else math.nan
                                 for f in table["feature"]]
        table["harmless"] = [ranked[f].harmless if f in ranked else None
                             for f in table["feature"]]
        order = {name: i for i, name in enumerate(ranked)}
        table["_rank"] = [order.get(f, len(order)) for f in table["feature"]]
        table = (table.sort_values("_rank", kind="stable").drop(columns="_rank")
                 .reset_index(drop=True))
    if consecutive is not None and consecutive.computed:
        against = {f.feature: f for f in consecutive.features}
        table["psi_vs_previous"] = [against[f].psi if f in against else math.nan
                                    for f in table["feature"]]
        table["consecutive_label"] = [against[f].label if f in against else ""
                                      for f in table["feature"]]
    return table


def confusion_table(report: MonitoringReport) -> pd.DataFrame | None:
    """The report's confusion matrix (multiclass, labelled) as a table: one row per actual
    class, one column of counts per predicted class, and the class's recall; None without."""
    matrix = report.tables.get("confusion_matrix")
    if not matrix:
        return None
    classes = [str(k) for k in matrix["classes"]]
    counts = np.asarray(matrix["counts"], dtype=np.int64).reshape(len(classes), len(classes))
    table = pd.DataFrame(counts, columns=[f"predicted {k}" for k in classes])
    table.insert(0, "actual", classes)
    totals = counts.sum(axis=1)
    table["rows"] = totals
    table["recall"] = np.where(totals > 0, np.diag(counts) / np.maximum(totals, 1), np.nan)
    return table


def quality_table(report: MonitoringReport) -> pd.DataFrame:
    """One row per column: missing (batch and reference), infinite, out-of-range and unseen
    shares, and the issues found, columns with issues first."""
    issues: dict[str, list[str]] = {}
    for issue in report.quality.issues:
        issues.setdefault(issue.column, []).append(issue.check)
    rows = [{
        "column": q.column, "missing_share": q.missing_share,
        "reference_missing_share": q.reference_missing_share,
        "infinite_share": q.infinite_share, "out_of_range_share": q.out_of_range_share,
        "unseen_category_share": q.unseen_category_share,
        "unseen_categories": ", ".join(q.unseen_categories[:10]),
        "issues": ", ".join(issues.get(q.column, [])),
    } for q in report.quality.columns]
    table = pd.DataFrame(rows, columns=["column", "missing_share", "reference_missing_share",
                                        "infinite_share", "out_of_range_share",
                                        "unseen_category_share", "unseen_categories",
                                        "issues"])
    return table.sort_values("issues", key=lambda s: s.eq(""), kind="stable").reset_index(
        drop=True)


def _fmt_p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """``text`` as inline code on one line (a backtick in it would end the span early)."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def rmse_ceiling(settings: Mapping[str, object], reference_rmse: float) -> float:
    """The RMSE above which a regression batch is critical: ``rmse_ceiling`` when set, else
    ``rmse_ratio_ceiling`` times the reference's RMSE (NaN when neither can be read)."""
    fixed = settings.get("rmse_ceiling")
    if isinstance(fixed, int | float):
        return float(fixed)
    ratio = settings.get("rmse_ratio_ceiling")
    return float(ratio) * reference_rmse if isinstance(ratio, int | float) else math.nan


def metric_text(value: float, problem_type: str) -> str:
    """A performance number for a person: scores and F1 with three decimals (``0.412``), an
    error in the target's units with four significant digits (``41.23``)."""
    return readable(value) if problem_type == "regression" else f"{value:.3f}"


def _limit_text(report: MonitoringReport, reference: float) -> str:
    """The primary metric's limit in words: ``floor 0.75`` or ``ceiling 30.0 = 1.25 x the
    reference``."""
    settings = report.settings
    kind = _problem_type(report)
    if kind == "regression":
        ceiling = rmse_ceiling(settings, reference)
        if settings.get("rmse_ceiling") is None and math.isfinite(ceiling):
            return (f"ceiling {readable(ceiling)} = {settings.get('rmse_ratio_ceiling')} x "
                    "the reference")
        return f"ceiling {readable(ceiling)}"
    key = "macro_f1_floor" if kind == "multiclass" else "roc_auc_floor"
    return f"floor {settings.get(key, '?')}"


def performance_facts(report: MonitoringReport) -> list[str]:
    """The description's facts about the model's performance, per type: the realized primary
    metric with its limit and the reference's value (or "no labels yet"), the label-free
    estimate with its 95 % band, and (binary) the ROC-AUC the scores lead one to expect."""
    kind = _problem_type(report)
    info = problem(kind)
    metric, label = info.primary_metric, info.label
    value = (report.performance or {}).get(metric)
    reference = report.baseline.get(metric, math.nan)
    facts = []
    if value is not None and math.isfinite(value):
        if kind == "binary":  # unchanged
            facts.append(f"ROC-AUC **{value:.3f}** (floor "
                         f"{report.settings.get('roc_auc_floor', '?')}, reference "
                         f"{reference:.3f})")
        else:
            facts.append(f"{label} **{metric_text(value, kind)}** "
                         f"({_limit_text(report, reference)}, reference "
                         f"{metric_text(reference, kind)})")
    elif not report.has_labels:
        facts.append("no labels yet")
    guess = report.estimated.get(metric)
    if guess is not None and math.isfinite(guess.value):
        if kind == "binary":
            facts.append(f"estimated ROC-AUC {guess.value:.3f} (95% {guess.lower:.3f}-"
                         f"{guess.upper:.3f})")
        else:
            band = (f" (95% {metric_text(guess.lower, kind)}-{metric_text(guess.upper, kind)})"
                    if math.isfinite(guess.lower) and math.isfinite(guess.upper) else "")
            facts.append(f"estimated {label} {metric_text(guess.value, kind)}{band}")
            if value is None and math.isfinite(reference):
                facts.append(f"reference {label} {metric_text(reference, kind)} "
                             f"({_limit_text(report, reference)})")
    if kind == "binary" and report.concept_drift is not None:
        facts.append(f"expected ROC-AUC from the scores {report.concept_drift.expected_auc:.3f}")
    return facts


def description(report: MonitoringReport, links: Mapping[str, str] | None = None,
                max_features: int = 10) -> str:
    """The run page's Markdown: verdict, every alert, the top drifted features as a table,
    then ``links`` (label -> Markdown link text) such as the model version, the previous
    batch and the retraining run."""
    lines = [f"### {report.status.upper()}: {_headline(report)}", ""]
    facts = [f"batch `{report.batch_id}`", f"{report.n_rows:,} rows"]
    facts += performance_facts(report)
    facts.append(f"drifted features {len(report.drifted_features)} of "
                 f"{len(report.feature_drift)} ({report.drift_share:.0%})")
    lines += [" · ".join(facts), ""]
    lines.append("**Retraining recommended.**" if report.retraining_recommended
                 else "Retraining not recommended.")
    lines.append("")
    if report.alerts:
        lines.append("**Alerts**")
        lines.append("")
        lines += [f"- **{a.severity}** `{a.rule}`: {_md_escape(a.message)}"
                  for a in report.alerts if a.rule != "feature_drift"]
        per_feature = [a for a in report.alerts if a.rule == "feature_drift"]
        if per_feature:
            lines.append(f"- **warning** `feature_drift`: {len(per_feature)} feature(s), "
                         "table below")
        lines.append("")
    table = feature_table(report)
    drifted = table[table["verdict"] == "drifted"].head(max_features)
    if not drifted.empty:
        # a list, not a table: MLflow's run page renders tables without cell spacing
        lines += ["**Drifted features** (adjusted p-value: "
                  f"{report.settings.get('correction', 'corrected')})", ""]
        lines += [f"- {_code(r.feature)}: {r.test} statistic {readable(r.statistic)}, "
                  f"adjusted p {_fmt_p(r.pvalue_adj)}, {r.effect_name} {readable(r.effect)}"
                  f"{_impact_words(report, str(r.feature))}"
                  for r in drifted.itertuples()]
        if len(report.drifted_features) > len(drifted):
            lines.append(f"\n… and {len(report.drifted_features) - len(drifted)} more in "
                         "`drift_table.json`")
        lines.append("")
    lines.append("Full report: `report.html` (artifacts); every feature: `drift_table.json`.")
    if links:
        lines += ["", " · ".join(f"{label}: {link}" for label, link in links.items())]
    return "\n".join(lines)
