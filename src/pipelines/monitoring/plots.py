"""Figures a reviewer wants beside the numbers. Each function returns a matplotlib Figure.

Drawn for speed (a monitoring cycle draws several at 1M rows): the distributions are drawn
on one figure per thread, emptied and drawn again (render each before asking for the next);
figures are made without pyplot (no figure manager to register and close), with fixed
margins and fixed positions for the title and legend (matplotlib otherwise measures every
text and tries legend positions against the data), at most a few ticks per axis (each tick
label is a text to lay out and rasterise), and histograms of a sample drawn as two filled
step lines, not bar patches.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.transforms import blended_transform_factory

from pipelines.problems import problem
from pipelines.stats import CategoricalReference, NumericReference

_MAX_POINTS = 50_000  # histograms of a sample are indistinguishable and much cheaper


_TICKS = 6  # at most this many ticks per axis
_STEPS = [1, 2, 2.5, 5, 10]  # round tick steps, as matplotlib's automatic ones


def _locator(n: int = _TICKS) -> MaxNLocator:
    return MaxNLocator(n, steps=_STEPS)


def _layout(fig: Figure, bottom: float = 0.14, top: float = 0.9) -> None:
    """Fixed margins: tight_layout measures every text extent and cost more than drawing."""
    fig.subplots_adjust(left=0.12, right=0.97, bottom=bottom, top=top, hspace=0.3)


def _axes(fig: Figure, title: str) -> object:
    """One axes with a fixed title position (an automatic one measures the tick labels)
    and few ticks."""
    ax = fig.add_subplot()
    ax.set_title(title, y=1.0, pad=6)
    ax.xaxis.set_major_locator(_locator())
    ax.yaxis.set_major_locator(_locator())
    return ax


def _scaled(series: list[tuple[np.ndarray, str]], ylabel: str
            ) -> tuple[list[tuple[np.ndarray, str]], str]:
    """Values of at most a few digits: densities of a feature measured in thousands are
    around 0.0006, whose tick labels pushed the y-axis label out of the fixed margin; they
    are drawn as 6 with the power of ten in the label (``density (x 1e-4)``)."""
    top = max((float(np.nanmax(v)) for v, _ in series if v.size), default=0.0)
    if not np.isfinite(top) or top <= 0 or 0.1 <= top < 1000:
        return series, ylabel
    power = int(np.floor(np.log10(top)))
    return ([(v / 10.0 ** power, label) for v, label in series],
            f"{ylabel} (\u00d7 1e{power})")


def _sample(values: np.ndarray, seed: int = 0) -> np.ndarray:
    if values.size <= _MAX_POINTS:
        return values
    # with replacement: indices only, no shuffle of the whole column
    return values[np.random.default_rng(seed).integers(0, values.size, _MAX_POINTS)]


def numeric_distribution(ref: NumericReference, current: np.ndarray, title: str,
                         xlabel: str = "value") -> Figure:
    cur = np.asarray(current, dtype=np.float64)
    cur = cur[np.isfinite(cur)]
    n_current = cur.size
    cur = _sample(cur)
    refv = _sample(ref.sorted_values)
    both = np.concatenate([refv, cur]) if cur.size else refv
    lo, hi = (np.quantile(both, [0.005, 0.995]) if both.size else (0.0, 1.0))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 41)
    return _densities(edges, [
        (np.histogram(values, bins=edges, density=values.size > 0)[0], label)
        for values, label in ((refv, f"reference (n={ref.n:,})"),
                              (cur, f"current (n={n_current:,})"))], title, xlabel)


_REUSED = threading.local()  # per thread: figures are not shared between threads


def _density_axes() -> tuple[Figure, object]:
    """This thread's density figure, emptied: one figure and axes drawn again and again
    (making a figure, its axes and their ticks was a quarter of the drawing). While the
    last one handed out is neither rendered nor closed, a new figure is made instead, so a
    caller holding several figures never sees one overwritten."""
    fig = getattr(_REUSED, "density", None)
    if fig is None or fig.in_use:
        fig = Figure(figsize=(6, 3.5))
        _axes(fig, "")
        _layout(fig, bottom=0.17)
        if getattr(_REUSED, "density", None) is None:
            fig.reused = True  # type: ignore[attr-defined]  # see close()
            _REUSED.density = fig
    fig.in_use = True  # type: ignore[attr-defined]  # until png_bytes() or close()
    ax = fig.axes[0]
    for artist in [*ax.patches, *ax.lines, *ax.texts]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.relim()
    return fig, ax


def _densities(edges: np.ndarray, series: list[tuple[np.ndarray, str]], title: str,
               xlabel: str, ylabel: str = "density") -> Figure:
    """Densities on common bins as filled step lines (far faster to draw than bar patches),
    on this thread's reused figure: render it (:func:`png_bytes`) before the next one."""
    fig, ax = _density_axes()
    series, ylabel = _scaled(series, ylabel)
    for (density, label), colour in zip(series, ("tab:blue", "tab:orange"), strict=False):
        ax.stairs(density, edges, fill=True, alpha=0.45, label=label, color=colour)
    ax.relim()
    ax.autoscale_view()
    ax.set_title(title, y=1.0, pad=6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.25)  # headroom for the legend above the tallest bin
    ax.legend(loc="upper right", fontsize=9)
    return fig


