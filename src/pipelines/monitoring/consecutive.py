"""Consecutive drift: each batch against the previous monitored batch, beside the baseline.

Every batch leaves its feature counts behind (:class:`FeatureCounts`: per numeric feature the
counts on the champion's reference-quantile bins of the counts path, per categorical feature
the counts per category; a few hundred kilobytes, whatever the batch size), logged with its
run. The next batch's counts are compared with them by the counts path's own statistics (KS
from bins, PSI, chi-square and PSI over the categories, the same p-value correction and effect
floors: :func:`pipelines.monitoring.engine.feature_drift_from_counts` with the previous batch
as the reference). The in-memory engine counts its batch for this; the chunked and Spark
engines already have the counts.

Each feature then gets a label, and the batch the most telling of its features' labels:

* ``sudden``: drifted against the previous batch *and* against the baseline (a step change);
* ``gradual``: not drifted against the previous batch, drifted against the baseline, and its
  baseline PSI larger than the previous batch's (a slow drift that goes on);
* ``persistent``: drifted against the baseline as the previous batch was, no longer growing
  (the drift continues, nothing new);
* ``changed``: drifted against the previous batch but not against the baseline (a move back
  toward the reference, or a swing within it);
* ``stable``: neither.

Counts are comparable only on the same bins: when the champion (and so its reference) changed
since the previous batch, there is no consecutive comparison for that one batch, and the
report says so. Pure, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from pipelines.monitoring.counts import INF, NAN, BatchCounts, CountsProfile
from pipelines.monitoring.engine import feature_drift_from_counts
from pipelines.stats import CategoricalReference, FeatureDrift
from pipelines.stats.binned import aggregate
from pipelines.stats.profile import DriftThresholds

#: Feature labels from the most to the least telling (the batch takes its features' first).
LABELS: tuple[str, ...] = ("sudden", "gradual", "persistent", "changed", "stable")
FORMAT = "feature-counts/1"


def bins_fingerprint(profile: CountsProfile) -> str:
    """A digest of the bins the counts are on (numeric edges, categorical feature names)."""
    digest = hashlib.sha256()
    for name, column in sorted(profile.numeric.items()):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(column.edges, dtype=np.float64).tobytes())
    for name in sorted(profile.categorical):
        digest.update(name.encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class FeatureCounts:
    """What a batch keeps for the next one: its feature counts, on which bins, and its
    features' PSI against the baseline (to tell a growing drift from a steady one)."""

    fingerprint: str
    n_rows: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, dict[str, int]]
    categorical_missing: dict[str, int]
    baseline_psi: dict[str, float]
    batch_id: str = ""
    sequence: int = 0

    @classmethod
    def of(cls, counts: BatchCounts, profile: CountsProfile,
           baseline: Sequence[FeatureDrift], batch_id: str = "",
           sequence: int = 0) -> FeatureCounts:
        return cls(fingerprint=bins_fingerprint(profile), n_rows=counts.n_rows,
                   numeric={n: np.asarray(a, dtype=np.int64) for n, a in counts.numeric.items()},
                   categorical={n: dict(c) for n, c in counts.categorical.items()},
                   categorical_missing=dict(counts.categorical_missing),
                   baseline_psi={f.feature: float(f.effect_size) for f in baseline},
                   batch_id=batch_id, sequence=sequence)

    def to_json(self) -> str:
        return json.dumps({
            "format": FORMAT, "fingerprint": self.fingerprint, "n_rows": self.n_rows,
            "batch_id": self.batch_id, "sequence": self.sequence,
            "numeric": {n: a.tolist() for n, a in self.numeric.items()},
            "categorical": self.categorical, "categorical_missing": self.categorical_missing,
            "baseline_psi": self.baseline_psi}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FeatureCounts:
        d: dict[str, Any] = json.loads(text)
        return cls(fingerprint=str(d["fingerprint"]), n_rows=int(d["n_rows"]),
                   numeric={n: np.asarray(a, dtype=np.int64) for n, a in d["numeric"].items()},
                   categorical={n: {k: int(v) for k, v in c.items()}
                                for n, c in d["categorical"].items()},
                   categorical_missing={n: int(m) for n, m in d["categorical_missing"].items()},
                   baseline_psi={n: float(v) for n, v in d["baseline_psi"].items()},
                   batch_id=str(d.get("batch_id", "")), sequence=int(d.get("sequence", 0)))


@dataclass(frozen=True)
class ConsecutiveFeature:
    feature: str
    statistic: float
    pvalue_adjusted: float
    psi: float
    """PSI against the previous batch."""
    drifted: bool
    baseline_psi: float
    previous_baseline_psi: float | None
    label: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ConsecutiveDrift:
    """This batch against the previous one; ``computed`` False with the reason in ``note``."""

    computed: bool
    label: str = "stable"
    previous_batch_id: str = ""
    previous_sequence: int = 0
    features: tuple[ConsecutiveFeature, ...] = ()
    note: str = ""

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    def labelled(self, label: str) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.label == label)

    @property
    def drift_share(self) -> float:
        return len(self.drifted_features) / len(self.features) if self.features else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"computed": self.computed, "label": self.label,
                "previous_batch_id": self.previous_batch_id,
                "previous_sequence": self.previous_sequence, "note": self.note,
                "drift_share": self.drift_share,
                "drifted_features": list(self.drifted_features),
                **{label: list(self.labelled(label)) for label in LABELS[:4]},
                "features": [f.to_dict() for f in self.features]}

    def metrics(self) -> dict[str, float]:
        """Three ``consecutive/...`` metrics (none when not computed): every metric key is
        one more chart in MLflow's chart view; the rest is in the report."""
        if not self.computed:
            return {}
        return {"consecutive/drift_share": self.drift_share,
                "consecutive/n_sudden": float(len(self.labelled("sudden"))),
                "consecutive/n_gradual": float(len(self.labelled("gradual")))}


