"""Feature-importance stability: a model's importances, and how a new model's compare.

A model's importances are recorded when it is registered (baseline or retraining candidate),
beside its reference: the estimator's own ``feature_importances_`` when it has them (random
forest, XGBoost), summed back onto the input features through a pipeline's preprocessing
(one-hot columns onto their categorical feature), else permutation importance on the
reference rows (the drop of the type's primary metric when one feature's values are shuffled,
seeded). Importances are normalised to sum to 1 so two models compare on one scale.

:func:`compare_importances` gives the Spearman rank correlation over the common features and
the top-k changes (features that entered or left the k most important), logged on each
retraining candidate's run and, on request, for a labelled batch (permutation importance on
the batch against the champion's). No MLflow, no files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.schema import FeatureSchema, target_array
from pipelines.problems import problem
from pipelines.stats.evaluation import performance_metrics

logger = logging.getLogger(__name__)

#: Rows used for permutation importance (a seeded sample beyond this).
PERMUTATION_MAX_ROWS = 5000


@dataclass(frozen=True)
class Importances:
    """Importance per input feature, normalised to sum 1 (all zero stays zero)."""

    method: str
    values: dict[str, float]
    metric: str = ""
    n_rows: int = 0

    def ranked(self) -> list[str]:
        """Features from the most to the least important (ties by name)."""
        return sorted(self.values, key=lambda f: (-self.values[f], f))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Importances:
        return cls(method=str(data["method"]),
                   values={str(k): float(v) for k, v in data["values"].items()},
                   metric=str(data.get("metric", "")), n_rows=int(data.get("n_rows", 0)))


def _normalised(values: Mapping[str, float]) -> dict[str, float]:
    clipped = {k: max(float(v), 0.0) for k, v in values.items()}
    total = sum(clipped.values())
    return {k: v / total if total > 0 else 0.0 for k, v in clipped.items()}


def _owner(name: str, features: Sequence[str]) -> str | None:
    """The input feature a transformed column comes from (``cat__contract_Monthly`` ->
    ``contract``): the longest feature name it equals or starts with plus ``_``."""
    bare = name.split("__", 1)[1] if "__" in name else name
    best = None
    for f in features:
        if (bare == f or bare.startswith(f"{f}_")) and (best is None or len(f) > len(best)):
            best = f
    return best


def native_importances(estimator: Any, features: Sequence[str]) -> dict[str, float] | None:
    """The estimator's own importances per input feature, or None when it has none."""
    final, names = estimator, None
    if hasattr(estimator, "steps"):  # a scikit-learn Pipeline: preprocessing, then the model
        final = estimator.steps[-1][1]
        try:
            names = [str(n) for n in estimator[:-1].get_feature_names_out()]
        except (AttributeError, ValueError, TypeError):
            return None
    raw = getattr(final, "feature_importances_", None)
    if raw is None:
        return None
    raw = np.asarray(raw, dtype=np.float64)
    if names is None:
        names = [str(n) for n in getattr(final, "feature_names_in_", features)]
    if len(names) != raw.size:
        return None
    out = dict.fromkeys(features, 0.0)
    for name, value in zip(names, raw, strict=True):
        owner = _owner(name, features)
        if owner is not None:
            out[owner] += float(value)
    return out


def permutation_importances(score: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame,
                            schema: FeatureSchema, *, seed: int = 0,
                            max_rows: int = PERMUTATION_MAX_ROWS) -> tuple[dict[str, float], str]:
    """The drop of the type's primary metric when each feature alone is shuffled (one
    seeded permutation per feature, on up to ``max_rows`` rows), and the metric's name."""
    kind = problem(schema.problem_type)
    metric = kind.primary_metric
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed)
    frame = frame.reset_index(drop=True)
    y = target_array(frame, schema, "importance rows")

    def value(rows: pd.DataFrame) -> float:
        return float(performance_metrics(schema.problem_type, y, score(rows),
                                         classes=schema.classes)[metric])

    base = value(frame)
    rng = np.random.default_rng(seed)
    out = {}
    for feature in schema.features:
        shuffled = frame.copy()
        shuffled[feature] = frame[feature].to_numpy()[rng.permutation(len(frame))]
        moved = value(shuffled)
        out[feature] = base - moved if kind.better(base + 1.0, base) else moved - base
    return out, metric


def model_importances(estimator: Any, score: Callable[[pd.DataFrame], np.ndarray],
                      reference: pd.DataFrame, schema: FeatureSchema, *,
                      seed: int = 0) -> Importances:
    """Native importances when the model has them, else permutation importance on the
    ``reference`` rows (which must hold the target)."""
    native = native_importances(estimator, schema.features)
    if native is not None:
        return Importances("native", _normalised(native), n_rows=0)
    values, metric = permutation_importances(score, reference, schema, seed=seed)
    return Importances("permutation", _normalised(values), metric,
                       min(len(reference), PERMUTATION_MAX_ROWS))


@dataclass(frozen=True)
class ImportanceComparison:
    """A new model's (or a batch's) importances against the champion's."""

    spearman: float
    top_k: int
    champion_top: tuple[str, ...]
    other_top: tuple[str, ...]
    entered: tuple[str, ...]
    left: tuple[str, ...]
    rank_changes: dict[str, int] = field(default_factory=dict)
    """Per feature of either top-k: champion rank minus the other's (positive: it rose)."""

    @property
    def top_k_overlap(self) -> float:
        return len(set(self.champion_top) & set(self.other_top)) / max(self.top_k, 1)

    def sentence(self) -> str:
        moved = ("; entered the top " + str(self.top_k) + ": " + ", ".join(self.entered)
                 if self.entered else "")
        gone = "; left it: " + ", ".join(self.left) if self.left else ""
        return (f"importance rank correlation {self.spearman:.2f} with the champion's, top "
                f"{self.top_k} overlap {self.top_k_overlap:.0%}{moved}{gone}")

    def metrics(self, prefix: str = "importance/") -> dict[str, float]:
        return {f"{prefix}spearman": self.spearman,
                f"{prefix}top_k_overlap": self.top_k_overlap}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "top_k_overlap": self.top_k_overlap,
                "sentence": self.sentence()}


def compare_importances(champion: Importances, other: Importances,
                        top_k: int = 5) -> ImportanceComparison:
    """Spearman rank correlation over the common features, and the top-k changes."""
    from scipy.stats import spearmanr

    common = [f for f in champion.values if f in other.values]
    a = np.array([champion.values[f] for f in common])
    b = np.array([other.values[f] for f in common])
    if len(common) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        rho = float("nan")
    else:
        rho = float(spearmanr(a, b).statistic)
    k = min(top_k, len(common))
    mine = [f for f in champion.ranked() if f in other.values][:k]
    theirs = [f for f in other.ranked() if f in champion.values][:k]
    rank_a = {f: i for i, f in enumerate(champion.ranked())}
    rank_b = {f: i for i, f in enumerate(other.ranked())}
    changes = {f: rank_a[f] - rank_b[f] for f in dict.fromkeys([*mine, *theirs])}
    return ImportanceComparison(
        spearman=rho, top_k=k, champion_top=tuple(mine), other_top=tuple(theirs),
        entered=tuple(f for f in theirs if f not in mine),
        left=tuple(f for f in mine if f not in theirs), rank_changes=changes)
