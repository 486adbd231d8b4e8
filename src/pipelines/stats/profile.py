"""Whole-frame drift: a reference profile fitted once, saved as one .npz, compared per batch.

:func:`fit_reference_profile` summarises every monitored column of the reference data once
(see :mod:`pipelines.stats.drift`); :func:`compute_feature_drift` tests one batch against it,
adjusts the p-values across all features of the call and flags a feature as drifted when its
adjusted p-value is below ``DriftThresholds.p_value`` AND its effect size (PSI: over the
reference's quantile bins for numeric, over the categories for categorical features) reaches
the kind's floor, so that tiny but "significant" shifts in very large batches are not
reported. The effect sizes do not depend on the sample sizes, so a floor means the same shift
whether the batch is as large as the reference or a hundredth of it.

Columns may come from a ``Mapping[str, np.ndarray]`` or a pandas ``DataFrame`` (anything with
``source[name]``; pandas Series are read with ``to_numpy``). With many rows the per-column work
runs on two threads (numpy's sort/searchsorted release the GIL); results keep profile order.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar, Literal, Protocol, TypeVar

import numpy as np

from pipelines.constraints import (
    CORRECTIONS,
    NON_NEGATIVE,
    OPEN_UNIT,
    Constraint,
    Options,
    validate_object,
)
from pipelines.data.io import atomic_write
from pipelines.errors import ConfigError, DataError, SchemaError
from pipelines.stats.drift import (
    CategoricalReference,
    NumericReference,
    PValueCorrection,
    adjust_pvalues,
    fit_categorical_reference,
    fit_numeric_reference,
)
from pipelines.stats.methods import (
    KINDS,
    CategoricalSample,
    Kind,
    NumericSample,
    get_statistic,
    statistic_key,
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
    """When a feature counts as drifted, and which further statistics are reported.

    ``p_value``: level for the adjusted p-values. ``correction``: multiple-testing adjustment
    across the features of one call. ``min_psi`` and ``min_categorical_psi``: minimum PSI for
    numeric / categorical features. ``numeric_statistics`` / ``categorical_statistics``:
    further registered statistics (names or ``module:Class``, see
    :mod:`pipelines.stats.methods`) computed for every feature of that kind.
    """

    p_value: float = 0.05
    correction: PValueCorrection = "bh"
    min_psi: float = 0.1
    min_categorical_psi: float = 0.1
    numeric_statistics: tuple[str, ...] = ("wasserstein",)
    categorical_statistics: tuple[str, ...] = ("cramers_v",)

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "p_value": [OPEN_UNIT],
        "correction": [Options(CORRECTIONS)],
        "min_psi": [NON_NEGATIVE],
        "min_categorical_psi": [NON_NEGATIVE],
    }

    def __post_init__(self) -> None:
        validate_object(self, self._parameter_constraints)
        object.__setattr__(self, "numeric_statistics", tuple(self.numeric_statistics))
        object.__setattr__(self, "categorical_statistics", tuple(self.categorical_statistics))
        for kind in KINDS:  # unknown names fail here, not in the middle of a batch
            for ref in self.statistics(kind):
                get_statistic(kind, ref)

    def statistics(self, kind: Kind) -> tuple[str, ...]:
        """The extra statistics of ``kind``, verdict statistics excluded."""
        listed = self.numeric_statistics if kind == "numeric" else self.categorical_statistics
        return tuple(s for s in listed if s not in VERDICT_STATISTICS[kind])

    def effect_floor(self, kind: Kind) -> float:
        return self.min_psi if kind == "numeric" else self.min_categorical_psi


#: The (test, effect) statistics that make each kind's verdict.
VERDICT_STATISTICS: dict[Kind, tuple[str, str]] = {
    "numeric": ("ks", "psi"),
    "categorical": ("chi2", "psi"),
}


@dataclass(frozen=True)
class FeatureDrift:
    """Drift verdict of one feature for one batch.

    ``test`` is ``"ks"`` (numeric) or ``"chi2"`` (categorical); ``effect_size`` is the PSI
    (over bins or categories); ``statistics`` holds the further configured statistics by name
    (by default ``wasserstein``, the Wasserstein-1 distance over the reference std, for
    numeric features and ``cramers_v`` for categorical ones).
    ``n_reference`` / ``n_current`` count the observations entering the test: finite values
    for numeric features, all rows (missing is a category) for categorical ones.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    test: str
    statistic: float
    pvalue: float
    pvalue_adjusted: float
    effect_size: float
    effect_name: str
    drifted: bool
    n_reference: int
    n_current: int
    statistics: Mapping[str, float] = field(default_factory=dict)

    @property
    def wasserstein(self) -> float | None:
        return self.statistics.get("wasserstein")


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
    samples: dict[str, NumericSample | CategoricalSample] | None = None,
) -> list[FeatureDrift]:
    """Test every profiled feature of the batch ``current``; numeric first, in profile order.

    Numeric: two-sample KS test, effect size PSI, plus normalised Wasserstein. Categorical:
    chi-square test of homogeneity, effect size PSI over the categories, plus Cramér's V.
    P-values are adjusted across all features of this call with ``thresholds.correction``; a
    feature is drifted when ``pvalue_adjusted < thresholds.p_value`` and its effect size >=
    the kind's floor.
    ``samples``, when given, receives each feature's prepared sample (sorted finite values,
    category counts) for other checks of the same batch to reuse.
    """
    if thresholds is None:
        thresholds = DriftThresholds()
    numeric_data = {name: _numeric_column(current, name) for name in profile.numeric}
    categorical_data = {name: _categorical_column(current, name) for name in profile.categorical}
    n_rows = _common_length({**numeric_data, **categorical_data}, "current")
    if n_rows == 0 and (numeric_data or categorical_data):
        logger.warning("current batch has no rows: no feature can be tested for drift")
    tasks: list[Callable[[], tuple[FeatureDrift, NumericSample | CategoricalSample]]] = [
        *(partial(_numeric_drift, profile.numeric[name], values,
                  thresholds.statistics("numeric"))
          for name, values in numeric_data.items()),
        *(partial(_categorical_drift, profile.categorical[name], values,
                  thresholds.statistics("categorical"))
          for name, values in categorical_data.items()),
    ]
    results = _run_in_order(tasks, n_rows * len(tasks))
    if samples is not None:
        samples.update({drift.feature: sample for drift, sample in results})
    return _adjust([drift for drift, _ in results], thresholds)


