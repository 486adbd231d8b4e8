"""Drift ranked by its impact on the model's output: how much of the prediction drift each
drifted feature explains. Pure (numpy, pandas), no I/O; the model comes in as a callable.

Method: **quantile mapping, one feature at a time.** On a fixed, seeded sample of the batch
(``max_rows`` rows: the cost does not grow with the batch), each drifted feature alone is
moved back to its reference distribution while every other column keeps the batch's values,
and the sample is scored again:

* numeric: each finite batch value is replaced by the reference value at the same quantile
  (its rank in the sample, ties broken at random with the seed, so a discrete feature gets
  the reference's values in the reference's shares); missing values stay missing;
* categorical: the column is drawn again from the reference's category shares (missing
  values included), with the seed.

The feature's **impact** is the mean model output as the batch has it minus the mean output
with that feature moved back: "drift in X moves the mean score by +0.07". Its unit follows the
problem type: binary P(class 1) (probability points); regression the prediction in standard
deviations of the reference's predictions; multiclass the total variation between the mean
class-probability vectors (0 to 1, unsigned). Its **share** is the impact over the whole
prediction drift of the sample (mean output of the batch minus that of the reference). Under
``harmless_below`` the drift is called harmless: the feature moved, the model's output did not.

Why not SHAP: the comparison of mean |SHAP| between reference and batch says how much the
model *uses* a feature on each side, not how much of the output's shift the feature's shift
causes; it needs the model's own explainer (TreeSHAP for XGBoost/RF, nothing exact for a
pipeline of other estimators) and costs about the number of trees x depth per row and
feature. Quantile mapping treats the model as a black box (any flavor, any problem type),
answers the question asked ("what if only this feature had not drifted"), and costs one
scoring of ``max_rows`` rows per drifted feature (measured in MONITORING.md, "Speed"). Its
limit: features moved one at a time ignore interactions between drifted features; the
ranking also reports ``joint_shift``, every drifted feature moved back at once, so the sum
of the single impacts can be compared with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.stats import CategoricalReference, FeatureDrift, NumericReference, ReferenceProfile
from pipelines.stats.drift import _labels

logger = logging.getLogger(__name__)

#: The unit of an impact, per problem type (what the report says).
UNITS: dict[str, str] = {
    "binary": "mean score (P(class 1))",
    "regression": "mean prediction, in standard deviations of the reference's predictions",
    "multiclass": "mean class probabilities (total variation)",
}
#: The output words of the sentences, per problem type.
_OUTPUT_WORDS = {"binary": "the mean score", "regression": "the mean prediction",
                 "multiclass": "the mean class probabilities"}

Scorer = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class FeatureImpact:
    """One drifted feature's impact (see the module): ``shift`` in the type's unit,
    ``share`` of the sample's prediction drift it explains (None when there is none)."""

    feature: str
    kind: str
    shift: float
    share: float | None
    harmless: bool
    psi: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImpactRanking:
    """The drifted features by impact, largest |shift| first; ``computed`` False (with the
    reason in ``note``) when the engine or the model cannot give it."""

    computed: bool
    problem_type: str = "binary"
    features: tuple[FeatureImpact, ...] = ()
    total_shift: float | None = None
    """The sample's prediction drift: its mean output minus the reference's (multiclass:
    total variation of the mean class probabilities), in the type's unit."""
    joint_shift: float | None = None
    """Every drifted feature moved back at once."""
    rows_scored: int = 0
    harmless_below: float = 0.0
    note: str = ""

    @property
    def unit(self) -> str:
        return UNITS.get(self.problem_type, UNITS["binary"])

    def by_feature(self) -> dict[str, FeatureImpact]:
        return {f.feature: f for f in self.features}

    def sentence(self, feature: str) -> str:
        """``drift in X moves the mean score by +0.070 (62% of the score drift)``, or ``...
        by 0.001 (harmless)``; empty for a feature not ranked."""
        f = self.by_feature().get(feature)
        if f is None:
            return ""
        return f"drift in {f.feature} moves {_OUTPUT_WORDS[self.problem_type]} by " \
               f"{format_shift(f.shift, self.problem_type)}{_suffix(f)}"

    def summary(self) -> str:
        """All ranked features in one line: ``drift in X moves ... +0.07; drift in Y by
        0.001 (harmless)``; the note when nothing was computed."""
        if not self.computed:
            return self.note
        if not self.features:
            return "no drifted feature to rank"
        first, *rest = self.features
        parts = [self.sentence(first.feature)]
        parts += [f"drift in {f.feature} by {format_shift(f.shift, self.problem_type)}"
                  f"{_suffix(f)}" for f in rest]
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"computed": self.computed, "problem_type": self.problem_type,
                "unit": self.unit, "rows_scored": self.rows_scored,
                "harmless_below": self.harmless_below, "total_shift": self.total_shift,
                "joint_shift": self.joint_shift, "note": self.note,
                "summary": self.summary(),
                "features": [f.to_dict() for f in self.features]}


