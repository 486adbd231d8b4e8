"""The reference context: everything a batch is compared with, fitted once per model version.

Fitted when a model is registered (baseline or retraining candidate) from the reference rows
it was validated on, saved as one ``.npz`` (no pickle) beside the model, and loaded by every
monitoring cycle: monitoring never reads the raw reference rows.

It holds the feature profile (sorted values, quantile bins, category counts), the reference
scores' profile (prediction drift), the reference labels' counts (target drift), the baseline
metrics and the ROC-AUC the reference scores predict (concept drift), and the feature schema.

Per problem type (the schema's ``problem_type``; the model's outputs as
:mod:`pipelines.stats.evaluation` describes them):

* binary: as above (unchanged; contexts of format ``reference-context/1`` load as binary);
* regression: the predictions' numeric profile (``score_reference``: prediction drift by KS
  and PSI), the target's numeric profile (target drift), the baseline regression metrics and
  the direct-loss estimator (:class:`~pipelines.stats.loss_estimation.LossEstimator`, stored
  as JSON data in the metadata) fitted on the reference rows;
* multiclass: the predicted-class shares (``prediction_classes``: prediction drift by
  chi-square and PSI), each class's probability profile (``class_references``: per-class
  drift, reported), the largest class probability's profile (``score_reference``), the
  target's class shares, the baseline multiclass metrics and the class-probability
  calibration (Dirichlet by default).

``reference_estimated``: the label-free estimate computed on the reference rows themselves,
the other side of the concept-drift comparison (the same estimator on both sides).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pipelines.data.schema import SCORE_COLUMN, FeatureSchema, target_array
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
from pipelines.stats.drift import fit_numeric_reference
from pipelines.stats.estimation import Calibration, expected_auc_sorted, fit_calibration
from pipelines.stats.evaluation import performance_metrics
from pipelines.stats.loss_estimation import MIN_REFERENCE_ROWS, LossEstimator, fit_loss_estimator
from pipelines.stats.multiclass_estimation import (
    MulticlassCalibration,
    estimate_multiclass,
    fit_multiclass_calibration,
)

logger = logging.getLogger(__name__)

#: Name of the labels' entry in the saved profile (cannot clash with a feature: features are
#: user columns, this is reserved like ``__score__``).
TARGET_KEY = "__target__"
#: Multiclass: the predicted class's entry (categorical) and each class's probability
#: (numeric, ``__proba__<class index>``) in the saved profile.
PREDICTED_CLASS_KEY = "__predicted_class__"
PROBA_KEY = "__proba__{}"
#: Multiclass reference and batch frames: one column of probabilities per class,
#: ``__proba__<class>`` (regression keeps its prediction in ``__score__``).
PROBA_COLUMN_PREFIX = "__proba__"
CONTEXT_FORMAT = "reference-context/2"
#: Formats read as binary contexts (stored before problem types existed).
BINARY_FORMATS = ("reference-context/1",)


def check_outputs(outputs: np.ndarray, schema: FeatureSchema, source: str) -> np.ndarray:
    """The model's outputs as float64 of the shape the schema's type needs: 1-D (binary,
    regression) or (n, len(classes)) (multiclass); a :class:`DataError` otherwise."""
    out = np.asarray(outputs, dtype=np.float64)
    if schema.problem_type == "multiclass":
        k = len(schema.classes)
        if out.ndim != 2 or out.shape[1] != k:
            raise DataError(f"{source}: a multiclass model's outputs must be one probability "
                            f"column per class ({k}: {', '.join(schema.classes)}); got shape "
                            f"{out.shape}.")
        return out
    if out.ndim != 1:
        raise DataError(f"{source}: a {schema.problem_type} model's outputs must be one value "
                        f"per row; got shape {out.shape}.")
    return out


def output_columns(schema: FeatureSchema, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """The outputs as stored beside rows: ``__score__`` (binary score, regression
    prediction) or one ``__proba__<class>`` column per class (multiclass)."""
    out = np.asarray(outputs, dtype=np.float64)
    if schema.problem_type == "multiclass":
        return {f"{PROBA_COLUMN_PREFIX}{c}": out[:, j] for j, c in enumerate(schema.classes)}
    return {SCORE_COLUMN: out}


def outputs_from_frame(frame: pd.DataFrame, schema: FeatureSchema) -> np.ndarray:
    """The outputs stored by :func:`output_columns` read back from ``frame``."""
    if schema.problem_type == "multiclass":
        names = [f"{PROBA_COLUMN_PREFIX}{c}" for c in schema.classes]
        absent = [n for n in names if n not in frame.columns]
        if absent:
            raise DataError(f"the stored rows lack the class-probability column(s) "
                            f"{', '.join(absent)}")
        return frame[names].to_numpy(dtype=np.float64)
    return frame[SCORE_COLUMN].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class ReferenceContext:
    """What every batch is compared with: the fitted profile and the baseline performance."""

    schema: FeatureSchema
    profile: ReferenceProfile
    """Features only; scores and labels are kept apart below."""
    score_reference: NumericReference
    target_reference: CategoricalReference | NumericReference
    """The labels' counts (binary, multiclass: class labels as text) or the target's
    numeric profile (regression)."""
    baseline: dict[str, float]
    expected_auc: float
    decision_threshold: float = 0.5
    calibration: Calibration = field(default_factory=Calibration.identity)
    """Score -> probability on the reference, for estimating performance without labels
    (identity when calibrating did not help, or for contexts stored before it existed)."""
    prediction_classes: CategoricalReference | None = None
    """Multiclass: the reference's predicted-class counts."""
    class_references: tuple[NumericReference, ...] = ()
    """Multiclass: each class's probability profile, in ``schema.classes`` order."""
    multiclass_calibration: MulticlassCalibration | None = None
    loss_estimator: LossEstimator | None = None
    """Regression: the direct-loss estimator (None below its minimum of reference rows)."""
    reference_estimated: dict[str, float] = field(default_factory=dict)
    """Regression and multiclass: the label-free estimate on the reference rows."""

    @property
    def problem_type(self) -> str:
        return self.schema.problem_type

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray, *,
            n_bins: int, decision_threshold: float) -> ReferenceContext:
        """Fit from the reference rows (features and target) and the model's outputs on them
        (``scores``: P(class 1), the predictions or the class probabilities, by type)."""
        if schema.problem_type == "regression":
            return cls._fit_regression(frame, schema, scores, n_bins, decision_threshold)
        if schema.problem_type == "multiclass":
            return cls._fit_multiclass(frame, schema, scores, n_bins, decision_threshold)
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

    @classmethod
    def _fit_regression(cls, frame: pd.DataFrame, schema: FeatureSchema, outputs: np.ndarray,
                        n_bins: int, decision_threshold: float) -> ReferenceContext:
        pred = check_outputs(outputs, schema, "reference")
        if not np.isfinite(pred).all():
            raise DataError(f"reference: {int((~np.isfinite(pred)).sum())} prediction(s) are "
                            "not finite; a regression reference needs a number for every row.")
        y = target_array(frame, schema, "reference")
        profile = _feature_profile(frame, schema, pred, n_bins)
        estimator = None
        estimated: dict[str, float] = {}
        if y.size >= MIN_REFERENCE_ROWS:
            features = frame.loc[:, list(schema.features)].reset_index(drop=True)
            estimator = fit_loss_estimator(features, pred, y, schema)
            estimated = {k: e.value for k, e in estimator.estimate(features, pred).items()}
        else:
            logger.warning("reference of %d rows (< %d): no label-free RMSE estimate",
                           y.size, MIN_REFERENCE_ROWS)
        numeric = {k: v for k, v in profile.numeric.items() if k != SCORE_COLUMN}
        return cls(
            schema=schema, profile=replace(profile, numeric=numeric),
            score_reference=profile.numeric[SCORE_COLUMN],
            target_reference=fit_numeric_reference(schema.target, y, n_bins),
            baseline=performance_metrics("regression", y, pred),
            expected_auc=np.nan, decision_threshold=decision_threshold,
            loss_estimator=estimator, reference_estimated=estimated)

    @classmethod
    def _fit_multiclass(cls, frame: pd.DataFrame, schema: FeatureSchema, outputs: np.ndarray,
                        n_bins: int, decision_threshold: float) -> ReferenceContext:
        proba = check_outputs(outputs, schema, "reference")
        if not np.isfinite(proba).all():
            raise DataError("reference: class probabilities must be finite.")
        y = target_array(frame, schema, "reference")
        classes = np.asarray(schema.classes, dtype=object)
        profile = _feature_profile(frame, schema, proba.max(axis=1), n_bins)
        calibration = fit_multiclass_calibration(proba, y)
        numeric = {k: v for k, v in profile.numeric.items() if k != SCORE_COLUMN}
        return cls(
            schema=schema, profile=replace(profile, numeric=numeric),
            score_reference=profile.numeric[SCORE_COLUMN],
            target_reference=fit_categorical_reference(schema.target, classes[y]),
            baseline=performance_metrics("multiclass", y, proba, classes=schema.classes),
            expected_auc=np.nan, decision_threshold=decision_threshold,
            prediction_classes=fit_categorical_reference(
                PREDICTED_CLASS_KEY, classes[np.argmax(proba, axis=1)]),
            class_references=tuple(fit_numeric_reference(PROBA_KEY.format(j), proba[:, j], n_bins)
                                   for j in range(len(schema.classes))),
            multiclass_calibration=calibration,
            reference_estimated={k: e.value for k, e in
                                 estimate_multiclass(proba, calibration).items()})

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
        return cls.fit(frame, schema, outputs_from_frame(frame, schema), n_bins=n_bins,
                       decision_threshold=decision_threshold)

    def save(self, path: str | os.PathLike[str]) -> None:
        """One ``.npz``: the profile with scores, labels and (multiclass) the predicted
        classes and class probabilities; the rest, the estimators included, as metadata."""
        numeric: dict[str, NumericReference] = {
            **self.profile.numeric,
            SCORE_COLUMN: replace(self.score_reference, name=SCORE_COLUMN)}
        categorical: dict[str, CategoricalReference] = dict(self.profile.categorical)
        if isinstance(self.target_reference, NumericReference):
            numeric[TARGET_KEY] = replace(self.target_reference, name=TARGET_KEY)
        else:
            categorical[TARGET_KEY] = replace(self.target_reference, name=TARGET_KEY)
        if self.prediction_classes is not None:
            categorical[PREDICTED_CLASS_KEY] = self.prediction_classes
        for j, ref in enumerate(self.class_references):
            numeric[PROBA_KEY.format(j)] = replace(ref, name=PROBA_KEY.format(j))
        full = ReferenceProfile(numeric=numeric, categorical=categorical,
                                n_rows=self.profile.n_rows)
        extra: dict[str, Any] = {
            "format": CONTEXT_FORMAT, "problem_type": self.problem_type,
            "schema": self.schema.to_dict(),
            "baseline": _finite_or_none(self.baseline),
            "expected_auc": self.expected_auc if np.isfinite(self.expected_auc) else None,
            "decision_threshold": self.decision_threshold,
            "calibration": self.calibration.to_dict(),
            "reference_estimated": _finite_or_none(self.reference_estimated),
        }
        if self.multiclass_calibration is not None:
            extra["multiclass_calibration"] = self.multiclass_calibration.to_dict()
        if self.loss_estimator is not None:
            extra["loss_estimator"] = self.loss_estimator.to_dict()
        save_profile(full, path, extra=extra)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceContext:
        """A context written by :meth:`save` (``reference-context/1`` read as binary)."""
        profile, extra = read_profile(path)
        if extra.get("format") not in (CONTEXT_FORMAT, *BINARY_FORMATS):
            raise DataError(f"{path} is not a reference context ({CONTEXT_FORMAT}); "
                            f"its metadata says {extra.get('format')!r}.")
        numeric = dict(profile.numeric)
        categorical = dict(profile.categorical)
        schema = FeatureSchema.from_dict(extra["schema"])
        if extra.get("format") in BINARY_FORMATS and schema.problem_type != "binary":
            raise DataError(f"{path}: a {extra.get('format')} context holds a binary model; "
                            f"its schema says {schema.problem_type!r}.")
        target: NumericReference | CategoricalReference
        try:
            score = numeric.pop(SCORE_COLUMN)
            if schema.problem_type == "regression":
                target = replace(numeric.pop(TARGET_KEY), name=schema.target)
            else:
                target = replace(categorical.pop(TARGET_KEY), name=schema.target)
            predicted = (categorical.pop(PREDICTED_CLASS_KEY)
                         if schema.problem_type == "multiclass" else None)
            per_class = tuple(numeric.pop(PROBA_KEY.format(j))
                              for j in range(len(schema.classes))
                              if schema.problem_type == "multiclass")
        except KeyError as exc:
            raise DataError(f"reference context {path} lacks {exc.args[0]}") from None
        return cls(
            schema=schema,
            profile=ReferenceProfile(numeric=numeric, categorical=categorical,
                                     n_rows=profile.n_rows),
            score_reference=score,
            target_reference=target,
            baseline=_nan_for_none(extra["baseline"]),
            expected_auc=np.nan if extra["expected_auc"] is None else float(extra["expected_auc"]),
            decision_threshold=float(extra["decision_threshold"]),
            calibration=(Calibration.from_dict(extra["calibration"]) if "calibration" in extra
                         else Calibration.identity()),
            prediction_classes=predicted,
            class_references=per_class,
            multiclass_calibration=(
                MulticlassCalibration.from_dict(extra["multiclass_calibration"])
                if "multiclass_calibration" in extra else None),
            loss_estimator=(LossEstimator.from_dict(extra["loss_estimator"])
                            if "loss_estimator" in extra else None),
            reference_estimated=_nan_for_none(extra.get("reference_estimated", {})),
        )


def _feature_profile(frame: pd.DataFrame, schema: FeatureSchema, scores: np.ndarray,
                     n_bins: int) -> ReferenceProfile:
    """The features' profile with one numeric output column under ``__score__``."""
    columns: dict[str, Any] = {name: frame[name] for name in schema.features}
    columns[SCORE_COLUMN] = scores
    return fit_reference_profile(columns, [*schema.numeric, SCORE_COLUMN],
                                 list(schema.categorical), n_bins=n_bins)


def _finite_or_none(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if np.isfinite(v) else None) for k, v in values.items()}


def _nan_for_none(values: dict[str, Any]) -> dict[str, float]:
    return {k: (np.nan if v is None else float(v)) for k, v in values.items()}