def binned_distribution(edges: np.ndarray, reference: np.ndarray, current: np.ndarray,
                        title: str, xlabel: str = "value", groups: int = 40) -> Figure:
    """Reference and current distributions from counts on common bins (the counts engines):
    the finite bins between the first and the last edge, merged into about ``groups`` bins,
    as densities; when there are no more edges than that (a feature of few distinct values,
    each an edge), as the share of rows per bin. The share of current values outside the
    edges is said in the legend."""
    ref_c = np.asarray(reference, dtype=np.float64)
    cur_c = np.asarray(current, dtype=np.float64)
    few = edges.size <= groups
    step = 1 if few else max(1, (edges.size - 1) // groups)
    cuts = np.unique(np.append(np.arange(0, edges.size, step), edges.size - 1))
    shown = edges[cuts]
    widths = np.diff(shown)
    series = []
    for counts, name in ((ref_c, "reference"), (cur_c, "current")):
        n = counts.sum()
        inner = np.add.reduceat(counts[1:edges.size], cuts[:-1])[:shown.size - 1]
        shares = inner / max(n, 1.0)
        values = shares if few else shares / np.where(widths > 0, widths, 1.0)
        outside = (counts[0] + counts[-1]) / n if n else 0.0
        series.append((values, f"{name} (n={int(n):,}" + (
            f", {outside:.1%} outside" if outside >= 0.005 else "") + ")"))
    return _densities(shown, series, title, xlabel,
                      ylabel="share of rows" if few else "density")


def categorical_distribution(ref: CategoricalReference, current: Sequence[object],
                             title: str) -> Figure:
    # counted as they come (an Arrow string or categorical column counts without a copy),
    # then the labels made strings: converting a 1M-row column first cost 0.05-0.3 s
    counts = pd.Series(current).value_counts(dropna=False)
    labels = ["<missing>" if pd.isna(k) else str(k) for k in counts.index]
    cur_share = (pd.Series(counts.to_numpy(dtype=float), index=labels)
                 .groupby(level=0, sort=False).sum())
    return categorical_shares(ref, cur_share / max(cur_share.sum(), 1.0), title)


def categorical_shares(ref: CategoricalReference, cur_share: pd.Series, title: str) -> Figure:
    """Reference and current shares per category (``cur_share``: share by category label)."""
    ref_share = pd.Series(np.asarray(ref.counts, dtype=float), index=list(ref.categories))
    ref_share /= max(ref_share.sum(), 1.0)
    table = pd.DataFrame({"reference": ref_share, "current": cur_share}).fillna(0.0)
    table = table.sort_values("reference", ascending=False).head(20)
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.set_title(title, y=1.0, pad=6)
    x = np.arange(len(table))
    for offset, column in ((-0.2, "reference"), (0.2, "current")):
        ax.bar(x + offset, table[column].to_numpy(), width=0.4, alpha=0.7, label=column)
    ax.set_xticks(x, [str(k) for k in table.index], rotation=25, ha="right")
    ax.yaxis.set_major_locator(_locator())
    ax.set_ylabel("share of rows")
    ax.margins(y=0.35)  # headroom for the legend
    ax.legend(loc="upper right", fontsize=9)
    _layout(fig, bottom=0.3)
    return fig


_STATUS_COLOURS = {"ok": "tab:green", "warning": "tab:orange", "critical": "tab:red"}
_RETRAIN_COLOUR = "tab:purple"
_CHAMPION_COLOUR = "tab:brown"


def timeline(history: pd.DataFrame, floor: float | None, share_limit: float,
             problem_type: str = "binary") -> Figure:
    """The primary metric (realized, and expected or estimated without labels) and the
    drifted-feature share per batch, with the metric's floor (ceiling, for an error such as
    RMSE; none drawn when None) and the share limit, each batch's status as the marker colour
    (the legend under the plot says which), retraining decisions as dotted lines at their
    batch and champion changes as dash-dot lines half-way to the first batch the new champion
    scored, each labelled inside the plot's headroom beside its line (``history``: the columns
    of :func:`~pipelines.store.searches.monitoring_history`; for a type other than binary,
    columns ``<primary metric>`` and ``estimated_<primary metric>``)."""
    kind = problem(problem_type)
    metric = kind.primary_metric
    if kind.name == "binary":
        expected, expected_label = "expected_roc_auc", "expected from the scores"
    else:
        expected, expected_label = f"estimated_{metric}", "estimated without labels"
    fig = Figure(figsize=(8, 6.2))
    a1, a2 = fig.subplots(2, 1, sharex=True)
    x = history["sequence"].to_numpy() if "sequence" in history else np.array([])
    colours = [_STATUS_COLOURS.get(s, "tab:gray") for s in history.get("status", [])] or None
    if metric in history:
        a1.plot(x, history[metric], color="tab:blue", zorder=1,
                label=f"{kind.label} (labels)")
        a1.scatter(x, history[metric], c=colours, zorder=2, s=36)
    if expected in history and history[expected].notna().any():
        a1.plot(x, history[expected], color="tab:gray", linestyle=":", marker=".",
                label=expected_label)
    if floor is not None and np.isfinite(floor):
        word = "floor" if kind.higher_is_better else "ceiling"
        a1.axhline(floor, color="red", linestyle="--",
                   label=f"{word} {floor if kind.name == 'binary' else _sig(floor)}")
    a1.set_ylabel(kind.label)
    if "drift_share" in history:
        a2.plot(x, history["drift_share"], color="tab:orange", zorder=1)
        a2.scatter(x, history["drift_share"], c=colours, zorder=2, s=36)
    a2.axhline(share_limit, color="red", linestyle="--", label=f"limit {share_limit:.0%}")
    a2.set_ylabel("drifted-feature share")
    a2.set_xlabel("batch (monitoring sequence)")
    for ax in (a1, a2):
        ax.margins(y=0.22)  # headroom above the data for the labels of the lines below
        ax.yaxis.set_major_locator(_locator(5))
    a1.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(x):
        a1.set_xlim(x.min() - 0.6, x.max() + 0.6)
    top = blended_transform_factory(a1.transData, a1.transAxes)  # x in batches, y in axes
    label = {"fontsize": 8, "va": "top", "transform": top}
    decisions = history["decision"] if "decision" in history else pd.Series(dtype=str)
    for seq in history.loc[decisions.eq("retrain"), "sequence"] if len(decisions) else []:
        for ax in (a1, a2):
            ax.axvline(seq, color=_RETRAIN_COLOUR, linestyle=":", alpha=0.8)
        a1.text(seq - 0.05, 0.97, "retraining", ha="right", color=_RETRAIN_COLOUR, **label)
    if "champion_version" in history and len(history) > 1:
        versions = history["champion_version"].astype(str).to_numpy()
        for i in range(1, len(versions)):
            if versions[i] != versions[i - 1] and versions[i]:
                at = (x[i - 1] + x[i]) / 2
                for ax in (a1, a2):
                    ax.axvline(at, color=_CHAMPION_COLOUR, linestyle="-.", alpha=0.8)
                a1.text(at + 0.05, 0.97, f"champion v{versions[i]} from here", ha="left",
                        color=_CHAMPION_COLOUR, **label)
    # the legend away from where good batches lie (high for a score, low for an error)
    a1.legend(fontsize=8, loc="lower left" if kind.higher_is_better else "upper left")
    a2.legend(fontsize=8, loc="upper left")
    status = [Line2D([], [], linestyle="", marker="o", markersize=6, color=colour,
                     label=name) for name, colour in _STATUS_COLOURS.items()]
    fig.legend(handles=status, title="marker colour = the batch's status", fontsize=8,
               title_fontsize=8, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Performance and drift across batches")
    _layout(fig, bottom=0.15, top=0.92)
    return fig


def png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    """The figure rendered once as PNG (logged as an artifact and inlined in the HTML)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    fig.in_use = False  # type: ignore[attr-defined]  # a reused figure may be drawn again
    return buffer.getvalue()


def close(fig: Figure) -> None:
    """Release the figure's drawing (figures made without pyplot need nothing more); a
    reused figure is kept for the next drawing."""
    fig.in_use = False  # type: ignore[attr-defined]
    if not getattr(fig, "reused", False):
        fig.clear()


# --- regression and multiclass figures ---------------------------------------------------
#
# Plain arrays in (targets, predictions, the reference's numbers, a confusion matrix with its
# class names), a Figure out: testable without a store. At large n nothing is drawn per point:
# a hexbin of a sample (the shape is the same), lines and bars from statistics of every row.

_SCATTER_POINTS = 5_000  # up to this many rows drawn as points, beyond it as a hexbin
_GRID_CELLS = 60  # cells per axis of the grid many rows are counted on
_LABEL_CELLS = 15  # confusion matrices up to this many classes get a number in every cell


def _finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    return (a, b) if keep.all() else (a[keep], b[keep])


def _count_label(value: float, _position: object = None) -> str:
    """1, 10, 100, 1k, 10k, 1M: short enough for the colour bar's margin."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _grid_counts(x: np.ndarray, y: np.ndarray,
                 extent: tuple[float, float, float, float], cells: int) -> np.ndarray:
    """Rows per cell of a ``cells`` x ``cells`` grid over ``extent`` (rows outside left out),
    as (y, x) for an image: one pass of integer arithmetic, no sort."""
    x0, x1, y0, y1 = extent
    i = np.floor((x - x0) * (cells / (x1 - x0 or 1.0)))
    j = np.floor((y - y0) * (cells / (y1 - y0 or 1.0)))
    keep = (i >= 0) & (i < cells) & (j >= 0) & (j < cells)
    flat = j[keep].astype(np.int64) * cells + i[keep].astype(np.int64)
    return np.bincount(flat, minlength=cells * cells).reshape(cells, cells)


def _points(fig: Figure, ax: object, x: np.ndarray, y: np.ndarray,
            extent: tuple[float, float, float, float]) -> None:
    """Rows as points (a few thousand at most) or, beyond, as the number of rows per cell of
    a grid, drawn as one image with a colour bar: every row counted, nothing drawn per row
    (a hexbin of polygons took a second to render at 1M rows, the image a few ms)."""
    if x.size <= _SCATTER_POINTS:
        ax.scatter(x, y, s=6, alpha=0.35, color="tab:blue",  # type: ignore[attr-defined]
                   linewidths=0, rasterized=True)
        return
    counts = _grid_counts(x, y, extent, _GRID_CELLS).astype(np.float64)
    image = ax.imshow(np.ma.masked_equal(counts, 0), origin="lower",  # type: ignore[attr-defined]
                      extent=extent, aspect="auto", interpolation="nearest", cmap="Blues",
                      norm=LogNorm(vmin=1, vmax=max(float(counts.max()), 2.0)))
    bar = fig.colorbar(image, ax=ax, pad=0.02, fraction=0.05)
    bar.minorticks_off()  # a log scale's minor ticks and its mathtext labels (10^2) were
    bar.ax.yaxis.set_major_formatter(FuncFormatter(_count_label))  # most of the drawing
    bar.set_label("rows per cell", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _span(*arrays: np.ndarray) -> tuple[float, float]:
    """Common limits: the central 99 % of the values, a little padded."""
    both = np.concatenate([_sample(a) for a in arrays]) if arrays else np.array([])
    if not both.size:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.quantile(both, [0.005, 0.995]))
    pad = (hi - lo) * 0.04 or max(abs(lo) * 0.05, 1.0)
    return lo - pad, hi + pad


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _sig(value: float) -> str:
    return f"{value:.3g}"


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, *,
                        reference_rmse: float | None = None,
                        title: str = "Predicted vs actual", target: str = "target") -> Figure:
    """Each row's prediction against its target, the identity line and the band of +/- the
    reference's RMSE around it; the legend says which share of the batch's rows falls in the
    band. Points up to a few thousand rows, a hexbin of a sample beyond."""
    y, p = _finite_pairs(actual, predicted)
    lo, hi = _span(y, p)
    fig = Figure(figsize=(6, 4.8))
    ax = _axes(fig, "")
    many = y.size > _SCATTER_POINTS  # a colour bar on the right
    _points(fig, ax, y, p, (lo, hi, lo, hi))
    ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1,
            label="predicted = actual")
    rmse = _finite(reference_rmse)
    if rmse is not None:
        inside = float(np.mean(np.abs(p - y) <= rmse)) if y.size else float("nan")
        ax.fill_between([lo, hi], [lo - rmse, hi - rmse], [lo + rmse, hi + rmse],
                        color="tab:gray", alpha=0.15, linewidth=0)
        for side in (-1, 1):  # the band's edges drawn over the cells, seen on them
            ax.plot([lo, hi], [lo + side * rmse, hi + side * rmse], color="tab:gray",
                    linestyle="--", linewidth=1.2,
                    label=(f"\u00b1 reference RMSE {_sig(rmse)} ({inside:.0%} of rows)"
                           if side == 1 else None))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_title(title, y=1.0, pad=6)
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.legend(loc="upper left", fontsize=8)
    _layout(fig, bottom=0.12, top=0.92)
    if many:
        fig.subplots_adjust(right=0.9)
    return fig


