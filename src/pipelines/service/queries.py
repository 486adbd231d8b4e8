"""One pure function per endpoint of the service: a :class:`Snapshot` in, a JSON-able dict out.

No MLflow, no I/O: the app calls these on the newest snapshot (and, for one batch, on its
report, downloaded by :meth:`pipelines.service.state.ServiceState.report`). Every answer
carries ``as_of``, the snapshot's time (ISO 8601, UTC). Unknown batches or features raise
:class:`NotFound` (HTTP 404), bad parameters :class:`BadQuery` (HTTP 422), with a message
naming the parameter and what it accepts. Numbers that are not finite come out as null.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipelines.errors import MonitoringError
from pipelines.service.snapshot import (
    BatchRecord,
    RetrainingRecord,
    Snapshot,
    VersionInfo,
)
from pipelines.store.contract import COUNTED_VERDICTS, HTML_REPORT_ARTIFACT


class NotFound(MonitoringError, LookupError):
    """The batch, feature or record asked for does not exist (HTTP 404)."""


class BadQuery(MonitoringError, ValueError):
    """A query parameter is out of range or cannot be read (HTTP 422)."""


#: Severities, least to most severe.
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
#: Values of the ``status`` filter of :func:`batches`.
STATUSES: tuple[str, ...] = ("ok", "warning", "critical", "failed")
#: Largest ``limit`` of list queries (batches, alerts, audit, matrix) and of histories.
MAX_LIST = 1000
MAX_HISTORY = 10_000
#: Retraining runs :func:`retraining_status` lists.
RECENT_RETRAININGS = 10
_DAY = 86_400.0


# ----------------------------------------------------------------------------- helpers

def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples lists, mappings dicts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _as_of(snap: Snapshot) -> dict[str, Any]:
    return {"as_of": _iso(snap.taken_at)}


def _limit(value: int, name: str = "limit", largest: int = MAX_LIST) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
        raise BadQuery(f"{name} must be a whole number from 1 to {largest}; got {value!r}")
    return value


def _offset(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadQuery(f"offset must be a whole number from 0; got {value!r}")
    return value


def _since(text: str | None) -> tuple[str, float] | None:
    """``("sequence", n)`` or ``("time", epoch seconds)`` from a ``since`` parameter."""
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    if text.isdigit():
        return "sequence", float(int(text))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadQuery(f"since must be an ISO 8601 date or date/time (2026-12-07, "
                       f"2026-12-07T10:00:00Z) or a batch sequence number (12); got {text!r}"
                       ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return "time", when.timestamp()


def _after(batches: Iterable[BatchRecord], since: str | None) -> list[BatchRecord]:
    bound = _since(since)
    if bound is None:
        return list(batches)
    kind, value = bound
    if kind == "sequence":
        return [b for b in batches if b.sequence >= value]
    return [b for b in batches if b.started_at >= value]


def batch_status(b: BatchRecord) -> str:
    """The verdict, or what the run is when it has none: ``failed`` (failed or killed),
    ``running``."""
    if b.status:
        return b.status
    if b.run_status in ("FAILED", "KILLED"):
        return "failed"
    return "running" if b.run_status == "RUNNING" else ""


def _judged(snap: Snapshot) -> list[BatchRecord]:
    """Batches with a verdict (finished runs), oldest first."""
    return [b for b in snap.batches if b.status and b.run_status == "FINISHED"]


def _latest(snap: Snapshot) -> BatchRecord:
    judged = _judged(snap)
    if not judged:
        raise NotFound("No monitored batch yet: the store has no finished monitoring run")
    return judged[-1]


def _links(snap: Snapshot, b: BatchRecord) -> dict[str, str]:
    ui = snap.mlflow_ui_url.rstrip("/")
    experiment = b.experiment_id or snap.monitoring_experiment_id
    return {"run": f"{ui}/#/experiments/{experiment}/runs/{b.run_id}",
            "report": f"{ui}/get-artifact?path={HTML_REPORT_ARTIFACT}&run_uuid={b.run_id}"}


def _primary(snap: Snapshot, b: BatchRecord) -> dict[str, Any]:
    metric = snap.model.primary_metric
    return {"metric": metric, "realized": _num(b.metrics.get(metric)),
            "estimated": _num(b.metrics.get(f"estimated_{metric}"))}


def batch_summary(snap: Snapshot, b: BatchRecord) -> dict[str, Any]:
    """One batch as the lists show it."""
    return {
        "sequence": b.sequence, "run_id": b.run_id, "run_name": b.run_name,
        "batch_id": b.batch_id, "at": _iso(b.started_at), "ended_at": _iso(b.ended_at),
        "status": batch_status(b), "run_status": b.run_status, "n_rows": b.n_rows,
        "has_labels": b.has_labels, "labels_registered_at": b.labels_registered_at or None,
        "time_start": b.time_start or None, "time_end": b.time_end or None,
        "champion_version": b.champion_version or None, "decision": b.decision or None,
        "retraining_recommended": b.retraining_recommended,
        "alerts": list(b.alert_rules), "drifted_features": list(b.drifted_features),
        "primary": _primary(snap, b), "failure_reason": b.failure_reason or None,
        "links": _links(snap, b),
    }


def _version(v: VersionInfo | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"version": v.version, "run_id": v.run_id, "created_at": _iso(v.created_at),
            "promoted_at": v.promoted_at or None, "trained_by": v.trained_by or None,
            "tags": dict(v.tags)}


def _retraining(r: RetrainingRecord) -> dict[str, Any]:
    return {"run_id": r.run_id, "run_name": r.run_name, "run_status": r.run_status,
            "at": _iso(r.started_at), "ended_at": _iso(r.ended_at), "verdict": r.verdict or None,
            "message": r.message, "reason": r.reason, "new_version": r.new_version or None,
            "metrics": _clean(dict(r.metrics))}


def _newest(items: Sequence[Any], limit: int) -> list[Any]:
    """The newest ``limit`` of ``items`` (oldest first), oldest first."""
    return list(items[-limit:]) if limit < len(items) else list(items)


# ----------------------------------------------------------------------------- endpoints

def health(state_health: Mapping[str, Any]) -> dict[str, Any]:
    """``/health`` from :meth:`ServiceState.health`: ok/reachable or unavailable/unreachable
    with the reason."""
    ok = bool(state_health.get("ok"))
    body = {"status": "ok" if ok else "unavailable",
            "store": "reachable" if ok else "unreachable",
            "as_of": _iso(state_health.get("taken_at")),
            "snapshot_age_seconds": _num(state_health.get("snapshot_age_seconds")),
            "batches": int(state_health.get("batches") or 0),
            "model": state_health.get("model"), "version": state_health.get("version")}
    if not ok:
        body["message"] = state_health.get("message") or "The MLflow store cannot be read"
    return body


def alerts(snap: Snapshot, *, limit: int = 50, min_severity: str = "warning") -> dict[str, Any]:
    """Alerts of every batch at ``min_severity`` or above, newest batch first. A batch whose
    report could not be read (or names fewer rules than its tags) gives those rules with its
    status as their severity and no message."""
    limit = _limit(limit)
    if min_severity not in SEVERITIES:
        raise BadQuery(f"min_severity must be one of {', '.join(SEVERITIES)}; "
                       f"got {min_severity!r}")
    floor = SEVERITIES.index(min_severity)
    found: list[dict[str, Any]] = []
    for b in reversed(snap.batches):
        detail = snap.details.get(b.run_id)
        records = ([(a.rule, a.severity, a.message, a.value, a.threshold)
                    for a in detail.alerts] if detail is not None else [])
        # rules the run's tags name that its report lacks (unread, or older than the tags)
        told = {r[0] for r in records}
        severity = b.status if b.status in SEVERITIES else "info"
        records += [(rule, severity, "", None, None) for rule in b.alert_rules
                    if rule not in told and rule != "none"]
        for rule, severity, message, value, threshold in records:
            rank = SEVERITIES.index(severity) if severity in SEVERITIES else 0
            if rank < floor:
                continue
            found.append({"sequence": b.sequence, "run_id": b.run_id, "batch_id": b.batch_id,
                          "at": _iso(b.started_at), "status": batch_status(b), "rule": rule,
                          "severity": severity, "message": message, "value": _num(value),
                          "threshold": _num(threshold)})
            if len(found) >= limit:
                return {**_as_of(snap), "alerts": found}
    return {**_as_of(snap), "alerts": found}


def metrics_baseline(snap: Snapshot) -> dict[str, Any]:
    """The serving champion's reference metrics (``reference_`` stripped), as the newest
    batch it scored logged them (empty before it scored one)."""
    model = snap.model
    version = model.serving.version if model.serving is not None else None
    source = next((b for b in reversed(snap.batches)
                   if b.champion_version == version
                   and any(k.startswith("reference_") for k in b.metrics)), None)
    metrics = ({k[len("reference_"):]: _num(v) for k, v in source.metrics.items()
                if k.startswith("reference_")} if source is not None else {})
    return {**_as_of(snap), "model": model.name, "version": version,
            "problem_type": model.problem_type, "primary_metric": model.primary_metric,
            "metrics": dict(sorted(metrics.items())),
            "source_run_id": source.run_id if source is not None else None}


def metrics_latest(snap: Snapshot) -> dict[str, Any]:
    """The newest finished batch's metrics. :class:`NotFound` without one."""
    b = _latest(snap)
    return {**_as_of(snap), "sequence": b.sequence, "run_id": b.run_id,
            "at": _iso(b.started_at), "status": batch_status(b),
            "champion_version": b.champion_version or None,
            "metrics": {k: _num(v) for k, v in sorted(b.metrics.items())}}


