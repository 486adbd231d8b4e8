"""The monitoring report of one batch as a self-contained HTML page: inline CSS, figures as
inline PNG (data URIs), no script and no request to any network. The MLflow UI shows it in
the run's artifacts; the same file is written beside the JSON report. Pure: figures come in
as PNG bytes."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping

import pandas as pd

from pipelines.monitoring import summary
from pipelines.monitoring.report import MonitoringReport

_BANNER = {"ok": "#1e7d32", "warning": "#b26a00", "critical": "#b71c1c"}

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px}
.banner{color:#fff;padding:16px 24px}
.banner h1{margin:0;font-size:26px}.banner p{margin:6px 0 0;font-size:15px}
h2{font-size:19px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.drifted td{background:#fdecea}tr.issue td{background:#fff4e5}
.sev-critical{color:#b71c1c;font-weight:600}.sev-warning{color:#b26a00;font-weight:600}
.sev-info{color:#555}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs img{max-width:100%;border:1px solid #ddd;
background:#fff}
.kv td:first-child{color:#555}
.reference{color:#444;font-size:14px;margin:12px 0 0}
"""


def _num(value: object, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float | int):
        v = float(value)
        if not math.isfinite(v):
            return "n/a"
        if v != 0 and abs(v) < 1e-3:
            return f"{v:.1e}"
        return f"{v:.{digits}f}"
    return html.escape(str(value))


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame, numeric: set[str], row_class: str | None = None,
           mark: str | None = None) -> str:
    """An HTML table of ``frame``; rows whose boolean column ``mark`` is true get
    ``row_class`` (the ``mark`` column itself is not shown)."""
    shown = [c for c in frame.columns if c != mark]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown)
    rows = []
    for _, row in frame.iterrows():
        cls = f' class="{row_class}"' if row_class and mark and row.get(mark) else ""
        cells = "".join(
            f'<td class="num">{_num(row[c])}</td>' if c in numeric else
            f"<td>{html.escape('' if row[c] is None else str(row[c]))}</td>"
            for c in shown)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def reference_text(rows: int, version: str, tags: Mapping[str, str],
                   retraining: Mapping[str, str] | None = None) -> str:
    """What the batch is compared with, in words: the champion's reference rows and where they
    come from, from its version's tags (``trained_by``, ``reference_batches``,
    ``champion_version_before``) and, for a retrained version, its retraining run (``run_name``,
    ``run_id`` and the run's params, ``n_reference_rows``: the previous champion's reference
    rows the retraining started from). Why a retrained champion's reference is smaller: it is
    the retraining's holdout, the newest labelled rows that the new model was not trained on."""
    head = f"Reference: {rows:,} rows"
    trained_by = tags.get("trained_by", "")
    if trained_by == "retraining":
        run = retraining or {}
        name = run.get("run_name") or tags.get("parent_run_id", "")[:8] or "unknown"
        run_id = run.get("run_id") or tags.get("parent_run_id", "")
        batches = tags.get("reference_batches", "")
        text = (f"{head}, the holdout of retraining run \u201c{name}\u201d"
                f"{f' ({run_id[:8]})' if run_id and run_id[:8] != name else ''} that promoted "
                f"v{version}: the newest labelled rows"
                f"{f' (batch {batches})' if batches else ''}, which v{version} was evaluated on "
                "and not trained on.")
        before, previous = tags.get("champion_version_before"), run.get("n_reference_rows")
        if before and previous:
            text += (f" Before it, v{before} was compared with {int(float(previous)):,} "
                     "reference rows; a retrained champion is compared with the rows of the "
                     "new regime it was checked on, hence the different size.")
        return text
    if trained_by == "baseline":
        run = tags.get("source_run_id", "")
        return (f"{head}, the validation and test rows of the baseline training run "
                f"{run[:8]} (rows v{version} was not trained on).")
    return f"{head}, registered with v{version}."


def _performance(report: MonitoringReport) -> str:
    perf = report.performance or {}
    rows = []
    for name in ("roc_auc", "accuracy", "precision", "recall", "f1"):
        guess = report.estimated.get(name)
        band = ("n/a" if guess is None else
                f"{_num(guess.value)} ({_num(guess.lower)}-{_num(guess.upper)})")
        rows.append(f"<tr><td>{name}</td><td class='num'>{_num(perf.get(name))}</td>"
                    f"<td class='num'>{band}</td>"
                    f"<td class='num'>{_num(report.baseline.get(name))}</td></tr>")
    concept = report.concept_drift
    expected = ""
    if concept is not None:
        verdict = "concept drift" if concept.detected else "no concept drift"
        expected = (f"<p><b>Expected vs realized ROC-AUC</b> ({verdict}): "
                    f"{html.escape(concept.explanation)}</p>")
    head = "" if perf else "<p>No labels in this batch: performance is estimated only.</p>"
    return (f"{head}<table><thead><tr><th>metric</th><th>this batch (labels)</th>"
            "<th>estimated from the scores (95%)</th><th>reference</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{expected}")


