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
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

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


def timeline(history: pd.DataFrame, floor: float, share_limit: float) -> Figure:
    """ROC-AUC (realized and expected from the scores) and drifted-feature share per batch,
    with the floor and the share limit, each batch's status as the marker colour (the legend
    under the plot says which), retraining decisions as dotted lines at their batch and
    champion changes as dash-dot lines half-way to the first batch the new champion scored,
    each labelled inside the plot's headroom beside its line (``history``: the columns of
    :func:`~pipelines.store.searches.monitoring_history`)."""
    fig = Figure(figsize=(8, 6.2))
    a1, a2 = fig.subplots(2, 1, sharex=True)
    x = history["sequence"].to_numpy() if "sequence" in history else np.array([])
    colours = [_STATUS_COLOURS.get(s, "tab:gray") for s in history.get("status", [])] or None
    if "roc_auc" in history:
        a1.plot(x, history["roc_auc"], color="tab:blue", zorder=1, label="ROC-AUC (labels)")
        a1.scatter(x, history["roc_auc"], c=colours, zorder=2, s=36)
    if "expected_roc_auc" in history and history["expected_roc_auc"].notna().any():
        a1.plot(x, history["expected_roc_auc"], color="tab:gray", linestyle=":", marker=".",
                label="expected from the scores")
    a1.axhline(floor, color="red", linestyle="--", label=f"floor {floor}")
    a1.set_ylabel("ROC-AUC")
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
    a1.legend(fontsize=8, loc="lower left")
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
