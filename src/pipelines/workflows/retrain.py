"""Retrain on recent labelled data and promote the best candidate only if it clearly wins.

1. Load ``models:/<name>@champion`` and the reference set it was trained with.
2. Collect the labelled production batches monitored within ``retraining.window_days``
   (the ``batch/batch.parquet`` artifact of each monitoring run).
3. Assemble and validate the data; invalid data are recorded (a parent run tagged
   ``decision=invalid_data``) and nothing is trained.
4. Hold out the most recent labelled rows; fit the candidates on the rest.
5. One parent run in ``<prefix>-Retraining`` with one nested run per candidate (model,
   metrics, reference set and fitted reference context).
6. Score the champion on the same holdout; the :class:`~pipelines.retraining.PromotionGate`
   decides on the champion's problem type's primary metric (ROC-AUC, macro F1, RMSE) with its
   paired test (DeLong, paired bootstrap of macro F1, paired t-test on squared errors). On
   promotion the best candidate is registered with its evidence as version tags
   and ``champion`` moves (``previous-champion`` keeps the old one); otherwise nothing changes.

Cooldown and locking belong to the orchestrator; ``now`` can be injected for tests.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import Settings, explicit_keys
from pipelines.data.io import atomic_write_text, json_text, readable, to_jsonable
from pipelines.data.schema import FeatureSchema, target_array
from pipelines.errors import DataError, RetrainingRefused, TrackingError
from pipelines.monitoring.reference import ReferenceContext
from pipelines.notify import Notification, broadcast, notifiers_for
from pipelines.problems import Problem, problem
from pipelines.retraining import (
    ORIGIN_COLUMN,
    REFERENCE_ORIGIN,
    DataSpan,
    GateDecision,
    PromotionGate,
    assemble_training_data,
    data_span,
    holdout_split,
    narrative,
    recency_weights,
    refresh_categories,
    train_validation_split,
    validate_training_data,
)
from pipelines.retraining.candidates import FittedCandidate, model_outputs
from pipelines.retraining.gate import margin_mode_for
from pipelines.retraining.training import fit_and_select
from pipelines.stats.delong import DeLongResult, delong_test
from pipelines.stats.evaluation import performance_metrics
from pipelines.stats.paired import PairedTest, paired_bootstrap_test, paired_squared_error_test
from pipelines.store import (
    AliasMove,
    Champion,
    Store,
    alias_version,
    connect,
    default_actor,
    describe_model,
    describe_version,
    load_champion,
    load_reference_frame,
    log_model,
    log_reference,
    promote,
    register_model,
    set_alias,
    tag_version,
)
from pipelines.store import contract as c
from pipelines.store.audit import record as record_audit
from pipelines.store.auth import require_permission
from pipelines.store.models import metric_text, type_tags
from pipelines.store.searches import labelled_batch_runs
from pipelines.workflows import importance

logger = logging.getLogger(__name__)

#: Holdout metrics reported per model of a binary champion (all of
#: :func:`~pipelines.stats.evaluation.performance_metrics` are logged).
HOLDOUT_COLUMNS: tuple[str, ...] = ("roc_auc", "accuracy", "precision", "recall", "f1",
                                    "log_loss", "brier")
#: The comparison table's metric columns per problem type (the primary metric first).
HOLDOUT_COLUMNS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "binary": HOLDOUT_COLUMNS,
    "multiclass": ("macro_f1", "accuracy", "weighted_f1", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "mape", "r2", "bias"),
}
#: Column of the training weights (recency) in the training and validation parts.
WEIGHT_COLUMN = "__weight__"
#: Artifact of the regression and multiclass paired test (binary: ``delong_test.json``).
PAIRED_TEST_ARTIFACT = "paired_test.json"


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RetrainingSummary:
    """What one retraining did and why; also written as ``retraining_summary.json``."""

    decision: c.RetrainingVerdict
    message: str
    reason: str
    started_at: str
    parent_run_id: str | None
    experiment_id: str | None
    champion_version_before: str
    champion_holdout_metrics: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    best_candidate: dict[str, Any] | None = None
    gate: dict[str, Any] | None = None
    new_version: str | None = None
    problems: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    summary_path: str | None = None

    @property
    def promoted(self) -> bool:
        return self.decision == c.PROMOTED

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


@dataclass(frozen=True)
class LabelledBatch:
    """A labelled production batch read back from its monitoring run."""

    run_id: str
    batch_id: str
    start_time: datetime
    frame: pd.DataFrame


@dataclass(frozen=True)
class _Parts:
    train: pd.DataFrame
    validation: pd.DataFrame
    holdout: pd.DataFrame
    schema: FeatureSchema


@dataclass
class _Evaluated:
    """A fitted candidate, its holdout outputs (P(1), class probabilities or predictions) and
    metrics, and where it was logged."""

    candidate: FittedCandidate
    scores: np.ndarray
    metrics: dict[str, float]
    run_id: str = ""
    model_uri: str = ""

    def row(self, metric: str = "roc_auc") -> dict[str, Any]:
        """The candidate in the summary; ``metric``: the primary one (``val_<metric>``)."""
        return {"name": self.candidate.name, "run_id": self.run_id,
                "model_uri": self.model_uri,
                f"val_{metric}": self.candidate.metrics.get(f"val_{metric}"),
                "holdout": dict(self.metrics), "params": dict(self.candidate.params)}


@dataclass(frozen=True)
class _Job:
    """Everything one retraining needs, gathered before any run is opened."""

    settings: Settings
    store: Store
    champion: Champion
    now: datetime
    reason: str
    extra_tags: Mapping[str, str]
    frame: pd.DataFrame
    data: dict[str, Any]
    summary_path: Path
    fence: Callable[[], None] | None = None

    @property
    def run_name(self) -> str:
        """The name while it runs (its start time is the list's Created column); a run that
        fails keeps its first word (``retrain FAILED <cause>``)."""
        return f"{RUN_HEAD} running"


#: The first word of a retraining parent run's name while it runs; a run that fails keeps it
#: (``retrain FAILED <cause>``).
RUN_HEAD = "retrain"
_VERDICT_WORDS = {c.PROMOTED: "PROMOTED", c.REJECTED: "REJECTED",
                  c.AWAITING_APPROVAL: "AWAITING", c.INVALID_DATA: "INVALID DATA"}


def run_name(verdict: str, decision: GateDecision | None, new_version: str | None) -> str:
    """``PROMOTED v2 0.80``, ``REJECTED 0.80``, ``INVALID DATA``: the verdict, the new version
    and the candidate's holdout ROC-AUC, in what MLflow's run list shows of a parent run's
    name (about 16 characters beside its expand icon, no tooltip; the experiment says it is
    a retraining); the comparison with the champion is the description's. The other types
    name their metric: ``PROMOTED v2 rmse 38.1``, ``REJECTED macro_f1 0.71``."""
    parts = [_VERDICT_WORDS.get(verdict, verdict.upper())]
    if new_version:
        parts.append(f"v{new_version}")
    if decision is not None and decision.metric == "roc_auc":
        if math.isfinite(decision.candidate_auc):
            parts.append(f"{decision.candidate_auc:.2f}")
    elif decision is not None and math.isfinite(decision.candidate_value):
        parts.append(f"{decision.metric} {_short(decision.metric, decision.candidate_value)}")
    return " ".join(parts)


def _short(metric: str, value: float) -> str:
    """A metric in a run name: 2 decimals for a score in [0, 1], 3 significant digits for an
    RMSE (whole units from 1,000 up)."""
    if metric != "rmse":
        return f"{value:.2f}"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


# ----------------------------------------------------------------------------- inputs


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def collect_labelled_batches(store: Store, settings: Settings, now: datetime,
                             problem_type: str = "binary") -> list[LabelledBatch]:
    """The labelled batches of FINISHED monitoring runs started within the window, oldest
    first. A batch is identified by its content digest (files), else by its run: the same
    content monitored twice counts once (its latest run, said in the log), two batches that
    share a name both count. Runs without the batch artifact are skipped with a warning.
    ``problem_type``: the champion's, how late labels are read (0/1, labels, numbers)."""
    since = _utc(now) - timedelta(days=settings.retraining.window_days)
    by_id: dict[str, LabelledBatch] = {}
    for run in labelled_batch_runs(store, since):
        try:
            frame = store.read_parquet_artifact(run.info.run_id, c.BATCH_ARTIFACT)
        except TrackingError as exc:
            logger.warning("Monitoring run %s has no %s (skipped): %s", run.info.run_id,
                           c.BATCH_ARTIFACT, exc)
            continue
        if run.data.tags.get(c.TAG_HAS_LABELS) != "true":  # labels registered later
            frame = _with_late_labels(store, run.info.run_id, frame, settings, problem_type)
            if frame is None:
                continue
        batch_id = run.data.tags.get(c.TAG_BATCH_ID) or run.info.run_id
        key = run.data.tags.get(c.TAG_BATCH_DIGEST) or run.info.run_id
        if key in by_id:
            logger.warning("Batch %s (content %s) was monitored more than once; using run %s, "
                           "not %s", batch_id, key[:16], run.info.run_id, by_id[key].run_id)
        by_id[key] = LabelledBatch(
            run_id=run.info.run_id, batch_id=batch_id,
            start_time=datetime.fromtimestamp(run.info.start_time / 1000, UTC), frame=frame)
    batches = sorted(by_id.values(), key=lambda b: b.start_time)
    logger.info("Found %d labelled batch(es) monitored since %s", len(batches),
                since.isoformat())
    return batches


def _with_late_labels(store: Store, run_id: str, frame: pd.DataFrame, settings: Settings,
                      problem_type: str = "binary") -> pd.DataFrame | None:
    """The rows of a stored batch whose labels have arrived since, with their labels (0/1
    for a binary model; as registered otherwise, checked with the rest of the training data);
    None (said) when its labels cannot be read."""
    id_column, target = settings.data.id_column, settings.data.target
    try:
        labels = store.read_parquet_artifact(run_id, c.LATE_LABELS_ARTIFACT)
    except TrackingError as exc:
        logger.warning("Monitoring run %s has late labels but no %s (skipped): %s", run_id,
                       c.LATE_LABELS_ARTIFACT, exc)
        return None
    if not id_column or id_column not in frame.columns:
        return None
    known = labels.set_index(id_column)[target]
    joined = frame[id_column].astype("string").map(known)
    keep = joined.notna().to_numpy()
    labels = (joined[keep].astype(np.int8) if problem_type == "binary"
              else joined[keep].infer_objects())
    return frame.loc[keep].assign(**{target: labels.to_numpy()})


def _origin(batch: LabelledBatch) -> str:
    """The ``__origin__`` of a batch's rows in the assembled frame (unique per monitored
    batch: two contents under one name stay two batches)."""
    return f"{batch.batch_id}@{batch.run_id[:8]}"


def _data_info(frame: pd.DataFrame, batches: Sequence[LabelledBatch], reference_rows: int,
               now: datetime, window_days: float) -> dict[str, Any]:
    origin = frame[ORIGIN_COLUMN]
    return {
        "window_start": (now - timedelta(days=window_days)).isoformat(),
        "n_rows": len(frame),
        "n_reference_rows": int((origin == REFERENCE_ORIGIN).sum()),
        "n_reference_rows_loaded": reference_rows,
        "n_production_rows": int((origin != REFERENCE_ORIGIN).sum()),
        "n_batches": len(batches),
        "batches": [{"batch_id": b.batch_id, "run_id": b.run_id, "rows": len(b.frame),
                     "origin": _origin(b), "monitored_at": b.start_time.isoformat()}
                    for b in batches],
    }


def _summary_path(settings: Settings) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return settings.paths.output / f"retraining_summary_{stamp}.json"


def _prepare(settings: Settings, store: Store, now: datetime, reason: str,
             extra_tags: Mapping[str, str] | None) -> _Job:
    champion = load_champion(store)
    if champion.external:
        raise RetrainingRefused(
            f"{champion.name} v{champion.version} was trained elsewhere (registered with "
            "register_reference): this tool monitors it but does not retrain it. Register the "
            "new model's reference when its owners have retrained it.")
    reference = load_reference_frame(store, champion.run_id)
    batches = collect_labelled_batches(store, settings, now, champion.schema.problem_type)
    # origins unique per monitored batch (two contents under one name stay two batches, and
    # no batch can be taken for the reference rows)
    frame = assemble_training_data(reference, [b.frame for b in batches], champion.schema,
                                   batch_ids=[_origin(b) for b in batches])
    data = _data_info(frame, batches, len(reference), now, settings.retraining.window_days)
    return _Job(settings=settings, store=store, champion=champion, now=now, reason=reason,
                extra_tags=dict(extra_tags or {}), frame=frame, data=data,
                summary_path=_summary_path(settings))


def _split(job: _Job) -> _Parts:
    """Holdout from the newest batch(es); the rest weighted by recency, zero weights dropped,
    then split for model selection."""
    schema, r = job.champion.schema, job.settings.retraining
    rest, holdout = holdout_split(job.frame, schema, r.holdout_fraction, r.holdout_batches)
    weights = recency_weights(rest, schema.timestamp_column, r.recency_half_life_batches)
    rest = rest.assign(**{WEIGHT_COLUMN: weights}).loc[weights > 0]
    train, validation = train_validation_split(rest, schema, job.settings.training)
    return _Parts(train=train, validation=validation, holdout=holdout,
                  schema=refresh_categories(schema, train))


# ----------------------------------------------------------------------------- runs


def _parent_tags(job: _Job) -> dict[str, str]:
    return {
        **job.extra_tags,  # never overriding the tags below, which other steps search on
        c.TAG_STEP: c.STEP_RETRAIN, c.TAG_RETRAINING_ROLE: c.ROLE_PARENT,
        c.TAG_RETRAINING_REASON: job.reason[:c.TAG_LIMIT],
        c.TAG_RETRAINING_AS_OF: job.now.isoformat(),  # the (injectable) time the window ends at
        "champion_version_before": job.champion.version,
        "champion_model": job.champion.name,
    }


def _parent_params(job: _Job) -> dict[str, Any]:
    r = job.settings.retraining
    return {
        "reason": job.reason[:500], "window_days": r.window_days,
        "promotion_margin": r.promotion_margin,
        # the mode the gate applies (a regression model's default is relative: 1 % lower RMSE)
        "margin_mode": margin_mode_for(job.champion.problem_type, r.margin_mode,
                                       explicit_keys(job.settings)),
        "holdout_fraction": r.holdout_fraction, "holdout_batches": r.holdout_batches,
        "recency_half_life_batches": r.recency_half_life_batches, "min_rows": r.min_rows,
        "max_missing_share": r.max_missing_share,
        "candidates": ",".join(job.settings.training.candidates),
        "n_batches": job.data["n_batches"], "n_rows": job.data["n_rows"],
        "n_reference_rows": job.data["n_reference_rows"],
        "n_production_rows": job.data["n_production_rows"],
        "champion_version_before": job.champion.version,
    }


def _prefixed(metrics: Mapping[str, float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def _kind(parts: _Parts) -> Problem:
    return problem(parts.schema.problem_type)


def _holdout_target(parts: _Parts) -> np.ndarray:
    """The holdout's target as the champion's type reads it (0/1, class index, value)."""
    return target_array(parts.holdout, parts.schema, "the retraining holdout")


def _holdout_metrics(parts: _Parts, y: np.ndarray, outputs: np.ndarray,
                     threshold: float) -> dict[str, float]:
    return performance_metrics(parts.schema.problem_type, y, outputs,
                               classes=parts.schema.classes, threshold=threshold)


def _evaluate(candidates: Sequence[FittedCandidate], parts: _Parts,
              threshold: float) -> list[_Evaluated]:
    y = _holdout_target(parts)
    kind = _kind(parts)
    out = []
    for cand in candidates:
        scores = model_outputs(cand.estimator, cand.flavor, parts.holdout, parts.schema)
        metrics = _holdout_metrics(parts, y, scores, threshold)
        logger.info("Candidate %s: holdout %s %.4f", cand.name, kind.label,
                    metrics[kind.primary_metric])
        out.append(_Evaluated(candidate=cand, scores=scores, metrics=metrics))
    return out


def best_of(evaluated: Sequence[_Evaluated], kind: Problem) -> _Evaluated:
    """The candidate with the best holdout primary metric (highest, lowest for RMSE); the
    first of ties; a NaN is worse than any number (all NaN: the first, which the gate
    rejects)."""
    m = kind.primary_metric
    best = evaluated[0]
    for ev in evaluated[1:]:
        if kind.better(ev.metrics[m], best.metrics[m]) or (
                math.isnan(best.metrics[m]) and not math.isnan(ev.metrics[m])):
            best = ev
    return best


def _log_candidate(job: _Job, ev: _Evaluated, parts: _Parts) -> None:
    """One nested run: params, validation and holdout metrics, model, reference + context."""
    name = ev.candidate.name
    store, settings = job.store, job.settings
    tags = {**job.extra_tags, c.TAG_STEP: c.STEP_RETRAIN,
            c.TAG_RETRAINING_ROLE: c.ROLE_CANDIDATE, "model_type": name}
    context = ReferenceContext.fit(parts.holdout, parts.schema, ev.scores,
                                   n_bins=settings.monitoring.psi_bins,
                                   decision_threshold=settings.training.decision_threshold)
    with store.start_run(settings.tracking.retraining_experiment, run_name=f"candidate-{name}",
                         tags=tags, nested=True) as run:
        store.log_params(ev.candidate.params)
        store.log_metrics({**_prefixed(ev.candidate.metrics),
                           **_prefixed(ev.metrics, "holdout_")})
        info = log_model(store, ev.candidate, parts.schema, parts.train.head(50))
        log_reference(store, parts.holdout, parts.schema, ev.scores, context)
        _importance_stability(job, ev, parts)
        ev.run_id, ev.model_uri = run.info.run_id, info.model_uri


def _holdout_span(job: _Job, holdout: pd.DataFrame) -> DataSpan:
    times = {b["origin"]: pd.Timestamp(b["monitored_at"]) for b in job.data["batches"]}
    return data_span(holdout, job.champion.schema.timestamp_column, times)


def _spans(job: _Job, parts: _Parts) -> list[tuple[str, DataSpan]]:
    """Each part's source batches and time window (data timestamps, else the batches'
    monitoring times), for the dataset names and the run's description."""
    times = {b["origin"]: pd.Timestamp(b["monitored_at"]) for b in job.data["batches"]}
    return [(name, data_span(frame, parts.schema.timestamp_column, times)) for name, frame in (
        ("holdout", parts.holdout), ("training", parts.train),
        ("validation", parts.validation))]


def _dataset_name(part: str, span: DataSpan) -> str:
    """``retraining-holdout: b0006, 2026-01-07 to 2026-01-07``: the run page's dataset list
    shows the name, so it carries the sources and the days."""
    name = f"retraining-{part}: {span.sources(limit=3)}"
    if span.start is not None and span.end is not None:
        name += f", {span.start:%Y-%m-%d} to {span.end:%Y-%m-%d}"
    return name


def _log_datasets(job: _Job, parts: _Parts, spans: Sequence[tuple[str, DataSpan]]) -> None:
    frames = {"training": parts.train, "validation": parts.validation,
              "holdout": parts.holdout}
    for name, span in spans:
        source = (f"retraining {name} part: {span.text()}; champion "
                  f"v{job.champion.version}'s reference + {job.data['n_batches']} monitored "
                  "batch(es) in all")
        job.store.log_dataset(frames[name], source, _dataset_name(name, span),
                              parts.schema.target, context=name)


def comparison_table(job: _Job, champion_metrics: Mapping[str, float],
                     evaluated: Sequence[_Evaluated], best: _Evaluated) -> pd.DataFrame:
    """Champion and candidates side by side on the holdout (one row each): the validation
    primary metric (``val_<metric>``) and the type's holdout metrics
    (:data:`HOLDOUT_COLUMNS_BY_TYPE`)."""
    problem_type = job.champion.schema.problem_type
    columns = HOLDOUT_COLUMNS_BY_TYPE[problem_type]
    val = f"val_{problem(problem_type).primary_metric}"
    rows = [{"model": f"champion v{job.champion.version}", "role": "champion",
             "run_id": job.champion.run_id, val: np.nan, "selected": False,
             **{k: champion_metrics.get(k, np.nan) for k in columns}}]
    rows += [{"model": ev.candidate.name, "role": "candidate", "run_id": ev.run_id,
              val: ev.candidate.metrics.get(val, np.nan),
              "selected": ev is best, **{k: ev.metrics.get(k, np.nan) for k in columns}}
             for ev in evaluated]
    return pd.DataFrame(rows)


def _log_comparison(store: Store, table: pd.DataFrame) -> None:
    store.log_text(table.to_csv(index=False), "comparison.csv")
    store.log_table(table.astype({"selected": "bool"}), "comparison.json")


def _write_summary(store: Store, summary: RetrainingSummary, path: Path) -> None:
    """``retraining_summary.json`` in the active run and at ``path`` (atomic replace)."""
    text = json_text(summary.to_dict())
    store.log_text(text, c.RETRAINING_SUMMARY_ARTIFACT)
    atomic_write_text(path, text)


# ----------------------------------------------------------------------------- decisions


def _evidence_tags(job: _Job, best: _Evaluated, decision: GateDecision,
                   parent_run_id: str, holdout: pd.DataFrame) -> dict[str, Any]:
    """Why this version was promoted, and what its reference is, as searchable tags (the
    primary metric's: ``candidate_roc_auc``, ``candidate_rmse``...), and what kind of model
    it is (``problem_type``, multiclass ``classes``: as the baseline's)."""
    m = decision.metric
    return {
        **type_tags(job.champion.schema),
        "reference_rows": len(holdout),
        "reference_batches": ",".join(dict.fromkeys(holdout[ORIGIN_COLUMN].astype(str)))[
            :c.TAG_LIMIT],
        f"candidate_{m}": readable(decision.candidate_value),
        f"champion_{m}": readable(decision.champion_value),
        f"required_{m}": readable(decision.required_value),
        "promotion_pvalue": "" if decision.pvalue is None else f"{decision.pvalue:.3g}",
        "promotion_alpha": "" if decision.alpha is None else decision.alpha,
        "margin": decision.margin, "margin_mode": decision.mode,
        "source_run_id": best.run_id, "parent_run_id": parent_run_id,
        "model_type": best.candidate.name,
        "trained_by": "retraining", "champion_version_before": job.champion.version,
        c.VTAG_VALIDATION_STATUS: "approved", c.VTAG_PROMOTION_STATUS: "pending",
    }


def _version_story(job: _Job, best: _Evaluated, decision: GateDecision,
                   parent_run_id: str, holdout: pd.DataFrame) -> str:
    """The new version's description: where it came from and why it may serve."""
    tracking = job.settings.tracking
    experiment = job.store.experiment_id(tracking.retraining_experiment)
    kind = problem(job.champion.schema.problem_type)
    return (f"**Retrained** {best.candidate.name} by run "
            f"{c.run_link(str(experiment), parent_run_id, parent_run_id[:8])} because: "
            f"{job.reason[:600]}\n\n"
            f"Holdout ({_holdout_span(job, holdout).text()}): {kind.label} "
            f"{metric_text(kind, decision.candidate_value)} against the champion "
            f"{c.version_link(tracking.registered_model_name, job.champion.version)}'s "
            f"{metric_text(kind, decision.champion_value)}.\n\n**Gate**: {decision.message}")


def _register_and_promote(job: _Job, best: _Evaluated, decision: GateDecision,
                          parent_run_id: str, holdout: pd.DataFrame) -> str:
    """Register ``best`` with the gate's evidence, then move the aliases (backup first, then
    ``champion`` in one call: a crash in between leaves the old champion serving). In
    approval mode only the ``challenger`` alias moves; ``pipelines.approve`` does the rest."""
    store, promotion = job.store, job.settings.promotion
    if job.fence is not None:
        job.fence()  # still the live lock holder? else stop before anything irreversible
    version = register_model(store, best.model_uri,
                             tags=_evidence_tags(job, best, decision, parent_run_id, holdout))
    new_version = str(version.version)
    describe_version(store, new_version, _version_story(job, best, decision, parent_run_id,
                                                        holdout))
    actor = default_actor(promotion.actor)
    if promotion.mode == "approval":
        old = alias_version(store, promotion.challenger_alias)
        set_alias(store, promotion.challenger_alias, new_version)
        tag_version(store, new_version, {c.VTAG_PROMOTION_STATUS: c.AWAITING_APPROVAL,
                                         c.VTAG_CHAMPION_AT_GATE: job.champion.version})
        record_audit(store, "challenger", [AliasMove(
            promotion.challenger_alias, str(old.version) if old else None, new_version)],
            actor=actor, reason=f"passed the gate, waiting for approval: {decision.message}")
        store.set_tags({c.TAG_NEW_VERSION: new_version})
        return new_version
    # the intent first: if this process dies while the aliases move, the next cycle completes
    store.set_tags({c.TAG_NEW_VERSION: new_version, c.TAG_PROMOTION_INTENT: new_version,
                    c.TAG_PROMOTION_FROM: job.champion.version})
    try:
        promote(store, new_version, actor=f"{actor} (auto)", reason=decision.message)
    except Exception:
        tag_version(store, new_version, {c.VTAG_PROMOTION_STATUS: "failed"}, best_effort=True)
        raise
    tag_version(store, new_version, {c.VTAG_PROMOTION_STATUS: c.PROMOTED}, best_effort=True)
    return new_version


@dataclass(frozen=True)
class _Comparison:
    """Candidates and champion scored on the same holdout, and the gate's verdict."""

    evaluated: list[_Evaluated]
    best: _Evaluated
    champion_metrics: dict[str, float]
    decision: GateDecision
    paired: DeLongResult | PairedTest | None = None
    """DeLong (binary), paired t-test on squared errors (regression), paired bootstrap of
    macro F1 (multiclass); None when it could not be computed."""


def _importance_stability(job: _Job, ev: _Evaluated, parts: _Parts) -> None:
    """Issue 24: the candidate's importances, recorded with it, against the champion's."""
    seed = job.settings.training.random_state
    mine = importance.importances_of(ev.candidate.estimator, ev.candidate.flavor,
                                     parts.holdout, parts.schema, seed)
    importance.record(job.store, mine)
    try:
        champion = importance.champion_importances(job.store, job.champion, parts.holdout, seed)
        importance.log_stability(job.store, champion, mine,
                                 job.settings.monitoring.importance_top_k)
    except Exception as exc:  # noqa: BLE001 (a comparison beside the candidate)
        logger.warning("Importance stability of candidate %s: %s", ev.candidate.name, exc)


def _fit_and_compare(job: _Job, parts: _Parts) -> _Comparison:
    """Fit the candidates, log one nested run each, score everyone on the holdout, decide."""
    threshold = job.settings.training.decision_threshold
    fitted = fit_and_select(parts.train, parts.validation, parts.schema, job.settings.training,
                            weight_column=WEIGHT_COLUMN)
    evaluated = _evaluate(fitted, parts, threshold)
    for ev in evaluated:
        _log_candidate(job, ev, parts)
    kind = _kind(parts)
    y = _holdout_target(parts)
    champion_scores = job.champion.score(parts.holdout)
    champion_metrics = _holdout_metrics(parts, y, champion_scores, threshold)
    best = best_of(evaluated, kind)
    paired = paired_test(kind.name, y, champion_scores, best.scores,
                         seed=job.settings.training.random_state)
    r = job.settings.retraining
    mode = margin_mode_for(kind.name, r.margin_mode, explicit_keys(job.settings))
    gate = PromotionGate(r.promotion_margin, mode, r.promotion_alpha, kind.name)
    # the best of several candidates is chosen on this same holdout: the gate corrects the
    # paired p-value for that choice (Bonferroni over the candidates) and says so
    metric = kind.primary_metric
    decision = gate.decide(best.metrics[metric], champion_metrics[metric],
                           paired.pvalue if paired else None, comparisons=len(evaluated),
                           test=paired if isinstance(paired, PairedTest) else None)
    logger.info("Gate: %s", decision.message)
    return _Comparison(evaluated=evaluated, best=best, champion_metrics=champion_metrics,
                       decision=decision, paired=paired)


def paired_test(problem_type: str, y: np.ndarray, champion: np.ndarray, candidate: np.ndarray,
                *, seed: int = 0) -> DeLongResult | PairedTest | None:
    """The type's paired one-sided test of the candidate against the champion on the same
    holdout rows: DeLong on ROC-AUC (binary), a t-test on the per-row squared errors
    (regression), a bootstrap of macro F1 (multiclass); None (logged) when it cannot be
    computed (a class missing, too few rows): the gate then says "not computed"."""
    try:
        if problem_type == "regression":
            return paired_squared_error_test(y, champion, candidate)
        if problem_type == "multiclass":
            return paired_bootstrap_test(y, champion, candidate, metric="macro_f1", seed=seed)
        return delong_test(y, champion, candidate)
    except (DataError, ValueError) as exc:
        logger.warning("Paired test not possible on the holdout: %s", exc)
        return None


def _log_decision(job: _Job, cmp: _Comparison, verdict: c.RetrainingVerdict,
                  new_version: str | None, spans: Sequence[tuple[str, DataSpan]]) -> None:
    best, decision, store = cmp.best, cmp.decision, job.store
    store.set_tags({c.TAG_VERDICT: verdict,
                    c.TAG_VERDICT_MESSAGE: decision.message[:c.TAG_LIMIT],
                    c.TAG_NEW_VERSION: new_version or "", "best_candidate": best.candidate.name,
                    "best_candidate_run_id": best.run_id})
    m = decision.metric
    store.log_metrics({
        **_prefixed(cmp.champion_metrics, "champion_holdout_"),
        f"best_candidate_holdout_{m}": best.metrics[m],
        "margin": decision.margin, f"required_{m}": decision.required_value,
        "promotion_margin_gain": decision.margin_gain,
        "promotion_pvalue": decision.pvalue if decision.pvalue is not None else float("nan"),
        "promotion_alpha": decision.alpha if decision.alpha is not None else float("nan"),
        "promoted": float(decision.promote)})
    if isinstance(cmp.paired, DeLongResult):
        store.log_json(cmp.paired.to_dict(), "delong_test.json")
    elif cmp.paired is not None:
        store.log_json(asdict(cmp.paired), PAIRED_TEST_ARTIFACT)
    table = comparison_table(job, cmp.champion_metrics, cmp.evaluated, best)
    _log_comparison(store, table)
    store.log_json(decision.to_dict(), c.GATE_DECISION_ARTIFACT)
    model = job.settings.tracking.registered_model_name
    links = {"champion before": c.version_link(model, job.champion.version)}
    if new_version:
        links["promoted" if verdict == c.PROMOTED else "waiting for approval"] = (
            c.version_link(model, new_version))
    store.set_tags({
        "mlflow.runName": run_name(verdict, decision, new_version),
        c.TAG_RUN_COLOR: c.STATUS_COLORS[verdict],
        c.TAG_DESCRIPTION: narrative.description(
            verdict, job.reason, decision, table, links, data=spans,
            problem_type=job.champion.schema.problem_type)[:c.DESCRIPTION_LIMIT]})


def _train_and_decide(job: _Job, parts: _Parts) -> RetrainingSummary:
    tracking = job.settings.tracking
    sizes = {"n_train": len(parts.train), "n_validation": len(parts.validation),
             "n_holdout": len(parts.holdout)}
    with job.store.start_run(tracking.retraining_experiment, run_name=job.run_name,
                             tags=_parent_tags(job)) as parent:
        job.store.log_params({**_parent_params(job), **sizes})
        spans = _spans(job, parts)
        _log_datasets(job, parts, spans)
        cmp = _fit_and_compare(job, parts)
        new_version = (_register_and_promote(job, cmp.best, cmp.decision, parent.info.run_id,
                                             parts.holdout)
                       if cmp.decision.promote else None)
        verdict: c.RetrainingVerdict = (
            c.REJECTED if not cmp.decision.promote else
            c.AWAITING_APPROVAL if job.settings.promotion.mode == "approval" else c.PROMOTED)
        _log_decision(job, cmp, verdict, new_version, spans)
        metric = cmp.decision.metric
        summary = RetrainingSummary(
            decision=verdict, message=cmp.decision.message, reason=job.reason,
            started_at=job.now.isoformat(), parent_run_id=parent.info.run_id,
            experiment_id=parent.info.experiment_id,
            champion_version_before=job.champion.version,
            champion_holdout_metrics=dict(cmp.champion_metrics),
            candidates=[ev.row(metric) for ev in cmp.evaluated],
            best_candidate=cmp.best.row(metric),
            gate=cmp.decision.to_dict(), new_version=new_version,
            data={**job.data, **sizes}, summary_path=str(job.summary_path))
        _write_summary(job.store, summary, job.summary_path)
    logger.info("Retraining %s: %s (summary %s)", verdict, summary.message, job.summary_path)
    return summary


def _record_invalid(job: _Job, problems: Sequence[str]) -> RetrainingSummary:
    """A parent run that says why nothing was trained; the champion is untouched."""
    for line in problems:
        logger.error("Retraining data invalid: %s", line)
    message = "Training data invalid: " + "; ".join(problems)
    tracking = job.settings.tracking
    with job.store.start_run(tracking.retraining_experiment, run_name=job.run_name,
                             tags=_parent_tags(job)) as parent:
        job.store.log_params(_parent_params(job))
        job.store.set_tags({c.TAG_VERDICT: c.INVALID_DATA,
                            c.TAG_VERDICT_MESSAGE: message[:c.TAG_LIMIT],
                            "invalid_data.reasons": "\n".join(problems)[:c.TAG_LIMIT],
                            c.TAG_NEW_VERSION: "",
                            "mlflow.runName": run_name(c.INVALID_DATA, None, None),
                            c.TAG_RUN_COLOR: c.STATUS_COLORS[c.INVALID_DATA],
                            c.TAG_DESCRIPTION: narrative.description(
                                c.INVALID_DATA, job.reason, None, None,
                                problems=tuple(problems))[:c.DESCRIPTION_LIMIT]})
        summary = RetrainingSummary(
            decision=c.INVALID_DATA, message=message, reason=job.reason,
            started_at=job.now.isoformat(), parent_run_id=parent.info.run_id,
            experiment_id=parent.info.experiment_id,
            champion_version_before=job.champion.version, problems=list(problems),
            data=job.data, summary_path=str(job.summary_path))
        _write_summary(job.store, summary, job.summary_path)
    return summary


def retrain(settings: Settings, *, store: Store | None = None,
            now: datetime | None = None, reason: str = "manual",
            extra_tags: Mapping[str, str] | None = None,
            fence: Callable[[], None] | None = None) -> RetrainingSummary:
    """Retrain on the champion's reference plus recent labelled batches; promote if the gate
    passes. Invalid data give ``decision="invalid_data"`` (no exception, nothing trained).

    Raises :class:`~pipelines.errors.ModelNotFoundError` when there is no champion and
    :class:`~pipelines.errors.TrackingError` when the store cannot be used. Any exception
    after the parent run opened marks it FAILED; the champion alias only ever moves last.
    """
    now = _utc(now)
    store = store or connect(settings.tracking)
    require_permission(store, "retrain")  # before training: a refusal changes nothing
    job = dataclasses.replace(_prepare(settings, store, now, reason, extra_tags), fence=fence)
    problems = validate_training_data(job.frame, job.champion.schema, settings.retraining)
    parts: _Parts | None = None
    if not problems:
        try:
            parts = _split(job)
        except RetrainingRefused as exc:
            problems = [str(exc)]
    summary = _record_invalid(job, problems) if parts is None else _train_and_decide(job, parts)
    # after the parent run ended: the audit record of a promotion rewrote it while the run
    # was still open, without its verdict
    describe_model(job.store, settings.promotion.challenger_alias)  # "last retraining"
    promoted = summary.decision == c.PROMOTED
    waiting = summary.decision == c.AWAITING_APPROVAL
    failures = broadcast(notifiers_for(settings), Notification(
        subject=(f"champion is now version {summary.new_version}: " if promoted else
                 f"version {summary.new_version} waits for approval (python -m "
                 f"pipelines.approve or reject): " if waiting else
                 f"retraining {summary.decision}: ") + summary.message[:450],
        severity="info" if summary.decision == c.REJECTED else "warning",
        event="promotion" if promoted else "approval" if waiting else "retraining",
        links={"run": summary.parent_run_id or "", "summary": str(job.summary_path)}))
    if failures and summary.parent_run_id:
        job.store.set_tags({c.TAG_NOTIFICATION_FAILED: "; ".join(failures)[:c.TAG_LIMIT]},
                           run_id=summary.parent_run_id)
    return summary
