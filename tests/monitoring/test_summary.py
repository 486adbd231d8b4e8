"""What a reviewer reads: run names, descriptions, the per-feature table (no tracking store)."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd
import pytest

from pipelines.data.generator import TARGET, generate_batch
from pipelines.monitoring import summary
from pipelines.monitoring.reference import ReferenceContext
from pipelines.monitoring.report import CHART_SECTION, MonitoringReport, report_metrics

from .test_scenarios import _context, _evaluate


@pytest.fixture(scope="module")
def ctx() -> ReferenceContext:
    return _context(8_000)


@pytest.fixture(scope="module")
def shifted(ctx: ReferenceContext) -> MonitoringReport:
    return _evaluate(generate_batch("covariate_shift", 4000, seed=5), ctx)


def test_run_name_reads_as_the_verdict(ctx: ReferenceContext, shifted: MonitoringReport) -> None:
    stable = _evaluate(generate_batch("no_drift", 3000, seed=6), ctx)
    assert summary.run_name(stable, 3) == f"b0003 ok {stable.performance['roc_auc']:.2f}"
    word = {"warning": "WARN", "critical": "CRIT"}[shifted.status]
    assert summary.run_name(shifted, 12) == (
        f"b0012 {word} {shifted.performance['roc_auc']:.2f} drift")
    concept = _evaluate(generate_batch("concept_drift", 4000, seed=7), ctx)
    assert summary.run_name(concept, 4) == (
        f"b0004 CRIT {concept.performance['roc_auc']:.2f} concept")
    unlabelled = _evaluate(generate_batch("no_drift", 3000, seed=8).drop(columns=[TARGET]), ctx)
    guess = unlabelled.estimated["roc_auc"]
    assert summary.run_name(unlabelled, 5) == f"b0005 ok est {guess.value:.2f}"
    # the scores are the generator's own probabilities: the estimate is right
    assert abs(guess.value - stable.performance["roc_auc"]) < 0.02


def test_run_names_fit_what_the_run_lists_show() -> None:
    """Issue 20: names were cut at about 22 characters with no tooltip ("b0006 CRITICAL auc
    0.7…"): the sequence, status, ROC-AUC and cause fit; the whole verdict is in the
    description."""
    assert summary.batch_name(6, "critical", "0.70", {
        "concept_drift", "drift_share", "feature_drift", "performance"}) == (
        "b0006 CRIT 0.70 drift")
    assert summary.batch_name(4, "critical", "0.58", {"concept_drift", "performance"}) == (
        "b0004 CRIT 0.58 concept")
    assert summary.batch_name(3, "critical", "0.70", {"performance"}) == "b0003 CRIT 0.70"
    assert summary.batch_name(7, "warning", summary.measured(None, 0.79, False),
                              {"performance_estimated"}) == "b0007 WARN est 0.79"
    assert summary.measured(None, None, False) == "no labels"
    rules = ("drift_share", "concept_drift", "feature_drift", "data_quality",
             "prediction_drift", "target_drift", "low_sample", "performance")
    for status in ("ok", "warning", "critical"):
        for rule in rules:  # labelled: all of it; estimated: at least up to the ROC-AUC
            name = summary.batch_name(9999, status, "0.50", {rule})
            assert len(name) <= summary.NAME_WIDTH + 2, name
            head = summary.batch_name(9999, status, summary.measured(None, 0.5, False), set())
            assert len(head) <= summary.NAME_WIDTH, head


def test_headline_says_drift_first_when_the_inputs_explain_part_of_the_drop() -> None:
    """Issue 20: a covariate-shift batch (10 of 24 features drifted) whose drop the inputs
    explain only in part was headed "concept drift"; the drift comes first now, and concept
    drift is named as the unexplained part. Few drifted features: concept drift alone."""
    many = {"concept_drift", "drift_share", "feature_drift", "performance"}
    assert summary.headline(many, 10, 24) == "10 of 24 features drifted, partly concept drift"
    assert summary.headline({"drift_share", "feature_drift"}, 10, 24) == (
        "10 of 24 features drifted")
    assert summary.headline({"concept_drift", "feature_drift", "performance"}, 2, 24) == (
        "concept drift")
    assert summary.headline({"concept_drift"}, 0, 24) == "concept drift"


def test_run_name_and_description_put_drift_before_concept_drift(
        shifted: MonitoringReport) -> None:
    import dataclasses

    from pipelines.monitoring.alerts import Alert

    n, m = len(shifted.drifted_features), len(shifted.feature_drift)
    share = Alert("drift_share", "critical", n / m, 0.3, f"{n} of {m} features drifted")
    concept = Alert("concept_drift", "critical", 0.08, 0.05,
                    "concept drift: 0.080 of the drop is not explained by the inputs")
    verdict = dataclasses.replace(shifted.verdict, status="critical",
                                  alerts=(*shifted.verdict.alerts, share, concept))
    report = dataclasses.replace(shifted, verdict=verdict)
    assert summary.run_name(report, 6) == (
        f"b0006 CRIT {report.performance['roc_auc']:.2f} drift")  # drift first, the rest:
    assert summary.description(report).startswith(
        f"### CRITICAL: {n} of {m} features drifted, partly concept drift")


def test_text_for_people_has_at_most_four_significant_digits(
        ctx: ReferenceContext, shifted: MonitoringReport) -> None:
    import re

    concept = _evaluate(generate_batch("concept_drift", 4000, seed=7), ctx)
    for report in (shifted, concept):
        text = summary.description(report) + summary.run_name(report, 1)
        for number in re.findall(r"\d+\.\d+(?:e[-+]\d+)?", text):
            digits = number.split("e")[0].replace(".", "").lstrip("0")
            assert len(digits) <= 4, number


def test_feature_table_sorts_drifted_first_by_evidence(shifted: MonitoringReport) -> None:
    table = summary.feature_table(shifted)
    assert list(table.columns) == list(summary.FEATURE_TABLE_COLUMNS)
    assert len(table) == len(shifted.feature_drift)
    n = len(shifted.drifted_features)
    assert n >= 2
    assert set(table["feature"][:n]) == set(shifted.drifted_features)
    assert (table["verdict"][:n] == "drifted").all()
    assert (table["verdict"][n:] == "stable").all()
    assert table["pvalue_adj"][:n].is_monotonic_increasing


def test_description_names_every_alert_and_drifted_feature(shifted: MonitoringReport) -> None:
    text = summary.description(shifted, {"model": "[m v1](#/models/m/versions/1)"})
    assert text.startswith(f"### {shifted.status.upper()}")
    for alert in shifted.alerts:
        if alert.rule != "feature_drift":
            assert f"`{alert.rule}`" in text
    for feature in shifted.drifted_features:
        assert f"- `{feature}`: " in text
    # no Markdown table: MLflow's run page renders one without cell spacing
    assert not any(line.startswith("|") for line in text.splitlines())
    assert "model: [m v1](#/models/m/versions/1)" in text


def test_no_chart_titled_as_a_batch_metric_shows_another_value(
        shifted: MonitoringReport) -> None:
    """Issue 20: the run page titled the chart of ``baseline/roc_auc`` "roc_auc" (MLflow
    titles a chart by the key's last ``/`` part) and showed the reference's 0.87, not the
    batch's 0.58. Every chart titled as one of the batch's metrics shows the batch's value;
    the reference's values are ``reference_<metric>``; per-feature evidence is in the tables,
    not 48 charts."""
    metrics = report_metrics(shifted)
    for key, value in metrics.items():
        title = key.rsplit("/", 1)[-1]
        if title in metrics:
            assert value == metrics[title], key
    assert metrics["roc_auc"] == shifted.performance["roc_auc"]
    assert metrics["reference_roc_auc"] == shifted.baseline["roc_auc"]
    assert not [k for k in metrics if k.startswith(("baseline", "drift/", "reference/"))]
    assert len(metrics) <= 45  # 86 with the demo's 24 features before


def test_the_headline_charts_come_first(shifted: MonitoringReport) -> None:
    """Issue 20: the chart view showed nine reference charts, then 48 per-feature ones,
    ``roc_auc`` and ``status_level`` last. MLflow 3.17 orders the ``<section>/`` sections
    alphabetically before the keys without ``/`` ("Model metrics"): the headline numbers
    are the only section, so it comes first."""
    metrics = report_metrics(shifted)
    sections = {k.split("/")[0] for k in metrics if "/" in k}
    assert sections == {CHART_SECTION}
    assert {k.split("/", 1)[1] for k in metrics if "/" in k} == {
        "status_level", "roc_auc", "estimated_roc_auc", "drift_share"}


class _Page(HTMLParser):
    """Collects section ids, image sources and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        if tag in ("section", "div") and values.get("id"):
            self.sections.append(values["id"] or "")
        for name in ("src", "href", "action", "data", "srcset"):
            if values.get(name):
                self.urls.append(values[name] or "")


def test_html_report_is_self_contained_with_every_section(
        ctx: ReferenceContext, shifted: MonitoringReport) -> None:
    from pipelines.monitoring import html_report, plots

    fig = plots.timeline(pd.DataFrame({"sequence": [1, 2], "roc_auc": [0.8, 0.7],
                                       "expected_roc_auc": [0.8, 0.8],
                                       "drift_share": [0.0, 0.4],
                                       "status": ["ok", "critical"],
                                       "decision": ["", "retrain"],
                                       "champion_version": ["1", "1"]}), 0.75, 0.3)
    png = plots.png_bytes(fig)
    plots.close(fig)
    page = html_report.render(shifted, title="b0002 CRITICAL", images={
        "drift_monthly_charges.png": png, "performance_over_time.png": png,
        "score_distribution.png": png}, links={"run": "abc"})
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.tags[0] == "html"
    assert parser.sections == ["verdict", "alerts", "performance", "features",
                               "distributions", "scores", "quality"]
    assert parser.urls
    assert all(u.startswith("data:image/png;base64,") for u in parser.urls)
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    for feature in shifted.drifted_features:
        assert f"<td>{feature}</td>" in page
    assert page.count('<tr class="drifted">') == len(shifted.drifted_features)


def test_estimated_performance_alerts_without_labels_and_is_logged(
        ctx: ReferenceContext) -> None:
    import numpy as np

    from pipelines.data.batch import Batch, prepare_batch
    from pipelines.monitoring.engine import evaluate_batch

    from .test_scenarios import POLICY, SCHEMA

    frame = generate_batch("no_drift", 3000, seed=11).drop(columns=[TARGET])
    flat = 0.4 + 0.2 * np.random.default_rng(0).random(len(frame))  # unsure about everyone
    report = evaluate_batch(prepare_batch(Batch(frame, "u", "test"), SCHEMA), flat, ctx, POLICY)
    guess = report.estimated["roc_auc"]
    assert guess.value < 0.75
    assert guess.lower < guess.value < guess.upper
    (alert,) = [a for a in report.alerts if a.rule == "performance_estimated"]
    assert alert.severity == "critical"
    assert "estimated from the scores, no labels yet" in alert.message
    assert report.status == "critical"
    assert not report.retraining_recommended  # retraining needs labels
    metrics = report_metrics(report)
    assert {f"estimated_{m}" for m in ("roc_auc", "accuracy", "precision", "recall", "f1")
            } <= set(metrics)
    assert metrics["estimated_roc_auc_lower"] < metrics["estimated_roc_auc"]
    assert "roc_auc" not in metrics  # nothing realized without labels
    assert report.to_dict()["estimated_performance"]["roc_auc"]["value"] == guess.value


def test_concept_drift_compares_the_calibrated_estimates() -> None:
    """A monotone but badly calibrated model (scores squared): the reference keeps its
    calibration, and the concept-drift check uses the same estimator as the estimate."""
    import numpy as np

    from pipelines.data.batch import Batch, prepare_batch
    from pipelines.data.generator import churn_probability, generate_reference
    from pipelines.monitoring.engine import evaluate_batch
    from pipelines.monitoring.reference import ReferenceContext as Context

    from .test_scenarios import POLICY, SCHEMA, SETTINGS

    def squared(frame):  # noqa: ANN001, ANN202
        return np.nan_to_num(churn_probability(frame), nan=0.27) ** 2

    ref = generate_reference(8000, seed=21)
    context = Context.fit(ref, SCHEMA, squared(ref), n_bins=SETTINGS.psi_bins,
                          decision_threshold=0.5)
    assert context.calibration.kept
    assert context.calibrated_expected_auc != context.expected_auc
    batch = generate_batch("no_drift", 5000, seed=22)
    report = evaluate_batch(prepare_batch(Batch(batch, "b", "t"), SCHEMA), squared(batch),
                            context, POLICY)
    assert report.concept_drift.expected_auc == report.estimated["roc_auc"].value
    assert report.concept_drift.reference_expected_auc == context.calibrated_expected_auc
    assert not report.concept_drift.detected
    assert abs(report.estimated["roc_auc"].value - report.performance["roc_auc"]) < 0.02
