"""Whole-frame drift: a reference profile fitted once, saved as one .npz, compared per batch.

:func:`fit_reference_profile` summarises every monitored column of the reference data once
(see :mod:`pipelines.stats.drift`); :func:`compute_feature_drift` tests one batch against it,
adjusts the p-values across all features of the call and flags a feature as drifted when its
adjusted p-value is below ``DriftThresholds.p_value`` AND its effect size (PSI for numeric,
Cramér's V for categorical features) reaches the kind's floor, so that tiny but "significant"
shifts in very large batches are not reported.

Columns may come from a ``Mapping[str, np.ndarray]`` or a pandas ``DataFrame`` (anything with
``source[name]``; pandas Series are read with ``to_numpy``). With many rows the per-column work
runs on two threads (numpy's sort/searchsorted release the GIL); results keep profile order.
"""

from __future__ import annotations

import json
import logging
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from numbers import Real
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

from pipelines.errors import ConfigError, DataError, SchemaError
from pipelines.stats.drift import (
    PVALUE_CORRECTIONS,
    CategoricalReference,
    NumericReference,
    PValueCorrection,
    adjust_pvalues,
    chi2_test,
    compare_numeric,
    fit_categorical_reference,
    fit_numeric_reference,
)

logger = logging.getLogger(__name__)

#: Version of the .npz layout written by :func:`save_profile`.
PROFILE_FORMAT_VERSION: int = 1
#: Use the thread pool when rows x columns of a call exceed this.
PARALLEL_MIN_VALUES: int = 200_000
#: Worker threads for the per-column work.
N_WORKERS: int = 2

_T = TypeVar("_T")


class ColumnSource(Protocol):
    """Anything indexable by column name: a ``Mapping[str, np.ndarray]`` or a ``DataFrame``."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class ReferenceProfile:
    """Fitted reference summaries of the monitored columns, in monitoring order."""

    numeric: dict[str, NumericReference] = field(default_factory=dict)
    categorical: dict[str, CategoricalReference] = field(default_factory=dict)
    n_rows: int = 0


@dataclass(frozen=True)
class DriftThresholds:
    """When a feature counts as drifted.

    ``p_value``: level for the adjusted p-values, in (0, 1). ``correction``: multiple-testing
    adjustment across the features of one call. ``min_psi`` (>= 0) and ``min_cramers_v``
    (in [0, 1]): minimum effect size for numeric / categorical features.
    """

    p_value: float = 0.05
    correction: PValueCorrection = "bh"
    min_psi: float = 0.1
    min_cramers_v: float = 0.1

    def __post_init__(self) -> None:
        _require(_is_real(self.p_value) and 0.0 < self.p_value < 1.0,
                 "p_value", self.p_value, "a number strictly between 0 and 1")
        _require(self.correction in PVALUE_CORRECTIONS,
                 "correction", self.correction, f"one of {PVALUE_CORRECTIONS}")
        _require(_is_real(self.min_psi) and self.min_psi >= 0.0,
                 "min_psi", self.min_psi, "a finite number >= 0")
        _require(_is_real(self.min_cramers_v) and 0.0 <= self.min_cramers_v <= 1.0,
                 "min_cramers_v", self.min_cramers_v, "a number between 0 and 1")


def _is_real(value: object) -> bool:
    """A finite real number (bools excluded)."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _require(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"DriftThresholds.{name} must be {allowed}, got {value!r}")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict of one feature for one batch.

    ``test`` is ``"ks"`` (numeric) or ``"chi2"`` (categorical); ``effect_size`` is the PSI or
    Cramér's V; ``wasserstein`` is the Wasserstein-1 distance over the reference std (numeric
    only). ``n_reference`` / ``n_current`` count the observations entering the test: finite
    values for numeric features, all rows (missing is a category) for categorical ones.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2"]
    statistic: float
    pvalue: float
    pvalue_adjusted: float
    effect_size: float
    effect_name: Literal["psi", "cramers_v"]
    wasserstein: float | None
    drifted: bool
    n_reference: int
    n_current: int


# --------------------------------------------------------------------------- columns


def _raw_column(source: ColumnSource, name: str) -> Any:
    try:
        return source[name]
    except KeyError:
        raise SchemaError(f"column {name!r} is missing from the data") from None


def _numeric_column(source: ColumnSource, name: str) -> np.ndarray:
    """Column ``name`` as float64, missing values (None, pandas NA) as NaN."""
    column = _raw_column(source, name)
    try:
        if hasattr(column, "to_numpy"):
            return column.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"column {name!r} is declared numeric but is not: {exc}") from None


