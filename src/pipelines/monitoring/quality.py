"""Data-quality checks of a production batch against the reference: pure, no I/O.

Per column: missing share against the reference's, share of numeric values outside the
reference range, share of categories never seen in the reference; plus duplicate ids and
dtypes that do not match the model's schema. Missing *required* columns are not a quality
finding: the batch is refused before this runs (see :func:`pipelines.data.schema.check_columns`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.batch import PreparedBatch
from pipelines.monitoring.policy import QualityPolicy
from pipelines.stats import CategoricalReference, ReferenceProfile
from pipelines.stats.methods import CategoricalSample, NumericSample


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    missing_share: float
    reference_missing_share: float
    out_of_range_share: float | None = None
    unseen_category_share: float | None = None
    unseen_categories: tuple[str, ...] = ()
    infinite_share: float = 0.0


@dataclass(frozen=True)
class QualityIssue:
    column: str
    check: str  # missing_values | infinite_values | out_of_range | unseen_categories |
    #              duplicate_ids | dtype
    value: float
    threshold: float
    detail: str


@dataclass(frozen=True)
class QualityReport:
    n_rows: int
    columns: tuple[ColumnQuality, ...]
    issues: tuple[QualityIssue, ...] = field(default_factory=tuple)
    duplicate_ids: int | None = 0
    """None: not checked (the counts path sees no ids)."""

    @property
    def problem_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.column for i in self.issues))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "duplicate_ids": self.duplicate_ids,
            "problem_columns": list(self.problem_columns),
            "issues": [asdict(i) for i in self.issues],
            "columns": [asdict(c) for c in self.columns],
        }


def _numeric_quality(name: str, values: np.ndarray, ref_min: float, ref_max: float,
                     ref_missing: float) -> ColumnQuality:
    finite = np.isfinite(values)
    n = values.size
    infinite = float(np.isinf(values).sum() / n) if n else 0.0
    missing = float((~finite).mean()) - infinite if n else 0.0  # NaN only: inf is named apart
    if finite.any():
        v = values[finite]
        out = float(((v < ref_min) | (v > ref_max)).sum() / n)
    else:
        out = 0.0
    return ColumnQuality(name, missing, ref_missing, out_of_range_share=out,
                         infinite_share=infinite)


def _categorical_quality(name: str, values: pd.Series, known: tuple[str, ...],
                         ref_missing: float) -> ColumnQuality:
    n = len(values)
    present = values.dropna()
    missing = float(1 - len(present) / n) if n else 0.0
    counts = present.astype("string").value_counts()
    unseen = counts[~counts.index.isin(known)]
    share = float(unseen.sum() / n) if n else 0.0
    return ColumnQuality(name, missing, ref_missing, unseen_category_share=share,
                         unseen_categories=tuple(str(c) for c in unseen.index[:20]))


def _counted_numeric(name: str, n: int, n_nan: int, n_inf: int, n_out: int,
                     ref_missing: float) -> ColumnQuality:
    """A numeric column's quality from its NaN, infinite and out-of-range counts."""
    n = max(n, 1)
    return ColumnQuality(name, n_nan / n, ref_missing, out_of_range_share=n_out / n,
                         infinite_share=n_inf / n)


def _counted_categorical(name: str, n: int, per_label: Mapping[str, int], n_missing: int,
                         ref: CategoricalReference) -> ColumnQuality:
    """A categorical column's quality from its rows per category and its missing rows."""
    n = max(n, 1)
    known = set(ref.categories)
    unseen = sorted(((k, v) for k, v in per_label.items() if k not in known),
                    key=lambda kv: -kv[1])
    return ColumnQuality(name, n_missing / n, _missing_share(ref),
                         unseen_category_share=sum(v for _, v in unseen) / n,
                         unseen_categories=tuple(k for k, _ in unseen[:20]))


def _sorted_quality(name: str, values: np.ndarray, sample: NumericSample, ref_min: float,
                    ref_max: float, ref_missing: float) -> ColumnQuality:
    """:func:`_numeric_quality` from the drift's sorted finite values (no second pass)."""
    finite = sample.sorted_values
    n_inf = int(np.count_nonzero(np.isinf(values))) if sample.n_missing else 0
    out = (int(np.searchsorted(finite, ref_min, side="left"))
           + finite.size - int(np.searchsorted(finite, ref_max, side="right")))
    return _counted_numeric(name, values.size, sample.n_missing - n_inf, n_inf, out,
                            ref_missing)


