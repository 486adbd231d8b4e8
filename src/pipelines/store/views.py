"""The service's one reader of the store: a :class:`Snapshot` of what the monitoring runs,
retraining runs, aliases and the audit trail say, as plain data.

:func:`read_snapshot` never writes. Each monitoring run's ``monitoring_report.json`` (per-
feature drift, alerts, quality, concept/prediction/target drift) is downloaded once, the
first time the run is seen finished, and again only when labels are registered on it later
(its ``labels.registered_at`` tag changes); otherwise the previous snapshot's details are
reused, so a refresh costs a few searches whatever the number of batches.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from pipelines.config import Settings
from pipelines.errors import MonitoringError, TrackingError
from pipelines.problems import PROBLEM_TYPE_TAG, problem
from pipelines.service.snapshot import (
    AlertRecord,
    BatchDetail,
    BatchRecord,
    FeatureDrift,
    ModelState,
    RetrainingRecord,
    Snapshot,
    VersionInfo,
)
from pipelines.store import contract as c
from pipelines.store.audit import history
from pipelines.store.client import Store, tracking_outage
from pipelines.store.database import masked
from pipelines.store.registry import alias_version

logger = logging.getLogger(__name__)

#: Reports downloaded at once on a read that meets new runs.
DOWNLOAD_THREADS = 4
#: Search page size (MLflow's maximum per call for runs).
PAGE_SIZE = 200
#: Retraining runs and audit events a snapshot keeps (newest).
RETRAININGS_KEPT = 200
AUDIT_KEPT = 200
#: Inbox subfolder where refused batches wait beside their ``.reason.txt``.
REJECTED_DIR = "rejected"
REASON_SUFFIX = ".reason.txt"


class ReportNotFound(MonitoringError, LookupError):
    """A run has no ``monitoring_report.json`` (unknown run, a failed or running one)."""


# ----------------------------------------------------------------------------- the snapshot

def read_snapshot(store: Store, settings: Settings, previous: Snapshot | None = None, *,
                  details_budget_seconds: float | None = None,
                  progress: Callable[[], None] | None = None) -> Snapshot:
    """Everything the service shows, read from ``store`` now. ``previous``: the last
    snapshot, whose report details are reused for runs whose labels did not change;
    ``details_budget_seconds``: how long new reports may be downloaded (the rest come with a
    later read; default: all now); ``progress``: called each time the store answered a part
    (a page of runs, a report), so a caller can tell a large store from one that hangs.
    Raises :class:`TrackingError` (:class:`TrackingUnavailable` for an outage) when the
    store cannot be read."""
    started = time.monotonic()
    taken_at = time.time()
    tracking = settings.tracking
    answered = progress or (lambda: None)
    try:
        monitoring_id = store.experiment_id(tracking.monitoring_experiment, create=False) or ""
        retraining_id = store.experiment_id(tracking.retraining_experiment, create=False) or ""
        answered()
        runs = monitoring_runs(store, monitoring_id, settings.service.max_batches, progress)
        batches = tuple(sorted((batch_record(r) for r in runs),
                               key=lambda b: (b.sequence, b.started_at)))
        retrainings = tuple(retraining_record(r)
                            for r in retraining_runs(store, retraining_id, RETRAININGS_KEPT))
        answered()
        events = tuple(audit_event(e) for e in history(store, limit=AUDIT_KEPT))
        answered()
        run_type = next((r.data.tags[PROBLEM_TYPE_TAG] for r in runs
                         if r.data.tags.get(PROBLEM_TYPE_TAG)), None)  # newest first
        model = model_state(store, settings, run_type)
        answered()
        details = read_details(store, batches, previous,
                               budget_seconds=details_budget_seconds, progress=progress)
    except MlflowException as exc:
        outage = tracking_outage(exc, store.uri)
        if outage is not None:
            raise outage from exc
        raise TrackingError(f"Cannot read the MLflow store {masked(store.uri)}: {exc}") from exc
    except TrackingError:
        raise
    except Exception as exc:
        outage = tracking_outage(exc, store.uri)
        if outage is not None:
            raise outage from exc
        raise
    return Snapshot(
        taken_at=taken_at, read_seconds=time.monotonic() - started, model=model,
        batches=batches, details=details, retrainings=retrainings, audit=events,
        cooldown_days=settings.retraining.cooldown_days,
        performance_limit=performance_limit(settings, model, batches),
        refused_files=refused_files(settings.paths.inbox),
        monitoring_experiment_id=monitoring_id, retraining_experiment_id=retraining_id,
        mlflow_ui_url=settings.service.mlflow_ui_url)


def monitoring_runs(store: Store, experiment_id: str, max_runs: int,
                    progress: Callable[[], None] | None = None) -> list[Run]:
    """The newest ``max_runs`` monitoring runs of ``experiment_id`` (any status), newest
    first, following page tokens."""
    if not experiment_id:
        return []
    runs: list[Run] = []
    token: str | None = None
    while len(runs) < max_runs:
        page = store.client.search_runs(
            [experiment_id], filter_string=f"tags.`{c.TAG_STEP}` = '{c.STEP_MONITOR}'",
            order_by=["attributes.start_time DESC"],
            max_results=min(PAGE_SIZE, max_runs - len(runs)), page_token=token)
        runs.extend(page)
        if progress is not None:
            progress()
        token = page.token
        if not token:
            break
    return runs[:max_runs]


def retraining_runs(store: Store, experiment_id: str, limit: int) -> list[Run]:
    """Parent retraining runs, newest first."""
    if not experiment_id:
        return []
    return list(store.client.search_runs(
        [experiment_id], filter_string=f"tags.`{c.TAG_RETRAINING_ROLE}` = '{c.ROLE_PARENT}'",
        order_by=["attributes.start_time DESC"], max_results=limit))


def _seconds(ms: int | None) -> float | None:
    return ms / 1000 if ms is not None else None


def _split(tag: str | None) -> tuple[str, ...]:
    """A comma-separated tag as names (``none``, the monitor's word for none, is none)."""
    return tuple(p for p in (tag or "").split(",") if p and p != "none")


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except ValueError:
        return None


def batch_record(run: Run) -> BatchRecord:
    """A monitoring run as the service keeps it (tags and newest metrics)."""
    tags = run.data.tags
    metrics = dict(run.data.metrics)
    failed = run.info.status == "FAILED"
    n_rows = _int(str(metrics["n_rows"])) if "n_rows" in metrics else None
    return BatchRecord(
        run_id=run.info.run_id, experiment_id=run.info.experiment_id,
        sequence=_int(tags.get(c.TAG_SEQUENCE)) or 0,
        run_name=run.info.run_name or tags.get(c.TAG_RUN_NAME, ""),
        run_status=run.info.status,
        status="" if failed else tags.get(c.TAG_STATUS, ""),
        started_at=float(_seconds(run.info.start_time) or 0.0),
        ended_at=_seconds(run.info.end_time),
        batch_id=tags.get(c.TAG_BATCH_ID, ""), batch_file=tags.get(c.TAG_BATCH_FILE, ""),
        time_start=tags.get(c.TAG_BATCH_TIME_START, ""),
        time_end=tags.get(c.TAG_BATCH_TIME_END, ""),
        n_rows=n_rows,
        has_labels=tags.get(c.TAG_HAS_LABELS) == "true" or c.TAG_LABELS_COUNT in tags,
        labels_registered_at=tags.get(c.TAG_LABELS_AT, ""),
        champion_version=tags.get(c.TAG_CHAMPION_VERSION, ""),
        decision=tags.get(c.TAG_CYCLE_DECISION, ""),
        decision_message=tags.get(c.TAG_CYCLE_MESSAGE, ""),
        retraining_recommended=tags.get(c.TAG_RETRAINING_RECOMMENDED) == "true",
        retraining_run_id=tags.get(c.TAG_CYCLE_RETRAINING_RUN, ""),
        alert_rules=_split(tags.get(c.TAG_ALERTS)),
        drifted_features=_split(tags.get(c.TAG_DRIFTED_FEATURES)),
        engine=tags.get(c.TAG_ENGINE, "memory"),
        notification_failed=tags.get(c.TAG_NOTIFICATION_FAILED, ""),
        failure_reason=tags.get(c.TAG_FAILURE_REASON, ""),
        metrics=metrics)


def retraining_record(run: Run) -> RetrainingRecord:
    tags = run.data.tags
    return RetrainingRecord(
        run_id=run.info.run_id, experiment_id=run.info.experiment_id,
        run_name=run.info.run_name or "", run_status=run.info.status,
        started_at=float(_seconds(run.info.start_time) or 0.0),
        ended_at=_seconds(run.info.end_time),
        verdict=tags.get(c.TAG_VERDICT, ""), message=tags.get(c.TAG_VERDICT_MESSAGE, ""),
        reason=tags.get(c.TAG_RETRAINING_REASON, ""), new_version=tags.get(c.TAG_NEW_VERSION, ""),
        metrics=dict(run.data.metrics))


def audit_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An audit event with its moves as plain dicts."""
    return {**event, "moves": [asdict(m) if not isinstance(m, Mapping) else dict(m)
                               for m in event.get("moves", [])]}


def version_info(version: ModelVersion | None) -> VersionInfo | None:
    if version is None:
        return None
    tags = dict(version.tags or {})
    return VersionInfo(version=str(version.version), run_id=version.run_id or "",
                       created_at=float(_seconds(version.creation_timestamp) or 0.0),
                       promoted_at=tags.get(c.VTAG_PROMOTED_AT, ""),
                       trained_by=tags.get("trained_by", ""), tags=tags)


def model_state(store: Store, settings: Settings, run_type: str | None = None) -> ModelState:
    """The registered model's aliases, and the serving version's problem type: its version
    tag, else ``run_type`` (the newest monitoring run's: each records its champion's), else
    binary.
    A ``previous-champion`` alias on the serving version itself is no fallback: None."""
    tracking = settings.tracking
    serving = version_info(alias_version(store, tracking.champion_alias))
    fallback = version_info(alias_version(store, tracking.previous_alias))
    challenger = version_info(alias_version(store, settings.promotion.challenger_alias))
    if fallback is not None and serving is not None and fallback.version == serving.version:
        fallback = None
    kind = serving.tags.get(PROBLEM_TYPE_TAG) if serving is not None else None
    if not kind:
        kind = run_type
    try:
        described = problem(kind)
    except ValueError:
        logger.warning("Unknown problem type %r on the champion: read as binary", kind)
        described = problem(None)
    return ModelState(name=tracking.registered_model_name, problem_type=described.name,
                      primary_metric=described.primary_metric, serving=serving,
                      fallback=fallback, challenger=challenger)


def performance_limit(settings: Settings, model: ModelState,
                      batches: Iterable[BatchRecord] = ()) -> float | None:
    """The primary metric's alert line for the serving model's type, as the monitor draws it
    (:meth:`pipelines.workflows.monitor.Monitor._performance_limit`): the ROC-AUC or macro-F1
    floor, the RMSE ceiling (a relative one times the reference RMSE the newest run logged);
    None when there is none."""
    from pipelines.monitoring.policy import MonitoringPolicy

    policy = MonitoringPolicy.from_settings(settings.monitoring,
                                            settings.training.decision_threshold,
                                            problem_type=model.problem_type)
    if model.problem_type == "regression":
        reference = next((b.metrics["reference_rmse"] for b in reversed(tuple(batches))
                          if "reference_rmse" in b.metrics), math.nan)
        policy = policy.for_reference({"rmse": reference})
    limit = policy.performance.limit
    return float(limit) if limit is not None and math.isfinite(limit) else None


def refused_files(inbox: Path) -> int:
    """Refused batch files waiting in ``<inbox>/rejected`` (their reason files not counted)."""
    folder = Path(inbox) / REJECTED_DIR
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.endswith(REASON_SUFFIX))


# ----------------------------------------------------------------------------- details

def read_details(store: Store, batches: Iterable[BatchRecord],
                 previous: Snapshot | None = None, *,
                 budget_seconds: float | None = None,
                 progress: Callable[[], None] | None = None) -> dict[str, BatchDetail]:
    """Each finished run's report details: from ``previous`` when it has them and the run's
    labels registration did not change since, else downloaded (a few at a time, newest run
    first). ``budget_seconds``: no download starts after that long; the runs left get their
    details on a later read (they are not in this one's). A report that cannot be read
    leaves its run without details (logged); an outage raises."""
    known = {b.run_id: b for b in previous.batches} if previous is not None else {}
    old = previous.details if previous is not None else {}
    details: dict[str, BatchDetail] = {}
    wanted: list[str] = []
    labelled: set[str] = set()
    for b in batches:
        if b.run_status != "FINISHED":
            continue
        if b.labels_registered_at:
            labelled.add(b.run_id)
        before = known.get(b.run_id)
        if (b.run_id in old and before is not None
                and before.labels_registered_at == b.labels_registered_at):
            details[b.run_id] = old[b.run_id]
        else:
            wanted.append(b.run_id)
    if not wanted:
        return details
    wanted.reverse()  # newest first: what the dashboard shows first
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    pool = ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS, thread_name_prefix="report-reader")
    try:
        futures = {run_id: pool.submit(_detail_or_none, store, run_id, run_id in labelled)
                   for run_id in wanted}
        for future in futures.values():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(timeout=remaining)
            except FutureTimeout:
                break
            if progress is not None:
                progress()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # the downloads under way end
    left = 0
    for run_id, future in futures.items():
        if future.cancelled():
            left += 1
            continue
        detail = future.result()  # an outage raises here
        if detail is not None:
            details[run_id] = detail
    if left:
        logger.info("%d monitoring reports left for the next read (budget %.1f s)", left,
                    budget_seconds or 0.0)
    return details


def _detail_or_none(store: Store, run_id: str, labelled: bool = False) -> BatchDetail | None:
    try:
        return parse_detail(read_report(store, run_id, labelled=labelled))
    except ReportNotFound as exc:
        logger.warning("%s", exc)
        return None
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("Run %s: monitoring report not understood: %s", run_id, exc)
        return None


def read_report(store: Store, run_id: str, *, labelled: bool = False) -> dict[str, Any]:
    """The run's ``monitoring_report.json``; ``labelled`` (labels were registered after the
    batch was monitored): the report written then, ``monitoring_report_labelled.json``, the
    verdict the run's tags show now (the original when that one cannot be read). Raises
    :class:`ReportNotFound` when the run has none, :class:`TrackingUnavailable` on an outage,
    :class:`TrackingError` otherwise."""
    if labelled:
        try:
            return _read_json_artifact(store, run_id, c.LABELLED_REPORT_ARTIFACT)
        except ReportNotFound as exc:
            logger.warning("%s; the report of the batch as monitored is used", exc)
    return _read_json_artifact(store, run_id, c.MONITORING_REPORT_ARTIFACT)


def _read_json_artifact(store: Store, run_id: str, artifact: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="churnmon-report-") as tmp:
        try:
            path = store.client.download_artifacts(run_id, artifact, tmp)
        except Exception as exc:
            outage = tracking_outage(exc, store.uri)
            if outage is not None:
                raise outage from exc
            if isinstance(exc, (MlflowException, OSError)):
                raise ReportNotFound(f"Run {run_id} has no readable "
                                     f"{artifact}: {exc}") from exc
            raise
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReportNotFound(f"Run {run_id}: {artifact} cannot be "
                                 f"read: {exc}") from exc
    if not isinstance(data, dict):
        raise ReportNotFound(f"Run {run_id}: {artifact} is not an object")
    return data


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def parse_detail(report: Mapping[str, Any]) -> BatchDetail:
    """What the service keeps of a monitoring report (pure)."""
    alerts = tuple(AlertRecord(rule=str(a.get("rule", "")), severity=str(a.get("severity", "")),
                               message=str(a.get("message", "")), value=_float(a.get("value")),
                               threshold=_float(a.get("threshold")))
                   for a in report.get("alerts") or ())
    features = tuple(
        FeatureDrift(feature=str(f.get("feature", "")), kind=str(f.get("kind", "")),
                     test=str(f.get("test", "")), statistic=_float(f.get("statistic")),
                     p_value=_float(f.get("pvalue_adjusted", f.get("pvalue"))),
                     effect=_float(f.get("effect_size")), drifted=bool(f.get("drifted")))
        for f in (report.get("drift") or {}).get("features") or ())
    return BatchDetail(alerts=alerts, features=features,
                       quality=quality_summary(report.get("data_quality") or {}),
                       concept_drift=report.get("concept_drift"),
                       prediction_drift=report.get("prediction_drift"),
                       target_drift=report.get("target_drift"))


def quality_summary(quality: Mapping[str, Any]) -> dict[str, Any]:
    """The report's data-quality section without its per-column table, plus the column
    shares summed up: mean and largest missing share, largest out-of-range and unseen-
    category shares (None without columns)."""
    columns = [col for col in quality.get("columns") or () if isinstance(col, Mapping)]

    def shares(key: str) -> list[float]:
        return [v for col in columns if (v := _float(col.get(key))) is not None]

    missing = shares("missing_share")
    out_of_range = shares("out_of_range_share")
    unseen = shares("unseen_category_share")
    return {
        "n_rows": quality.get("n_rows"),
        "duplicate_ids": quality.get("duplicate_ids"),
        "problem_columns": list(quality.get("problem_columns") or ()),
        "issues": [dict(i) for i in quality.get("issues") or ()],
        "missing_share": sum(missing) / len(missing) if missing else None,
        "max_missing_share": max(missing) if missing else None,
        "max_out_of_range_share": max(out_of_range) if out_of_range else None,
        "max_unseen_category_share": max(unseen) if unseen else None,
    }
