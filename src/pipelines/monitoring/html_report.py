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

from pipelines.monitoring import matters, plots, summary
from pipelines.monitoring.alerts import ScoreDrift
from pipelines.monitoring.report import MonitoringReport
from pipelines.problems import Problem, problem
from pipelines.redact import without_secrets_in_page

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
    kind = problem(_problem_type(report))
    if kind.name != "binary":
        return _typed_performance(report, kind)
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


def _problem_type(report: MonitoringReport) -> str:
    """The report's problem type (reports made before types existed are binary)."""
    return str(getattr(report, "problem_type", None) or "binary")


#: What each metric means, in the words a reviewer reads under the table.
_WORDS = {
    "regression": (
        "<b>RMSE</b>: root mean squared error, in the target's units (large errors weigh "
        "most); <b>MAE</b>: mean absolute error; <b>MAPE</b>: mean absolute error relative to "
        "the target, over the rows whose target is not zero; <b>R\u00b2</b>: the share of the "
        "target's variance the model explains (1 perfect, 0 no better than the mean); "
        "<b>bias</b>: the mean of predicted \u2212 actual (positive: the model over-predicts). "
        "Lower is better for RMSE, MAE and MAPE, a bias near 0. The estimate needs no labels: "
        "a model of each row's error, fitted on the reference's rows, predicts the batch's "
        "RMSE and MAE from its features and predictions (direct loss estimation)."),
    "multiclass": (
        "<b>accuracy</b>: the share of rows whose predicted class (the most probable) is the "
        "actual one; <b>macro F1</b>: F1 of each class averaged with equal weight, so a rare "
        "class counts as much as a common one; <b>weighted F1</b>: averaged by the classes' "
        "sizes; <b>ROC-AUC</b>: one-vs-rest per class, averaged; <b>log loss</b>: the mean "
        "\u2212log of the probability given to the actual class (lower is better); "
        "<b>recall</b> of a class: the share of its rows predicted as it. The estimate needs "
        "no labels: the class probabilities, calibrated on the reference, give "
        "the expected accuracy, macro F1 and ROC-AUC."),
}


#: How the table names a metric (the logged name is the key).
_NAMES = {"rmse": "RMSE", "mae": "MAE", "mape": "MAPE", "r2": "R\u00b2", "bias": "bias",
          "accuracy": "accuracy", "macro_f1": "macro F1", "weighted_f1": "weighted F1",
          "roc_auc": "ROC-AUC (one-vs-rest)", "log_loss": "log loss"}