def render(report: MonitoringReport, *, title: str, images: Mapping[str, bytes],
           links: Mapping[str, str] | None = None, reference: str = "") -> str:
    """The page. ``images``: PNG bytes by artifact name (``drift_<feature>.png``,
    ``score_distribution.png``, ``performance_over_time.png``); ``links``: label -> plain
    text (run ids, model version) shown at the foot; ``reference``: what the batch is
    compared with (:func:`reference_text`), shown under the verdict."""
    status = report.status
    perf = report.performance or {}
    auc = perf.get("roc_auc")
    facts = [f"batch {report.batch_id}", f"{report.n_rows:,} rows",
             f"created {report.created_at}"]
    if auc is not None and math.isfinite(auc):
        facts.append(f"ROC-AUC {auc:.3f}")
    facts.append(f"{len(report.drifted_features)} of {len(report.feature_drift)} features "
                 f"drifted ({report.drift_share:.0%})")
    facts.append("retraining recommended" if report.retraining_recommended
                 else "retraining not recommended")
    alerts = "".join(
        f"<li><span class='sev-{a.severity}'>{a.severity}</span> <code>{a.rule}</code>: "
        f"{html.escape(a.message)}</li>" for a in report.alerts) or "<li>none</li>"
    features = summary.feature_table(report)
    features = features.assign(drifted=features["verdict"].eq("drifted"))
    feature_html = _table(features, {"statistic", "pvalue", "pvalue_adj", "effect",
                                     "missing_share"}, "drifted", "drifted")
    quality = summary.quality_table(report)
    quality = quality.assign(has_issue=quality["issues"].ne(""))
    quality_html = _table(quality, {"missing_share", "reference_missing_share",
                                    "infinite_share", "out_of_range_share",
                                    "unseen_category_share"}, "issue", "has_issue")
    drift_figs = "".join(_img(png, name) for name, png in images.items()
                         if name.startswith("drift_")) or "<p>No feature drifted.</p>"
    score = images.get("score_distribution.png")
    history = images.get("performance_over_time.png")
    prediction = report.prediction_drift
    target = report.target_drift
    correction = report.settings.get("correction", "")
    dupes = ("not checked (counts engine)" if report.quality.duplicate_ids is None
             else report.quality.duplicate_ids)
    engine_note = report.context.get("engine_note", "")
    note = " " + html.escape(engine_note) if engine_note else ""
    foot = " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in (links or {}).items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<div class="banner" style="background:{_BANNER.get(status, '#444')}" id="verdict">
<h1>{html.escape(title)}</h1><p>{html.escape(' · '.join(facts))}</p></div>
<main>
{f'<p class="reference">{html.escape(reference)}</p>' if reference else ""}
<section id="alerts"><h2>Alerts</h2><ul>{alerts}</ul></section>
<section id="performance"><h2>Performance</h2>{_performance(report)}
{_img(history, "performance over batches") if history else ""}</section>
<section id="features"><h2>Feature drift</h2>
<p>Every feature, drifted first, by adjusted p-value ({html.escape(str(correction))}
correction over {len(report.feature_drift)} tests); effect: PSI, over quantile bins for
numeric features, over the categories for categorical ones.{note}</p>
{feature_html}</section>
<section id="distributions"><h2>Distributions of drifted features</h2>
<div class="figs">{drift_figs}</div></section>
<section id="scores"><h2>Model scores</h2>
<p>Score drift: KS p {_num(prediction.pvalue)}, PSI {_num(prediction.effect_size)}
({'drifted' if prediction.drifted else 'stable'}).
{'' if target is None else
 f"Label drift: chi-square p {_num(target.pvalue)}, PSI {_num(target.effect_size)} "
 f"({'drifted' if target.drifted else 'stable'})."}</p>
{_img(score, "score distribution") if score else ""}</section>
<section id="quality"><h2>Data quality</h2>
<p>{len(report.quality.issues)} issue(s); duplicate ids: {dupes}.</p>
{quality_html}</section>
<p style="color:#777;font-size:12px">{foot}</p>
</main></body></html>
"""
