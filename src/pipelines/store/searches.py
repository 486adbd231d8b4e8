"""Every run search the product makes, as a function: the filter strings live here only.

Keys and values come from :mod:`pipelines.store.contract`; MLflow's filter language has no
``IN`` for tags, so searches that need one fetch the newest runs and filter in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from mlflow.entities import Run

from pipelines.store import contract as c
from pipelines.store.client import Store


def _tag(key: str, value: str) -> str:
    return f"tags.`{key}` = '{value}'"


def _where(*conditions: str) -> str:
    return " AND ".join(conditions)


_FINISHED = "attributes.status = 'FINISHED'"
_NEWEST_FIRST = ["attributes.start_time DESC"]


def _search(store: Store, experiment: str, filter_string: str = "", *, max_results: int = 1000,
            order_by: Sequence[str] = _NEWEST_FIRST) -> list[Run]:
    experiment_id = store.experiment_id(experiment, create=False)
    if experiment_id is None:
        return []
    return list(store.client.search_runs([experiment_id], filter_string=filter_string,
                                         max_results=max_results, order_by=list(order_by)))


def _search_all(store: Store, experiment: str, filter_string: str) -> list[Run]:
    """Every matching run, oldest first, following page tokens."""
    experiment_id = store.experiment_id(experiment, create=False)
    if experiment_id is None:
        return []
    runs: list[Run] = []
    token: str | None = None
    while True:
        page = store.client.search_runs([experiment_id], filter_string=filter_string,
                                        order_by=["attributes.start_time ASC"],
                                        max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


# ----------------------------------------------------------------------------- monitoring

def latest_monitoring_run(store: Store, experiment: str) -> Run | None:
    """The newest monitoring run in ``experiment`` (any status), or None."""
    runs = _search(store, experiment, _tag(c.TAG_STEP, c.STEP_MONITOR), max_results=1)
    return runs[0] if runs else None


def next_sequence(store: Store, experiment: str) -> int:
    """The sequence number of the next monitored batch in ``experiment`` (1 for the first)."""
    latest = latest_monitoring_run(store, experiment)
    return int(latest.data.tags.get(c.TAG_SEQUENCE, "0")) + 1 if latest else 1


def monitoring_history(store: Store, experiment_id: str, limit: int = 500,
                       metrics: Sequence[str] = ()) -> pd.DataFrame:
    """The monitoring runs in ``experiment_id`` so far, one row per batch by sequence:
    roc_auc, expected_roc_auc, drift_share, status, the orchestrator's decision and the
    champion version that scored it (by id: inside ``mlflow run`` a run's experiment is the
    project's, not the configured one), and a column per name in ``metrics`` (another
    problem type's metrics: ``rmse``, ``estimated_rmse``; NaN where a run has none). Failed
    runs (a crashed cycle's) are left out: their batch was processed again."""
    runs = store.client.search_runs([experiment_id], _where(
        _tag(c.TAG_STEP, c.STEP_MONITOR), "attributes.status != 'FAILED'"),
                                    max_results=limit, order_by=_NEWEST_FIRST)
    extra = [m for m in dict.fromkeys(metrics) if m not in ("roc_auc", "expected_roc_auc",
                                                            "drift_share")]
    columns = ["sequence", "roc_auc", "expected_roc_auc", "drift_share", "status", "decision",
               "champion_version", *extra]
    rows = [{
        "sequence": int(r.data.tags.get(c.TAG_SEQUENCE, "0")),
        "roc_auc": r.data.metrics.get("roc_auc", np.nan),
        "expected_roc_auc": r.data.metrics.get("expected_roc_auc", np.nan),
        "drift_share": r.data.metrics.get("drift_share", np.nan),
        "status": r.data.tags.get(c.TAG_STATUS, ""),
        "decision": r.data.tags.get(c.TAG_CYCLE_DECISION, ""),
        "champion_version": r.data.tags.get(c.TAG_CHAMPION_VERSION, ""),
        **{m: r.data.metrics.get(m, np.nan) for m in extra},
    } for r in runs]
    return pd.DataFrame(rows, columns=columns).sort_values("sequence").reset_index(drop=True)


def latest_batch_time(store: Store, experiment: str | None = None) -> pd.Timestamp | None:
    """The latest data time of the monitored batches (their ``batch.time_end`` tags), or None
    when no monitored batch had a timestamp column."""
    runs = _search(store, experiment or store.tracking.monitoring_experiment,
                   _tag(c.TAG_STEP, c.STEP_MONITOR), max_results=100)
    times = [_naive_utc(r.data.tags[c.TAG_BATCH_TIME_END]) for r in runs
             if r.data.tags.get(c.TAG_BATCH_TIME_END)]
    return max(times) if times else None


def _naive_utc(text: str) -> pd.Timestamp:
    """A tag's time as naive UTC: batches with and without time zones compare."""
    stamp = pd.Timestamp(text)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def find_processed_batch(store: Store, digest: str) -> str | None:
    """The run id of a finished monitoring run of a batch with this content digest, if any."""
    runs = _search(store, store.tracking.monitoring_experiment,
                   _where(_tag(c.TAG_BATCH_DIGEST, digest), _FINISHED), max_results=1)
    return runs[0].info.run_id if runs else None


def undecided_recommendations(store: Store, limit: int = 200) -> list[Run]:
    """Finished monitoring runs opened by a cycle that recommend retraining but carry no
    orchestrator decision: their cycle ended (killed, interrupted, an outage) between the
    verdict and the decision. Oldest first, among the newest ``limit`` such runs."""
    runs = _search(store, store.tracking.monitoring_experiment, _where(
        _tag(c.TAG_STEP, c.STEP_MONITOR), _FINISHED, _tag(c.TAG_RETRAINING_RECOMMENDED, "true"),
        f"tags.`{c.TAG_CYCLE_LOCK}` LIKE '%'"), max_results=limit)
    return [r for r in reversed(runs) if c.TAG_CYCLE_DECISION not in r.data.tags]


def finished_monitoring_runs(store: Store) -> list[Run]:
    """Every finished monitoring run, oldest first."""
    return _search_all(store, store.tracking.monitoring_experiment, _where(
        _tag(c.TAG_STEP, c.STEP_MONITOR), _FINISHED))


def labelled_batch_runs(store: Store, since: datetime) -> list[Run]:
    """Finished monitoring runs started at or after ``since`` whose batch has labels: from
    the start, or registered later (``register_labels``), oldest first."""
    common = (_tag(c.TAG_STEP, c.STEP_MONITOR), _FINISHED,
              f"attributes.start_time >= {int(since.timestamp() * 1000)}")
    at_once = _search_all(store, store.tracking.monitoring_experiment, _where(
        *common, _tag(c.TAG_HAS_LABELS, "true")))
    later = _search_all(store, store.tracking.monitoring_experiment, _where(
        *common, f"tags.`{c.TAG_LABELS_COUNT}` LIKE '%'"))
    seen = {r.info.run_id for r in at_once}
    runs = at_once + [r for r in later if r.info.run_id not in seen]
    return sorted(runs, key=lambda r: r.info.start_time)


# ----------------------------------------------------------------------------- retraining

def abandoned_runs(store: Store, lock: str, own_epoch: str) -> list[Run]:
    """Runs still RUNNING that a cycle of ``lock`` opened under another epoch than
    ``own_epoch`` (monitoring and retraining, parents and candidates): while we hold the lock,
    no other cycle runs, so they were abandoned by cycles that died (a chain of crashes
    included)."""
    found: list[Run] = []
    for experiment in (store.tracking.monitoring_experiment,
                       store.tracking.retraining_experiment):
        found += [run for run in _search(store, experiment, _where(
            f"tags.`{c.TAG_CYCLE_LOCK}` LIKE '{lock}.%'", "attributes.status = 'RUNNING'"))
            if run.data.tags.get(c.TAG_CYCLE_LOCK) != own_epoch]
    return found


def retraining_parents(store: Store, limit: int = 200) -> list[Run]:
    """Parent retraining runs, newest first."""
    return _search(store, store.tracking.retraining_experiment,
                   _tag(c.TAG_RETRAINING_ROLE, c.ROLE_PARENT), max_results=limit)


def last_retraining_time(store: Store) -> datetime | None:
    """Start time of the newest parent retraining run that counts for the cooldown, or None.

    A retraining counts from the moment it starts: a verdict of promoted or rejected, or no
    verdict yet (running, or crashed mid-way: a crash after the champion moved must not let
    the next recommendation promote again at once). Invalid data trained nothing: it does
    not count.
    """
    for run in retraining_parents(store):
        verdict = run.data.tags.get(c.TAG_VERDICT)
        if verdict is None or verdict in c.COUNTED_VERDICTS:
            return datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC)
    return None


def unfinished_retraining(store: Store) -> Run | None:
    """The newest parent retraining run if it ended without a verdict (FAILED: its process
    raised or died) and was not recovered yet, else None."""
    runs = retraining_parents(store, limit=1)
    if not runs:
        return None
    run = runs[0]
    tags = run.data.tags
    if run.info.status == "FAILED" and c.TAG_VERDICT not in tags and c.TAG_RECOVERED not in tags:
        return run
    return None