def not_computed(reason: str, problem_type: str = "binary") -> ImpactRanking:
    """A ranking that says why there is none (counts engines, a model scored elsewhere)."""
    return ImpactRanking(computed=False, problem_type=problem_type, note=reason)


def format_shift(shift: float, problem_type: str) -> str:
    """``+0.070`` (binary), ``+0.31 sd`` (regression), ``0.070`` (multiclass: unsigned)."""
    if problem_type == "multiclass":
        return f"{shift:.3f}"
    if problem_type == "regression":
        return f"{shift:+.2f} sd"
    return f"{shift:+.3f}"


def _suffix(f: FeatureImpact) -> str:
    if f.harmless:
        return " (harmless)"
    if f.share is not None and np.isfinite(f.share):
        return f" ({f.share:.0%} of the prediction drift)"
    return ""


def reference_output_mean(problem_type: str, score_reference: NumericReference,
                          class_references: Sequence[NumericReference] = ()) -> np.ndarray:
    """The reference's mean output: P(class 1) or the prediction (one value), or the mean
    probability of each class (multiclass), from the fitted reference profiles."""
    if problem_type == "multiclass":
        return np.array([r.sorted_values.mean() if r.n else np.nan for r in class_references])
    values = score_reference.sorted_values
    return np.array([values.mean() if values.size else np.nan])


def _mean_output(outputs: np.ndarray) -> np.ndarray:
    out = np.asarray(outputs, dtype=np.float64)
    return out.mean(axis=0) if out.ndim == 2 else np.array([out.mean()])


def _shift(with_drift: np.ndarray, without: np.ndarray, problem_type: str,
           scale: float) -> float:
    """The output change the drift causes, in the type's unit."""
    if problem_type == "multiclass":
        return float(0.5 * np.abs(with_drift - without).sum())
    diff = float(with_drift[0] - without[0])
    return diff / scale if problem_type == "regression" else diff