def _feature_drift(kind: Kind, ref: Any, sample: Any, extra: Sequence[str],
                   n_reference: int) -> FeatureDrift:
    """Test, effect and extra statistics of one feature, before p-value adjustment."""
    test_name, effect_name = VERDICT_STATISTICS[kind]
    test = get_statistic(kind, test_name).compute(ref, sample)  # type: ignore[attr-defined]
    effect = get_statistic(kind, effect_name).compute(ref, sample)  # type: ignore[attr-defined]
    statistics = {statistic_key(name): get_statistic(kind, name).compute(  # type: ignore[attr-defined]
        ref, sample).value for name in extra}
    pvalue = 1.0 if test.pvalue is None else test.pvalue
    return FeatureDrift(
        feature=ref.name, kind=kind, test=test_name, statistic=test.value, pvalue=pvalue,
        pvalue_adjusted=pvalue, effect_size=effect.value, effect_name=effect_name,
        drifted=False, n_reference=n_reference, n_current=sample.n, statistics=statistics,
    )


def _numeric_drift(ref: NumericReference, values: np.ndarray,
                   extra: Sequence[str]) -> tuple[FeatureDrift, NumericSample]:
    sample = NumericSample.prepare(ref, values)
    return _feature_drift("numeric", ref, sample, extra, ref.n), sample


def _categorical_drift(ref: CategoricalReference, values: Any,
                       extra: Sequence[str]) -> tuple[FeatureDrift, CategoricalSample]:
    sample = CategoricalSample.prepare(values)
    return _feature_drift("categorical", ref, sample, extra, ref.n + ref.n_missing), sample


def _adjust(drifts: list[FeatureDrift], thresholds: DriftThresholds) -> list[FeatureDrift]:
    """Adjust the p-values across all features; drifted = adjusted p small AND effect >= floor."""
    if not drifts:
        return []
    adjusted = adjust_pvalues(np.array([d.pvalue for d in drifts]), thresholds.correction)
    return [
        replace(d, pvalue_adjusted=float(p),
                drifted=bool(p < thresholds.p_value
                              and d.effect_size >= thresholds.effect_floor(d.kind)))
        for d, p in zip(drifts, adjusted, strict=True)
    ]


# --------------------------------------------------------------------------- persistence


def save_profile(profile: ReferenceProfile, path: str | os.PathLike[str],
                 extra: Mapping[str, Any] | None = None) -> None:
    """Write the profile to one .npz file (no pickle), atomically, at exactly ``path``.

    Arrays are stored per feature index (``num{i}_*``, ``cat{i}_*``); names and scalars go in
    a JSON string ``metadata`` with ``format_version``, and ``extra`` (JSON-safe) beside them
    (read back by :func:`read_profile`).
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
                "numeric": numeric_meta, "categorical": categorical_meta,
                "extra": dict(extra or {})}
    arrays["metadata"] = np.array(json.dumps(metadata, allow_nan=False))

    def write(tmp: Any) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    target = atomic_write(path, write)
    logger.info("saved reference profile (%d features) to %s", len(numeric_meta) +
                len(categorical_meta), target)


def load_profile(path: str | os.PathLike[str]) -> ReferenceProfile:
    """Read a profile written by :func:`save_profile`.

    Raises DataError if the file is missing, unreadable or of another format version.
    """
    return read_profile(path)[0]


def read_profile(path: str | os.PathLike[str]) -> tuple[ReferenceProfile, dict[str, Any]]:
    """The profile written by :func:`save_profile` and the ``extra`` metadata saved with it."""
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
    profile = ReferenceProfile(
        numeric={ref.name: ref for ref in numeric},
        categorical={ref.name: ref for ref in categorical},
        n_rows=int(metadata["n_rows"]),
    )
    return profile, dict(metadata.get("extra") or {})
