"""The retraining data set: assemble, validate, split. Pure functions over frames, no I/O.

* :func:`assemble_training_data`: the champion's reference rows first, then the labelled
  production batches in time order, each row tagged with where it came from (``__origin__``).
* :func:`validate_training_data`: every problem that forbids training, as readable lines.
* :func:`holdout_split`: the holdout is the *most recent* labelled data, so champion and
  candidates are compared on what production looks like now; candidates never train on it.
* :func:`train_validation_split`: stratified split of the training part for model selection.

The target is read as the champion's problem type reads it (``schema.problem_type``): 0/1
(binary), labels among ``schema.classes`` (multiclass; a label the champion never saw is a
problem naming the batch), finite numbers (regression; text or infinite values are a problem
naming the batch). Class checks and stratification apply to the classifiers only.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pipelines.config import RetrainingSettings, TrainingSettings
from pipelines.constraints import OPEN_UNIT, Interval, validate_params
from pipelines.data.schema import FeatureSchema, _as_text, target_array
from pipelines.errors import ConfigError, DataError, RetrainingRefused

logger = logging.getLogger(__name__)

#: Column naming each row's source: :data:`REFERENCE_ORIGIN` or the production batch id.
ORIGIN_COLUMN = "__origin__"
REFERENCE_ORIGIN = "reference"
#: ``DataFrame.attrs`` key read for a batch's id when no ids are passed explicitly.
BATCH_ID_ATTR = "batch_id"


# ----------------------------------------------------------------------------- assemble


def _keep_columns(frame: pd.DataFrame, schema: FeatureSchema) -> list[str]:
    wanted = [*schema.features, schema.target]
    if schema.timestamp_column:
        wanted.append(schema.timestamp_column)
    return [c for c in wanted if c in frame.columns]


def _batch_ids(batches: Sequence[pd.DataFrame] | Mapping[str, pd.DataFrame],
               batch_ids: Sequence[str] | None) -> list[tuple[str, pd.DataFrame]]:
    if isinstance(batches, Mapping):
        return [(str(k), v) for k, v in batches.items()]
    frames = list(batches)
    if batch_ids is not None:
        if len(batch_ids) != len(frames):
            raise ConfigError(
                f"assemble_training_data: {len(batch_ids)} batch id(s) for {len(frames)} "
                "batch(es); pass one id per batch."
            )
        return [(str(i), f) for i, f in zip(batch_ids, frames, strict=True)]
    return [(str(f.attrs.get(BATCH_ID_ATTR, f"batch-{n + 1}")), f)
            for n, f in enumerate(frames)]


def _naive_times(series: pd.Series) -> pd.Series:
    """Timestamps as tz-naive UTC ``datetime64[ns]`` (comparable across frames)."""
    times = pd.to_datetime(series)
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.astype("datetime64[ns]")


def _first_time(frame: pd.DataFrame, column: str | None) -> pd.Timestamp:
    if not column or column not in frame.columns or frame[column].notna().sum() == 0:
        return pd.Timestamp.max
    return pd.Timestamp(_naive_times(frame[column]).min())


def _by_time(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """Rows in time order (stable; rows without a time keep their place at the end)."""
    if not column or column not in frame.columns:
        return frame
    return frame.sort_values(column, kind="mergesort", na_position="last")


def assemble_training_data(
    reference: pd.DataFrame,
    batches: Sequence[pd.DataFrame] | Mapping[str, pd.DataFrame],
    schema: FeatureSchema,
    *,
    batch_ids: Sequence[str] | None = None,
    drop_duplicates: bool = True,
) -> pd.DataFrame:
    """One frame: features, target (and the timestamp when present) plus ``__origin__``.

    Reference rows come first (origin ``"reference"``), then the batches ordered by their
    earliest timestamp (given order when there is none), each sorted by time inside. A batch's
    id comes from ``batches`` as a mapping, else ``batch_ids``, else its
    ``attrs["batch_id"]``, else ``batch-<n>``. Columns a frame lacks are left out of it (the
    concatenation fills them with missing values) so :func:`validate_training_data` can name
    them; nothing here raises on bad data. With ``drop_duplicates`` (default), production rows
    repeated with the same time and reference rows copied in production are dropped, so no
    record can land both in a training part and in a holdout.
    """
    ts = schema.timestamp_column
    named = _batch_ids(batches, batch_ids)
    ordered = sorted(named, key=lambda item: _first_time(item[1], ts))  # stable
    production = []
    for batch_id, frame in ordered:
        part = frame.loc[:, _keep_columns(frame, schema)]
        if ts and ts in part.columns:
            part = _by_time(part.assign(**{ts: _naive_times(part[ts])}), ts)
        production.append(part.assign(**{ORIGIN_COLUMN: batch_id}))
    prod = (pd.concat(production, ignore_index=True, sort=False) if production
            else pd.DataFrame(columns=[ORIGIN_COLUMN]))
    ref = reference.loc[:, _keep_columns(reference, schema)].assign(
        **{ORIGIN_COLUMN: REFERENCE_ORIGIN})
    if drop_duplicates and len(prod):
        ref, prod = _drop_repeated_rows(ref, prod, schema)
    parts = [p for p in (ref, prod) if len(p)] or [ref]
    out = pd.concat(parts, ignore_index=True, sort=False)
    columns = [c for c in (*schema.features, schema.target, ts) if c and c in out.columns]
    if ts and ts in out.columns:
        out[ts] = _naive_times(out[ts])  # NaT for reference rows
    logger.info("Assembled %d rows: %d reference, %d from %d production batch(es)", len(out),
                len(ref), len(prod), len(ordered))
    return out.loc[:, [*columns, ORIGIN_COLUMN]]


def _row_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """A hash per row over ``columns`` with normalised dtypes (int8 1 == int64 1 == 1.0)."""
    norm = {}
    for c in columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            norm[c] = col.astype("float64")
        elif pd.api.types.is_datetime64_any_dtype(col):
            norm[c] = col.astype("int64")
        else:
            norm[c] = col.astype("string").astype("object")
    return pd.util.hash_pandas_object(pd.DataFrame(norm, index=frame.index), index=False)


def _drop_repeated_rows(ref: pd.DataFrame, prod: pd.DataFrame, schema: FeatureSchema
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop production rows seen twice (same features, label and time: a batch monitored
    twice) and reference rows that are copies of production rows (a retrained champion's
    reference is its holdout, taken from batches that are still in the window). Otherwise one
    copy could train a candidate and the other judge it."""
    key = [c for c in (*schema.features, schema.target) if c in ref.columns and c in prod.columns]
    if not key:
        return ref, prod
    ts = schema.timestamp_column
    prod_key = key + ([ts] if ts and ts in prod.columns else [])
    repeated = _row_keys(prod, prod_key).duplicated(keep="first").to_numpy()
    copies = _row_keys(ref, key).isin(set(_row_keys(prod, key))).to_numpy()
    if repeated.any() or copies.any():
        logger.warning("Dropped %d repeated production row(s) and %d reference row(s) that "
                       "copy production rows", int(repeated.sum()), int(copies.sum()))
    return ref.loc[~copies], prod.loc[~repeated]