def residual_distribution(errors: np.ndarray, *, reference_rmse: float | None = None,
                          reference_bias: float | None = None,
                          reference: NumericReference | None = None,
                          title: str = "Prediction errors", unit: str = "") -> Figure:
    """The batch's errors (prediction - target) as a density; the reference's errors too when
    their profile is given (``reference``), else the reference's bias and bias +/- RMSE as
    lines; the batch's own mean error as a line. Drawn on the reused density figure: render
    it before the next."""
    e = np.asarray(errors, dtype=np.float64)
    e = e[np.isfinite(e)]
    label = "error (predicted \u2212 actual)" + (f", {unit}" if unit else "")
    if reference is not None:
        fig = numeric_distribution(reference, e, title, xlabel=label)
    else:
        shown = _sample(e)
        lo, hi = (np.quantile(shown, [0.005, 0.995]) if shown.size else (-1.0, 1.0))
        bias, rmse = _finite(reference_bias), _finite(reference_rmse)
        if rmse is not None:  # the reference's band inside the frame
            centre = bias or 0.0
            lo, hi = min(lo, centre - 1.1 * rmse), max(hi, centre + 1.1 * rmse)
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 41)
        fig = _densities(edges, [(np.histogram(shown, bins=edges, density=shown.size > 0)[0],
                                  f"current (n={e.size:,})")], title, label)
    ax = fig.axes[0]
    bias, rmse = _finite(reference_bias), _finite(reference_rmse)
    if reference is None and bias is not None:
        ax.axvline(bias, color="tab:gray", linewidth=1.5,
                   label=f"reference mean error {_sig(bias)}")
        if rmse is not None:
            for side in (-1, 1):
                ax.axvline(bias + side * rmse, color="tab:gray", linestyle="--", linewidth=1,
                           label=(f"reference mean error \u00b1 RMSE {_sig(rmse)}"
                                  if side == 1 else None))
    if e.size:
        ax.axvline(float(e.mean()), color="tab:red", linewidth=1.5, linestyle=":",
                   label=f"current mean error {_sig(float(e.mean()))}")
    low, high = ax.get_ylim()
    ax.set_ylim(low, low + (high - low) * 1.45)  # headroom: the legend above the bins
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    return fig


