"""The reference context: everything a batch is compared with, fitted once per model version.

Fitted when a model is registered (baseline or retraining candidate) from the reference rows
it was validated on, saved as one ``.npz`` (no pickle) beside the model, and loaded by every
monitoring cycle: monitoring never reads the raw reference rows.

It holds the feature profile (sorted values, quantile bins, category counts), the reference
scores' profile (prediction drift), the reference labels' counts (target drift), the baseline
metrics and the ROC-AUC the reference scores predict (concept drift), and the feature schema.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.schema import SCORE_COLUMN, FeatureSchema
from pipelines.errors import DataError
from pipelines.monitoring.performance import expected_roc_auc
from pipelines.stats import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
    fit_categorical_reference,
    fit_reference_profile,
    read_profile,
    save_profile,
)
from pipelines.stats.classification import classification_metrics
from pipelines.stats.estimation import Calibration, expected_auc_sorted, fit_calibration

logger = logging.getLogger(__name__)

#: Name of the labels' entry in the saved profile (cannot clash with a feature: features are
#: user columns, this is reserved like ``__score__``).
TARGET_KEY = "__target__"
CONTEXT_FORMAT = "reference-context/1"


@dataclass(frozen=True)
class ReferenceContext:
    """What every batch is compared with: the fitted profile and the baseline performance."""

    schema: FeatureSchema
    profile: ReferenceProfile
    """Features only; scores and labels are kept apart below."""
    score_reference: NumericReference
    target_reference: CategoricalReference
    baseline: dict[str, float]
    expected_auc: float
    decision_threshold: float = 0.5
    calibration: Calibration = field(default_factory=Calibration.identity)
    """Score -> probability on the reference, for estimating performance without labels
    (identity when calibrating did not help, or for contexts stored before it existed)."""

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray, *,
            n_bins: int, decision_threshold: float) -> ReferenceContext:
        """Fit from the reference rows (features and target) and the model's scores on them."""
        scores = np.asarray(scores, dtype=np.float64)
        labels = frame[schema.target].to_numpy().astype(np.int8)
        columns: dict[str, Any] = {name: frame[name] for name in schema.features}
        columns[SCORE_COLUMN] = scores
        profile = fit_reference_profile(columns, [*schema.numeric, SCORE_COLUMN],
                                        list(schema.categorical), n_bins=n_bins)
        return cls._assemble(schema, profile, labels, scores, decision_threshold)

    @classmethod
    def _assemble(cls, schema: FeatureSchema, profile: ReferenceProfile, labels: np.ndarray,
                  scores: np.ndarray, decision_threshold: float) -> ReferenceContext:
        numeric = {k: v for k, v in profile.numeric.items() if k != SCORE_COLUMN}
        return cls(
            schema=schema,
            profile=replace(profile, numeric=numeric),
            score_reference=profile.numeric[SCORE_COLUMN],
            target_reference=fit_categorical_reference(
                schema.target, np.asarray(labels).astype(int).astype(str)),
            baseline=classification_metrics(labels, scores, decision_threshold),
            expected_auc=expected_roc_auc(scores),
            decision_threshold=decision_threshold,
            calibration=fit_calibration(scores, labels),
        )

    @cached_property
    def calibrated_expected_auc(self) -> float:
        """The reference's ROC-AUC as the label-free estimator sees it (its own scores,
        calibrated): the other side of the concept-drift comparison."""
        if not self.calibration.kept:
            return self.expected_auc
        scores = self.score_reference.sorted_values
        return expected_auc_sorted(scores, self.calibration.apply(scores))

    @classmethod
    def from_reference_frame(cls, frame: pd.DataFrame, schema: FeatureSchema, *, n_bins: int,
                             decision_threshold: float) -> ReferenceContext:
        """From a stored reference set (features, target and ``__score__``): for model
        versions registered before contexts were stored."""
        return cls.fit(frame, schema, frame[SCORE_COLUMN].to_numpy(), n_bins=n_bins,
                       decision_threshold=decision_threshold)

    def save(self, path: str | os.PathLike[str]) -> None:
        """One ``.npz``: the profile with scores and labels, the rest as metadata."""
        full = ReferenceProfile(
            numeric={**self.profile.numeric,
                     SCORE_COLUMN: replace(self.score_reference, name=SCORE_COLUMN)},
            categorical={**self.profile.categorical,
                         TARGET_KEY: replace(self.target_reference, name=TARGET_KEY)},
            n_rows=self.profile.n_rows,
        )
        save_profile(full, path, extra={
            "format": CONTEXT_FORMAT, "schema": self.schema.to_dict(),
            "baseline": {k: (v if np.isfinite(v) else None) for k, v in self.baseline.items()},
            "expected_auc": self.expected_auc if np.isfinite(self.expected_auc) else None,
            "decision_threshold": self.decision_threshold,
            "calibration": self.calibration.to_dict(),
        })

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceContext:
        profile, extra = read_profile(path)
        if extra.get("format") != CONTEXT_FORMAT:
            raise DataError(f"{path} is not a reference context ({CONTEXT_FORMAT}); "
                            f"its metadata says {extra.get('format')!r}.")
        numeric = dict(profile.numeric)
        categorical = dict(profile.categorical)
        try:
            score = numeric.pop(SCORE_COLUMN)
            target = categorical.pop(TARGET_KEY)
        except KeyError as exc:
            raise DataError(f"reference context {path} lacks {exc.args[0]}") from None
        schema = FeatureSchema.from_dict(extra["schema"])
        return cls(
            schema=schema,
            profile=ReferenceProfile(numeric=numeric, categorical=categorical,
                                     n_rows=profile.n_rows),
            score_reference=score,
            target_reference=replace(target, name=schema.target),
            baseline={k: (np.nan if v is None else float(v)) for k, v in extra["baseline"].items()},
            expected_auc=np.nan if extra["expected_auc"] is None else float(extra["expected_auc"]),
            decision_threshold=float(extra["decision_threshold"]),
            calibration=(Calibration.from_dict(extra["calibration"]) if "calibration" in extra
                         else Calibration.identity()),
        )
