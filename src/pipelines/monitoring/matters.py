"""Drift that matters: the impact ranking and consecutive drift joined to a batch's verdict.

:func:`attach` puts an :class:`~pipelines.monitoring.impact.ImpactRanking` and a
:class:`~pipelines.monitoring.consecutive.ConsecutiveDrift` on a
:class:`~pipelines.monitoring.report.MonitoringReport`: the ``feature_drift`` alerts are put
in the order of the ranking (largest impact first, features not ranked last) and each says
what its drift does to the model's output ("drift in X moves the mean score by +0.070");
with ``consecutive_alerts`` a ``consecutive_drift`` warning names the features that changed
suddenly (drifted against the previous batch and the baseline). Also the HTML section of
both. Pure, no I/O.
"""

from __future__ import annotations

import html
from dataclasses import replace

from pipelines.monitoring.alerts import Alert, HealthVerdict
from pipelines.monitoring.consecutive import ConsecutiveDrift
from pipelines.monitoring.impact import ImpactRanking, format_shift
from pipelines.monitoring.report import MonitoringReport

#: The rule of the (opt-in) consecutive drift alert.
CONSECUTIVE_RULE = "consecutive_drift"
_MARK = ' class="drifted"'


def order_alerts(alerts: tuple[Alert, ...], impact: ImpactRanking) -> tuple[Alert, ...]:
    """``alerts`` with the feature-drift ones in impact order, each with its sentence; the
    other alerts keep their places (the feature-drift block stays where it was)."""
    feature = [a for a in alerts if a.rule == "feature_drift"]
    if not feature or not impact.computed:
        return alerts
    rank = {f.feature: i for i, f in enumerate(impact.features)}

    def key(a: Alert) -> tuple[int, int]:
        name = a.columns[0] if a.columns else ""
        return (rank.get(name, len(rank)), feature.index(a))

    ordered = []
    for a in sorted(feature, key=key):
        sentence = impact.sentence(a.columns[0]) if a.columns else ""
        ordered.append(replace(a, message=f"{sentence}: {a.message}") if sentence else a)
    it = iter(ordered)
    return tuple(next(it) if a.rule == "feature_drift" else a for a in alerts)


def consecutive_alert(consecutive: ConsecutiveDrift) -> Alert | None:
    """The warning for features that changed suddenly, or None."""
    sudden = [f for f in consecutive.features if f.label == "sudden"]
    if not consecutive.computed or not sudden:
        return None
    words = ", ".join(f"{f.feature} (PSI {f.psi:.2f} against the previous batch, "
                      f"{f.baseline_psi:.2f} against the baseline)" for f in sudden)
    return Alert(CONSECUTIVE_RULE, "warning", float(len(sudden)), 0.0,
                 f"sudden drift since batch {consecutive.previous_batch_id}: {words}",
                 tuple(f.feature for f in sudden))


def attach(report: MonitoringReport, *, impact: ImpactRanking | None = None,
           consecutive: ConsecutiveDrift | None = None,
           consecutive_alerts: bool = False) -> MonitoringReport:
    """``report`` with the ranking and the consecutive comparison (module docstring)."""
    alerts = report.verdict.alerts
    if impact is not None:
        alerts = order_alerts(alerts, impact)
    if consecutive is not None and consecutive_alerts:
        extra = consecutive_alert(consecutive)
        if extra is not None:
            alerts = (*alerts, extra)
    status = report.verdict.status
    if status == "ok" and alerts:
        status = "warning"
    verdict = HealthVerdict(alerts=alerts, status=status,
                            retraining_recommended=report.verdict.retraining_recommended,
                            reasons=report.verdict.reasons)
    return replace(report, verdict=verdict, impact=impact, consecutive=consecutive)


def html_section(report: MonitoringReport) -> str:
    """The report page's "Drift that matters" section (empty without either part)."""
    impact, consecutive = report.impact, report.consecutive
    if impact is None and consecutive is None:
        return ""
    parts = ["<section id=\"matters\"><h2>Drift that matters</h2>"]
    if impact is not None:
        if not impact.computed:
            parts.append(f"<p>Impact on the model's output: not computed: "
                         f"{html.escape(impact.note)}.</p>")
        elif impact.features:
            rows = "".join(
                f"<tr{_MARK if not f.harmless else ''}><td>{html.escape(f.feature)}"
                f"</td><td class='num'>{format_shift(f.shift, impact.problem_type)}</td>"
                f"<td class='num'>{'' if f.share is None else f'{f.share:.0%}'}</td>"
                f"<td class='num'>{f.psi:.3f}</td>"
                f"<td>{'harmless' if f.harmless else 'moves the output'}</td></tr>"
                for f in impact.features)
            total = ("" if impact.total_shift is None else
                     f" The {impact.unit} drifted by "
                     f"{format_shift(impact.total_shift, impact.problem_type)} in all; every "
                     f"drifted feature moved back at once: "
                     f"{format_shift(impact.joint_shift or 0.0, impact.problem_type)}.")
            parts.append(
                f"<p>Drifted features by their impact on the {html.escape(impact.unit)}: the "
                f"output with the batch's values minus the output with that feature alone moved "
                f"back to its reference distribution ({html.escape(impact.note)}); harmless "
                f"below {impact.harmless_below:g}.{html.escape(total)}</p>"
                "<table><tr><th>feature</th><th>impact</th><th>share of the output's drift"
                f"</th><th>PSI</th><th>verdict</th></tr>{rows}</table>")
        else:
            parts.append("<p>Impact on the model's output: no drifted feature.</p>")
    if consecutive is not None:
        if not consecutive.computed:
            parts.append(f"<p>Against the previous batch: not compared: "
                         f"{html.escape(consecutive.note)}.</p>")
        else:
            rows = "".join(
                f"<tr{_MARK if f.label in ('sudden', 'gradual') else ''}>"
                f"<td>{html.escape(f.feature)}</td><td class='num'>{f.psi:.3f}</td>"
                f"<td class='num'>{f.baseline_psi:.3f}</td><td class='num'>"
                f"{'' if f.previous_baseline_psi is None else f'{f.previous_baseline_psi:.3f}'}"
                f"</td><td>{f.label}</td></tr>"
                for f in sorted(consecutive.features, key=lambda f: -f.psi)
                if f.label != "stable")
            parts.append(
                f"<p>Against the previous batch ({html.escape(consecutive.note)}): "
                f"<b>{consecutive.label}</b>; {len(consecutive.drifted_features)} feature(s) "
                "drifted since it. Sudden: drifted against the previous batch and the "
                "baseline; gradual: not since the previous batch, but further from the "
                "baseline than it was.</p>")
            if rows:
                parts.append("<table><tr><th>feature</th><th>PSI vs previous</th>"
                             "<th>PSI vs baseline</th><th>previous batch's PSI vs baseline"
                             f"</th><th>label</th></tr>{rows}</table>")
    parts.append("</section>")
    return "\n".join(parts)