def residuals_vs_predicted(predicted: np.ndarray, errors: np.ndarray, *,
                           reference_rmse: float | None = None,
                           title: str = "Errors by predicted value",
                           target: str = "target", groups: int = 20) -> Figure:
    """Each row's error against its prediction, zero and +/- the reference's RMSE as lines,
    and the mean error of every twentieth of the predictions (from every row): a model that
    has gone wrong for part of the range shows there."""
    p, e = _finite_pairs(predicted, errors)
    x_lo, x_hi = _span(p)
    y_lo, y_hi = _span(e)
    rmse = _finite(reference_rmse)
    if rmse is not None:
        y_lo, y_hi = min(y_lo, -1.2 * rmse), max(y_hi, 1.2 * rmse)
    fig = Figure(figsize=(6, 4.2))
    ax = _axes(fig, "")
    many = p.size > _SCATTER_POINTS  # a colour bar on the right
    _points(fig, ax, p, e, (x_lo, x_hi, y_lo, y_hi))
    ax.axhline(0.0, color="black", linewidth=1)
    if rmse is not None:  # lines, not a filled band: drawn over the cells, seen on them
        for side in (-1, 1):
            ax.axhline(side * rmse, color="tab:gray", linestyle="--", linewidth=1.2,
                       label=f"\u00b1 reference RMSE {_sig(rmse)}" if side == 1 else None)
    cuts = (np.unique(np.quantile(_sample(p), np.linspace(0, 1, groups + 1)))
            if p.size >= 2 * groups else np.array([]))
    if cuts.size >= 2:  # not for constant predictions
        where = np.clip(np.searchsorted(cuts, p, side="right") - 1, 0, cuts.size - 2)
        count = np.bincount(where, minlength=cuts.size - 1)
        total = np.bincount(where, weights=e, minlength=cuts.size - 1)
        used = count > 0
        centres = (cuts[:-1] + cuts[1:]) / 2
        ax.plot(centres[used], total[used] / count[used], color="tab:red", marker="o",
                markersize=3, linewidth=1.5, label="mean error per twentieth of predictions")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_title(title, y=1.0, pad=6)
    ax.set_xlabel(f"predicted {target}")
    ax.set_ylabel("error (predicted \u2212 actual)")
    if ax.get_legend_handles_labels()[0]:  # nothing to name without a reference RMSE
        ax.legend(loc="upper left", fontsize=8)
    _layout(fig, bottom=0.13, top=0.91)
    if many:
        fig.subplots_adjust(right=0.9)
    return fig


