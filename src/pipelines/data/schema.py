"""The feature schema a model was trained on, and the checks that hold a frame to it.

The schema (target, numeric and categorical features, the categories seen in training, id and
timestamp columns) is stored with every logged model, so scoring and monitoring read it back
instead of guessing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import DataSettings
from pipelines.errors import DataError, SchemaError

logger = logging.getLogger(__name__)

#: Column names that are a model's outputs, never its inputs (excluded from inferred features).
_PREDICTION_LIKE = re.compile(
    r"^(y_?(pred|hat)\w*|preds?|prediction\w*|predicted\w*|scores?|proba(bility)?)$"
    r"|_(pred|preds|prediction|predicted|proba)$", re.IGNORECASE)

#: Column names of identifiers and of times: never inferred as features (listed ones are).
_ID_LIKE = re.compile(r"(^|[_\W])(id|uuid|guid|key|pk)$|^(id|uuid|guid)([_\W]|$)",
                      re.IGNORECASE)
_TIME_LIKE = re.compile(
    r"(^|[_\W])(timestamp|time|date|datetime|ts)$|^(timestamp|date|datetime)([_\W]|$)|_at$",
    re.IGNORECASE)
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID|Key)$")
_CAMEL_TIME = re.compile(r"[a-z0-9](Timestamp|Time|Date|At)$")
#: Integer columns named like codes are categorical whatever their number of values.
_CODE_LIKE = re.compile(r"(^|[_\W])(code|codes|cat|category|class|type|kind|group)$",
                        re.IGNORECASE)
_CAMEL_CODE = re.compile(r"[a-z0-9](Code|Category|Class|Type|Kind|Group)$")

MISSING_CATEGORY = "__missing__"
#: Column of model scores (P(class 1)) in the stored reference set.
SCORE_COLUMN = "__score__"


@dataclass(frozen=True)
class FeatureSchema:
    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    id_column: str | None = None
    timestamp_column: str | None = None
    problem_type: str = "binary"
    """``binary``, ``multiclass`` or ``regression`` (:mod:`pipelines.problems`)."""
    classes: tuple[str, ...] = ()
    """Multiclass: the class labels seen in training, as text, in the order of the model's
    probability columns (sorted); empty for the other types."""

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "id_column": self.id_column,
            "timestamp_column": self.timestamp_column,
            "problem_type": self.problem_type,
            "classes": list(self.classes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        return cls(
            target=data["target"],
            numeric=tuple(data["numeric"]),
            categorical=tuple(data["categorical"]),
            categories={k: tuple(v) for k, v in data.get("categories", {}).items()},
            id_column=data.get("id_column"),
            timestamp_column=data.get("timestamp_column"),
            problem_type=data.get("problem_type") or "binary",
            classes=tuple(str(c) for c in data.get("classes") or ()),
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        return cls.from_dict(json.loads(text))


def _missing(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in frame.columns]


def not_a_feature(name: str, series: pd.Series) -> str | None:
    """Why a column is never an inferred feature (named like an id or a timestamp, or holding
    dates and times), or None."""
    text = str(name)
    if pd.api.types.is_datetime64_any_dtype(series) or isinstance(series.dtype,
                                                                   pd.PeriodDtype):
        return f"date-time values ({series.dtype})"
    if _ID_LIKE.search(text) or _CAMEL_ID.search(text):
        return "named like an id"
    if _TIME_LIKE.search(text) or _CAMEL_TIME.search(text):
        return "named like a timestamp"
    return None


def column_kind(name: str, series: pd.Series, max_integers: int) -> tuple[str, str]:
    """How an unlisted feature column is inferred: ("numeric" | "categorical", why).

    Floats are numeric; integers are categorical when named like a code (``region_code``) or
    holding at most ``max_integers`` distinct values (codes 1..12), numeric otherwise; booleans
    and everything else (text, categories) are categorical."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical", f"boolean ({dtype})"
    if pd.api.types.is_integer_dtype(dtype):
        text = str(name)
        if _CODE_LIKE.search(text) or _CAMEL_CODE.search(text):
            return "categorical", f"integer codes ({dtype}, named like a code)"
        distinct = int(series.nunique(dropna=True))
        if distinct <= max_integers:
            return "categorical", (f"integer ({dtype}) with {distinct} distinct values <= "
                                   f"data.max_categorical_integers = {max_integers}")
        return "numeric", (f"integer ({dtype}) with {distinct} distinct values > "
                           f"data.max_categorical_integers = {max_integers}")
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric", f"numeric ({dtype})"
    return "categorical", f"not numeric ({dtype})"