def metrics_history(snap: Snapshot, *, metric: str | None = None, since: str | None = None,
                    limit: int = 500) -> dict[str, Any]:
    """One metric over the batches (the newest ``limit`` since ``since``, oldest first):
    realized and estimated (with its 95 % band), the alert line, the retrainings and the
    champion changes in that span. ``metric``: default the model's primary metric."""
    limit = _limit(limit, largest=MAX_HISTORY)
    metric = metric or snap.model.primary_metric
    judged = _judged(snap)
    if metric != snap.model.primary_metric and judged:
        known = sorted({k for b in judged for k in b.metrics
                        if "/" not in k and not k.startswith(("estimated_", "reference_"))})
        if metric not in known:
            raise BadQuery(f"metric must be one the batches logged ({', '.join(known)}); "
                           f"got {metric!r}")
    chosen = _newest(_after(judged, since), limit)
    points = [{"sequence": b.sequence, "run_id": b.run_id, "at": _iso(b.started_at),
               "status": b.status, "realized": _num(b.metrics.get(metric)),
               "estimated": _num(b.metrics.get(f"estimated_{metric}")),
               "lower": _num(b.metrics.get(f"estimated_{metric}_lower")),
               "upper": _num(b.metrics.get(f"estimated_{metric}_upper")),
               "champion_version": b.champion_version or None, "decision": b.decision or None}
              for b in chosen]
    start = chosen[0].started_at if chosen else math.inf
    retrainings = [{"at": _iso(r.started_at), "run_id": r.run_id, "verdict": r.verdict or None,
                    "new_version": r.new_version or None}
                   for r in reversed(snap.retrainings) if r.started_at >= start]
    changes = [{"sequence": b.sequence, "from": a.champion_version, "to": b.champion_version}
               for a, b in zip(chosen, chosen[1:], strict=False)
               if a.champion_version and b.champion_version
               and a.champion_version != b.champion_version]
    return {**_as_of(snap), "metric": metric,
            "limit_line": snap.performance_limit if metric == snap.model.primary_metric
            else None,
            "points": points, "retrainings": retrainings, "champion_changes": changes}


