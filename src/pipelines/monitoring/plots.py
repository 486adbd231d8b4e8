"""Figures a reviewer wants beside the numbers. Each function returns a matplotlib Figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no screen: render to files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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


def numeric_distribution(ref: NumericReference, current: np.ndarray, title: str) -> Figure:
    cur = np.asarray(current, dtype=np.float64)
    cur = _sample(cur[np.isfinite(cur)])
    refv = _sample(ref.sorted_values)
    both = np.concatenate([refv, cur]) if cur.size else refv
    lo, hi = (np.quantile(both, [0.005, 0.995]) if both.size else (0.0, 1.0))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, 41)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    # two step lines (histograms counted in numpy) draw far faster than 80 bar patches
    for values, label in ((refv, f"reference (n={ref.n:,})"), (cur, f"current (n={cur.size:,})")):
        density, _ = np.histogram(values, bins=edges, density=values.size > 0)
        ax.stairs(density, edges, fill=True, alpha=0.45, label=label)
    ax.set_title(title)
    ax.legend()
    _layout(fig)
    return fig


def categorical_distribution(ref: CategoricalReference, current: Sequence[object],
                             title: str) -> Figure:
    ref_share = pd.Series(np.asarray(ref.counts, dtype=float), index=list(ref.categories))
    ref_share /= max(ref_share.sum(), 1.0)
    cur_share = pd.Series(current).astype("string").fillna("<missing>").value_counts(normalize=True)
    table = pd.DataFrame({"reference": ref_share, "current": cur_share}).fillna(0.0)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    table.sort_values("reference", ascending=False).head(20).plot.bar(ax=ax, alpha=0.7, rot=25)
    ax.set_ylabel("share of rows")
    ax.set_title(title)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    _layout(fig, bottom=0.3)
    return fig


def timeline(history: pd.DataFrame, floor: float, share_limit: float) -> Figure:
    """ROC-AUC and drifted-feature share per batch (``history``: sequence, roc_auc, drift_share)."""
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    if "roc_auc" in history:
        a1.plot(history["sequence"], history["roc_auc"], marker="o")
    a1.axhline(floor, color="red", linestyle="--", label=f"floor {floor}")
    a1.set_ylabel("ROC-AUC")
    a1.legend()
    if "drift_share" in history:
        a2.plot(history["sequence"], history["drift_share"], marker="o", color="tab:orange")
    a2.axhline(share_limit, color="red", linestyle="--", label=f"limit {share_limit:.0%}")
    a2.set_ylabel("drifted-feature share")
    a2.set_xlabel("batch (monitoring sequence)")
    a2.legend()
    fig.suptitle("Performance and drift across batches")
    _layout(fig)
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)