# ----------------------------------------------------------------------------- validate


def _binary_target_problems(frame: pd.DataFrame, target: str) -> list[str]:
    y = frame[target]
    n_missing = int(y.isna().sum())
    if n_missing:
        return [f"target {target!r} is missing in {n_missing} of {len(y)} row(s); every "
                "training row needs a 0/1 label"]
    values = set(pd.unique(y).tolist())
    if not values <= {0, 1}:
        shown = ", ".join(map(repr, sorted(values, key=str)[:10]))
        return [f"target {target!r} must be 0/1; found {shown}"]
    classes = sorted({int(v) for v in values})
    if len(classes) < 2:
        only = classes[0] if classes else "none"
        return [f"target {target!r} has one class only ({only}) in {len(y)} row(s); training "
                "and ROC-AUC need both 0 and 1"]
    return []


def origin_name(origin: str) -> str:
    """A row origin as a reviewer reads it: ``the champion's reference`` or ``batch b0004
    (monitoring run 1234abcd)``."""
    if origin == REFERENCE_ORIGIN:
        return "the champion's reference"
    batch, _, run = str(origin).rpartition("@")
    return f"batch {batch} (monitoring run {run})" if batch else f"batch {origin}"


def _target_problems(frame: pd.DataFrame, schema: FeatureSchema) -> list[str]:
    """What forbids training in the target, per the champion's problem type. Multiclass and
    regression targets are read per source (reference, each batch) so each problem names the
    batch it came from."""
    if schema.problem_type == "binary":
        return _binary_target_problems(frame, schema.target)
    if ORIGIN_COLUMN in frame.columns:
        parts = [(origin_name(str(o)), part)
                 for o, part in frame.groupby(ORIGIN_COLUMN, sort=False)]
    else:
        parts = [("the training data", frame)]
    problems = []
    for name, part in parts:
        try:
            target_array(part, schema, name)
        except DataError as exc:
            problems.append(str(exc))
    if not problems and schema.problem_type == "multiclass":
        seen = _labels(frame[schema.target]).nunique()
        if seen < 2:
            problems.append(f"target {schema.target!r} has one class only in {len(frame)} "
                            "row(s); training and macro F1 need at least two")
    return problems