def drift_data(snap: Snapshot) -> dict[str, Any]:
    """The newest finished batch's data drift: share, drifted features, each feature's test,
    and the prediction drift. :class:`NotFound` without a batch."""
    b = _latest(snap)
    detail = snap.details.get(b.run_id)
    features = [{"feature": f.feature, "kind": f.kind, "test": f.test,
                 "statistic": _num(f.statistic), "p_value": _num(f.p_value),
                 "effect": _num(f.effect), "drifted": f.drifted}
                for f in (detail.features if detail is not None else ())]
    return {**_as_of(snap), "sequence": b.sequence, "run_id": b.run_id,
            "at": _iso(b.started_at), "drift_share": _num(b.metrics.get("drift_share")),
            "drifted_features": list(b.drifted_features), "features": features,
            "prediction_drift": _clean(detail.prediction_drift) if detail else None,
            "target_drift": _clean(detail.target_drift) if detail else None}


def drift_concept(snap: Snapshot) -> dict[str, Any]:
    """The newest finished batch's concept-drift finding (``detected`` false and no details
    when it had no labels to judge it)."""
    b = _latest(snap)
    detail = snap.details.get(b.run_id)
    finding = detail.concept_drift if detail is not None else None
    return {**_as_of(snap), "sequence": b.sequence, "run_id": b.run_id,
            "at": _iso(b.started_at), "has_labels": b.has_labels,
            "detected": bool(finding.get("detected")) if finding else False,
            "details": _clean(finding) if finding else {}}