def _metric_rows(report: MonitoringReport, names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(metric key, how the table names it): the type's headline metrics, then for a
    multiclass model the recall of each class (``recall_<class>``)."""
    rows = [(n, _NAMES.get(n, n.replace("_", " "))) for n in names]
    keys = dict.fromkeys([*(report.performance or {}), *report.baseline])
    rows += [(k, f"recall: {k.removeprefix('recall_')}") for k in keys
             if k.startswith("recall_")]
    return rows


def _value(name: str, value: object) -> str:
    """A metric as the table shows it: MAPE as a percentage, errors with their digits."""
    if name == "mape" and isinstance(value, float | int) and math.isfinite(float(value)):
        return f"{float(value):.1%}"
    if name in ("rmse", "mae", "bias") and isinstance(value, float | int):
        v = float(value)
        return _num(v) if not math.isfinite(v) or abs(v) < 1 else f"{v:,.{_digits(v)}f}"
    return _num(value)


def _digits(value: float) -> int:
    """Decimals that keep about four significant digits of an error such as 41.23."""
    return max(0, 3 - int(math.floor(math.log10(abs(value)))))


def _limit_sentence(report: MonitoringReport, name: str) -> str:
    """Which value of the primary metric raises the alert, from the settings the batch was
    judged by."""
    settings = report.settings or {}
    if name == "multiclass":
        floor = settings.get("macro_f1_floor")
        return "" if floor is None else f"Critical when macro F1 is below {_num(floor)}."
    ceiling, ratio = settings.get("rmse_ceiling"), settings.get("rmse_ratio_ceiling")
    reference = report.baseline.get("rmse")
    if ceiling is not None:
        return f"Critical when RMSE is above {_value('rmse', ceiling)}."
    if ratio is not None and reference is not None and math.isfinite(reference):
        return (f"Critical when RMSE is above {_num(ratio, 2)} \u00d7 the reference's "
                f"{_value('rmse', reference)} = {_value('rmse', ratio * reference)}.")
    return ""


def _typed_performance(report: MonitoringReport, kind: Problem) -> str:
    """A regression or multiclass model's table (realized, estimated with its band,
    reference), what the metrics mean and which value alerts."""
    perf = report.performance or {}
    rows = []
    for key, label in _metric_rows(report, kind.metrics):
        guess = report.estimated.get(key)
        band = ("n/a" if guess is None else f"{_value(key, guess.value)} "
                f"({_value(key, guess.lower)}-{_value(key, guess.upper)})")
        primary = " (primary)" if key == kind.primary_metric else ""
        rows.append(f"<tr><td>{html.escape(label)}{primary}</td>"
                    f"<td class='num'>{_value(key, perf.get(key))}</td>"
                    f"<td class='num'>{band}</td>"
                    f"<td class='num'>{_value(key, report.baseline.get(key))}</td></tr>")
    concept = report.concept_drift
    expected = ""
    if concept is not None:
        verdict = "concept drift" if concept.detected else "no concept drift"
        metric = getattr(concept, "metric", kind.primary_metric)
        label = {"rmse": "RMSE", "accuracy": "accuracy", "macro_f1": "macro F1"}.get(metric,
                                                                                   metric)
        expected = (f"<p><b>Estimated vs realized {html.escape(label)}</b> ({verdict}): "
                    f"{html.escape(concept.explanation)}</p>")
    head = "" if perf else "<p>No labels in this batch: performance is estimated only.</p>"
    limit = _limit_sentence(report, kind.name)
    return (f"{head}<table><thead><tr><th>metric</th><th>this batch (labels)</th>"
            "<th>estimated without labels (95%)</th><th>reference</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p class='words'>{_WORDS[kind.name]}{' ' + limit if limit else ''}</p>"
            f"{expected}")


def _confusion_table(report: MonitoringReport) -> str:
    """The confusion matrix as a table: rows the actual class, columns the predicted one."""
    table = (getattr(report, "tables", None) or {}).get("confusion_matrix") or {}
    classes, counts = table.get("classes"), table.get("counts")
    if not classes or not counts:
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in classes)
    body = "".join(
        f"<tr><th>{html.escape(str(c))}</th>"
        + "".join(f"<td class='num'>{int(v):,}</td>" for v in row) + "</tr>"
        for c, row in zip(classes, counts, strict=False))
    return ("<p>Confusion matrix (rows: actual class, columns: predicted class).</p>"
            f"<table><thead><tr><th>actual \\ predicted</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


#: The figures of each type's performance and outputs sections (artifact names, alt text).
_PERFORMANCE_FIGURES = {
    "regression": ((plots.PREDICTED_VS_ACTUAL, "predicted vs actual"),
                   (plots.RESIDUALS, "prediction errors"),
                   (plots.RESIDUALS_VS_PREDICTED, "errors by predicted value")),
    "multiclass": ((plots.CONFUSION_MATRIX, "confusion matrix"),),
}
_OUTPUT_FIGURES = {
    "regression": ((plots.PREDICTION_DISTRIBUTION, "prediction distribution"),),
    "multiclass": ((plots.CLASS_SHARES, "class shares"),
                   (plots.CLASS_PROBABILITY_DRIFT, "drift of each class's probability")),
}
_TESTS = {"ks": "KS", "chi2": "chi-square", "psi": "PSI"}


def _figures(images: Mapping[str, bytes], wanted: tuple[tuple[str, str], ...]) -> str:
    shown = "".join(_img(images[name], alt) for name, alt in wanted if name in images)
    return f'<div class="figs">{shown}</div>' if shown else ""


def _outputs(report: MonitoringReport, kind: Problem, images: Mapping[str, bytes]) -> str:
    """A regression or multiclass model's outputs section: the drift of its predictions
    (predicted classes) and of the target, and their figures."""
    prediction, target = report.prediction_drift, report.target_drift

    def test(drift: ScoreDrift) -> str:
        return (f"{_TESTS.get(drift.test, drift.test)} p {_num(drift.pvalue)}, "
                f"{_TESTS.get(drift.effect_name, drift.effect_name)} "
                f"{_num(drift.effect_size)} ({'drifted' if drift.drifted else 'stable'})")

    what = "Prediction drift" if kind.name == "regression" else "Predicted-class drift"
    label = "Target drift" if kind.name == "regression" else "Label drift"
    text = (f"{what}: {test(prediction)}."
            + ("" if target is None else f" {label}: {test(target)}."))
    return f"<p>{text}</p>{_figures(images, _OUTPUT_FIGURES[kind.name])}"


def _scores_section(report: MonitoringReport, score: bytes | None) -> str:
    """A binary model's scores section (unchanged since before problem types)."""
    prediction, target = report.prediction_drift, report.target_drift
    return f"""<section id="scores"><h2>Model scores</h2>
<p>Score drift: KS p {_num(prediction.pvalue)}, PSI {_num(prediction.effect_size)}
({'drifted' if prediction.drifted else 'stable'}).
{'' if target is None else
 f"Label drift: chi-square p {_num(target.pvalue)}, PSI {_num(target.effect_size)} "
 f"({'drifted' if target.drifted else 'stable'})."}</p>
{_img(score, "score distribution") if score else ""}</section>
"""


def _outputs_section(report: MonitoringReport, kind: Problem,
                     images: Mapping[str, bytes]) -> str:
    title = "Model predictions" if kind.name == "regression" else "Predicted classes"
    return (f'<section id="scores"><h2>{title}</h2>{_outputs(report, kind, images)}'
            "</section>\n")


def _typed_figures(report: MonitoringReport, kind: Problem, images: Mapping[str, bytes]) -> str:
    """A regression or multiclass model's performance figures (and the confusion matrix as
    a table); nothing for a binary one."""
    if kind.name == "binary":
        return ""
    table = _confusion_table(report) if kind.name == "multiclass" else ""
    return _figures(images, _PERFORMANCE_FIGURES[kind.name]) + table


