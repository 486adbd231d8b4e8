"""What a reviewer reads first: a run name that is the verdict, a Markdown description with
the alerts and the drifted features, and the per-feature table sorted by evidence. Pure:
links come in as ready-made strings."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from pipelines.data.io import readable
from pipelines.monitoring.report import MonitoringReport

#: The headline of a verdict: the most telling alert first.
_HEADLINE_ORDER = ("concept_drift", "performance", "performance_estimated", "drift_share",
                   "feature_drift", "prediction_drift", "target_drift", "data_quality",
                   "low_sample")

FEATURE_TABLE_COLUMNS = ("feature", "kind", "test", "statistic", "pvalue", "pvalue_adj",
                         "effect_name", "effect", "verdict", "missing_share")


def headline(rules: set[str], n_drifted: int, n_features: int) -> str:
    """The most telling finding in a few words, from the alert rules that fired. When many
    features drifted (``drift_share``) the drift comes first: concept drift is only the part
    of the drop the inputs do not explain, so it is named as that part
    (``10 of 24 features drifted, partly concept drift``); "concept drift" alone only when
    few features drifted."""
    if {"concept_drift", "drift_share"} <= rules:
        return f"{n_drifted} of {n_features} features drifted, partly concept drift"
    words = {
        "concept_drift": "concept drift",
        "performance": "auc below floor",
        "performance_estimated": "estimated auc below floor",
        "drift_share": f"{n_drifted} of {n_features} features drifted",
        "data_quality": "data quality",
        "prediction_drift": "score drift",
        "target_drift": "label drift",
        "feature_drift": f"{n_drifted} feature{'s' if n_drifted != 1 else ''} drifted",
        "low_sample": "low sample",
    }
    for rule in _HEADLINE_ORDER:
        if rule in rules:
            return words[rule]
    return "stable"


def _headline(report: MonitoringReport) -> str:
    return headline({a.rule for a in report.alerts}, len(report.drifted_features),
                    len(report.feature_drift))


#: About what MLflow's run lists show of a name (no tooltip): the verdict fits in it.
NAME_WIDTH = 22
_STATUS_WORDS = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}
#: The cause a run name gives, first that fired wins: drift before concept drift (concept
#: drift is only what the inputs do not explain); none when ROC-AUC alone is below its floor
#: (the number is in the name) or nothing fired.
_CAUSE_WORDS = (("drift_share", "drift"), ("concept_drift", "concept"),
                ("feature_drift", "drift"), ("data_quality", "quality"),
                ("prediction_drift", "scores"), ("target_drift", "labels"),
                ("low_sample", "few rows"))


def measured(auc: float | None, estimate: float | None, has_labels: bool) -> str:
    """The ROC-AUC a run name shows: realized (``0.58``), else estimated from the scores
    (``est 0.79``), else why there is none."""
    if auc is not None and math.isfinite(auc):
        return f"{auc:.2f}"
    if estimate is not None and math.isfinite(estimate):
        return f"est {estimate:.2f}"
    return "no labels" if not has_labels else "auc n/a"


def batch_name(sequence: int, status: str, auc_text: str, rules: set[str]) -> str:
    """``b0006 CRIT 0.70 drift``, ``b0003 ok 0.86``, ``b0007 WARN est 0.79``: sequence,
    status, ROC-AUC and the cause in about :data:`NAME_WIDTH` characters; the whole verdict
    is the description's first line."""
    cause = next((word for rule, word in _CAUSE_WORDS if rule in rules), "")
    return " ".join(part for part in (f"b{sequence:04d}", _STATUS_WORDS.get(status, status),
                                      auc_text, cause) if part)


def run_name(report: MonitoringReport, sequence: int) -> str:
    """The run's name as :func:`batch_name`, from the report."""
    guess = report.estimated.get("roc_auc")
    auc_text = measured((report.performance or {}).get("roc_auc"),
                        guess.value if guess else None, report.has_labels)
    return batch_name(sequence, report.status, auc_text, {a.rule for a in report.alerts})


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
    return (table.sort_values(["_order", "pvalue_adj", "effect"], ascending=[True, True, False],
                              kind="stable")
            .drop(columns="_order").reset_index(drop=True))


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


def description(report: MonitoringReport, links: Mapping[str, str] | None = None,
                max_features: int = 10) -> str:
    """The run page's Markdown: verdict, every alert, the top drifted features as a table,
    then ``links`` (label -> Markdown link text) such as the model version, the previous
    batch and the retraining run."""
    perf = report.performance or {}
    auc = perf.get("roc_auc")
    lines = [f"### {report.status.upper()}: {_headline(report)}", ""]
    facts = [f"batch `{report.batch_id}`", f"{report.n_rows:,} rows"]
    if auc is not None and math.isfinite(auc):
        facts.append(f"ROC-AUC **{auc:.3f}** (floor {report.settings.get('roc_auc_floor', '?')}"
                     f", reference {report.baseline.get('roc_auc', math.nan):.3f})")
    elif not report.has_labels:
        facts.append("no labels yet")
    guess = report.estimated.get("roc_auc")
    if guess is not None and math.isfinite(guess.value):
        facts.append(f"estimated ROC-AUC {guess.value:.3f} (95% {guess.lower:.3f}-"
                     f"{guess.upper:.3f})")
    if report.concept_drift is not None:
        facts.append(f"expected ROC-AUC from the scores {report.concept_drift.expected_auc:.3f}")
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
                  for r in drifted.itertuples()]
        if len(report.drifted_features) > len(drifted):
            lines.append(f"\n… and {len(report.drifted_features) - len(drifted)} more in "
                         "`drift_table.json`")
        lines.append("")
    lines.append("Full report: `report.html` (artifacts); every feature: `drift_table.json`.")
    if links:
        lines += ["", " · ".join(f"{label}: {link}" for label, link in links.items())]
    return "\n".join(lines)
