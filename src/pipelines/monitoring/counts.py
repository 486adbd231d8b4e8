"""A batch reduced to counts: the counts path of the chunked and Spark engines.

:class:`CountsProfile` is the reference as bins, built once per champion from its
:class:`~pipelines.monitoring.reference.ReferenceContext`: per numeric feature ``ks_bins``
reference-quantile edges (the PSI edges of the in-memory path among them) with the reference
counts per bin; per categorical feature the reference counts per category; the score bins
(reference quantiles, the decision threshold among the edges) and the calibration that
estimates performance without labels.

:func:`count_chunk` reduces any part of a batch (a Parquet row group, a CSV chunk, a Spark
partition) to a :class:`BatchCounts`; counts of the parts add up (``+``) in any order to the
counts of the whole batch, which :func:`pipelines.monitoring.engine.evaluate_counts` turns
into the same report the in-memory path writes. Pure, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.batch import PreparedBatch
from pipelines.errors import DataError
from pipelines.monitoring.reference import ReferenceContext
from pipelines.stats import CategoricalReference, NumericReference
from pipelines.stats.binned import coarse_groups, sorted_bin_counts
from pipelines.stats.classification import log_loss_terms
from pipelines.stats.drift import _count_categories
from pipelines.stats.estimation import Calibration
from pipelines.stats.profile import ColumnSource, _run_in_order

#: Reference-quantile bins per numeric column for the binned KS (bound about 1 / KS_BINS).
KS_BINS: int = 1000
#: Rows of the score counts: all rows, rows labelled 0, rows labelled 1 (per bin), and the
#: rows whose score equals the bin's left edge.
ALL, NEGATIVE, POSITIVE, ATOMS = 0, 1, 2, 3
#: Per-bin sums of the calibrated probability p: p, 1 - p, p (1 - p).
P_SUM, Q_SUM, PQ_SUM = 0, 1, 2
#: The trailing counters of a numeric column after its bins.
NAN, INF, BELOW, ABOVE = -4, -3, -2, -1


@dataclass(frozen=True, eq=False)
class BinnedColumn:
    """A numeric reference column as bins (see :mod:`pipelines.stats.binned`).

    ``edges``: reference quantiles at ``1/ks_bins, ..., (ks_bins-1)/ks_bins`` united with the
    ``psi_edges`` (and any extra edge, such as the decision threshold), de-duplicated;
    ``reference``: the reference's finite values per bin; ``groups``: the PSI bin of each bin;
    ``psi_reference``: the reference shares of the PSI bins and of missing values, as in memory.
    ``atoms``: per bin, the reference values equal to its left edge (exact KS at the edges).
    ``excess``: the reference means of ``(e_0 - x)^+`` and ``(x - e_last)^+``.
    The reference minimum and the next float above its maximum are edges too, so values out
    of the reference range are told apart exactly.
    """

    name: str
    edges: np.ndarray
    reference: np.ndarray
    atoms: np.ndarray
    psi_edges: np.ndarray
    psi_reference: np.ndarray
    groups: np.ndarray
    n_missing: int
    min: float
    max: float
    std: float
    excess: tuple[float, float]

    @classmethod
    def fit(cls, ref: NumericReference, ks_bins: int,
            extra_edges: tuple[float, ...] = ()) -> BinnedColumn:
        values = ref.sorted_values
        if values.size:
            quantiles = np.quantile(values, np.arange(1, ks_bins) / ks_bins)
            span = np.array([values[0], np.nextafter(values[-1], np.inf)])
        else:
            quantiles = span = np.empty(0)
        edges = np.unique(np.concatenate([quantiles, span, ref.bin_edges,
                                          np.asarray(extra_edges, dtype=np.float64)]))
        excess = (0.0, 0.0)
        if values.size and edges.size:
            excess = (float(np.mean(np.maximum(edges[0] - values, 0.0))),
                      float(np.mean(np.maximum(values - edges[-1], 0.0))))
        reference, atoms = sorted_bin_counts(edges, values)
        return cls(name=ref.name, edges=edges, reference=reference, atoms=atoms,
                   psi_edges=np.asarray(ref.bin_edges), psi_reference=ref.bin_proportions,
                   groups=coarse_groups(edges, np.asarray(ref.bin_edges)),
                   n_missing=ref.n_missing, min=ref.min, max=ref.max, std=ref.std,
                   excess=excess)

    @property
    def n_bins(self) -> int:
        return int(self.edges.size + 1)

    def count(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One chunk's counters: ints ``[per bin..., per bin equal to its left edge..., NaN,
        inf, below min, above max]`` and floats ``[sum (e_0 - x)^+, sum (x - e_last)^+]`` over
        the finite values."""
        finite_mask = np.isfinite(values)
        finite = np.sort(values if finite_mask.all() else values[finite_mask])
        n_nan = int(np.isnan(values).sum())
        k = self.n_bins
        ints = np.empty(2 * k + 4, dtype=np.int64)
        ints[:k], ints[k:2 * k] = sorted_bin_counts(self.edges, finite)
        ints[NAN] = n_nan
        ints[INF] = values.size - finite.size - n_nan
        ints[BELOW] = int(np.searchsorted(finite, self.min, side="left"))
        ints[ABOVE] = int(finite.size - np.searchsorted(finite, self.max, side="right"))
        floats = np.zeros(2)
        if self.edges.size and finite.size:
            lo, hi = self.edges[0], self.edges[-1]
            k_lo = int(np.searchsorted(finite, lo, side="left"))
            k_hi = int(np.searchsorted(finite, hi, side="right"))
            floats[0] = float(lo * k_lo - finite[:k_lo].sum())
            floats[1] = float(finite[k_hi:].sum() - hi * (finite.size - k_hi))
        return ints, floats