def render(report: MonitoringReport, *, title: str, images: Mapping[str, bytes],
           links: Mapping[str, str] | None = None, reference: str = "") -> str:
    """The page, for the report's problem type (``report.problem_type``; binary when it has
    none): its metrics (realized, estimated with the band, reference) and what they mean,
    its figures. ``images``: PNG bytes by artifact name (``drift_<feature>.png``,
    ``performance_over_time.png``; binary ``score_distribution.png``; regression and
    multiclass the names in :mod:`~pipelines.monitoring.plots`, e.g.
    ``predicted_vs_actual.png``, ``confusion_matrix.png``); ``links``: label -> plain
    text (run ids, model version) shown at the foot; ``reference``: what the batch is
    compared with (:func:`reference_text`), shown under the verdict."""
    status = report.status
    kind = problem(_problem_type(report))
    perf = report.performance or {}
    primary = perf.get(kind.primary_metric)
    facts = [f"batch {report.batch_id}", f"{report.n_rows:,} rows",
             f"created {report.created_at}"]
    if primary is not None and math.isfinite(primary):
        facts.append(f"ROC-AUC {primary:.3f}" if kind.name == "binary" else
                     f"{kind.label} {_value(kind.primary_metric, primary)}")
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
                                     "missing_share", "impact", "impact_share",
                                     "psi_vs_previous"}, "drifted", "drifted")
    quality = summary.quality_table(report)
    quality = quality.assign(has_issue=quality["issues"].ne(""))
    quality_html = _table(quality, {"missing_share", "reference_missing_share",
                                    "infinite_share", "out_of_range_share",
                                    "unseen_category_share"}, "issue", "has_issue")
    drift_figs = "".join(_img(png, name) for name, png in images.items()
                         if name.startswith("drift_")) or "<p>No feature drifted.</p>"
    score = images.get("score_distribution.png")
    history = images.get("performance_over_time.png")
    correction = report.settings.get("correction", "")
    dupes = ("not checked (counts engine)" if report.quality.duplicate_ids is None
             else report.quality.duplicate_ids)
    engine_note = report.context.get("engine_note", "")
    note = " " + html.escape(engine_note) if engine_note else ""
    scores = (_outputs_section(report, kind, images) if kind.name != "binary" else
              _scores_section(report, score))
    foot = " · ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in (links or {}).items())
    return without_secrets_in_page(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<div class="banner" style="background:{_BANNER.get(status, '#444')}" id="verdict">
<h1>{html.escape(title)}</h1><p>{html.escape(' · '.join(facts))}</p></div>
<main>
{f'<p class="reference">{html.escape(reference)}</p>' if reference else ""}
<section id="alerts"><h2>Alerts</h2><ul>{alerts}</ul></section>
<section id="performance"><h2>Performance</h2>{_performance(report)}{
_typed_figures(report, kind, images)}
{_img(history, "performance over batches") if history else ""}</section>
{matters.html_section(report)}
<section id="features"><h2>Feature drift</h2>
<p>Every feature, drifted first, by adjusted p-value ({html.escape(str(correction))}
correction over {len(report.feature_drift)} tests); effect: PSI, over quantile bins for
numeric features, over the categories for categorical ones.{note}</p>
{feature_html}</section>
{_slices_section(report)}<section id="distributions"><h2>Distributions of drifted features</h2>
<div class="figs">{drift_figs}</div></section>
{scores}<section id="quality"><h2>Data quality</h2>
<p>{len(report.quality.issues)} issue(s); duplicate ids: {dupes}.</p>
{quality_html}</section>
<p style="color:#777;font-size:12px">{foot}</p>
</main></body></html>
""")  # the text masked, the images left whole


def _slices_section(report: MonitoringReport) -> str:
    """The slice x metric table (``monitoring.slices``): empty without slices."""
    slices = report.slices
    if slices is None:
        return ""
    primary = slices.primary
    frame = pd.DataFrame(slices.table())
    frame = frame.assign(in_alert=frame["slice"].isin(slices.in_alert))
    frame = frame.rename(columns={"prediction_drift_pvalue_adjusted": "score drift p (adj.)",
                                  "prediction_drift_psi": "score PSI"})
    frame = frame.drop(columns=["prediction_drifted"])
    numeric = {primary, f"estimated_{primary}", f"reference_{primary}", "drift_share",
               "score drift p (adj.)", "score PSI"}
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in slices.notes)
    correction = report.settings.get("correction")
    method = f" ({html.escape(str(correction))})" if correction else ""
    return (f'<section id="slices"><h2>Slices</h2><p>Each slice against the reference rows '
            f"of the same slice; feature p-values adjusted across features and slices "
            f"together{method}, the same "
            f"effect floor; {html.escape(primary)} realized with labels, estimated without. "
            f"Slices in alert: {html.escape(', '.join(slices.in_alert) or 'none')}.</p>"
            f"{notes}{_table(frame, numeric, 'drifted', 'in_alert')}</section>\n")