def infer_schema(frame: pd.DataFrame, data: DataSettings, source: str) -> FeatureSchema:
    """Resolve feature lists from the configuration, inferring those left unset.

    Inference leaves out the target, the id, timestamp and prediction columns, columns named
    like a model's outputs, like ids or like timestamps and date-time columns (each said at
    WARNING); it logs, per column, whether it became numeric or categorical and why.
    Raises :class:`SchemaError` naming ``source`` and every configured column that is absent.
    """
    reserved = {data.target, data.id_column, data.timestamp_column, data.prediction_column}
    if data.target not in frame.columns:
        raise SchemaError(
            f"{source}: target column {data.target!r} not found; columns are "
            f"{', '.join(map(str, frame.columns))}. Set data.target in the configuration."
        )
    listed = list(data.numeric_features or ()) + list(data.categorical_features or ())
    absent = _missing(frame, listed)
    if absent:
        raise SchemaError(f"{source}: configured column(s) missing: {', '.join(absent)}.")
    excluded = [c for c in frame.columns if c not in reserved and _PREDICTION_LIKE.search(str(c))
                and data.numeric_features is None and data.categorical_features is None]
    if excluded:  # a model's own outputs are not inputs: y_pred, prediction, score...
        logger.warning("%s: not used as features (they look like model outputs): %s. List "
                       "the features in data.numeric_features / categorical_features to "
                       "override.", source, ", ".join(map(str, excluded)))
    candidates = [c for c in frame.columns if c not in reserved and c not in excluded
                  and c not in listed]
    skipped = {c: why for c in candidates if (why := not_a_feature(c, frame[c]))}
    if data.numeric_features is None or data.categorical_features is None:
        if skipped:  # an id or a time as a feature drifts by construction
            logger.warning(
                "%s: not used as features: %s. List a column in data.numeric_features / "
                "categorical_features to use it as a feature, or name it in data.id_column / "
                "data.timestamp_column.", source,
                "; ".join(f"{c} ({why})" for c, why in skipped.items()))
        candidates = [c for c in candidates if c not in skipped]
    id_column = _role_column(frame, "id", data.id_column, skipped, source)
    timestamp_column = _role_column(frame, "timestamp", data.timestamp_column, skipped, source)
    for role, column, found in (("id", data.id_column, id_column),
                                ("timestamp", data.timestamp_column, timestamp_column)):
        if column and found is None:  # optional: said, not required
            logger.info("%s: no %s column %r (data.%s_column): %s", source, role, column, role,
                        "late labels cannot be joined to these rows" if role == "id" else
                        "batch time spans are not recorded")
    if data.numeric_features is not None:  # the rest is categorical
        kinds = {c: ("categorical", "not in data.numeric_features") for c in candidates}
    elif data.categorical_features is not None:  # the rest of the numbers is numeric
        kinds = {c: ("numeric", f"numeric ({frame[c].dtype}), not in data.categorical_features")
                 for c in candidates if pd.api.types.is_numeric_dtype(frame[c])
                 and not pd.api.types.is_bool_dtype(frame[c])}
    else:
        kinds = {c: column_kind(c, frame[c], data.max_categorical_integers) for c in candidates}
    numeric = (tuple(data.numeric_features) if data.numeric_features is not None else
               tuple(c for c, (kind, _) in kinds.items() if kind == "numeric"))
    categorical = (tuple(data.categorical_features) if data.categorical_features is not None
                   else tuple(c for c, (kind, _) in kinds.items() if kind == "categorical"))
    overlap = set(numeric) & set(categorical)
    if overlap:
        raise SchemaError(
            f"{source}: column(s) listed as both numeric and categorical: "
            f"{', '.join(sorted(overlap))}."
        )
    if not numeric and not categorical:
        raise SchemaError(f"{source}: no feature columns besides the target {data.target!r}.")
    bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise SchemaError(
            f"{source}: numeric feature(s) hold non-numeric values: "
            + ", ".join(f"{c} (dtype {frame[c].dtype}, e.g. {_example(frame[c])!r})" for c in bad)
        )
    categories = {
        c: tuple(sorted(str(v) for v in frame[c].dropna().unique())) for c in categorical
    }
    if data.numeric_features is None or data.categorical_features is None:
        for c, (kind, why) in kinds.items():
            logger.info("%s: feature %s is %s: %s", source, c, kind, why)
        logger.info("%s: features inferred: %d numeric (%s), %d categorical (%s)", source,
                    len(numeric), ", ".join(numeric), len(categorical), ", ".join(categorical))
    classes: tuple[str, ...] = ()
    if data.problem_type == "multiclass":
        classes = target_classes(frame, data.target, source)
    return FeatureSchema(
        target=data.target,
        numeric=numeric,
        categorical=categorical,
        categories=categories,
        id_column=id_column,
        timestamp_column=timestamp_column,
        problem_type=data.problem_type,
        classes=classes,
    )