def not_computed(reason: str) -> ConsecutiveDrift:
    return ConsecutiveDrift(computed=False, note=reason)


def previous_as_reference(previous: FeatureCounts, profile: CountsProfile) -> CountsProfile:
    """``profile`` with the previous batch's counts in place of the reference's."""
    numeric = {}
    for name, column in profile.numeric.items():
        ints = previous.numeric[name]
        k = column.n_bins
        bins = ints[:k]
        missing = int(ints[NAN] + ints[INF])
        grouped = aggregate(bins, column.groups, column.psi_edges.size + 1)
        total = max(int(grouped.sum()) + missing, 1)
        shares = np.append(grouped.astype(np.float64), float(missing)) / total
        numeric[name] = replace(column, reference=bins, atoms=ints[k:2 * k],
                                psi_reference=shares, n_missing=missing)
    categorical = {}
    for name in profile.categorical:
        seen = previous.categorical.get(name, {})
        labels = sorted(seen)
        categorical[name] = CategoricalReference(
            name=name, categories=tuple(labels),
            counts=np.array([seen[k] for k in labels], dtype=np.int64),
            n_missing=previous.categorical_missing.get(name, 0))
    return replace(profile, numeric=numeric, categorical=categorical)


def feature_label(baseline: FeatureDrift, against_previous: FeatureDrift,
                  previous_baseline_psi: float | None) -> str:
    """The feature's label (module docstring)."""
    if against_previous.drifted:
        return "sudden" if baseline.drifted else "changed"
    if not baseline.drifted:
        return "stable"
    if previous_baseline_psi is not None and baseline.effect_size > previous_baseline_psi:
        return "gradual"
    return "persistent"


def consecutive_drift(previous: FeatureCounts | None, current: BatchCounts,
                      profile: CountsProfile, thresholds: DriftThresholds,
                      baseline: Sequence[FeatureDrift]) -> ConsecutiveDrift:
    """This batch's counts against the previous batch's, labelled with the baseline's
    verdicts (``baseline``: this batch's feature drift against the reference)."""
    if previous is None:
        return not_computed("first monitored batch: no previous batch to compare with")
    if previous.fingerprint != bins_fingerprint(profile):
        return not_computed(
            f"the previous batch ({previous.batch_id or 'unknown'}) was counted on another "
            "reference's bins (the champion changed since): compared again from the next batch")
    plain = replace(thresholds, numeric_statistics=(), categorical_statistics=())
    against = {f.feature: f for f in feature_drift_from_counts(
        previous_as_reference(previous, profile), current, plain)}
    features = []
    for base in baseline:
        other = against.get(base.feature)
        if other is None:
            continue
        before = previous.baseline_psi.get(base.feature)
        features.append(ConsecutiveFeature(
            feature=base.feature, statistic=float(other.statistic),
            pvalue_adjusted=float(other.pvalue_adjusted), psi=float(other.effect_size),
            drifted=bool(other.drifted), baseline_psi=float(base.effect_size),
            previous_baseline_psi=before, label=feature_label(base, other, before)))
    found = {f.label for f in features}
    label = next((x for x in LABELS if x in found), "stable")
    return ConsecutiveDrift(computed=True, label=label, previous_batch_id=previous.batch_id,
                            previous_sequence=previous.sequence, features=tuple(features),
                            note=f"against batch {previous.batch_id or '?'} "
                                 f"({previous.n_rows:,} rows), counted on the reference's bins")
