"""Data-quality checks of a production batch against the reference: pure, no I/O.

Per column: missing share against the reference's, share of numeric values outside the
reference range, share of categories never seen in the reference; plus duplicate ids and
dtypes that do not match the model's schema. Missing *required* columns are not a quality
finding: the batch is refused before this runs (see :func:`pipelines.data.schema.check_columns`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.batch import PreparedBatch
from pipelines.monitoring.policy import QualityPolicy
from pipelines.stats import ReferenceProfile


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
    duplicate_ids: int = 0

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


def check_quality(batch: PreparedBatch, profile: ReferenceProfile,
                  policy: QualityPolicy) -> QualityReport:
    """Quality of a prepared ``batch`` against the reference ``profile``."""
    schema = batch.schema
    columns: list[ColumnQuality] = []
    issues: list[QualityIssue] = []
    for name in schema.numeric:
        ref = profile.numeric[name]
        dtype = batch.frame[name].dtype
        if not pd.api.types.is_numeric_dtype(dtype):
            issues.append(QualityIssue(name, "dtype", 1.0, 0.0, f"expected numeric, got {dtype}"))
        columns.append(_numeric_quality(name, batch.numeric[name], ref.min, ref.max,
                                        ref.missing_share))
    for name in schema.categorical:
        ref_c = profile.categorical[name]
        total = ref_c.n + ref_c.n_missing
        columns.append(_categorical_quality(name, batch.categorical[name], ref_c.categories,
                                            ref_c.n_missing / total if total else 0.0))
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
    duplicates = 0
    if schema.id_column and schema.id_column in batch.frame.columns:
        duplicates = int(batch.frame[schema.id_column].duplicated().sum())
        if duplicates:
            issues.append(QualityIssue(schema.id_column, "duplicate_ids", float(duplicates), 0.0,
                                       f"{duplicates} duplicated id(s)"))
    return QualityReport(n_rows=batch.n_rows, columns=tuple(columns), issues=tuple(issues),
                         duplicate_ids=duplicates)
