"""The lease lock under real faults: holders killed with SIGKILL, contenders racing to take
over a stale lock (real processes on a real SQLite store; the race also behind a server and on
PostgreSQL)."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.store import connect, registry_lock
from pipelines.store.lock import epoch_tags
from tests.conftest import PASSTHROUGH_ENV

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipelines.config import load_settings
    from pipelines.store import connect, registry_lock
    uri, name, barrier, out, hold = sys.argv[1:6]
    store = connect(load_settings(env={}, overrides={"tracking.uri": uri}).tracking)
    while not Path(barrier).exists():
        time.sleep(0.01)
    with registry_lock(store, name, timeout=0, lease=60) as info:
        if info.acquired:
            start = time.time()
            Path(out).write_text(f"{start}")
            time.sleep(float(hold))
            Path(out).write_text(f"{start} {time.time()}")
""")


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV}


def _spawn(uri: str, name: str, barrier: Path, out: Path, hold: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLD, uri, name, str(barrier), str(out),
                             str(hold)], env=_env(), stderr=subprocess.PIPE, text=True)


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(
        settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Fault 1: the rerun after `kill -9` does not wait for a lease (or 6 hours)."""
    barrier = tmp_path / "go"
    barrier.touch()
    holder = _spawn(settings.tracking.uri, "m.lock", barrier, tmp_path / "held", 300)
    deadline = time.monotonic() + 60
    while not (tmp_path / "held").exists():
        assert holder.poll() is None, holder.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    store = connect(settings.tracking)
    with registry_lock(store, "m.lock", timeout=0) as blocked:
        assert not blocked.acquired  # alive: held
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with caplog.at_level(logging.WARNING, logger="pipelines.store.lock"):
        with registry_lock(store, "m.lock", timeout=0) as info:  # no waiting allowed
            assert info.acquired
    # taken over because the holder is dead, with its 60 s lease still running
    assert "is dead" in caplog.text
    assert "lease" not in caplog.text.split("Took over lock m.lock:")[1]


RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipelines.config import load_settings
    from pipelines.store import connect, registry_lock
    uri, folder, me, trials = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    store = connect(load_settings(env={}, overrides={"tracking.uri": uri}).tracking)
    (folder / f"ready-{me}").touch()
    for trial in range(trials):
        while not (folder / f"go{trial}").exists():
            time.sleep(0.005)
        with registry_lock(store, f"race{trial}.lock", timeout=0, lease=60) as info:
            if info.acquired:
                start = time.time()
                time.sleep(0.3)
                (folder / f"held{trial}-{me}").write_text(f"{start} {time.time()}")
        (folder / f"done{trial}-{me}").touch()
""")


@pytest.fixture(params=["sqlite", pytest.param("server", marks=pytest.mark.server),
                        pytest.param("postgres", marks=pytest.mark.postgres)])
def race_store(request: pytest.FixtureRequest, settings, tmp_path: Path):
    """The store the race runs on: the test's SQLite file, a real `mlflow server` on
    127.0.0.1 in front of its own SQLite file, or a database of its own in the session's
    throw-away PostgreSQL cluster (tests/postgres_cluster.py)."""
    if request.param == "sqlite":
        yield settings, 20
        return
    if request.param == "postgres":
        from tests.conftest import make_settings

        uri = request.getfixturevalue("pg_database")
        yield make_settings(tmp_path / "client", **{"tracking.uri": uri}), 10
        return
    from tests.conftest import make_settings, mlflow_server

    with mlflow_server(tmp_path / "server") as uri:
        yield make_settings(tmp_path / "client", **{"tracking.uri": uri}), 10


def test_contenders_racing_for_a_stale_lock_never_overlap(race_store, tmp_path: Path) -> None:
    """Fault 3: three processes take over a stale lock at the same instant, in each of 20
    trials (10 against a server or PostgreSQL); never two at once (a loser that comes after
    the winner released may hold it next), and nobody releases or overwrites another holder's
    lock."""
    settings, trials = race_store
    store = connect(settings.tracking)
    contenders = 3
    for trial in range(trials):
        store.client.create_prompt(f"race{trial}.lock.1", tags={
            "lock.holder": "gone:1", "lock.lease_until": "0", "lock.acquired_at": "0"})
    procs = [subprocess.Popen([sys.executable, "-c", RACE, settings.tracking.uri,
                               str(tmp_path), str(i), str(trials)], env=_env(),
                              stderr=subprocess.PIPE, text=True) for i in range(contenders)]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < contenders:
        assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for trial in range(trials):
        (tmp_path / f"go{trial}").touch()  # all three race for the same stale lock
        while len(list(tmp_path.glob(f"done{trial}-*"))) < contenders:
            # after the last trial a contender that is done exits (0) before the others are
            assert all(p.poll() in (None, 0) for p in procs), [p.stderr.read() for p in procs]
            assert time.monotonic() < deadline + 60 * (trial + 1)
            time.sleep(0.02)
        spans = sorted(tuple(map(float, p.read_text().split()))
                       for p in tmp_path.glob(f"held{trial}-*"))
        assert spans, trial
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, (trial, spans)  # one after the other, never together
        epochs = epoch_tags(store.client, f"race{trial}.lock")
        assert len(epochs) == 1 + len(spans)  # one new epoch per holder, none overwritten
        for epoch, tags in epochs.items():
            if not epoch.endswith(".1"):
                assert "lock.released_at" in tags  # released by its own holder
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()


ABANDON = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipelines.config import load_settings
    from pipelines.store import connect, registry_lock
    from pipelines.store import contract as c
    uri, out = sys.argv[1:3]
    settings = load_settings(env={}, overrides={"tracking.uri": uri})
    store = connect(settings.tracking)
    name = c.lock_name(settings.tracking.registered_model_name)
    with registry_lock(store, name, lease=600) as info:
        tags = {c.TAG_STEP: c.STEP_MONITOR, c.TAG_SEQUENCE: "1",
                c.TAG_CYCLE_LOCK: info.epoch_name(name)}
        with store.start_run(settings.tracking.monitoring_experiment, tags=tags) as run:
            store.log_metrics({"roc_auc": 0.5}, step=1)
            Path(out).write_text(run.info.run_id)
            time.sleep(600)  # killed here, mid-batch
""")


def test_runs_of_a_killed_cycle_are_failed_and_left_out(trained_store, tmp_path: Path) -> None:
    """Fault 1: `kill -9` mid-batch leaves no run RUNNING and nothing twice in the history."""
    from pipelines.data.sources import SimulatedSource
    from pipelines.store.searches import monitoring_history
    from pipelines.workflows.orchestrate import run_cycle

    settings, _ = trained_store
    out = tmp_path / "run_id"
    proc = subprocess.Popen([sys.executable, "-c", ABANDON, settings.tracking.uri, str(out)],
                            env=_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not out.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    abandoned = out.read_text()
    store = connect(settings.tracking)
    assert store.client.get_run(abandoned).info.status == "RUNNING"
    cycle = run_cycle(settings, SimulatedSource("no_drift", rows=500, seed=5), store=store)
    assert cycle.decision == "nothing_to_do"  # the lock was taken over at once
    run = store.client.get_run(abandoned)
    assert run.info.status == "FAILED"
    assert "abandoned" in run.data.tags["failure.reason"]
    history = monitoring_history(store, run.info.experiment_id)
    assert len(history) == 1  # the new batch only, not the abandoned one