def _labels(y: pd.Series) -> pd.Series:
    """Class labels as text, as the schema reads them (``1`` and ``1.0`` are one class)."""
    return _as_text(y)


def _missing_share_problems(frame: pd.DataFrame, features: Sequence[str],
                            limit: float) -> list[str]:
    if frame.empty:
        return []
    shares = frame.loc[:, list(features)].isna().mean()
    return [
        f"feature {name!r} is missing in {share:.1%} of rows "
        f"(more than retraining.max_missing_share = {limit:.1%})"
        for name, share in shares.items() if share > limit
    ]


def validate_training_data(frame: pd.DataFrame, schema: FeatureSchema,
                           retraining: RetrainingSettings) -> list[str]:
    """Every reason ``frame`` cannot be trained on, one readable line each; ``[]`` if valid.

    Checks: required columns (features and target) present, the target valid for the
    champion's problem type (binary: 0/1 without missing values and with both classes;
    multiclass: labels the champion knows, at least two of them; regression: finite numbers;
    the last two named per batch), at least ``min_rows`` rows, no feature missing in more
    than ``max_missing_share`` of the rows.
    """
    problems: list[str] = []
    required = [*schema.features, schema.target]
    absent = [c for c in required if c not in frame.columns]
    if absent:
        problems.append(f"required column(s) missing: {', '.join(absent)}")
    if schema.target in frame.columns:
        problems.extend(_target_problems(frame, schema))
    if len(frame) < retraining.min_rows:
        problems.append(f"only {len(frame)} labelled row(s); at least {retraining.min_rows} "
                        "are needed (retraining.min_rows)")
    present = [c for c in schema.features if c in frame.columns]
    problems.extend(_missing_share_problems(frame, present, retraining.max_missing_share))
    return problems


# ----------------------------------------------------------------------------- split


def _check_fraction(fraction: float) -> None:
    validate_params("holdout_split", {"fraction": [OPEN_UNIT]}, {"fraction": fraction})


def batches_newest_first(frame: pd.DataFrame, timestamp: str | None) -> list[str]:
    """The production batch ids of an assembled frame, newest first: by each batch's latest
    timestamp when the frame has times, then by position (assembled frames are in time
    order, so a batch without times counts as newer the later it comes)."""
    if ORIGIN_COLUMN not in frame.columns:
        return []
    origin = frame[ORIGIN_COLUMN].to_numpy()
    production = origin != REFERENCE_ORIGIN
    if not production.any():
        return []
    keys = pd.DataFrame({"origin": origin[production],
                         "position": np.flatnonzero(production)})
    if timestamp and timestamp in frame.columns:
        keys["time"] = _naive_times(frame[timestamp]).to_numpy()[production]
    else:
        keys["time"] = pd.NaT
    last = keys.groupby("origin", sort=False).agg(time=("time", "max"),
                                                  position=("position", "max"))
    last["time"] = last["time"].fillna(pd.Timestamp.min)
    return last.sort_values(["time", "position"], ascending=False).index.astype(str).tolist()


def _holdout_pool(frame: pd.DataFrame, timestamp: str | None,
                  batches: int) -> tuple[np.ndarray, str]:
    """Positions of the rows the holdout is drawn from: the newest ``batches`` production
    batches, else the reference rows."""
    positions = np.arange(len(frame))
    newest = batches_newest_first(frame, timestamp)[:batches]
    if not newest:
        return positions, "reference" if ORIGIN_COLUMN in frame.columns else "all"
    pool = frame[ORIGIN_COLUMN].astype(str).isin(newest).to_numpy()
    label = f"batch {newest[0]}" if len(newest) == 1 else f"{len(newest)} newest batches"
    return positions[pool], label


def _most_recent(frame: pd.DataFrame, pool: np.ndarray, n: int,
                 timestamp: str | None) -> np.ndarray:
    """The ``n`` most recent positions of ``pool``: by timestamp if present, else by order."""
    if timestamp and timestamp in frame.columns:
        times = _naive_times(frame[timestamp]).to_numpy()[pool]
        if not np.isnat(times).all():
            order = np.argsort(times, kind="stable")  # ties keep their order; NaT sorts last
            unknown = np.isnat(times[order])
            pool = pool[np.concatenate([order[unknown], order[~unknown]])]  # no time: oldest
    return np.sort(pool[len(pool) - n:])