@dataclass(frozen=True)
class CountsProfile:
    """The champion's reference as bins and counts: what each partition needs to count."""

    numeric: dict[str, BinnedColumn]
    categorical: dict[str, CategoricalReference]
    score: BinnedColumn
    calibration: Calibration
    decision_threshold: float
    ks_bins: int

    @classmethod
    def from_context(cls, context: ReferenceContext, ks_bins: int = KS_BINS) -> CountsProfile:
        if ks_bins < 2:
            raise DataError(f"ks_bins must be at least 2, got {ks_bins}")
        return cls(
            numeric={name: BinnedColumn.fit(ref, ks_bins)
                     for name, ref in context.profile.numeric.items()},
            categorical=dict(context.profile.categorical),
            # scores live in [0, 1]: a uniform grid besides the reference quantiles keeps ties
            # inside a bin (ROC-AUC) small wherever the batch's scores fall
            score=BinnedColumn.fit(context.score_reference, ks_bins,
                                   (context.decision_threshold,
                                    *np.linspace(0.0, 1.0, ks_bins + 1).tolist())),
            calibration=context.calibration,
            decision_threshold=context.decision_threshold,
            ks_bins=ks_bins,
        )

    def empty(self) -> BatchCounts:
        """Counts of no rows (the neutral element of ``+``)."""
        k = self.score.n_bins
        return BatchCounts(
            n_rows=0, n_labelled=0,
            numeric={n: np.zeros(2 * c.n_bins + 4, dtype=np.int64)
                     for n, c in self.numeric.items()},
            excess={n: np.zeros(2) for n in self.numeric},
            categorical={n: {} for n in self.categorical},
            categorical_missing=dict.fromkeys(self.categorical, 0),
            scores=np.zeros((4, k), dtype=np.int64), probabilities=np.zeros((3, k)),
            label_sums=np.zeros(2), dtypes={})


@dataclass
class BatchCounts:
    """Everything the counts path knows of a batch, additive over its parts.

    ``numeric``/``excess``: per numeric feature, :meth:`BinnedColumn.count`'s counters;
    ``categorical``: per categorical feature, rows per category label, and missing rows apart;
    ``scores``: score histogram rows ``ALL``, ``NEGATIVE``, ``POSITIVE`` (labelled rows
    only) and ``ATOMS`` (scores equal to their bin's left edge);
    ``probabilities``: per score bin, sums of the calibrated p, 1 - p and p (1 - p);
    ``label_sums``: sums of the labelled rows' log loss and squared error;
    ``dtypes``: numeric features whose column did not arrive numeric, with the dtype seen.
    """

    n_rows: int
    n_labelled: int
    numeric: dict[str, np.ndarray]
    excess: dict[str, np.ndarray]
    categorical: dict[str, dict[str, int]]
    categorical_missing: dict[str, int]
    scores: np.ndarray
    probabilities: np.ndarray
    label_sums: np.ndarray
    dtypes: dict[str, str] = field(default_factory=dict)

    def __add__(self, other: BatchCounts) -> BatchCounts:
        if set(self.numeric) != set(other.numeric) or set(self.categorical) != set(
                other.categorical):
            raise DataError("cannot add counts of different profiles")
        categorical: dict[str, dict[str, int]] = {}
        for name, mine in self.categorical.items():
            merged = dict(mine)
            for label, count in other.categorical[name].items():
                merged[label] = merged.get(label, 0) + count
            categorical[name] = merged
        return BatchCounts(
            n_rows=self.n_rows + other.n_rows,
            n_labelled=self.n_labelled + other.n_labelled,
            numeric={n: a + other.numeric[n] for n, a in self.numeric.items()},
            excess={n: a + other.excess[n] for n, a in self.excess.items()},
            categorical=categorical,
            categorical_missing={n: m + other.categorical_missing[n]
                                 for n, m in self.categorical_missing.items()},
            scores=self.scores + other.scores,
            probabilities=self.probabilities + other.probabilities,
            label_sums=self.label_sums + other.label_sums,
            dtypes={**other.dtypes, **self.dtypes},
        )

    def to_json(self) -> str:
        """A JSON text (what a Spark partition sends to the driver); floats round-trip."""
        return json.dumps({
            "n_rows": self.n_rows, "n_labelled": self.n_labelled,
            "numeric": {n: a.tolist() for n, a in self.numeric.items()},
            "excess": {n: a.tolist() for n, a in self.excess.items()},
            "categorical": self.categorical, "categorical_missing": self.categorical_missing,
            "scores": self.scores.tolist(), "probabilities": self.probabilities.tolist(),
            "label_sums": self.label_sums.tolist(), "dtypes": self.dtypes,
        })

    @classmethod
    def from_json(cls, text: str) -> BatchCounts:
        d: dict[str, Any] = json.loads(text)
        return cls(
            n_rows=int(d["n_rows"]), n_labelled=int(d["n_labelled"]),
            numeric={n: np.asarray(a, dtype=np.int64) for n, a in d["numeric"].items()},
            excess={n: np.asarray(a, dtype=np.float64) for n, a in d["excess"].items()},
            categorical={n: {k: int(v) for k, v in c.items()}
                         for n, c in d["categorical"].items()},
            categorical_missing={n: int(m) for n, m in d["categorical_missing"].items()},
            scores=np.asarray(d["scores"], dtype=np.int64),
            probabilities=np.asarray(d["probabilities"], dtype=np.float64),
            label_sums=np.asarray(d["label_sums"], dtype=np.float64),
            dtypes=dict(d["dtypes"]),
        )

    def category_counts(self, name: str) -> tuple[list[str], np.ndarray, int]:
        """Sorted labels, their counts and the missing count of a categorical feature."""
        labels = sorted(self.categorical[name])
        counts = np.array([self.categorical[name][k] for k in labels], dtype=np.int64)
        return labels, counts, self.categorical_missing[name]