def confusion_matrix(classes: Sequence[str], counts: Sequence[Sequence[float]],
                     title: str = "Confusion matrix") -> Figure:
    """Counts (left) and recall (right: each row divided by its total, the share of a true
    class predicted as each class) with the class names on both axes, rows the actual class
    and columns the predicted one; each cell numbered when there are few classes."""
    names = [str(c) for c in classes]
    m = np.asarray(counts, dtype=np.float64).reshape(len(names), len(names))
    totals = m.sum(axis=1, keepdims=True)
    recall = np.divide(m, totals, out=np.zeros_like(m), where=totals > 0)
    k = len(names)
    longest = max((len(n) for n in names), default=1)
    width = min(14.0, 5.5 + 0.5 * k + 0.08 * longest)
    fig = Figure(figsize=(width, min(9.0, 3.8 + 0.3 * k)))
    panels = fig.subplots(1, 2, sharey=True)
    for ax, values, name, fmt, top in (
            (panels[0], m, "rows", "{:,.0f}", max(float(m.max()), 1.0)),
            (panels[1], recall, "share of the actual class", "{:.0%}", 1.0)):
        image = ax.imshow(values, cmap="Blues", vmin=0, vmax=top, aspect="auto")
        bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        bar.ax.tick_params(labelsize=7)
        bar.set_label(name, fontsize=8)
        ax.set_xticks(range(k), names, rotation=30 if k > 3 else 0,
                      ha="right" if k > 3 else "center", fontsize=8)
        ax.set_xlabel("predicted class")
        ax.set_title("counts" if values is m else "recall (row-normalised)", fontsize=10)
        if k <= _LABEL_CELLS:
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center",
                            fontsize=8 if k <= 8 else 6,
                            color="white" if values[i, j] > 0.6 * top else "black")
    panels[0].set_yticks(range(k), names, fontsize=8)
    panels[0].set_ylabel("actual class")
    panels[1].tick_params(labelleft=False)  # the same rows as on the left
    fig.suptitle(title)
    rotated = 0.06 * longest * 0.5 if k > 3 else 0.0  # inches the rotated names need
    fig.subplots_adjust(left=(0.55 + 0.065 * longest) / width, right=0.95,
                        bottom=min(0.4, (0.55 + rotated) / fig.get_figheight()), top=0.86,
                        wspace=0.3)
    return fig


