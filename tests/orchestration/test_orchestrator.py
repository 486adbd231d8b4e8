"""The orchestrator: exactly-once inbox, cooldown from MLflow, one retraining under concurrency."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.data.generator import generate_batch
from pipelines.data.sources import InboxSource, SimulatedSource
from pipelines.retraining.cooldown import check_cooldown
from pipelines.store import connect, registry_lock
from pipelines.store.lock import epoch_tags
from pipelines.workflows.orchestrate import run_cycle
from tests.conftest import PASSTHROUGH_ENV

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "now", "force", "allowed"),
    [
        (None, T0, False, True),
        (T0, T0 + timedelta(days=6, hours=23), False, False),
        (T0, T0 + timedelta(days=7), False, True),
        (T0, T0 + timedelta(days=1), True, True),
    ],
)
def test_cooldown_decision(last, now, force: bool, allowed: bool) -> None:
    d = check_cooldown(last, now, 7.0, force=force)
    assert d.allowed is allowed
    if last is not None:
        assert d.next_eligible == last + timedelta(days=7)
    if not allowed:
        assert "next eligible" in d.message


def _inbox(settings) -> InboxSource:
    return InboxSource(Path(settings.paths.inbox_dir), settings.data)


def _monitoring_runs(client: MlflowClient, settings) -> list:
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


def _retraining_parents(client: MlflowClient, settings) -> list:
    exp = client.get_experiment_by_name(settings.tracking.retraining_experiment)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id],
                              filter_string="tags.`retraining.role` = 'parent'")


@pytest.fixture
def trained(trained_store):
    return trained_store[0]


@pytest.mark.slow
def test_inbox_batches_are_processed_exactly_once(trained, tmp_path: Path) -> None:
    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    inbox.mkdir(parents=True)
    for i in range(2):
        generate_batch("no_drift", 800, seed=60 + i).to_csv(inbox / f"b{i}.csv", index=False)
        time.sleep(0.01)
    (inbox / "broken.csv").write_text("not,a\nbatch,file\n")
    first = run_cycle(settings, _inbox(settings))
    assert [b.status for b in first.batches] == ["monitored", "monitored", "refused"]
    assert first.decision == "nothing_to_do"
    done = sorted((inbox / "done").iterdir())
    assert [p.name.split(".")[0] for p in done] == ["b0", "b1"]  # b0.<content digest>.csv
    assert all(re.fullmatch(r"b\d\.[0-9a-f]{16}\.csv", p.name) for p in done)
    (rejected,) = (inbox / "rejected").glob("broken.*.csv")
    assert "missing" in rejected.with_name(rejected.name + ".reason.txt").read_text()
    # the cycle's lock is no model a reviewer meets in the registry list
    client = connect(settings.tracking).client
    assert [m.name for m in client.search_registered_models()] == ["churn-model"]
    # second run: nothing new
    second = run_cycle(settings, _inbox(settings))
    assert second.batches == []
    assert second.decision == "no_batch"
    # the same content dropped in again is recognised from MLflow, not from local state
    done[0].rename(inbox / "b0-again.csv")
    third = run_cycle(settings, _inbox(settings))
    assert [b.status for b in third.batches] == ["duplicate"]
    client = connect(settings.tracking).client
    runs = _monitoring_runs(client, settings)
    assert len(runs) == 2
    assert {r.data.tags["orchestrator.decision"] for r in runs} == {"nothing_to_do"}


@pytest.mark.slow
def test_failed_batch_stays_in_inbox(trained, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    inbox.mkdir(parents=True)
    generate_batch("no_drift", 500, seed=70).to_csv(inbox / "b.csv", index=False)
    from pipelines.workflows.monitor import Monitor

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Monitor, "run", boom)
    cycle = run_cycle(settings, _inbox(settings))
    assert [b.status for b in cycle.batches] == ["failed"]
    assert "disk full" in cycle.batches[0].message
    assert (inbox / "b.csv").exists()  # not marked done, not lost
    monkeypatch.undo()
    again = run_cycle(settings, _inbox(settings))
    assert [b.status for b in again.batches] == ["monitored"]


def test_registry_lock_is_exclusive(settings) -> None:
    store = connect(settings.tracking)
    with registry_lock(store, "m.lock") as first:
        assert first.acquired
        with registry_lock(store, "m.lock", timeout=0) as second:
            assert not second.acquired
            assert "holds m.lock" in second.message
    with registry_lock(store, "m.lock") as third:
        assert third.acquired


def _lock_host() -> str:
    from pipelines.store.lock import _host

    return _host()


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({"lock.lease_until": "0"}, "lease"),  # expired lease, holder elsewhere
        ({"lock.lease_until": "9e12", "lock.host": _lock_host(), "lock.pid": "999999"},
         "dead"),  # lease far ahead, but the holder's process is gone on this host
    ],
)
def test_a_stale_or_dead_holders_lock_is_taken_over(settings, tags: dict, why: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    store = connect(settings.tracking)
    store.client.create_prompt("m.lock.1", tags={"lock.holder": "gone:999999",
                                                 "lock.acquired_at": "0", **tags})
    with registry_lock(store, "m.lock") as info:
        assert info.acquired
        assert info.epoch == 2
    assert why in caplog.text


def test_an_older_versions_visible_lock_models_count_then_go(settings) -> None:
    """Before: lock epochs were plain registered models, listed beside the real model. They
    still count (numbering goes on, a live one still holds), and the next release prunes them;
    the new epochs are prompt-registry entries, absent from search_registered_models()."""
    store = connect(settings.tracking)
    client = store.client
    client.create_registered_model("m.lock.4", tags={"lock.holder": "old:1",
                                                     "lock.released_at": "1"})
    client.create_registered_model("m.lock.5", tags={"lock.holder": "old:2",
                                                     "lock.lease_until": "9e12"})
    with registry_lock(store, "m.lock", timeout=0) as blocked:
        assert not blocked.acquired  # an older version's live holder still holds it
        assert blocked.holder == "old:2"
    client.set_registered_model_tag("m.lock.5", "lock.released_at", "2")
    with registry_lock(store, "m.lock", timeout=0) as info:
        assert info.acquired
        assert info.epoch == 6
    assert client.search_registered_models(filter_string="name LIKE 'm.lock%'") == []
    assert set(epoch_tags(client, "m.lock")) == {"m.lock.6"}
    assert "lock.released_at" in client.get_prompt("m.lock.6").tags


def test_a_live_holders_lock_is_not_taken_over_and_release_is_its_own(settings) -> None:
    store = connect(settings.tracking)
    with registry_lock(store, "m.lock", lease=60) as first:
        with registry_lock(store, "m.lock", timeout=0) as second:
            assert not second.acquired
        released = store.client.get_prompt(f"m.lock.{first.epoch}").tags
        assert "lock.released_at" not in released  # the loser released nothing
    assert "lock.released_at" in store.client.get_prompt(f"m.lock.{first.epoch}").tags


def test_the_lease_is_renewed_while_held(settings) -> None:
    store = connect(settings.tracking)
    with registry_lock(store, "m.lock", lease=1.5) as info:
        first = float(store.client.get_prompt(f"m.lock.{info.epoch}")
                      .tags["lock.lease_until"])
        time.sleep(2.0)  # longer than the lease: only the heartbeat keeps it alive
        later = float(store.client.get_prompt(f"m.lock.{info.epoch}")
                      .tags["lock.lease_until"])
        assert later > first
        with registry_lock(store, "m.lock", timeout=0) as other:
            assert not other.acquired


@pytest.mark.slow
def _broad_shift(seed: int) -> SimulatedSource:
    from pipelines.data.generator import NUMERIC_FEATURES

    return SimulatedSource("covariate_shift", rows=3000, seed=seed,
                           options={"shift_features": NUMERIC_FEATURES[:10]})


@pytest.mark.slow  # three retrainings
def test_cooldown_blocks_then_allows_with_injected_time(trained) -> None:
    settings = trained
    client = connect(settings.tracking).client
    now = datetime.now(UTC)
    first = run_cycle(settings, SimulatedSource("concept_drift", rows=3000, seed=80), now=now)
    assert first.decision == "retrain"
    assert first.retraining["decision"] in ("promoted", "rejected")
    # whichever champion that left, a shift of half the numeric features recommends again
    blocked = run_cycle(settings, _broad_shift(seed=81), now=now + timedelta(days=3))
    assert blocked.decision == "cooldown"
    assert blocked.next_eligible is not None
    run = client.get_run(blocked.batches[0].run_id)
    assert run.data.tags["orchestrator.decision"] == "cooldown"
    assert run.data.tags["orchestrator.next_eligible"] == blocked.next_eligible
    later = run_cycle(settings, _broad_shift(seed=83), now=now + timedelta(days=8))
    assert later.decision == "retrain"
    forced = run_cycle(settings, SimulatedSource("no_drift", rows=1000, seed=82),
                       now=now + timedelta(days=9), force=True)
    assert forced.decision == "retrain"
    assert forced.forced
    assert len(_retraining_parents(client, settings)) == 3


def _orchestrator_env(settings, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV,
            "CHURNMON_TRACKING__URI": settings.tracking.uri,
            "CHURNMON_PATHS__OUTPUT_DIR": settings.paths.output_dir,
            "CHURNMON_TRAINING__RF_N_ESTIMATORS": "30",
            "CHURNMON_TRAINING__XGB_N_ESTIMATORS": "60", **extra}


CYCLE = [sys.executable, "-m", "pipelines.run_monitoring", "--scenario", "concept_drift",
         "--rows", "3000"]
LOCK = "churn-model.orchestrator-lock"


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_held_lock_makes_another_orchestrator_skip_without_monitoring(
        trained, tmp_path: Path) -> None:
    settings = trained
    store = connect(settings.tracking)
    with registry_lock(store, LOCK) as held:
        assert held.acquired
        proc = subprocess.run(CYCLE + ["--seed", "95"], env=_orchestrator_env(settings),
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 75, proc.stderr[-3000:]  # EX_TEMPFAIL: cron reports the skip
    assert f"skipped: another orchestrator ({held.holder}) holds {LOCK}" in proc.stderr
    assert _monitoring_runs(store.client, settings) == []  # nothing was processed
    assert _retraining_parents(store.client, settings) == []


def test_a_manual_retraining_waits_for_the_orchestrator_lock(
        trained, caplog: pytest.LogCaptureFixture) -> None:
    """`trigger_retraining` never runs beside a cycle: with the lock held it skips (75)."""
    from pipelines.trigger_retraining import main as trigger_main

    settings = trained
    store = connect(settings.tracking)
    args = ["--tracking-uri", settings.tracking.uri, "--set",
            f"paths.output_dir={settings.paths.output_dir}",
            "--set", "retraining.lock_timeout_seconds=0"]
    with registry_lock(store, LOCK) as held, caplog.at_level(logging.WARNING):
        assert held.acquired
        assert trigger_main(args) == 75
    assert "Retraining skipped: another orchestrator" in caplog.text
    assert _retraining_parents(store.client, settings) == []


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_concurrent_orchestrators_wait_in_turn_and_retrain_once(
        trained, tmp_path: Path) -> None:
    """Both orchestrators are started while the test holds the lock, and both are seen
    waiting for it before it is released: the lock is contended, not merely passed through."""
    settings = trained
    store = connect(settings.tracking)
    env = _orchestrator_env(settings, CHURNMON_RETRAINING__LOCK_TIMEOUT_SECONDS="600")
    logs = [tmp_path / f"orchestrator-{i}.log" for i in range(2)]
    with registry_lock(store, LOCK) as held:
        assert held.acquired
        procs = [subprocess.Popen(CYCLE + ["--seed", str(90 + i)], env=env, cwd=tmp_path,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
                 for i, log in enumerate(logs)]
        deadline = time.monotonic() + 240
        while not all(f"Waiting up to 600 s for lock {LOCK}" in log.read_text() for log in logs):
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            assert time.monotonic() < deadline, [log.read_text() for log in logs]
            time.sleep(0.5)
    codes = [p.wait(timeout=600) for p in procs]
    outputs = [log.read_text() for log in logs]
    assert codes == [0, 0], outputs
    assert len(_retraining_parents(store.client, settings)) == 1
    runs = sorted(_monitoring_runs(store.client, settings), key=lambda r: r.info.start_time)
    # one after the other: the second batch was monitored after the first cycle ended, by
    # the champion that cycle left (fixed by a promotion, or still broken and in cooldown)
    first_parent = _retraining_parents(store.client, settings)[0]
    assert runs[1].info.start_time >= first_parent.info.end_time
    second = ("nothing_to_do" if first_parent.data.tags["decision"] == "promoted"
              else "cooldown")
    assert [r.data.tags["orchestrator.decision"] for r in runs] == ["retrain", second]


@pytest.mark.slow
def test_simulated_time_moves_batch_by_batch(trained) -> None:
    settings = trained
    client = connect(settings.tracking).client
    spans = []
    for seed in (1, 2):
        cycle = run_cycle(settings, SimulatedSource("no_drift", rows=400, seed=seed))
        tags = client.get_run(cycle.batches[0].run_id).data.tags
        spans.append((pd.Timestamp(tags["batch.time_start"]), pd.Timestamp(tags["batch.time_end"])))
    assert spans[0][0] == pd.Timestamp("2026-01-02")  # the day after the demo's training data
    assert spans[1][0] == pd.Timestamp("2026-01-03")
    assert spans[0][1] < spans[1][0]


@pytest.mark.slow
def test_one_name_many_contents_nothing_overwritten_nothing_dropped(trained) -> None:
    """Fault 6: b.csv dropped with contents X, Y, Z, X, one cycle each."""
    from pipelines.workflows.retrain import collect_labelled_batches

    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    inbox.mkdir(parents=True)
    contents = [generate_batch("no_drift", 700, seed=s) for s in (71, 72, 73)]
    statuses = []
    for frame in (*contents, contents[0]):
        frame.to_csv(inbox / "b.csv", index=False)
        statuses += [b.status for b in run_cycle(settings, _inbox(settings)).batches]
    assert statuses == ["monitored", "monitored", "monitored", "duplicate"]
    archived = sorted((inbox / "done").iterdir())
    assert len(archived) == 3  # X, Y, Z each once, none overwritten
    assert all(p.name.startswith("b.") and p.suffix == ".csv" for p in archived)
    assert {len(pd.read_csv(p)) for p in archived} == {700}
    store = connect(settings.tracking)
    batches = collect_labelled_batches(store, settings, datetime.now(UTC))
    assert len(batches) == 3  # same name, three contents: all three count
    assert sum(len(b.frame) for b in batches) == 2100


def test_a_holder_that_lost_its_lock_is_stopped_by_the_fence(settings) -> None:
    from pipelines.errors import TrackingError

    store = connect(settings.tracking)
    with registry_lock(store, "m.lock", lease=60) as info:
        info.ensure_held()  # the live holder passes
        # another cycle took over (say our lease ran out while the machine slept)
        store.client.create_prompt(f"m.lock.{info.epoch + 1}", tags={
            "lock.holder": "other:1", "lock.lease_until": "9e12"})
        with pytest.raises(TrackingError, match=r"Lost lock m\.lock: epoch \d+ is no longer"):
            info.ensure_held()


def test_latest_batch_time_compares_zoned_and_naive_times(settings) -> None:
    from pipelines.store.searches import latest_batch_time

    store = connect(settings.tracking)
    for end in ("2026-01-05T23:00:00+00:00", "2026-01-06T12:00:00", "2026-01-06T10:00:00Z"):
        with store.start_run(settings.tracking.monitoring_experiment,
                             tags={"pipeline.step": "monitor", "batch.time_end": end}):
            pass
    assert latest_batch_time(store) == pd.Timestamp("2026-01-06T12:00:00")


# ----------------------------------------------- issue 19, section 3: files that block the inbox

def _drop(inbox: Path, name: str, frame: pd.DataFrame, *, age: float = 0.0) -> Path:
    """Write a batch into the inbox; ``age`` seconds older than now (the inbox goes oldest
    first)."""
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    frame.to_csv(path, index=False)
    stamp = time.time() - age
    import os

    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.slow
def test_long_names_are_archived_and_never_block_the_files_behind(trained) -> None:
    """A 244-character name (legal) used to crash archiving with ENAMETOOLONG, and every later
    cycle on the same file; a refused 220-character name could not get its reason file."""
    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    long_name, refused_name = "L" * 240 + ".csv", "R" * 216 + ".csv"
    _drop(inbox, long_name, generate_batch("no_drift", 300, seed=101), age=30)
    _drop(inbox, refused_name, pd.DataFrame({"not": [1], "a_batch": [2]}), age=20)
    _drop(inbox, "after.csv", generate_batch("no_drift", 300, seed=102), age=10)
    first = run_cycle(settings, _inbox(settings))
    assert [(b.batch, b.status) for b in first.batches] == [
        (long_name, "monitored"), (refused_name, "refused"), ("after.csv", "monitored")]
    done = sorted(p.name for p in (inbox / "done").iterdir())
    assert len(done) == 2
    assert any(n.startswith("after.") for n in done)
    assert any(n.startswith("LLLL") for n in done)
    (reason,) = (inbox / "rejected").glob("*.reason.txt")
    assert f"file: {refused_name}\n" in reason.read_text()
    assert not list((inbox / ".processing").iterdir())
    client = connect(settings.tracking).client
    run = client.get_run(first.batches[0].run_id)
    assert run.data.tags["batch_file"] == long_name  # the full name kept in MLflow
    again = run_cycle(settings, _inbox(settings))  # and the next cycle has nothing left
    assert again.decision == "no_batch"
    assert again.batches == []


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_cycle_refusing_every_file_exits_2_with_one_line_per_file(trained,
                                                                   tmp_path: Path) -> None:
    """Bad input only: a name with a newline (escaped in the log, never splitting a line), a
    symbolic link to a good batch outside the inbox (refused, removed, its target untouched),
    an unlabelled CSV cut in the middle of a row (refused, file and line named)."""
    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    _drop(inbox, "bad\nINFO forged line.csv", pd.DataFrame({"x": [1]}), age=30)
    outside = _drop(tmp_path / "elsewhere", "good.csv", generate_batch("no_drift", 300, seed=103))
    (inbox / "link.csv").symlink_to(outside)
    cut = generate_batch("no_drift", 300, seed=104).drop(columns=["churn"]).to_csv(index=False)
    (inbox / "cut.csv").write_text(cut[:cut.rindex("\n", 0, len(cut) - 1) + 12])
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.run_monitoring", "--source", "inbox"],
        env=_orchestrator_env(settings, CHURNMON_PATHS__INBOX_DIR=str(inbox)), cwd=tmp_path,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.splitlines()
    assert not [line for line in lines if line.startswith("INFO forged")], proc.stderr
    assert any("'bad\\nINFO forged line.csv'" in line and "refused" in line for line in lines)
    assert any("link.csv is a symbolic link" in line for line in lines)
    assert any("cut.csv ends in the middle of a row: its last line (line 301)" in line
               for line in lines)
    assert any("Cycle decision: all_refused (3 batch(es) refused, none monitored" in line
               for line in lines)
    assert outside.read_text() == generate_batch("no_drift", 300, seed=103).to_csv(index=False)
    assert not [p for p in inbox.rglob("*") if p.is_symlink()]
    assert len(list((inbox / "rejected").glob("*.reason.txt"))) == 3
    assert _monitoring_runs(connect(settings.tracking).client, settings) == []


@pytest.mark.slow
def test_refused_and_monitored_files_together_exit_0_and_small_batches_say_so(
        trained, caplog: pytest.LogCaptureFixture) -> None:
    """A mix of refused and monitored files: the cycle did its work (exit 0), the refusals are
    in rejected/. An unlabelled 10-row batch is monitored with a low_sample caveat (status
    warning, never ok), a CSV without a final newline but a whole last row is no cut, and a
    monitored file with a newline in its name never splits a log line."""
    from pipelines.run_monitoring import main

    settings = trained
    inbox = Path(settings.paths.inbox_dir)
    small = generate_batch("no_drift", 10, seed=105).drop(columns=["churn"])
    _drop(inbox, "small.csv", small, age=30)
    whole = generate_batch("no_drift", 300, seed=106).to_csv(index=False).rstrip("\n")
    (inbox / "whole.csv").write_text(whole)
    _drop(inbox, "broken.csv", pd.DataFrame({"x": [1]}))
    _drop(inbox, "new\nINFO forged.csv", generate_batch("no_drift", 300, seed=107), age=20)
    args = ["--source", "inbox", "--tracking-uri", settings.tracking.uri,
            "--set", f"paths.output_dir={settings.paths.output_dir}",
            "--set", f"paths.inbox_dir={inbox}"]
    with caplog.at_level(logging.INFO):
        assert main(args) == 0
    client = connect(settings.tracking).client
    runs = {r.data.tags["batch_file"]: r for r in _monitoring_runs(client, settings)}
    assert set(runs) == {"small.csv", "whole.csv", "new\nINFO forged.csv"}
    assert runs["new\nINFO forged.csv"].data.tags["batch_id"] == "new\\nINFO forged"
    forged = [r.getMessage() for r in caplog.records if "INFO forged" in r.getMessage()]
    assert forged  # the file is named in the log, every time on one line
    assert not [m for m in forged if "\n" in m]
    tags = runs["small.csv"].data.tags
    assert "low_sample" in tags["alerts"].split(",")
    assert tags["monitoring.status"] != "ok"
    assert "low_sample" not in runs["whole.csv"].data.tags["alerts"].split(",")
    assert len(list((inbox / "rejected").glob("broken.*.reason.txt"))) == 1
