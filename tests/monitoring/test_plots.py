"""The report's figures read cleanly: labels inside the frame and beside their lines, a legend
for the status colours, axis labels inside the image; and what the report says about the
reference (no tracking store)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.text import Text

from pipelines.monitoring import html_report, plots
from pipelines.stats import fit_categorical_reference, fit_reference_profile

#: The demo's story: a retraining decided at batch 4, champion v2 from batch 5 on.
HISTORY = pd.DataFrame({
    "sequence": [1, 2, 3, 4, 5, 6],
    "roc_auc": [0.88, 0.87, 0.86, 0.58, 0.80, 0.70],
    "expected_roc_auc": [0.87, 0.87, 0.85, 0.87, 0.80, 0.79],
    "drift_share": [0.0, 0.0, 0.12, 0.0, 0.0, 0.42],
    "status": ["ok", "ok", "warning", "critical", "ok", "critical"],
    "decision": ["", "", "", "retrain", "", "cooldown"],
    "champion_version": ["1", "1", "1", "1", "2", "2"],
})


def _drawn(fig):  # noqa: ANN001, ANN202
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _texts(fig, content: str) -> list[Text]:  # noqa: ANN001
    return [t for t in fig.findobj(Text) if content in t.get_text()]


def test_timeline_labels_sit_inside_the_frame_beside_their_lines() -> None:
    fig = plots.timeline(HISTORY, 0.75, 0.3)
    renderer = _drawn(fig)
    top = fig.axes[0]
    frame = top.get_window_extent(renderer)
    (retrain,) = _texts(fig, "retrain")
    (champion,) = _texts(fig, "champion v2")
    boxes = {}
    for text in (retrain, champion):
        box = text.get_window_extent(renderer)
        # inside the frame with room to spare, not on its edge
        assert frame.x0 < box.x0
        assert box.x1 < frame.x1
        assert frame.y0 < box.y0
        assert box.y1 <= frame.y1 - 2
        boxes[text.get_text()] = box
    assert not boxes[retrain.get_text()].overlaps(boxes[champion.get_text()])
    to_pixels = top.transData.transform
    # each label starts (or ends) at its own line: retraining at batch 4, the champion's
    # change between batch 4 and the first batch v2 scored (5)
    x_retrain = to_pixels((4, 0))[0]
    x_change = to_pixels((4.5, 0))[0]
    assert abs(boxes[retrain.get_text()].x1 - x_retrain) < 8
    assert abs(boxes[champion.get_text()].x0 - x_change) < 8
    lines = {round(float(line.get_xdata()[0]), 2) for line in top.get_lines()
             if len(set(line.get_xdata())) == 1}
    assert {4.0, 4.5} <= lines
    # every label and the data stay below the frame's top: headroom above the highest point
    assert top.get_ylim()[1] > HISTORY["roc_auc"].max() + 0.05
    plots.close(fig)


def test_timeline_has_a_legend_for_the_status_colours() -> None:
    fig = plots.timeline(HISTORY, 0.75, 0.3)
    labels = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert {"ok", "warning", "critical"} <= labels
    renderer = _drawn(fig)
    for legend in fig.legends:  # inside the image
        box = legend.get_window_extent(renderer)
        assert box.y0 >= 0
        assert box.x0 >= 0
    plots.close(fig)


@pytest.mark.parametrize("scale", [3000.0, 60.0, 1.0, 0.001])
def test_density_axis_label_is_inside_the_image(scale: float) -> None:
    rng = np.random.default_rng(1)
    reference = fit_reference_profile({"x": rng.gamma(2.0, scale, 1500)}, ["x"], [],
                                      n_bins=10).numeric["x"]
    fig = plots.numeric_distribution(reference, rng.gamma(2.5, scale, 5000),
                                     "total_charges: PSI 3.815, KS p 4.6e-288 (bh-adjusted)")
    renderer = _drawn(fig)
    ylabel = fig.axes[0].yaxis.label
    assert ylabel.get_text().startswith("density")
    assert ylabel.get_window_extent(renderer).x0 >= 0
    ticks = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert max(len(t.get_text()) for t in ticks) <= 4
    plots.close(fig)


def test_categorical_shares_count_missing_values_and_any_dtype() -> None:
    reference = fit_categorical_reference("contract", np.array(["a", "b", "a", "c"]))
    for column in (pd.Series(["a", None, "b", "a"], dtype=object),
                   pd.Series(["a", None, "b", "a"], dtype="category"),
                   pd.Series(["a", None, "b", "a"], dtype="string")):
        fig = plots.categorical_distribution(reference, column, "contract")
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_xticklabels()]
        current = dict(zip(labels, [b.get_height() for b in ax.containers[1]], strict=True))
        assert current["a"] == pytest.approx(0.5)
        assert current["b"] == pytest.approx(0.25)
        plots.close(fig)


def test_png_bytes_renders_a_png() -> None:
    fig = plots.timeline(HISTORY.head(1), 0.75, 0.3)
    assert plots.png_bytes(fig).startswith(b"\x89PNG")
    plots.close(fig)


RETRAINED = {"trained_by": "retraining", "reference_rows": "1500",
             "reference_batches": "production_batch_0004@d863936c",
             "parent_run_id": "76675e358f7e4f9fbf89af64a959fb15",
             "champion_version_before": "1"}


def test_reference_text_says_why_a_retrained_champion_has_fewer_reference_rows() -> None:
    text = html_report.reference_text(1500, "2", RETRAINED, {
        "run_name": "retrain PROMOTED v2 auc 0.803 vs 0.569",
        "run_id": RETRAINED["parent_run_id"], "n_reference_rows": "8000"})
    assert text.startswith("Reference: 1,500 rows, the holdout of retraining run")
    assert "retrain PROMOTED v2 auc 0.803 vs 0.569" in text
    assert "76675e35" in text
    assert "production_batch_0004@d863936c" in text
    assert "promoted v2" in text
    assert "not trained on" in text
    assert "v1 was compared with 8,000 reference rows" in text
    # without the retraining run (deleted): still the holdout and the run's id
    short = html_report.reference_text(1500, "2", RETRAINED)
    assert "holdout of retraining run" in short
    assert "76675e35" in short


def test_reference_text_of_a_baseline_and_of_a_registered_model() -> None:
    text = html_report.reference_text(8000, "1", {"trained_by": "baseline",
                                                  "source_run_id": "1d6170f1bd0b44e6"})
    assert text == ("Reference: 8,000 rows, the validation and test rows of the baseline "
                    "training run 1d6170f1 (rows v1 was not trained on).")
    assert html_report.reference_text(300, "4", {}) == "Reference: 300 rows, registered with v4."


def test_reused_density_figure_draws_each_distribution_alike() -> None:
    rng = np.random.default_rng(2)
    reference = fit_reference_profile({"x": rng.normal(size=500)}, ["x"], [],
                                      n_bins=10).numeric["x"]
    drawn = []
    for _ in range(3):
        fig = plots.numeric_distribution(reference, rng.normal(size=800), "x")
        ax = fig.axes[0]
        drawn.append(([p.get_facecolor() for p in ax.patches], len(ax.get_legend().texts)))
        plots.close(fig)
    assert drawn[0] == drawn[1] == drawn[2]  # same colours, two series, no leftovers
    assert len(drawn[0][0]) == 2


def test_figures_held_before_rendering_are_not_overwritten() -> None:
    rng = np.random.default_rng(3)
    reference = fit_reference_profile({"x": rng.normal(size=500)}, ["x"], [],
                                      n_bins=10).numeric["x"]
    first = plots.numeric_distribution(reference, rng.normal(size=800), "first")
    second = plots.numeric_distribution(reference, rng.normal(size=800) + 3, "second")
    assert first is not second
    assert first.axes[0].get_title() == "first"
    pngs = [plots.png_bytes(first), plots.png_bytes(second)]
    assert pngs[0] != pngs[1]
    for fig in (first, second):
        plots.close(fig)
    third = plots.numeric_distribution(reference, rng.normal(size=800), "third")
    assert third is first  # rendered and closed: drawn again
    plots.close(third)
