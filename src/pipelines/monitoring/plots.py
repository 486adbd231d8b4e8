"""Figures a reviewer wants beside the numbers. Each function returns a matplotlib Figure."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no screen: render to files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pipelines.stats import CategoricalReference, NumericReference  # noqa: E402

_MAX_POINTS = 50_000  # histograms of a sample are indistinguishable and much cheaper


def _layout(fig: Figure, bottom: float = 0.14) -> None:
    """Fixed margins: tight_layout measures every text extent and cost more than drawing."""
    fig.subplots_adjust(left=0.12, right=0.97, bottom=bottom, top=0.9, hspace=0.3)


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


def _densities(edges: np.ndarray, series: list[tuple[np.ndarray, str]], title: str,
               xlabel: str, ylabel: str = "density") -> Figure:
    """Densities on common bins as filled step lines (far faster to draw than bar patches)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for density, label in series:
        ax.stairs(density, edges, fill=True, alpha=0.45, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    _layout(fig, bottom=0.17)
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
    cur_share = pd.Series(current).astype("string").fillna("<missing>").value_counts(normalize=True)
    return categorical_shares(ref, cur_share, title)


def categorical_shares(ref: CategoricalReference, cur_share: pd.Series, title: str) -> Figure:
    """Reference and current shares per category (``cur_share``: share by category label)."""
    ref_share = pd.Series(np.asarray(ref.counts, dtype=float), index=list(ref.categories))
    ref_share /= max(ref_share.sum(), 1.0)
    table = pd.DataFrame({"reference": ref_share, "current": cur_share}).fillna(0.0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    table.sort_values("reference", ascending=False).head(20).plot.bar(ax=ax, alpha=0.7, rot=25)
    ax.set_ylabel("share of rows")
    ax.set_title(title)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    _layout(fig, bottom=0.3)
    return fig


_STATUS_COLOURS = {"ok": "tab:green", "warning": "tab:orange", "critical": "tab:red"}


def timeline(history: pd.DataFrame, floor: float, share_limit: float) -> Figure:
    """ROC-AUC (realized and expected from the scores) and drifted-feature share per batch,
    with the floor and the share limit, each batch's status as the marker colour, retraining
    decisions as dotted lines and champion changes labelled (``history``: the columns of
    :func:`~pipelines.store.searches.monitoring_history`)."""
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
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
    a2.set_xlabel("batch (monitoring sequence); marker colour = status")
    for seq in history.loc[history.get("decision", pd.Series(dtype=str)).eq("retrain"),
                           "sequence"] if "decision" in history else []:
        for ax in (a1, a2):
            ax.axvline(seq, color="tab:purple", linestyle=":", alpha=0.8)
        a1.annotate("retrain", (seq, a1.get_ylim()[1]), fontsize=8, color="tab:purple",
                    ha="left", va="top")
    if "champion_version" in history and len(history) > 1:
        versions = history["champion_version"].astype(str).to_numpy()
        for i in range(1, len(versions)):
            if versions[i] != versions[i - 1] and versions[i]:
                a2.annotate(f"champion v{versions[i]}", (x[i], a2.get_ylim()[1]), fontsize=8,
                            ha="center", va="top")
    a1.xaxis.set_major_locator(MaxNLocator(integer=True))
    a1.legend(fontsize=8, loc="lower left")
    a2.legend(fontsize=8, loc="upper left")
    fig.suptitle("Performance and drift across batches")
    _layout(fig)
    return fig


def png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    """The figure rendered once as PNG (logged as an artifact and inlined in the HTML)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def close(fig: Figure) -> None:
    plt.close(fig)
