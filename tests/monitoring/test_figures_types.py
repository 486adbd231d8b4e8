"""Figures and the HTML report of a regression and a multiclass model (no tracking store but
for the trend's history): each figure from plain arrays, with its titles, labels and lines;
the page names the type's metrics and shows its figures; binary stays as it was."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text

from pipelines.monitoring import html_report, plots
from pipelines.monitoring.alerts import ScoreDrift
from pipelines.monitoring.report import MonitoringReport
from pipelines.stats import fit_categorical_reference, fit_reference_profile
from pipelines.stats.estimation import Estimate

CLASSES = ["basic", "premium", "standard"]


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _legend(ax) -> list[str]:  # noqa: ANN001
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _regression_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    actual = rng.gamma(4.0, 20.0, n)
    return actual, actual + rng.normal(0.0, 10.0, n)


# --- regression ---------------------------------------------------------------------------

def test_predicted_vs_actual_draws_points_the_identity_line_and_the_reference_band() -> None:
    # errors of 0.5 and 2 in turn: half the rows inside the band of +/- 1
    actual = np.linspace(0.0, 100.0, 400)
    predicted = actual + np.where(np.arange(400) % 2 == 0, 0.5, -2.0)
    fig = plots.predicted_vs_actual(actual, predicted, reference_rmse=1.0,
                                    title="Predicted vs actual charges", target="charges")
    ax = fig.axes[0]
    assert ax.get_title() == "Predicted vs actual charges"
    assert ax.get_xlabel() == "actual charges"
    assert ax.get_ylabel() == "predicted charges"
    (points,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(points.get_offsets()) == 400  # few rows: every one a point
    assert not ax.images
    labels = _legend(ax)
    assert "predicted = actual" in labels
    assert "\u00b1 reference RMSE 1 (50% of rows)" in labels
    identity = [line for line in ax.get_lines() if line.get_label() == "predicted = actual"]
    x, y = identity[0].get_data()
    assert np.allclose(x, y)
    plots.close(fig)


def test_many_rows_are_counted_on_a_grid_not_drawn_one_by_one() -> None:
    actual, predicted = _regression_data(20_000)
    fig = plots.predicted_vs_actual(actual, predicted, reference_rmse=10.0)
    ax = fig.axes[0]
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]
    (image,) = ax.images
    lo, hi = ax.get_xlim()
    inside = ((actual >= lo) & (actual < hi) & (predicted >= lo) & (predicted < hi)).sum()
    assert image.get_array().sum() == pytest.approx(inside, abs=5)  # every row counted
    assert "rows per cell" in _texts(fig)
    assert plots.png_bytes(fig).startswith(b"\x89PNG")
    plots.close(fig)


def test_residual_distribution_shows_the_reference_band_and_the_batch_mean() -> None:
    errors = np.random.default_rng(1).normal(3.0, 10.0, 3000)
    fig = plots.residual_distribution(errors, reference_rmse=8.0, reference_bias=-1.0,
                                      title="Prediction errors")
    ax = fig.axes[0]
    assert ax.get_title() == "Prediction errors"
    assert ax.get_xlabel() == "error (predicted \u2212 actual)"
    vertical = sorted(round(float(line.get_xdata()[0]), 6) for line in ax.get_lines())
    assert vertical == sorted([-9.0, -1.0, 7.0, round(float(errors.mean()), 6)])
    labels = _legend(ax)
    assert "reference mean error -1" in labels
    assert "reference mean error \u00b1 RMSE 8" in labels
    assert f"current mean error {errors.mean():.3g}" in labels
    assert any(label.startswith("current (n=3,000)") for label in labels)
    plots.png_bytes(fig)
    plots.close(fig)


def test_errors_by_prediction_show_where_the_model_goes_wrong() -> None:
    predicted = np.linspace(0.0, 100.0, 2000)
    errors = np.where(predicted > 50.0, 5.0, -5.0)  # over-predicts the upper half only
    fig = plots.residuals_vs_predicted(predicted, errors, reference_rmse=4.0, target="charges")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted charges"
    assert ax.get_ylabel() == "error (predicted \u2212 actual)"
    (mean,) = [line for line in ax.get_lines()
               if line.get_label() == "mean error per twentieth of predictions"]
    x, y = mean.get_data()
    assert len(x) == 20
    assert np.allclose(y[np.asarray(x) < 45], -5.0)
    assert np.allclose(y[np.asarray(x) > 55], 5.0)
    levels = {round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()
              if len(set(line.get_ydata())) == 1}
    assert {0.0, 4.0, -4.0} <= levels
    plots.close(fig)


def test_regression_figures_with_and_without_labels() -> None:
    actual, predicted = _regression_data(500)
    reference = fit_reference_profile({"p": predicted}, ["p"], [], n_bins=10).numeric["p"]
    names = []
    for name, fig in plots.regression_figures(predicted, actual,
                                              prediction_reference=reference,
                                              reference_rmse=10.0, reference_bias=0.0,
                                              target="next_month_charges"):
        names.append(name)
        if name == plots.PREDICTION_DISTRIBUTION:
            assert fig.axes[0].get_xlabel() == "predicted next_month_charges"
        assert plots.png_bytes(fig).startswith(b"\x89PNG")  # rendered before the next
        plots.close(fig)
    assert names == [plots.PREDICTION_DISTRIBUTION, plots.PREDICTED_VS_ACTUAL,
                     plots.RESIDUALS, plots.RESIDUALS_VS_PREDICTED]
    unlabelled = [name for name, fig in plots.regression_figures(
        predicted, None, prediction_reference=reference) if plots.close(fig) is None]
    assert unlabelled == [plots.PREDICTION_DISTRIBUTION]


# --- multiclass ---------------------------------------------------------------------------

def _multiclass_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    actual = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES)))
    logits[np.arange(n), actual] += 1.5
    proba = np.exp(logits)
    return actual, proba / proba.sum(axis=1, keepdims=True)


def test_confusion_matrix_shows_counts_and_recall_with_the_class_names() -> None:
    counts = [[8, 2, 0], [1, 5, 4], [0, 0, 10]]
    fig = plots.confusion_matrix(CLASSES, counts, title="Confusion matrix")
    left, right = fig.axes[:2]  # the colour bars come after the panels
    assert left.get_title() == "counts"
    assert right.get_title() == "recall (row-normalised)"
    for ax in (left, right):
        assert [t.get_text() for t in ax.get_xticklabels()] == CLASSES
        assert ax.get_xlabel() == "predicted class"
    assert [t.get_text() for t in left.get_yticklabels()] == CLASSES
    assert left.get_ylabel() == "actual class"
    recall = right.images[0].get_array()
    assert np.allclose(recall.sum(axis=1), 1.0)
    assert recall[1, 2] == pytest.approx(0.4)
    cells = [t.get_text() for t in left.texts]
    assert cells == ["8", "2", "0", "1", "5", "4", "0", "0", "10"]
    assert "40%" in [t.get_text() for t in right.texts]
    assert fig.get_suptitle() == "Confusion matrix"
    plots.png_bytes(fig)
    plots.close(fig)


def test_class_shares_reference_beside_current_predicted_and_actual() -> None:
    fig = plots.class_shares(CLASSES, [0.5, 0.3, 0.2], reference_predicted=[0.4, 0.4, 0.2],
                             current_actual=[0.45, 0.35, 0.2],
                             reference_actual=[0.4, 0.3, 0.3])
    predicted, actual = fig.axes
    assert predicted.get_title() == "predicted class"
    assert actual.get_title() == "actual class"
    heights = [[b.get_height() for b in bars] for bars in predicted.containers]
    assert heights == [[0.4, 0.4, 0.2], [0.5, 0.3, 0.2]]
    assert _legend(predicted) == ["reference", "current"]
    assert [t.get_text() for t in actual.get_xticklabels()] == CLASSES
    plots.close(fig)
    only = plots.class_shares(CLASSES, [0.5, 0.3, 0.2])  # no reference, no labels
    assert len(only.axes) == 1
    assert _legend(only.axes[0]) == ["current"]
    plots.close(only)


def test_class_probability_drift_marks_the_drifted_classes() -> None:
    fig = plots.class_probability_drift(CLASSES, [0.01, 0.4, 0.05], [0.6, 1e-30, 0.02],
                                        [False, True, False])
    ax = fig.axes[0]
    bars = ax.patches
    assert [round(b.get_width(), 2) for b in bars] == [0.01, 0.4, 0.05]
    red = [b for b in bars if b.get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157),
                                                                      abs=0.01)]
    assert [round(b.get_width(), 2) for b in red] == [0.4]
    assert "p 1.0e-30" in [t.get_text() for t in ax.texts]
    assert ax.get_xlabel().startswith("PSI of the class probability")
    plots.close(fig)


def test_multiclass_figures_count_the_confusion_matrix_from_the_labels() -> None:
    actual, proba = _multiclass_data(600)
    drawn = {}
    for name, fig in plots.multiclass_figures(
            CLASSES, proba, actual, reference_predicted=[0.3, 0.3, 0.4],
            probability_drift=[("basic", 0.01, 0.5, False), ("premium", 0.3, 1e-9, True),
                               ("standard", 0.02, 0.3, False)]):
        drawn[name] = [t.get_text() for t in fig.axes[0].texts]
        plots.png_bytes(fig)
        plots.close(fig)
    assert list(drawn) == [plots.CLASS_SHARES, plots.CONFUSION_MATRIX,
                           plots.CLASS_PROBABILITY_DRIFT]
    expected = np.zeros((3, 3), dtype=int)
    np.add.at(expected, (actual, proba.argmax(axis=1)), 1)  # rows actual, columns predicted
    expected = expected.ravel()
    assert drawn[plots.CONFUSION_MATRIX] == [f"{v:,}" for v in expected]
    unlabelled = [name for name, fig in plots.multiclass_figures(CLASSES, proba)
                  if plots.close(fig) is None]
    assert unlabelled == [plots.CLASS_SHARES]  # nothing to compare the predictions with


def test_reference_shares_and_drift_rows_from_what_the_reference_and_report_hold() -> None:
    by_name = fit_categorical_reference("next_plan", np.array(["basic", "premium", "basic",
                                                               "standard"]))
    assert plots.reference_class_shares(by_name, CLASSES) == [0.5, 0.25, 0.25]
    by_index = fit_categorical_reference("next_plan", np.array(["0", "2", "2", "2"]))
    assert plots.reference_class_shares(by_index, CLASSES) == [0.25, 0.0, 0.75]
    assert plots.reference_class_shares(None, CLASSES) is None
    detail = [{"class": "standard", "test": "ks", "statistic": 0.3, "pvalue": 0.01,
               "effect_size": 0.2, "effect_name": "psi", "drifted": True},
              SimpleNamespace(feature="basic", effect_size=0.01, pvalue=0.5,
                              pvalue_adjusted=0.7, drifted=False)]
    assert plots.class_drift_rows(detail, CLASSES) == [("basic", 0.01, 0.7, False),
                                                      ("standard", 0.2, 0.01, True)]
    assert plots.class_drift_rows(None, CLASSES) is None


# --- the trend per type -------------------------------------------------------------------

def _history(metric: str, values: list[float], estimated: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"sequence": [1, 2, 3, 4], metric: values,
                         f"estimated_{metric}": estimated,
                         "drift_share": [0.0, 0.1, 0.0, 0.4],
                         "status": ["ok", "ok", "critical", "ok"],
                         "decision": ["", "", "retrain", ""],
                         "champion_version": ["1", "1", "1", "2"]})


@pytest.mark.parametrize(("kind", "metric", "values", "limit", "line", "ylabel"), [
    ("regression", "rmse", [12.0, 12.5, 19.0, 12.2], 15.0, "ceiling 15", "RMSE"),
    ("multiclass", "macro_f1", [0.7, 0.68, 0.41, 0.66], 0.5, "floor 0.5", "macro F1"),
])
def test_trend_follows_the_primary_metric_and_its_direction(
        kind: str, metric: str, values: list[float], limit: float, line: str,
        ylabel: str) -> None:
    fig = plots.timeline(_history(metric, values, values), limit, 0.3, kind)
    top = fig.axes[0]
    assert top.get_ylabel() == ylabel
    labels = _legend(top)
    assert f"{ylabel} (labels)" in labels
    assert "estimated without labels" in labels
    assert line in labels
    plotted = [line for line in top.get_lines() if line.get_label() == f"{ylabel} (labels)"]
    assert list(plotted[0].get_ydata()) == values
    assert "ROC-AUC" not in " ".join(_texts(fig))
    plots.png_bytes(fig)
    plots.close(fig)


def test_trend_without_a_limit_draws_no_threshold_line() -> None:
    fig = plots.timeline(_history("rmse", [1.0, 2.0, 3.0, 4.0], [1.0] * 4), None, 0.3,
                         "regression")
    assert not [t for t in _legend(fig.axes[0]) if t.startswith("ceiling")]
    plots.close(fig)


def test_history_reads_the_metrics_asked_for(settings) -> None:  # noqa: ANN001
    from pipelines.store import connect
    from pipelines.store import contract as c
    from pipelines.store.searches import monitoring_history

    store = connect(settings.tracking)
    for sequence, rmse in ((1, 12.0), (2, 19.5)):
        with store.start_run("figs-history", tags={c.TAG_STEP: c.STEP_MONITOR,
                                                   c.TAG_SEQUENCE: str(sequence)}) as run:
            store.log_metrics({"rmse": rmse, "drift_share": 0.0})
    experiment = run.info.experiment_id
    history = monitoring_history(store, experiment, metrics=("rmse", "estimated_rmse"))
    assert list(history["rmse"]) == [12.0, 19.5]
    assert history["estimated_rmse"].isna().all()
    assert "rmse" not in monitoring_history(store, experiment)  # binary: as before


# --- the monitor's figure methods ---------------------------------------------------------

def test_evidence_draws_the_figures_of_the_models_type() -> None:
    from pipelines.workflows.monitor import Evidence

    actual, predicted = _regression_data(400)
    reference = fit_reference_profile({"p": predicted}, ["p"], [], n_bins=10).numeric["p"]
    evidence = Evidence(prepared=SimpleNamespace(labels=actual), scores=predicted)
    schema = SimpleNamespace(problem_type="regression", target="charges", classes=())
    report = SimpleNamespace(baseline={"rmse": 10.0, "bias": 0.0})
    names = [name for name, fig in evidence.output_figures(
        schema, report, SimpleNamespace(score_reference=reference))  # type: ignore[arg-type]
        if plots.close(fig) is None]
    assert names == [plots.PREDICTION_DISTRIBUTION, plots.PREDICTED_VS_ACTUAL,
                     plots.RESIDUALS, plots.RESIDUALS_VS_PREDICTED]

    labels, proba = _multiclass_data(300)
    evidence = Evidence(prepared=SimpleNamespace(labels=labels), scores=proba)
    schema = SimpleNamespace(problem_type="multiclass", target="next_plan", classes=CLASSES)
    counts = [[1, 0, 0], [0, 2, 0], [0, 0, 3]]
    report = SimpleNamespace(baseline={}, tables={"confusion_matrix": {
        "classes": CLASSES, "counts": counts}}, output_drift_detail=None)
    drawn = {name: fig for name, fig in evidence.output_figures(
        schema, report, SimpleNamespace())}  # type: ignore[arg-type]
    assert list(drawn) == [plots.CLASS_SHARES, plots.CONFUSION_MATRIX]
    # the report's matrix is drawn as it is (not counted again)
    assert [t.get_text() for t in drawn[plots.CONFUSION_MATRIX].axes[0].texts] == [
        "1", "0", "0", "0", "2", "0", "0", "0", "3"]
    for fig in drawn.values():
        plots.close(fig)


@pytest.mark.parametrize(("kind", "monitoring", "baseline", "expected"), [
    ("regression", {"rmse_ceiling": None, "rmse_ratio_ceiling": 1.25}, {"rmse": 20.0}, 25.0),
    ("regression", {"rmse_ceiling": 30.0, "rmse_ratio_ceiling": 1.25}, {"rmse": 20.0}, 30.0),
    ("regression", {"rmse_ceiling": None, "rmse_ratio_ceiling": 1.25}, {}, None),
    ("multiclass", {"macro_f1_floor": 0.5}, {}, 0.5),
])
def test_trend_limit_follows_the_settings_without_a_policy_threshold(
        kind: str, monitoring: dict, baseline: dict, expected: float | None) -> None:
    from pipelines.workflows.monitor import Monitor

    fake = SimpleNamespace(champion=SimpleNamespace(schema=SimpleNamespace(problem_type=kind)),
                           policy=SimpleNamespace(), settings=SimpleNamespace(
                               monitoring=SimpleNamespace(**monitoring)),
                           reference=SimpleNamespace(baseline=baseline))
    assert Monitor._performance_limit(fake) == expected  # type: ignore[arg-type]
    fake.policy = SimpleNamespace(performance=SimpleNamespace(limit=41.0))
    assert Monitor._performance_limit(fake) == 41.0  # type: ignore[arg-type]


# --- the HTML report ----------------------------------------------------------------------

class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "section" or values.get("id") == "verdict":
            self.sections.append(values.get("id") or "")
        if tag == "img":
            self.images.append(values.get("alt") or "")


@pytest.fixture(scope="module")
def binary() -> MonitoringReport:
    from pipelines.data.generator import generate_batch

    from .test_scenarios import _context, _evaluate

    return _evaluate(generate_batch("no_drift", 1500, seed=3), _context(2000))


def _typed(report: MonitoringReport, kind: str, **changes: object) -> MonitoringReport:
    """``report`` as another type's (the core's fields when they exist, else set on it)."""
    names = {f.name for f in dataclasses.fields(MonitoringReport)}
    extra = {k: changes.pop(k) for k in ("problem_type", "tables") if k in changes}
    extra.setdefault("problem_type", kind)
    typed = dataclasses.replace(report, concept_drift=None, **changes,  # type: ignore[arg-type]
                                **{k: v for k, v in extra.items() if k in names})
    for key, value in extra.items():
        if key not in names:
            object.__setattr__(typed, key, value)
    return typed


PNG = b"\x89PNG fake"


def test_regression_page_names_its_metrics_and_never_roc_auc(
        binary: MonitoringReport) -> None:
    report = _typed(
        binary, "regression",
        performance={"rmse": 41.23, "mae": 30.5, "mape": 0.123, "r2": 0.81, "bias": -2.5},
        baseline={"rmse": 24.0, "mae": 19.0, "mape": 0.1, "r2": 0.9, "bias": 0.2},
        estimated={"rmse": Estimate(25.0, 23.0, 27.0), "mae": Estimate(19.5, 18.0, 21.0)},
        prediction_drift=ScoreDrift("ks", 0.2, 1e-6, 0.3, "psi", True),
        target_drift=ScoreDrift("ks", 0.1, 0.2, 0.05, "psi", False),
        settings={**binary.settings, "rmse_ceiling": None, "rmse_ratio_ceiling": 1.25})
    images = {name: PNG for name in (plots.PREDICTED_VS_ACTUAL, plots.RESIDUALS,
                                     plots.RESIDUALS_VS_PREDICTED,
                                     plots.PREDICTION_DISTRIBUTION,
                                     "performance_over_time.png")}
    page = html_report.render(report, title="b0004 CRIT rmse 41.2", images=images)
    assert "ROC-AUC" not in page
    assert "roc_auc" not in page
    assert "RMSE 41.23" in page  # the banner
    for row in ("<td>RMSE (primary)</td>", "<td>MAE</td>", "<td>MAPE</td>",
                "<td>R\u00b2</td>", "<td>bias</td>"):
        assert row in page
    assert "<td class='num'>12.3%</td>" in page  # MAPE as a percentage
    assert "25.00 (23.00-27.00)" in page  # the estimate with its band
    assert "<td class='num'>24.00</td>" in page  # the reference
    for words in ("<b>RMSE</b>", "<b>MAE</b>", "<b>MAPE</b>", "<b>R\u00b2</b>", "<b>bias</b>",
                  "direct loss estimation"):
        assert words in page
    assert "Critical when RMSE is above 1.25 \u00d7 the reference's 24.00 = 30.00." in page
    assert "Prediction drift: KS p 1.0e-06, PSI 0.300 (drifted)." in page
    assert "Target drift: KS p 0.200" in page
    parser = _Page()
    parser.feed(page)
    assert parser.sections == ["verdict", "alerts", "performance", "features",
                               "distributions", "scores", "quality"]
    assert {"predicted vs actual", "prediction errors", "errors by predicted value",
            "prediction distribution", "performance over batches"} <= set(parser.images)
    assert "<h2>Model predictions</h2>" in page
    assert "<script" not in page


def test_multiclass_page_shows_per_class_recall_and_the_confusion_matrix(
        binary: MonitoringReport) -> None:
    performance = {"accuracy": 0.71, "macro_f1": 0.41, "weighted_f1": 0.6, "roc_auc": 0.8,
                   "log_loss": 0.9, "recall_basic": 0.9, "recall_premium": 0.1,
                   "recall_standard": 0.5}
    report = _typed(
        binary, "multiclass", performance=performance,
        baseline={k: v + 0.05 for k, v in performance.items()},
        estimated={"accuracy": Estimate(0.75, 0.73, 0.77),
                   "macro_f1": Estimate(0.6, 0.57, 0.63),
                   "roc_auc": Estimate(0.85, 0.83, 0.87)},
        prediction_drift=ScoreDrift("chi2", 30.0, 1e-5, 0.2, "psi", True),
        settings={**binary.settings, "macro_f1_floor": 0.5},
        tables={"confusion_matrix": {"classes": CLASSES,
                                     "counts": [[90, 5, 5], [60, 10, 30], [20, 30, 50]]}})
    images = {name: PNG for name in (plots.CONFUSION_MATRIX, plots.CLASS_SHARES,
                                     plots.CLASS_PROBABILITY_DRIFT)}
    page = html_report.render(report, title="b0004 CRIT f1 0.41", images=images)
    assert "macro F1 0.410" in page  # the banner
    for row in ("<td>accuracy</td>", "<td>macro F1 (primary)</td>", "<td>weighted F1</td>",
                "<td>ROC-AUC (one-vs-rest)</td>", "<td>log loss</td>", "<td>recall: basic</td>",
                "<td>recall: premium</td>", "<td>recall: standard</td>"):
        assert row in page
    assert "0.600 (0.570-0.630)" in page
    assert "Critical when macro F1 is below 0.500." in page
    for words in ("<b>accuracy</b>", "<b>macro F1</b>", "<b>recall</b>"):
        assert words in page
    assert "<th>actual \\ predicted</th><th>basic</th><th>premium</th><th>standard</th>" in page
    assert "<tr><th>premium</th><td class='num'>60</td>" in page
    assert "Predicted-class drift: chi-square p 1.0e-05, PSI 0.200 (drifted)." in page
    parser = _Page()
    parser.feed(page)
    assert {"confusion matrix", "class shares",
            "drift of each class's probability"} <= set(parser.images)
    assert "<h2>Predicted classes</h2>" in page


def test_binary_page_keeps_its_words(binary: MonitoringReport) -> None:
    page = html_report.render(binary, title="b0001 ok", images={"score_distribution.png": PNG})
    assert "<h2>Model scores</h2>" in page
    assert "Score drift: KS p" in page
    assert "estimated from the scores (95%)" in page
    assert "<p class='words'>" not in page


def test_degenerate_inputs_still_draw() -> None:
    """No rows, constant predictions, no reference numbers, an empty matrix, a NaN effect:
    a figure each, no error and no warning (a monitoring cycle never fails on a figure)."""
    import warnings

    empty = np.array([])
    drawings = (
        lambda: plots.predicted_vs_actual(empty, empty, reference_rmse=1.0),
        lambda: plots.predicted_vs_actual(np.ones(3), np.ones(3), reference_rmse=float("nan")),
        lambda: plots.residual_distribution(empty, reference_rmse=1.0, reference_bias=0.0),
        lambda: plots.residual_distribution(np.zeros(5)),
        lambda: plots.residuals_vs_predicted(empty, empty, reference_rmse=1.0),
        lambda: plots.residuals_vs_predicted(np.ones(100), np.zeros(100)),
        lambda: plots.confusion_matrix(["a", "b"], [[0, 0], [0, 0]]),
        lambda: plots.class_shares(["a", "b"], [0.0, 0.0]),
        lambda: plots.class_probability_drift(["a"], [float("nan")], [float("nan")], [False]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for draw in drawings:
            fig = draw()
            assert plots.png_bytes(fig).startswith(b"\x89PNG")
            plots.close(fig)