def _categorical_column(source: ColumnSource, name: str) -> Any:
    """Column ``name`` as given when it is a pandas Series (counted by hashing, without a
    conversion to Python objects), else as a numpy array."""
    column = _raw_column(source, name)
    if type(column).__name__ == "Series":
        return column
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


def _common_length(columns: dict[str, np.ndarray], what: str) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{what} columns have different lengths: {lengths}")
    return next(iter(lengths.values()), 0)


def _run_in_order(tasks: Sequence[Callable[[], _T]], n_values: int) -> list[_T]:
    """Run the tasks, on N_WORKERS threads when the call is large; results in task order."""
    if len(tasks) < 2 or n_values <= PARALLEL_MIN_VALUES:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=N_WORKERS, thread_name_prefix="drift") as pool:
        return list(pool.map(lambda task: task(), tasks))


# --------------------------------------------------------------------------- fit


def fit_reference_profile(
    columns: ColumnSource,
    numeric: Sequence[str],
    categorical: Sequence[str],
    n_bins: int = 10,
) -> ReferenceProfile:
    """Fit the reference summaries of the ``numeric`` and ``categorical`` columns once."""
    names = [*numeric, *categorical]
    if len(set(names)) < len(names):
        raise ConfigError(f"a column is listed twice in numeric={list(numeric)} / "
                          f"categorical={list(categorical)}")
    numeric_data = {name: _numeric_column(columns, name) for name in numeric}
    categorical_data = {name: _categorical_column(columns, name) for name in categorical}
    n_rows = _common_length({**numeric_data, **categorical_data}, "reference")
    tasks: list[Callable[[], NumericReference | CategoricalReference]] = [
        *(partial(fit_numeric_reference, name, values, n_bins)
          for name, values in numeric_data.items()),
        *(partial(fit_categorical_reference, name, values)
          for name, values in categorical_data.items()),
    ]
    fitted = _run_in_order(tasks, n_rows * len(tasks))
    profile = ReferenceProfile(
        numeric={r.name: r for r in fitted if isinstance(r, NumericReference)},
        categorical={r.name: r for r in fitted if isinstance(r, CategoricalReference)},
        n_rows=n_rows,
    )
    logger.info("fitted reference profile: %d rows, %d numeric, %d categorical columns",
                n_rows, len(numeric), len(categorical))
    return profile


# --------------------------------------------------------------------------- compare


def compute_feature_drift(
    profile: ReferenceProfile,
    current: ColumnSource,
    thresholds: DriftThresholds | None = None,
) -> list[FeatureDrift]:
    """Test every profiled feature of the batch ``current``; numeric first, in profile order.

    Numeric: two-sample KS test, effect size PSI, plus normalised Wasserstein. Categorical:
    chi-square test of homogeneity, effect size Cramér's V. P-values are adjusted across all
    features of this call with ``thresholds.correction``; a feature is drifted when
    ``pvalue_adjusted < thresholds.p_value`` and its effect size >= the kind's floor.
    """
    if thresholds is None:
        thresholds = DriftThresholds()
    numeric_data = {name: _numeric_column(current, name) for name in profile.numeric}
    categorical_data = {name: _categorical_column(current, name) for name in profile.categorical}
    n_rows = _common_length({**numeric_data, **categorical_data}, "current")
    if n_rows == 0 and (numeric_data or categorical_data):
        logger.warning("current batch has no rows: no feature can be tested for drift")
    tasks: list[Callable[[], FeatureDrift]] = [
        *(partial(_numeric_drift, profile.numeric[name], values)
          for name, values in numeric_data.items()),
        *(partial(_categorical_drift, profile.categorical[name], values)
          for name, values in categorical_data.items()),
    ]
    return _adjust(_run_in_order(tasks, n_rows * len(tasks)), thresholds)


def _numeric_drift(ref: NumericReference, values: np.ndarray) -> FeatureDrift:
    """KS / PSI / Wasserstein of one numeric feature, before p-value adjustment."""
    result = compare_numeric(ref, values)
    return FeatureDrift(
        feature=ref.name, kind="numeric", test="ks",
        statistic=result.ks.statistic, pvalue=result.ks.pvalue, pvalue_adjusted=result.ks.pvalue,
        effect_size=result.psi, effect_name="psi", wasserstein=result.wasserstein_normalised,
        drifted=False, n_reference=ref.n, n_current=result.n_current,
    )