def holdout_split(frame: pd.DataFrame, schema: FeatureSchema, fraction: float,
                  batches: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, holdout)``: the holdout is the most recent ``fraction`` of the rows of the
    newest ``batches`` production batches (the batch that triggered retraining, by default).

    So champion and candidates are compared on the regime production is in now, never on a
    row share that mixes old and new batches; the rest of those batches is training data.
    "Most recent" is by timestamp when the frame has one, else by position (assembled frames
    are in time order). Without production rows the holdout is the last ``fraction`` of the
    reference rows. The two parts are disjoint and cover ``frame``. Raises
    :class:`RetrainingRefused` when either part of a classifier's data would hold one class
    only (no fair comparison or no training possible; a regression target needs no classes).
    """
    _check_fraction(fraction)
    validate_params("holdout_split", {"batches": [Interval(int, 1, None)]}, {"batches": batches})
    pool, kind = _holdout_pool(frame, schema.timestamp_column, batches)
    n_holdout = max(1, math.ceil(fraction * len(pool)))
    if len(pool) < 2 or n_holdout >= len(frame):
        raise RetrainingRefused(
            f"Cannot hold out {fraction:.0%} of {len(pool)} {kind} row(s) and still train: "
            f"{len(frame)} row(s) in all."
        )
    held = _most_recent(frame, pool, n_holdout, schema.timestamp_column)
    mask = np.zeros(len(frame), dtype=bool)
    mask[held] = True
    train, holdout = frame.iloc[~mask], frame.iloc[mask]
    for part, name in ((holdout, "holdout"), (train, "training part")):
        if schema.problem_type == "regression":
            break  # RMSE needs no classes
        target = part[schema.target]
        multiclass = schema.problem_type == "multiclass"
        classes = sorted((_labels(target) if multiclass else target).unique().tolist())
        if len(classes) < 2:
            raise RetrainingRefused(
                f"The {name} ({len(part)} row(s), the most recent {fraction:.0%} of the rows "
                f"of {kind}{'' if name == 'holdout' else ' excluded'}) holds one class only "
                f"({classes}); champion and candidates cannot be compared on "
                f"{'macro F1' if multiclass else 'ROC-AUC'}. "
                "Wait for more labelled batches or change retraining.holdout_fraction."
            )
    logger.info("Holdout: the %d most recent row(s) of %s; training part: %d row(s)",
                len(holdout), kind, len(train))
    return train, holdout


def recency_weights(frame: pd.DataFrame, timestamp: str | None,
                    half_life: float) -> np.ndarray:
    """A training weight per row that halves every ``half_life`` batches of age.

    The newest production batch has age 0, the one before age 1, ...; the reference rows (what
    the champion was validated on, older than any batch) have the age after the oldest batch.
    ``half_life`` 0 keeps the newest batch alone (every other row weighs 0); ``inf`` weighs
    every row equally. Without an ``__origin__`` column every row weighs 1.

    The trade-off: after concept drift the old rows teach the old P(y|x) and hurt (measured on
    the demo: a 5,000-row drift batch, half-life 1 batch lost 0.10 ROC-AUC to a model trained
    on post-drift rows only, 0.25 lost nothing); after covariate shift or plain ageing older
    rows still help, and a longer half-life keeps them.
    """
    if ORIGIN_COLUMN not in frame.columns or half_life == math.inf:
        return np.ones(len(frame))
    order = batches_newest_first(frame, timestamp)
    ages = {batch: float(age) for age, batch in enumerate(order)}
    age = frame[ORIGIN_COLUMN].astype(str).map(ages).fillna(float(len(order))).to_numpy()
    if half_life == 0:
        return (age == 0).astype(np.float64)
    return np.power(0.5, age / half_life)


def train_validation_split(frame: pd.DataFrame, schema: FeatureSchema,
                           training: TrainingSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, validation)`` split of the training part (model selection only): stratified
    by class for a classifier (binary, multiclass), a seeded random split for regression."""
    from sklearn.model_selection import train_test_split  # training only

    if schema.problem_type == "regression":
        return train_test_split(frame, test_size=training.validation_size,  # type: ignore[return-value]
                                random_state=training.random_state)
    if schema.problem_type == "multiclass":
        labels = _labels(frame[schema.target])
        counts = labels.value_counts()
        if counts.min() < 2:
            raise RetrainingRefused(
                f"The training part has {int(counts.min())} row(s) of class "
                f"{counts.idxmin()!r}; at least 2 are needed for a stratified validation split.")
        train, validation = train_test_split(frame, test_size=training.validation_size,
                                             stratify=labels.to_numpy(),
                                             random_state=training.random_state)
        return train, validation
    y = frame[schema.target].to_numpy().astype(np.int8)
    counts = np.bincount(y, minlength=2)
    if counts.min() < 2:
        raise RetrainingRefused(
            f"The training part has {int(counts.min())} row(s) of class "
            f"{int(counts.argmin())}; at least 2 are needed for a stratified validation split."
        )
    train, validation = train_test_split(frame, test_size=training.validation_size, stratify=y,
                                         random_state=training.random_state)
    return train, validation