def map_numeric(values: np.ndarray, reference_sorted: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """``values`` with each finite value replaced by the reference value at the same
    quantile (ties in ``values`` broken at random), missing values kept."""
    out = np.array(values, dtype=np.float64, copy=True)
    finite = np.isfinite(out)
    v = out[finite]
    if v.size == 0 or reference_sorted.size == 0:
        return out
    order = np.lexsort((rng.random(v.size), v))
    quantiles = (np.arange(v.size) + 0.5) / v.size
    index = np.minimum((quantiles * reference_sorted.size).astype(np.int64),
                       reference_sorted.size - 1)
    mapped = np.empty_like(v)
    mapped[order] = reference_sorted[index]
    out[finite] = mapped
    return out


def resample_categorical(column: pd.Series, reference: CategoricalReference,
                         rng: np.random.Generator) -> pd.Series:
    """``column`` drawn again from the reference's category shares (missing values at the
    reference's missing share), each label as the column's own value when the batch has it,
    else as a number for a numeric column, else as text."""
    counts = np.append(np.asarray(reference.counts, dtype=np.float64), reference.n_missing)
    if counts.sum() <= 0:
        return column
    drawn = rng.choice(counts.size, size=len(column), p=counts / counts.sum())
    present = column.dropna().unique()
    own = dict(zip(_labels(np.asarray(present)), present, strict=True)) if present.size else {}
    numeric = pd.api.types.is_numeric_dtype(column.dtype)

    def value(label: str) -> Any:
        if label in own:
            return own[label]
        return float(label) if numeric else label

    choices = [value(label) for label in reference.categories] + [np.nan]
    values = np.empty(len(column), dtype=object)
    for j, choice in enumerate(choices):
        values[drawn == j] = choice
    if numeric:
        return pd.Series(pd.to_numeric(values), index=column.index, name=column.name)
    return pd.Series(values, index=column.index, name=column.name, dtype=object)


def _moved_back(frame: pd.DataFrame, names: Sequence[str], profile: ReferenceProfile,
                seed: int) -> pd.DataFrame:
    """``frame`` with each of ``names`` moved back to its reference distribution."""
    out = frame.copy()
    for name in names:
        rng = np.random.default_rng([seed, _stable_hash(name)])  # each feature its own draw
        if name in profile.numeric:
            column = out[name]
            mapped = map_numeric(pd.to_numeric(column, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan), profile.numeric[name].sorted_values, rng)
            if pd.api.types.is_integer_dtype(column.dtype) and np.isfinite(mapped).all():
                out[name] = np.round(mapped).astype(column.dtype)
            else:
                out[name] = mapped
        elif name in profile.categorical:
            column = out[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                column = column.astype(object)
            out[name] = resample_categorical(column, profile.categorical[name], rng)
    return out


def _stable_hash(text: str) -> int:
    """A seed part from a name, the same in every process (``hash`` is salted)."""
    return int.from_bytes(text.encode("utf-8")[:16].ljust(16, b"\0"), "little") % (2**63)


def sample_rows(n_rows: int, max_rows: int, seed: int) -> np.ndarray | None:
    """The positions of the seeded sample of ``max_rows`` rows (None: every row)."""
    if n_rows <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False))


def rank_impact(
    frame: pd.DataFrame,
    drift: Sequence[FeatureDrift],
    profile: ReferenceProfile,
    score: Scorer,
    *,
    problem_type: str,
    reference_mean: np.ndarray,
    scale: float = 1.0,
    max_rows: int = 20_000,
    seed: int = 0,
    harmless_below: float = 0.005,
    joint: bool = True,
) -> ImpactRanking:
    """The drifted features of ``drift`` ranked by impact on ``score``'s output (see the
    module). ``frame``: the batch's rows (the model's input columns); ``reference_mean``:
    :func:`reference_output_mean`; ``scale``: regression, the reference predictions'
    standard deviation (the unit of the shifts)."""
    drifted = [f for f in drift if f.drifted]
    if not drifted:
        return ImpactRanking(computed=True, problem_type=problem_type,
                             harmless_below=harmless_below, note="no drifted feature")
    positions = sample_rows(len(frame), max_rows, seed)
    sample = frame if positions is None else frame.iloc[positions]
    sample = sample.reset_index(drop=True)
    if problem_type == "regression" and not (np.isfinite(scale) and scale > 0):
        scale = 1.0
    base = _mean_output(score(sample))
    if problem_type == "multiclass":
        total = float(0.5 * np.abs(base - reference_mean).sum())
    else:
        total = _shift(base, reference_mean, problem_type, scale)
    impacts = []
    for f in drifted:
        moved = _mean_output(score(_moved_back(sample, [f.feature], profile, seed)))
        shift = _shift(base, moved, problem_type, scale)
        share = shift / total if np.isfinite(total) and abs(total) > 1e-12 else None
        impacts.append(FeatureImpact(feature=f.feature, kind=f.kind, shift=shift, share=share,
                                     harmless=abs(shift) < harmless_below,
                                     psi=float(f.effect_size)))
    joint_shift = None
    if joint and len(drifted) > 1:
        moved = _mean_output(score(_moved_back(sample, [f.feature for f in drifted], profile,
                                               seed)))
        joint_shift = _shift(base, moved, problem_type, scale)
    elif drifted:
        joint_shift = impacts[0].shift
    impacts.sort(key=lambda i: (-abs(i.shift), i.feature))
    return ImpactRanking(computed=True, problem_type=problem_type, features=tuple(impacts),
                         total_shift=total if np.isfinite(total) else None,
                         joint_shift=joint_shift, rows_scored=len(sample),
                         harmless_below=harmless_below,
                         note=f"quantile mapping on {len(sample):,} of {len(frame):,} rows")