def _categorical_drift(ref: CategoricalReference, values: np.ndarray) -> FeatureDrift:
    """Chi-square / Cramér's V of one categorical feature, before p-value adjustment."""
    result = chi2_test(ref, values)
    return FeatureDrift(
        feature=ref.name, kind="categorical", test="chi2",
        statistic=result.statistic, pvalue=result.pvalue, pvalue_adjusted=result.pvalue,
        effect_size=result.cramers_v, effect_name="cramers_v", wasserstein=None,
        drifted=False, n_reference=ref.n + ref.n_missing, n_current=len(values),
    )


def _adjust(drifts: list[FeatureDrift], thresholds: DriftThresholds) -> list[FeatureDrift]:
    """Adjust the p-values across all features; drifted = adjusted p small AND effect >= floor."""
    if not drifts:
        return []
    adjusted = adjust_pvalues(np.array([d.pvalue for d in drifts]), thresholds.correction)
    floors = {"numeric": thresholds.min_psi, "categorical": thresholds.min_cramers_v}
    return [
        replace(d, pvalue_adjusted=float(p),
                drifted=bool(p < thresholds.p_value and d.effect_size >= floors[d.kind]))
        for d, p in zip(drifts, adjusted, strict=True)
    ]


# --------------------------------------------------------------------------- persistence


def save_profile(profile: ReferenceProfile, path: str | os.PathLike[str]) -> None:
    """Write the profile to one .npz file (no pickle), atomically, at exactly ``path``.

    Arrays are stored per feature index (``num{i}_*``, ``cat{i}_*``); names and scalars go in
    a JSON string ``metadata`` with ``format_version``.
    """
    arrays: dict[str, np.ndarray] = {}
    numeric_meta: list[dict[str, Any]] = []
    for i, ref in enumerate(profile.numeric.values()):
        arrays[f"num{i}_sorted_values"] = np.asarray(ref.sorted_values)
        arrays[f"num{i}_bin_edges"] = np.asarray(ref.bin_edges)
        arrays[f"num{i}_bin_proportions"] = np.asarray(ref.bin_proportions)
        numeric_meta.append({"name": ref.name, "n_missing": ref.n_missing,
                             "min": ref.min, "max": ref.max, "std": ref.std})
    categorical_meta: list[dict[str, Any]] = []
    for i, cat in enumerate(profile.categorical.values()):
        arrays[f"cat{i}_categories"] = np.array(cat.categories, dtype=np.str_)
        arrays[f"cat{i}_counts"] = np.asarray(cat.counts)
        categorical_meta.append({"name": cat.name, "n_missing": cat.n_missing})
    metadata = {"format_version": PROFILE_FORMAT_VERSION, "n_rows": profile.n_rows,
                "numeric": numeric_meta, "categorical": categorical_meta}
    arrays["metadata"] = np.array(json.dumps(metadata, allow_nan=False))
    target = Path(path)
    unfinished = target.with_name(target.name + ".partial")
    try:
        with open(unfinished, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(unfinished, target)
    finally:
        unfinished.unlink(missing_ok=True)
    logger.info("saved reference profile (%d features) to %s", len(numeric_meta) +
                len(categorical_meta), target)


def load_profile(path: str | os.PathLike[str]) -> ReferenceProfile:
    """Read a profile written by :func:`save_profile`.

    Raises DataError if the file is missing, unreadable or of another format version.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            metadata = json.loads(str(data["metadata"]))
            version = metadata.get("format_version")
            if version != PROFILE_FORMAT_VERSION:
                raise DataError(f"reference profile {path} has format version {version!r}; "
                                f"this code reads version {PROFILE_FORMAT_VERSION}")
            numeric = [
                NumericReference(
                    name=meta["name"], sorted_values=data[f"num{i}_sorted_values"],
                    n_missing=meta["n_missing"], bin_edges=data[f"num{i}_bin_edges"],
                    bin_proportions=data[f"num{i}_bin_proportions"],
                    min=meta["min"], max=meta["max"], std=meta["std"],
                )
                for i, meta in enumerate(metadata["numeric"])
            ]
            categorical = [
                CategoricalReference(
                    name=meta["name"], categories=tuple(data[f"cat{i}_categories"].tolist()),
                    counts=data[f"cat{i}_counts"], n_missing=meta["n_missing"],
                )
                for i, meta in enumerate(metadata["categorical"])
            ]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read reference profile {path}: {exc!r}") from exc
    return ReferenceProfile(
        numeric={ref.name: ref for ref in numeric},
        categorical={ref.name: ref for ref in categorical},
        n_rows=int(metadata["n_rows"]),
    )