def class_shares(classes: Sequence[str], current_predicted: Sequence[float], *,
                 reference_predicted: Sequence[float] | None = None,
                 current_actual: Sequence[float] | None = None,
                 reference_actual: Sequence[float] | None = None,
                 title: str = "Class shares: reference vs current") -> Figure:
    """Shares of rows per class, reference beside current: the predicted classes and, when
    the batch has labels, the actual classes (a second panel). Shares in ``classes`` order."""
    names = [str(c) for c in classes]
    panels = [("predicted class", reference_predicted, current_predicted)]
    if current_actual is not None:
        panels.append(("actual class", reference_actual, current_actual))
    fig = Figure(figsize=(6 if len(panels) == 1 else 10, 3.8))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    x = np.arange(len(names))
    top = 0.0
    for ax, (name, ref, cur) in zip(axes, panels, strict=True):
        series = [(s, label) for s, label in ((ref, "reference"), (cur, "current"))
                  if s is not None]
        width = 0.8 / len(series)
        for i, (shares, label) in enumerate(series):
            values = np.asarray(shares, dtype=np.float64)
            top = max(top, float(values.max()) if values.size else 0.0)
            ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width=width, alpha=0.75,
                   label=label, color="tab:blue" if label == "reference" else "tab:orange")
        ax.set_xticks(x, names, rotation=25 if len(names) > 4 else 0,
                      ha="right" if len(names) > 4 else "center", fontsize=8)
        ax.yaxis.set_major_locator(_locator(5))
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("share of rows")
        ax.legend(loc="upper right", fontsize=8)
    for ax in axes:
        ax.set_ylim(0, max(top * 1.3, 0.05))  # shared scale, headroom for the legend
    fig.suptitle(title)
    fig.subplots_adjust(left=0.1 if len(panels) == 1 else 0.07, right=0.97,
                        bottom=0.25 if len(names) > 4 else 0.14, top=0.84, wspace=0.25)
    return fig