def retraining_status(snap: Snapshot, *, now: float) -> dict[str, Any]:
    """The newest retraining, the cooldown it set (a retraining counts unless its data were
    invalid, as the orchestrator counts it) and the recent ones."""
    counting = next((r for r in snap.retrainings
                     if not r.verdict or r.verdict in COUNTED_VERDICTS), None)
    eligible = (counting.started_at + snap.cooldown_days * _DAY
                if counting is not None else None)
    return {**_as_of(snap),
            "last": _retraining(snap.retrainings[0]) if snap.retrainings else None,
            "cooldown_days": snap.cooldown_days, "next_eligible": _iso(eligible),
            "in_cooldown": eligible is not None and now < eligible,
            "recent": [_retraining(r) for r in snap.retrainings[:RECENT_RETRAININGS]]}


def models(snap: Snapshot) -> dict[str, Any]:
    """The registered model: serving, fallback and challenger versions, the last
    retraining."""
    model = snap.model
    return {**_as_of(snap), "name": model.name, "problem_type": model.problem_type,
            "primary_metric": model.primary_metric, "performance_limit": snap.performance_limit,
            "serving": _version(model.serving), "fallback": _version(model.fallback),
            "challenger": _version(model.challenger),
            "last_retraining": _retraining(snap.retrainings[0]) if snap.retrainings else None}