def _role_column(frame: pd.DataFrame, role: str, configured: str | None,
                 skipped: Mapping[str, str], source: str) -> str | None:
    """The id (or timestamp) column: the configured one if the data have it; else, when the
    configured one is absent, the only column named like an id (like a timestamp, or holding
    date-times), said at WARNING; else none. ``configured`` None: the data have none."""
    if configured is None or configured in frame.columns:
        return configured
    found = [c for c, why in skipped.items()
             if (why == "named like an id") == (role == "id")]
    if len(found) != 1:
        return None
    logger.warning("%s: using %s as the %s column (data.%s_column %r is not in the data); "
                   "set data.%s_column to choose another", source, found[0], role, role,
                   configured, role)
    return str(found[0])


def _example(series: pd.Series) -> Any:
    coerced = pd.to_numeric(series, errors="coerce")
    bad = series[coerced.isna() & series.notna()]
    return bad.iloc[0] if len(bad) else None


def binary_target(frame: pd.DataFrame, target: str, source: str) -> np.ndarray:
    """The target as an int8 array of 0/1, or a :class:`DataError` saying what is wrong."""
    if target not in frame.columns:
        raise SchemaError(f"{source}: target column {target!r} not found.")
    y = frame[target]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise DataError(f"{source}: target {target!r} has {n_missing} missing value(s).")
    values = set(pd.unique(y).tolist())
    if not values <= {0, 1}:
        shown = ", ".join(map(repr, sorted(values, key=str)[:10]))
        raise DataError(f"{source}: target {target!r} must be binary 0/1; found values {shown}.")
    out = y.astype("int8").to_numpy()
    if len(np.unique(out)) < 2:
        raise DataError(
            f"{source}: target {target!r} has one class only ({int(out[0])}); "
            "training and ROC-AUC need both 0 and 1."
        )
    return out


def _class_labels(frame: pd.DataFrame, target: str, source: str) -> pd.Series:
    """A class target's labels as text, or an error naming the absent column or missing
    labels."""
    if target not in frame.columns:
        raise SchemaError(f"{source}: target column {target!r} not found.")
    text = _as_text(frame[target])
    n_missing = int(text.isna().sum())
    if n_missing:
        raise DataError(f"{source}: target {target!r} has {n_missing} missing value(s).")
    return text


def target_classes(frame: pd.DataFrame, target: str, source: str) -> tuple[str, ...]:
    """A multiclass target's labels as text, sorted: at least two, none missing."""
    text = _class_labels(frame, target, source)
    classes = tuple(sorted(str(v) for v in pd.unique(text)))
    if len(classes) < 2:
        raise DataError(f"{source}: target {target!r} has one class only "
                        f"({classes[0] if classes else 'no rows'}); a multiclass model needs "
                        "at least two.")
    return classes


def multiclass_target(frame: pd.DataFrame, target: str, classes: Sequence[str],
                      source: str) -> np.ndarray:
    """The target as class indices (int64) into ``classes`` (labels compared as text), or a
    :class:`DataError` naming missing values and labels the model has never seen."""
    text = _class_labels(frame, target, source)
    known = pd.Index([str(c) for c in classes])
    idx = known.get_indexer(text.astype(str))
    if (idx < 0).any():
        unseen = sorted(set(text[idx < 0].astype(str)))
        shown = ", ".join(map(repr, unseen[:10]))
        raise DataError(
            f"{source}: target {target!r} holds {int((idx < 0).sum())} row(s) with label(s) "
            f"the model was not trained on: {shown} (it knows {', '.join(map(repr, known))}). "
            "Retrain on data with these classes, or map them to known ones.")
    return idx.astype(np.int64)