def count_features(profile: CountsProfile, columns: ColumnSource) -> BatchCounts:
    """The feature counts of ``columns`` (numeric features as float arrays, categorical ones
    as given), one column per task on two threads when the chunk is large (sorting and
    hashing release the GIL); scores not counted."""
    counts = profile.empty()
    numeric = {name: np.asarray(columns[name], dtype=np.float64) for name in profile.numeric}
    categorical = {name: columns[name] for name in profile.categorical}
    counts.n_rows = len(next(iter(numeric.values()))) if numeric else (
        len(next(iter(categorical.values()))) if categorical else 0)
    tasks: list[Callable[[], Any]] = [
        *(partial(profile.numeric[name].count, values) for name, values in numeric.items()),
        *(partial(_count_categories, values) for values in categorical.values()),
    ]
    results = _run_in_order(tasks, counts.n_rows * len(tasks))
    for name, (ints, floats) in zip(numeric, results[:len(numeric)], strict=True):
        counts.numeric[name], counts.excess[name] = ints, floats
    for name, (labels, values, missing) in zip(categorical, results[len(numeric):],
                                              strict=True):
        counts.categorical[name] = dict(zip(labels, values.tolist(), strict=True))
        counts.categorical_missing[name] = missing
    return counts


def count_chunk(profile: CountsProfile, prepared: PreparedBatch,
                scores: np.ndarray) -> BatchCounts:
    """The counts of one validated chunk and its scores (P(positive class) per row)."""
    counts = count_features(profile, prepared)
    for name in profile.numeric:
        dtype = prepared.frame[name].dtype
        if not pd.api.types.is_numeric_dtype(dtype):
            counts.dtypes[name] = str(dtype)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != (prepared.n_rows,) or not np.isfinite(s).all():
        raise DataError("scores must be one finite value per row")
    edges = profile.score.edges
    ordered = np.sort(s)
    counts.scores[ALL], counts.scores[ATOMS] = sorted_bin_counts(edges, ordered)
    # the calibration is monotone: the probabilities of the sorted scores are sorted alike
    p = profile.calibration.apply(ordered)
    starts = np.concatenate(([0], np.searchsorted(ordered, edges, side="left")))
    filled = counts.scores[ALL] > 0  # sums per bin by reduceat over the filled bins' starts
    for row, values in ((P_SUM, p), (Q_SUM, 1.0 - p), (PQ_SUM, p * (1.0 - p))):
        if s.size:
            counts.probabilities[row][filled] = np.add.reduceat(values, starts[filled])
    labels = prepared.labels
    if labels is not None:
        counts.n_labelled = prepared.n_rows
        positive = labels == 1
        counts.scores[POSITIVE] = sorted_bin_counts(edges, np.sort(s[positive]))[0]
        counts.scores[NEGATIVE] = counts.scores[ALL] - counts.scores[POSITIVE]
        counts.label_sums[0] = float(np.sum(log_loss_terms(labels, s)))
        counts.label_sums[1] = float(np.sum((s - labels) ** 2))
    return counts


def total(profile: CountsProfile, parts: Iterable[BatchCounts]) -> BatchCounts:
    """The sum of ``parts`` (any order gives the same counts)."""
    out = profile.empty()
    for part in parts:
        out = out + part
    return out