def batches(snap: Snapshot, *, since: str | None = None, status: str | None = None,
            limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Monitored batches, newest first, a page at a time; ``since`` an ISO date/time (of
    monitoring) or a sequence number, ``status`` one of :data:`STATUSES`."""
    limit, offset = _limit(limit), _offset(offset)
    if status is not None and status not in STATUSES:
        raise BadQuery(f"status must be one of {', '.join(STATUSES)}; got {status!r}")
    chosen = [b for b in reversed(_after(snap.batches, since))
              if status is None or batch_status(b) == status]
    page = chosen[offset:offset + limit]
    following = offset + limit
    return {**_as_of(snap), "total": len(chosen), "limit": limit, "offset": offset,
            "next_offset": following if following < len(chosen) else None,
            "batches": [batch_summary(snap, b) for b in page]}


def find_batch(snap: Snapshot, key: str) -> BatchRecord:
    """The batch of a sequence number (the newest run of it) or a run id."""
    key = str(key).strip()
    if key.isdigit():
        found = [b for b in snap.batches if b.sequence == int(key)]
        if found:
            return max(found, key=lambda b: b.started_at)
    else:
        for b in snap.batches:
            if b.run_id == key:
                return b
    raise NotFound(f"No batch {key!r}: give a batch sequence number or a monitoring run id "
                   f"({len(snap.batches)} batches known)")


def batch(snap: Snapshot, key: str, report: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One batch: its summary, every metric, the orchestrator's message and its whole
    ``monitoring_report.json`` (``report``: None when it could not be read)."""
    b = find_batch(snap, key)
    return {**_as_of(snap), **batch_summary(snap, b),
            "decision_message": b.decision_message or None,
            "notification_failed": b.notification_failed or None, "engine": b.engine,
            "metrics": {k: _num(v) for k, v in sorted(b.metrics.items())},
            "report": _clean(report) if report is not None else None}


def _features(snap: Snapshot) -> list[str]:
    """Feature names in the reports, newest report's order first."""
    names: dict[str, None] = {}
    for b in reversed(snap.batches):
        detail = snap.details.get(b.run_id)
        if detail is not None:
            names.update(dict.fromkeys(f.feature for f in detail.features))
    return list(names)


def feature_drift(snap: Snapshot, name: str, *, limit: int = 500) -> dict[str, Any]:
    """One feature's drift over the batches (the newest ``limit``, oldest first).
    :class:`NotFound` for a feature no report has."""
    limit = _limit(limit, largest=MAX_HISTORY)
    points = []
    kind = ""
    for b in snap.batches:
        detail = snap.details.get(b.run_id)
        f = next((f for f in detail.features if f.feature == name), None) if detail else None
        if f is None:
            continue
        kind = f.kind
        points.append({"sequence": b.sequence, "run_id": b.run_id, "at": _iso(b.started_at),
                       "test": f.test, "statistic": _num(f.statistic),
                       "p_value": _num(f.p_value), "effect": _num(f.effect),
                       "drifted": f.drifted})
    if not points:
        known = _features(snap)
        raise NotFound(f"No feature {name!r} in the monitoring reports"
                       + (f"; the model's features: {', '.join(known)}" if known else ""))
    return {**_as_of(snap), "feature": name, "kind": kind, "points": _newest(points, limit)}


def drift_matrix(snap: Snapshot, *, limit: int = 50) -> dict[str, Any]:
    """Features x batches (the newest ``limit`` with a report, oldest first): PSI effect,
    drifted flag and p-value; null where a batch has no value for a feature."""
    limit = _limit(limit)
    chosen = _newest([b for b in snap.batches if b.run_id in snap.details], limit)
    features: dict[str, None] = {}
    for b in reversed(chosen):
        features.update(dict.fromkeys(f.feature for f in snap.details[b.run_id].features))
    names = list(features)
    by_batch = [{f.feature: f for f in snap.details[b.run_id].features} for b in chosen]
    effect = [[_num(row[n].effect) if n in row else None for row in by_batch] for n in names]
    drifted = [[row[n].drifted if n in row else None for row in by_batch] for n in names]
    p_value = [[_num(row[n].p_value) if n in row else None for row in by_batch] for n in names]
    return {**_as_of(snap), "features": names, "sequences": [b.sequence for b in chosen],
            "run_ids": [b.run_id for b in chosen], "effect": effect, "drifted": drifted,
            "p_value": p_value}


def quality_history(snap: Snapshot, *, limit: int = 500) -> dict[str, Any]:
    """Data quality over the batches with a report (the newest ``limit``, oldest first):
    number of issues, missing shares, largest out-of-range and unseen-category shares."""
    limit = _limit(limit, largest=MAX_HISTORY)
    chosen = _newest([b for b in snap.batches if b.run_id in snap.details], limit)
    points = []
    for b in chosen:
        q = snap.details[b.run_id].quality
        points.append({"sequence": b.sequence, "run_id": b.run_id, "at": _iso(b.started_at),
                       "status": batch_status(b), "issues": len(q.get("issues") or ()),
                       "missing_share": _num(q.get("missing_share")),
                       "max_missing_share": _num(q.get("max_missing_share")),
                       "max_out_of_range_share": _num(q.get("max_out_of_range_share")),
                       "max_unseen_category_share": _num(q.get("max_unseen_category_share")),
                       "duplicate_ids": q.get("duplicate_ids"),
                       "problem_columns": list(q.get("problem_columns") or ()),
                       "checks": sorted({str(i.get("check")) for i in q.get("issues") or ()})})
    return {**_as_of(snap), "refused_files": snap.refused_files, "points": points}


def audit(snap: Snapshot, *, limit: int = 50) -> dict[str, Any]:
    """Alias moves (promotions, approvals, rejections, rollbacks), newest first."""
    limit = _limit(limit)
    return {**_as_of(snap), "events": [_clean(dict(e)) for e in snap.audit[:limit]]}