def refresh_categories(schema: FeatureSchema, frame: pd.DataFrame) -> FeatureSchema:
    """``schema`` with each categorical feature's categories extended by those in ``frame``
    (new candidates learn categories that appeared in production since the baseline)."""
    categories = {
        c: tuple(sorted(set(schema.categories.get(c, ()))
                        | {str(v) for v in frame[c].dropna().unique()}))
        for c in schema.categorical if c in frame.columns
    }
    return dataclasses.replace(schema, categories={**schema.categories, **categories})


# ----------------------------------------------------------------------------- provenance


@dataclasses.dataclass(frozen=True)
class DataSpan:
    """Where one part of the retraining data came from, in words a reviewer reads: its row
    count, its origins (the champion's reference, production batches) and its time window."""

    rows: int
    origins: tuple[str, ...]
    """``__origin__`` values in order of appearance (``reference`` or ``<batch>@<run>``)."""
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    timed_by: str = ""
    """What the window is: the data's timestamp column, the batches' monitoring times, or
    empty (no time known)."""

    def sources(self, limit: int = 6) -> str:
        """``reference + b0004, b0005`` (a batch's run suffix only when two batches share a
        name); the first ``limit`` batches, then a count."""
        batches = [o for o in self.origins if o != REFERENCE_ORIGIN]
        names = [o.rsplit("@", 1)[0] for o in batches]
        shown = [n if names.count(n) == 1 else o for n, o in zip(names, batches, strict=True)]
        text = ", ".join(shown[:limit])
        if len(shown) > limit:
            text += f" and {len(shown) - limit} more"
        if REFERENCE_ORIGIN in self.origins:
            text = "champion's reference" + (f" + {text}" if text else "")
        return text or "none"

    def window(self) -> str:
        """``2026-01-07 00:00 to 2026-01-07 23:59 (data timestamps)``, or ``time unknown``."""
        if self.start is None or self.end is None:
            return "time unknown"
        return (f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M}"
                + (f" ({self.timed_by})" if self.timed_by else ""))

    def text(self) -> str:
        """One line: ``1,500 rows from b0006, 2026-01-07 00:00 to 2026-01-07 23:59 (...)``."""
        return f"{self.rows:,} rows from {self.sources()}, {self.window()}"


def data_span(frame: pd.DataFrame, timestamp: str | None,
              batch_times: Mapping[str, pd.Timestamp] | None = None) -> DataSpan:
    """The :class:`DataSpan` of ``frame`` (an assembled frame or a part of one): the window is
    the timestamps' min and max when the frame has a timestamp column with values, else the
    monitoring times (``batch_times``: origin -> time) of its production batches."""
    origins = (tuple(dict.fromkeys(frame[ORIGIN_COLUMN].astype(str)))
               if ORIGIN_COLUMN in frame.columns else ())
    if timestamp and timestamp in frame.columns and frame[timestamp].notna().any():
        times = _naive_times(frame[timestamp])
        if ORIGIN_COLUMN in frame.columns:  # origins in time order (a shuffled part too)
            first = times.groupby(frame[ORIGIN_COLUMN].astype(str).to_numpy()).min()
            origins = tuple(sorted(origins, key=lambda o: (pd.notna(first.get(o)),
                                                           first.get(o) or pd.Timestamp.min)))
        return DataSpan(len(frame), origins, pd.Timestamp(times.min()),
                        pd.Timestamp(times.max()), "data timestamps")
    known = [pd.Timestamp(batch_times[o]) for o in origins if batch_times and o in batch_times]
    if known:
        return DataSpan(len(frame), origins, min(known), max(known), "batches' monitoring times")
    return DataSpan(len(frame), origins)