def regression_target(frame: pd.DataFrame, target: str, source: str) -> np.ndarray:
    """The target as finite float64 values, or a :class:`DataError` naming text, missing and
    infinite values."""
    if target not in frame.columns:
        raise SchemaError(f"{source}: target column {target!r} not found.")
    y = frame[target]
    values = pd.to_numeric(y, errors="coerce")
    text = values.isna() & y.notna()
    if text.any():
        raise DataError(f"{source}: target {target!r} must be numeric for a regression model; "
                        f"{int(text.sum())} value(s) are not numbers, e.g. "
                        f"{y[text].iloc[0]!r}.")
    out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    n_missing = int(np.isnan(out).sum())
    if n_missing:
        raise DataError(f"{source}: target {target!r} has {n_missing} missing value(s).")
    n_inf = int(np.isinf(out).sum())
    if n_inf:
        raise DataError(f"{source}: target {target!r} has {n_inf} infinite value(s); a "
                        "regression target must be finite.")
    return out


def target_array(frame: pd.DataFrame, schema: FeatureSchema, source: str) -> np.ndarray:
    """The target as the schema's problem type reads it: 0/1 int8 (binary), class indices into
    ``schema.classes`` (multiclass) or finite floats (regression); a :class:`DataError` naming
    what is wrong otherwise."""
    if schema.problem_type == "regression":
        return regression_target(frame, schema.target, source)
    if schema.problem_type == "multiclass":
        return multiclass_target(frame, schema.target, schema.classes, source)
    return binary_target(frame, schema.target, source)


def check_columns(frame: pd.DataFrame, schema: FeatureSchema, source: str,
                  *, require_target: bool = False) -> None:
    """Raise :class:`SchemaError` naming every required column ``frame`` lacks."""
    required = list(schema.features) + ([schema.target] if require_target else [])
    absent = _missing(frame, required)
    if absent:
        raise SchemaError(f"{source}: required column(s) missing: {', '.join(absent)}.")
    bad = [c for c in schema.numeric
           if not pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]
    if bad:
        raise SchemaError(
            f"{source}: numeric feature(s) hold non-numeric values: "
            + ", ".join(f"{c} (dtype {frame[c].dtype}, e.g. {_example(frame[c])!r})" for c in bad)
        )


def _as_text(series: pd.Series) -> pd.Series:
    """Category values as Python strings in an object column, missing as NaN (vectorised).

    Integral floats are written as integers: an integer-coded column with one missing value
    arrives from CSV as floats (1.0, NaN), and its codes must still read "1" as in training
    (the drift statistics label them the same way)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        present = values[~np.isnan(values)]
        if (np.isfinite(present).all() and (present == np.round(present)).all()
                and (np.abs(present) < 2.0**53).all()):
            series = series.astype("Int64")
    text = series.astype("string")
    return text.astype("object").where(text.notna(), np.nan)


def prepare_features(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """The model's input: feature columns in schema order, numeric as float64, categorical as
    a pandas Categorical over the training categories (unseen values become missing)."""
    out: dict[str, Any] = {}
    for c in schema.numeric:
        out[c] = frame[c].astype("float64")
    for c in schema.categorical:
        known = list(schema.categories.get(c, ()))
        col = frame[c]
        if not (pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype)):
            col = _as_text(col)  # numbers etc.: compare by their text, as in training
        # unseen values become missing first (pandas 4 refuses them in astype); isin and
        # astype are hash lookups, no Python objects for string columns
        col = col.where(col.isin(known))
        out[c] = col.astype(pd.CategoricalDtype(known))
    return pd.DataFrame(out, index=frame.index)


def categorical_as_str(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Feature columns in schema order, numeric as float64 and categorical as object strings
    (missing as NaN): the input of the scikit-learn pipeline."""
    out: dict[str, Any] = {}
    for c in schema.numeric:
        out[c] = frame[c].astype("float64")
    for c in schema.categorical:
        out[c] = _as_text(frame[c])
    return pd.DataFrame(out, index=frame.index)
