"""Drift statistics as classes registered by name and feature kind.

Every statistic reported per feature is one class here: it reads a fitted reference
(:class:`~pipelines.stats.drift.NumericReference` or
:class:`~pipelines.stats.drift.CategoricalReference`) and a batch column prepared once
(:class:`NumericSample`: sorted finite values merged with the reference; or
:class:`CategoricalSample`: category counts), and returns a :class:`StatisticResult`.

The verdict of a feature uses its kind's *test* (a p-value: ``ks`` / ``chi2``) and *effect*
(``psi`` for both kinds: over the reference's quantile bins / over the categories, with the
floors ``min_psi`` / ``min_categorical_psi``). Any further
statistic named in ``monitoring.numeric_statistics`` / ``monitoring.categorical_statistics`` is
computed, logged as ``drift/<feature>/<name>`` and shown in the report. Adding one is one class
plus one configuration entry::

    # my_package/drift.py
    class Hellinger(NumericStatistic):
        name = "hellinger"
        def compute(self, ref, sample):
            p, q = ref.bin_proportions, sample.bin_shares(ref)
            return StatisticResult(float(np.sqrt(0.5 * np.sum((np.sqrt(p) - np.sqrt(q)) ** 2))))

    # monitoring.toml
    numeric_statistics = ["wasserstein", "my_package.drift:Hellinger"]

A ``module:Class`` entry is imported on first use and registered under the class's ``name``;
:func:`register_statistic` registers a class directly (also usable as a decorator).
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from pipelines.errors import ConfigError
from pipelines.stats.drift import (
    CategoricalReference,
    ChiSquareResult,
    NumericReference,
    _bin_proportions,
    _chi2_from_counts,
    _count_categories,
    _finite_sorted,
    _ks,
    _psi,
    _wasserstein_normalised,
)

logger = logging.getLogger(__name__)

Kind = Literal["numeric", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "categorical")


@dataclass(frozen=True)
class StatisticResult:
    """A statistic's value, and its p-value when the statistic is a test."""

    value: float
    pvalue: float | None = None


@dataclass(frozen=True)
class NumericSample:
    """One batch column prepared once for every numeric statistic: its finite values sorted
    and the count of missing ones."""

    sorted_values: np.ndarray
    n_missing: int

    @classmethod
    def prepare(cls, ref: NumericReference, values: np.ndarray) -> NumericSample:
        cur_sorted, n_missing = _finite_sorted(values)
        return cls(cur_sorted, n_missing)

    @property
    def n(self) -> int:
        return int(self.sorted_values.size)

    def bin_shares(self, ref: NumericReference) -> np.ndarray:
        """Shares of the batch in the reference's quantile bins (+ missing bin), over all rows."""
        return _bin_proportions(self.sorted_values, self.n_missing, ref.bin_edges)


@dataclass(frozen=True)
class CategoricalSample:
    """One batch column counted once: sorted labels, their counts, the missing count."""

    labels: list[str]
    counts: np.ndarray
    n_missing: int
    _chi2: dict[int, ChiSquareResult] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def prepare(cls, values: object) -> CategoricalSample:
        labels, counts, n_missing = _count_categories(values)
        return cls(labels, counts, n_missing)

    def chi2(self, ref: CategoricalReference) -> ChiSquareResult:
        """The chi-square table against ``ref``, built once for every statistic that reads
        it (the test, PSI over categories, Cramér's V)."""
        if id(ref) not in self._chi2:
            self._chi2[id(ref)] = _chi2_from_counts(ref, self.labels, self.counts,
                                                    self.n_missing)
        return self._chi2[id(ref)]

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.n_missing


class DriftStatistic(ABC):
    """Base of every registered statistic: a ``name`` (metric key part) and a ``kind``."""

    name: ClassVar[str]
    kind: ClassVar[Kind]
    label: ClassVar[str] = ""
    """Human-readable name for reports (defaults to ``name``)."""


class NumericStatistic(DriftStatistic):
    kind: ClassVar[Kind] = "numeric"

    @abstractmethod
    def compute(self, ref: NumericReference, sample: NumericSample) -> StatisticResult: ...


class CategoricalStatistic(DriftStatistic):
    kind: ClassVar[Kind] = "categorical"

    @abstractmethod
    def compute(self, ref: CategoricalReference,
                sample: CategoricalSample) -> StatisticResult: ...