def class_probability_drift(classes: Sequence[str], effect: Sequence[float],
                            pvalues: Sequence[float], drifted: Sequence[bool], *,
                            effect_name: str = "PSI",
                            title: str = "Drift of each class's probability") -> Figure:
    """One bar per class: the drift effect (PSI) of the model's probability for that class,
    reference vs current, red when the class's probability drifted, its p-value beside it."""
    names = [str(c) for c in classes]
    values = np.nan_to_num(np.asarray(effect, dtype=np.float64), nan=0.0)
    fig = Figure(figsize=(6, max(2.6, 1.2 + 0.35 * len(names))))
    ax = _axes(fig, title)
    y = np.arange(len(names))[::-1]
    colours = ["tab:red" if d else "tab:gray" for d in drifted]
    ax.barh(y, values, color=colours, alpha=0.8)
    ax.set_yticks(y, names, fontsize=8)
    right = max(float(values.max()) if values.size else 0.0, 0.1) * 1.45
    ax.set_xlim(0, right)
    for yi, v, p in zip(y, values, pvalues, strict=False):
        ax.text(v + right * 0.01, yi, f"p {p:.1e}" if np.isfinite(p) else "p n/a",
                va="center", fontsize=7)
    ax.set_xlabel(f"{effect_name} of the class probability (reference vs current)")
    ax.legend(handles=[Line2D([], [], color="tab:red", linewidth=6, label="drifted"),
                       Line2D([], [], color="tab:gray", linewidth=6, label="stable")],
              loc="lower right", fontsize=8)
    longest = max((len(n) for n in names), default=1)
    fig.subplots_adjust(left=min(0.4, 0.06 + 0.014 * longest), right=0.96, bottom=0.2,
                        top=0.88)
    return fig


#: Artifact names of the per-type figures (``plots/<name>`` in the run, inlined in the HTML).
PREDICTION_DISTRIBUTION = "prediction_distribution.png"
PREDICTED_VS_ACTUAL = "predicted_vs_actual.png"
RESIDUALS = "residuals.png"
RESIDUALS_VS_PREDICTED = "residuals_vs_predicted.png"
CLASS_SHARES = "class_shares.png"
CONFUSION_MATRIX = "confusion_matrix.png"
CLASS_PROBABILITY_DRIFT = "class_probability_drift.png"


def regression_figures(predicted: np.ndarray, actual: np.ndarray | None = None, *,
                       prediction_reference: NumericReference | None = None,
                       reference_rmse: float | None = None,
                       reference_bias: float | None = None,
                       target: str = "target") -> Iterator[tuple[str, Figure]]:
    """A regression batch's figures by artifact name, one at a time (render each before
    asking for the next: the distribution is drawn on the reused figure): the predictions'
    distribution against the reference's and, with labels, predicted vs actual and the
    errors (their distribution, and against the prediction)."""
    p = np.asarray(predicted, dtype=np.float64)
    if prediction_reference is not None:
        yield PREDICTION_DISTRIBUTION, numeric_distribution(
            prediction_reference, p, "Model predictions: reference vs current",
            xlabel=f"predicted {target}")
    if actual is None:
        return
    y = np.asarray(actual, dtype=np.float64)
    errors = p - y
    yield PREDICTED_VS_ACTUAL, predicted_vs_actual(y, p, reference_rmse=reference_rmse,
                                                   title=f"Predicted vs actual {target}",
                                                   target=target)
    yield RESIDUALS, residual_distribution(errors, reference_rmse=reference_rmse,
                                           reference_bias=reference_bias,
                                           title="Prediction errors (the reference's as lines)")
    yield RESIDUALS_VS_PREDICTED, residuals_vs_predicted(p, errors,
                                                         reference_rmse=reference_rmse,
                                                         target=target)