def check_quality(batch: PreparedBatch, profile: ReferenceProfile,
                  policy: QualityPolicy,
                  samples: Mapping[str, NumericSample | CategoricalSample] | None = None
                  ) -> QualityReport:
    """Quality of a prepared ``batch`` against the reference ``profile``; ``samples``: the
    drift's prepared samples of the same batch, reused when given."""
    schema = batch.schema
    samples = samples or {}
    columns: list[ColumnQuality] = []
    dtypes: dict[str, str] = {}
    for name in schema.numeric:
        ref = profile.numeric[name]
        dtype = batch.frame[name].dtype
        if not pd.api.types.is_numeric_dtype(dtype):
            dtypes[name] = str(dtype)
        sample = samples.get(name)
        if isinstance(sample, NumericSample):
            columns.append(_sorted_quality(name, batch.numeric[name], sample, ref.min, ref.max,
                                           ref.missing_share))
        else:
            columns.append(_numeric_quality(name, batch.numeric[name], ref.min, ref.max,
                                            ref.missing_share))
    for name in schema.categorical:
        ref_c = profile.categorical[name]
        counted = samples.get(name)
        if isinstance(counted, CategoricalSample):
            per_label = dict(zip(counted.labels, counted.counts.tolist(), strict=True))
            columns.append(_counted_categorical(name, batch.n_rows, per_label,
                                                counted.n_missing, ref_c))
        else:
            columns.append(_categorical_quality(name, batch.categorical[name],
                                                ref_c.categories, _missing_share(ref_c)))
    duplicates = 0
    if schema.id_column and schema.id_column in batch.frame.columns:
        duplicates = int(batch.frame[schema.id_column].duplicated().sum())
    return judge_quality(batch.n_rows, columns, profile, policy, dtypes=dtypes,
                         duplicate_ids=duplicates, id_column=schema.id_column)


def _missing_share(ref: CategoricalReference) -> float:
    total = ref.n + ref.n_missing
    return ref.n_missing / total if total else 0.0


def quality_from_counts(n_rows: int, numeric: Mapping[str, tuple[int, int, int]],
                        categorical: Mapping[str, tuple[Mapping[str, int], int]],
                        dtypes: Mapping[str, str], profile: ReferenceProfile,
                        policy: QualityPolicy) -> QualityReport:
    """Quality from counts (the chunked and Spark engines): per numeric feature its NaN,
    infinite and out-of-range counts; per categorical feature its rows per category and its
    missing rows. Duplicate ids need every id at once: not checked here (``None``)."""
    columns = [
        *(_counted_numeric(name, n_rows, n_nan, n_inf, n_out,
                           profile.numeric[name].missing_share)
          for name, (n_nan, n_inf, n_out) in numeric.items()),
        *(_counted_categorical(name, n_rows, per_label, n_missing, profile.categorical[name])
          for name, (per_label, n_missing) in categorical.items()),
    ]
    return judge_quality(n_rows, columns, profile, policy, dtypes=dtypes, duplicate_ids=None)


def judge_quality(n_rows: int, columns: list[ColumnQuality], profile: ReferenceProfile,
                  policy: QualityPolicy, *, dtypes: Mapping[str, str],
                  duplicate_ids: int | None, id_column: str | None = None) -> QualityReport:
    """The quality issues of measured ``columns`` under ``policy``."""
    issues = [QualityIssue(name, "dtype", 1.0, 0.0, f"expected numeric, got {dtype}")
              for name, dtype in dtypes.items()]
    for c in columns:
        if c.infinite_share > 0:
            issues.append(QualityIssue(
                c.column, "infinite_values", c.infinite_share, 0.0,
                f"{c.infinite_share:.1%} of values are infinite (+inf or -inf), not numbers a "
                "model was trained on"))
        increase = c.missing_share - c.reference_missing_share
        if policy.missing_share_increase.breached(increase):
            issues.append(QualityIssue(
                c.column, "missing_values", c.missing_share,
                c.reference_missing_share + policy.missing_share_increase.limit,
                f"{c.missing_share:.1%} missing vs {c.reference_missing_share:.1%} in reference"))
        if c.out_of_range_share is not None and policy.out_of_range_share.breached(
                c.out_of_range_share):
            ref = profile.numeric[c.column]
            issues.append(QualityIssue(
                c.column, "out_of_range", c.out_of_range_share, policy.out_of_range_share.limit,
                f"{c.out_of_range_share:.1%} of values outside reference range "
                f"[{ref.min:g}, {ref.max:g}]"))
        if c.unseen_category_share is not None and policy.unseen_category_share.breached(
                c.unseen_category_share):
            issues.append(QualityIssue(
                c.column, "unseen_categories", c.unseen_category_share,
                policy.unseen_category_share.limit,
                f"{c.unseen_category_share:.1%} of rows hold categories never seen in reference: "
                + ", ".join(c.unseen_categories[:5])))
    if duplicate_ids and id_column:
        issues.append(QualityIssue(id_column, "duplicate_ids", float(duplicate_ids), 0.0,
                                   f"{duplicate_ids} duplicated id(s)"))
    return QualityReport(n_rows=n_rows, columns=tuple(columns), issues=tuple(issues),
                         duplicate_ids=duplicate_ids)