_REGISTRY: dict[tuple[Kind, str], DriftStatistic] = {}


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_statistic(cls: type[DriftStatistic]) -> type[DriftStatistic]:
    """Register ``cls`` under ``(cls.kind, cls.name)``; returns ``cls`` (a decorator)."""
    name = getattr(cls, "name", None)
    kind = getattr(cls, "kind", None)
    if not isinstance(name, str) or not name.replace("_", "").isalnum():
        raise ConfigError(f"Drift statistic {cls.__qualname__} needs a `name` of letters, digits "
                          f"and underscores (it becomes a metric key); got {name!r}.")
    if kind not in KINDS:
        raise ConfigError(f"Drift statistic {cls.__qualname__} must derive from NumericStatistic "
                          f"or CategoricalStatistic; its kind is {kind!r}.")
    existing = _REGISTRY.get((kind, name))
    if existing is not None and _path(type(existing)) != _path(cls):  # re-import: same path
        raise ConfigError(f"A {kind} drift statistic named {name!r} is already registered "
                          f"({_path(type(existing))}); choose another name.")
    _REGISTRY[(kind, name)] = cls()
    return cls


def statistic_names(kind: Kind) -> tuple[str, ...]:
    return tuple(sorted(name for k, name in _REGISTRY if k == kind))


def _import(path: str) -> type[DriftStatistic]:
    module_name, _, attr = path.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Drift statistic {path!r} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, DriftStatistic)):
        raise ConfigError(f"{path!r} is not a NumericStatistic or CategoricalStatistic class.")
    register_statistic(cls)
    return cls


def get_statistic(kind: Kind, ref: str) -> DriftStatistic:
    """The statistic registered as ``ref`` for ``kind``, or imported from ``module:Class``."""
    if ":" in ref:
        cls = _import(ref)
        if cls.kind != kind:
            raise ConfigError(f"Drift statistic {ref!r} is {cls.kind}, listed as {kind}.")
        return _REGISTRY[(kind, cls.name)]
    try:
        return _REGISTRY[(kind, ref)]
    except KeyError:
        raise ConfigError(
            f"Unknown {kind} drift statistic {ref!r}; registered: "
            f"{', '.join(statistic_names(kind))} (or give 'module:Class')."
        ) from None


def statistic_key(ref: str) -> str:
    """The metric name of a configured statistic (``module:Class`` -> the class's ``name``)."""
    if ":" in ref:
        return _import(ref).name
    return ref


# ----------------------------------------------------------------------------- built-ins


@register_statistic
class KolmogorovSmirnov(NumericStatistic):
    """Two-sample KS test (exact as scipy's ``ks_2samp``); the numeric features' test."""

    name = "ks"
    label = "KS"

    def compute(self, ref: NumericReference, sample: NumericSample) -> StatisticResult:
        res = _ks(ref, sample.sorted_values)
        return StatisticResult(res.statistic, res.pvalue)


@register_statistic
class PopulationStabilityIndex(NumericStatistic):
    """PSI on the reference's quantile bins; the numeric features' effect size."""

    name = "psi"
    label = "PSI"

    def compute(self, ref: NumericReference, sample: NumericSample) -> StatisticResult:
        return StatisticResult(_psi(ref, sample.sorted_values, sample.n_missing))


@register_statistic
class NormalisedWasserstein(NumericStatistic):
    """Wasserstein-1 distance over the reference standard deviation."""

    name = "wasserstein"
    label = "Wasserstein / std"

    def compute(self, ref: NumericReference, sample: NumericSample) -> StatisticResult:
        return StatisticResult(_wasserstein_normalised(ref, sample.sorted_values))


@register_statistic
class ChiSquare(CategoricalStatistic):
    """Chi-square test of homogeneity (rare categories pooled); the categorical test."""

    name = "chi2"
    label = "chi-square"

    def compute(self, ref: CategoricalReference, sample: CategoricalSample) -> StatisticResult:
        res = sample.chi2(ref)
        return StatisticResult(res.statistic, res.pvalue)


@register_statistic
class CategoricalPSI(CategoricalStatistic):
    """PSI over the chi-square table's columns (categories, rare ones pooled, unseen values,
    missing values); the categorical features' effect size, independent of the sample sizes."""

    name = "psi"
    label = "PSI"

    def compute(self, ref: CategoricalReference, sample: CategoricalSample) -> StatisticResult:
        return StatisticResult(sample.chi2(ref).psi)


@register_statistic
class CramersV(CategoricalStatistic):
    """Cramér's V of the chi-square table, for information: it shrinks as the reference
    outgrows the batch, so it makes no verdict."""

    name = "cramers_v"
    label = "Cramér's V"

    def compute(self, ref: CategoricalReference, sample: CategoricalSample) -> StatisticResult:
        return StatisticResult(sample.chi2(ref).cramers_v)