def class_counts(indices: np.ndarray, k: int) -> np.ndarray:
    """Rows per class index 0..k-1 (indices outside are not counted)."""
    idx = np.asarray(indices, dtype=np.int64)
    idx = idx[(idx >= 0) & (idx < k)]
    return np.bincount(idx, minlength=k)[:k]


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(np.float64)


def reference_class_shares(reference: object, classes: list[str]) -> list[float] | None:
    """A categorical reference's shares in ``classes`` order (its categories the class names
    or their indices as text); None when it is not one of the classes."""
    if not isinstance(reference, CategoricalReference):
        return None
    counts = dict(zip((str(k) for k in reference.categories),
                      np.asarray(reference.counts, dtype=float), strict=False))
    if not set(counts) & set(classes):  # categories as class indices
        counts = {classes[int(k)]: v for k, v in counts.items()
                  if k.isdigit() and int(k) < len(classes)}
    total = sum(counts.values())
    return [counts.get(k, 0.0) / total for k in classes] if total else None


def class_drift_rows(detail: object, classes: list[str]
                 ) -> list[tuple[str, float, float, bool]] | None:
    """The report's per-class probability drift (``report.output_drift_detail``) as (class,
    PSI, p-value, drifted) rows in ``classes`` order: each entry a drift verdict as a dict
    (``{"class": ..., "pvalue": ..., "effect_size": ..., "drifted": ...}``) or an object
    with those attributes (``feature`` naming the class)."""
    rows = []
    for entry in detail or ():  # type: ignore[attr-defined]
        get = entry.get if isinstance(entry, dict) else (
            lambda key, e=entry: getattr(e, key, None))
        name = next((str(v) for v in (get("class"), get("feature"), get("name"))
                     if v is not None), None)
        if name is None:
            continue
        pvalue = get("pvalue_adjusted")
        rows.append((name.removeprefix("__proba__"),
                     float(get("effect_size") or 0.0),
                     float(get("pvalue") if pvalue is None else pvalue),
                     bool(get("drifted"))))
    order = {c: i for i, c in enumerate(classes)}
    return sorted(rows, key=lambda r: order.get(r[0], len(order))) or None



def multiclass_figures(classes: Sequence[str], proba: np.ndarray,
                       actual: np.ndarray | None = None, *,
                       confusion: Sequence[Sequence[float]] | None = None,
                       reference_predicted: Sequence[float] | None = None,
                       reference_actual: Sequence[float] | None = None,
                       probability_drift: Sequence[tuple[str, float, float, bool]] | None = None,
                       ) -> Iterator[tuple[str, Figure]]:
    """A multiclass batch's figures by artifact name, one at a time: the predicted (and,
    with labels, actual) class shares against the reference's, the confusion matrix (given,
    else counted from ``actual`` and the argmax of ``proba``) and each class's probability
    drift (``probability_drift``: (class, effect, p-value, drifted) per class)."""
    k = len(classes)
    p = np.asarray(proba, dtype=np.float64).reshape(-1, k)
    predicted = np.argmax(p, axis=1) if p.size else np.array([], dtype=np.int64)
    y = None if actual is None else np.asarray(actual, dtype=np.int64)
    yield CLASS_SHARES, class_shares(
        classes, _shares(class_counts(predicted, k)), reference_predicted=reference_predicted,
        current_actual=None if y is None else _shares(class_counts(y, k)),
        reference_actual=reference_actual)
    if confusion is None and y is not None:
        confusion = (class_counts(y * k + predicted, k * k).reshape(k, k)).tolist()
    if confusion is not None:
        yield CONFUSION_MATRIX, confusion_matrix(classes, confusion)
    if probability_drift:
        names, effect, pvalues, drifted = zip(*probability_drift, strict=True)
        yield CLASS_PROBABILITY_DRIFT, class_probability_drift(names, effect, pvalues, drifted)
