"""Benchmark: the service's latency over a store of many monitored batches (issue 22), by hand.

    python benchmarks/bench_service.py --store /tmp/svc-store --batches 1000  # the issue's size
    python benchmarks/bench_service.py --store /tmp/svc-store    # 200 batches, 200 requests
    python benchmarks/bench_service.py --store DIR --batches 3 --requests 3  # a quick look

Populating is the slow part: 1,000 batches took 52 min on a loaded 2-core machine (3.0 s a
batch; 1-1.5 s on a quieter one), hence the default of 200 (10 min or less); a store that
holds enough batches is reused as it is, a smaller one is continued.

Two parts, both printed as tables:

1. **Populating** (the slow part, skipped when ``--store`` already holds ``--batches``
   monitored batches): a small baseline champion is trained into ``DIR/mlflow.db``, then
   the simulator's batches (``--rows`` rows each, scenarios cycling through ``--scenarios``,
   one batch in three without labels, so that performance is only estimated there) go
   through the real orchestrator (``workflows.orchestrate.run_cycle``) ``--per-cycle``
   batches a cycle, as from an inbox that filled up between two cycles: every batch is
   monitored by the real monitor (one MLflow run with its metrics, report, tables, plots),
   every cycle decides (its decision tagged on its batches) and retrains when a batch
   recommends it and the cooldown allows. The first recommendation retrains (nothing did
   before); then the cooldown holds (the clock is real), except in ``--retrainings`` - 1 more
   cycles spread over the run, whose clock is set past the cooldown: the history gets a
   few real retrainings (and maybe champion changes), not one per concept-drift batch.
   One process writes: several processes writing to one SQLite store would race for the
   batches' sequence numbers.
2. **Measuring**: the service (``python -m pipelines.serve``, a new process on a free port,
   over that store) is started; once its first snapshot is read (``/health`` answers 200),
   ``--requests`` requests per endpoint go through one keep-alive ``requests`` session, timed
   from the client (``time.perf_counter``), and the table shows p50, p95 and max in ms and
   which exceed the issue's 50 ms. ``/batches/{seq}`` is timed cold (a different batch each
   request: its report is downloaded from the store) and warm (the same batch again). Then
   the snapshot read itself, in this process (``store.views.read_snapshot``): cold (every
   run's report downloaded) and warm (from the previous snapshot: nothing changed), and the
   service's resident memory (``VmRSS`` / ``VmHWM`` of its process). The service goes on
   re-reading the store every ``service.refresh_seconds`` (10 s) in the background while
   the requests are timed, as it does in use: a request that meets a refresh waits for the
   GIL, which shows in the p95 and max columns, and a refresh longer than
   ``service.store_timeout_seconds`` makes the service answer 503 until it ends (the status
   column and the last line say so; ``--refresh-seconds`` and ``--store-timeout-seconds``
   set both).

Times depend on the machine's load: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
LIMIT_MS = 50.0  # the target per response
#: A small champion: the benchmark is about the service, not the model (seconds to train).
BASELINE = {"data.demo_rows": 3000, "training.rf_n_estimators": 30, "training.rf_max_depth": 8,
            "training.xgb_n_estimators": 60}
#: The simulator's scenarios, cycled batch by batch (a length prime to UNLABELLED_EVERY, so
#: every scenario comes with and without labels).
SCENARIO_CYCLE = ("no_drift", "no_drift", "covariate_shift", "label_shift", "concept_drift",
                  "data_quality", "no_drift")
UNLABELLED_EVERY = 3  # every third batch comes without its labels
SEED_BASE = 50_000
FEATURE = "monthly_charges"  # the feature whose drift history is asked for

logger = logging.getLogger("bench_service")


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- the store

def store_settings(root: Path, overrides: dict[str, Any] | None = None) -> Any:
    """The settings of the benchmark's store ``root/mlflow.db`` (reports under
    ``root/monitoring``), the environment left out: what the service is started with too."""
    from pipelines.config import load_settings

    return load_settings(env={}, overrides={
        "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
        "paths.output_dir": str(root / "monitoring"),
        "paths.inbox_dir": str(root / "monitoring" / "inbox"),
        **BASELINE, **(overrides or {})})


def service_env(root: Path, refresh_seconds: float | None = None,
                timeout_seconds: float | None = None) -> dict[str, str]:
    """The service's environment: this one without MLFLOW_* / CHURNMON_*, on the store
    (re-read every ``refresh_seconds``, each read waited for ``timeout_seconds``; None: the
    defaults)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"),
                                                    os.environ.get("PYTHONPATH", "")) if p)
    env["CHURNMON_TRACKING__URI"] = f"sqlite:///{root / 'mlflow.db'}"
    env["CHURNMON_PATHS__OUTPUT_DIR"] = str(root / "monitoring")
    if refresh_seconds is not None:
        env["CHURNMON_SERVICE__REFRESH_SECONDS"] = f"{refresh_seconds:g}"
    if timeout_seconds is not None:
        env["CHURNMON_SERVICE__STORE_TIMEOUT_SECONDS"] = f"{timeout_seconds:g}"
    return env


def stored_batches(settings: Any) -> int:
    """How many batches the store's monitoring experiment holds (its newest sequence number;
    0 for a new store)."""
    from pipelines.store import connect
    from pipelines.store.searches import next_sequence

    if not Path(settings.tracking.uri.removeprefix("sqlite:///")).is_file():
        return 0
    store = connect(settings.tracking)
    try:
        return next_sequence(store, settings.tracking.monitoring_experiment) - 1
    except Exception:  # no monitoring experiment yet
        return 0


def scenario_of(index: int, scenarios: Sequence[str]) -> tuple[str, bool]:
    """The ``index``-th batch's scenario (0-based) and whether it comes with its labels."""
    return scenarios[index % len(scenarios)], index % UNLABELLED_EVERY != UNLABELLED_EVERY - 1


@dataclass
class SimulatedBatches:
    """``count`` simulated batches from batch number ``first`` on (0-based), one day of data
    each, continuing from the newest monitored batch's day: a :class:`BatchSource` (built by
    :func:`batch_source`, so that this module imports without the project)."""

    first: int
    count: int
    rows: int
    scenarios: Sequence[str]
    start: pd.Timestamp | None = None
    offered: list[tuple[str, bool]] = field(default_factory=list)


def batch_source(plan: SimulatedBatches) -> Any:
    from pipelines.data.batch import Batch
    from pipelines.data.generator import DEFAULT_PERIOD, DEFAULT_START_TIME
    from pipelines.data.sources import BatchSource, Pending, simulate_frame

    class Source(BatchSource):
        def read_with(self, data: Any) -> None:
            self.target = data.target

        def begin(self, latest_time: pd.Timestamp | None) -> None:
            last = DEFAULT_START_TIME if latest_time is None else pd.Timestamp(latest_time)
            plan.start = last.floor("D") + DEFAULT_PERIOD

        def pending(self) -> Iterator[Any]:
            assert plan.start is not None
            for k in range(plan.count):
                index = plan.first + k
                scenario, labelled = scenario_of(index, plan.scenarios)
                name = f"bench_{index + 1:05d}_{scenario}{'' if labelled else '_unlabelled'}"

                def load(index: int = index, k: int = k, scenario: str = scenario,
                         labelled: bool = labelled, name: str = name) -> Batch:
                    frame = simulate_frame(scenario, rows=plan.rows, seed=SEED_BASE + index,
                                           start_time=plan.start + k * DEFAULT_PERIOD)
                    if not labelled:
                        frame = frame.drop(columns=[self.target])
                    return Batch(frame, name, f"simulated:{scenario}(rows={plan.rows},"
                                              f"seed={SEED_BASE + index})")

                plan.offered.append((scenario, labelled))
                yield Pending(name, load)

    return Source()


@dataclass
class Populated:
    batches_before: int
    batches_after: int
    rows: int
    seconds: float = 0.0
    baseline_seconds: float = 0.0
    cycles: int = 0
    retraining_seconds: float = 0.0
    decisions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    retrainings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def populate(root: Path, batches: int, *, rows: int, per_cycle: int, retrainings: int,
             scenarios: Sequence[str], overrides: dict[str, Any]) -> Populated:
    """Bring the store under ``root`` up to ``batches`` monitored batches (see the module's
    docstring); the store is reused as it is when it holds that many already."""
    from pipelines.store import connect
    from pipelines.workflows.baseline import train_baseline
    from pipelines.workflows.orchestrate import run_cycle
    from pipelines.workflows.retrain import retrain

    settings = store_settings(root, overrides)
    have = stored_batches(settings)
    result = Populated(batches_before=have, batches_after=have, rows=rows)
    if have >= batches:
        return result
    root.mkdir(parents=True, exist_ok=True)
    store = connect(settings.tracking)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if have == 0 and not _has_champion(store):
            began = time.perf_counter()
            train_baseline(settings, store)
            result.baseline_seconds = time.perf_counter() - began
        todo = batches - have
        n_cycles = -(-todo // per_cycle)
        # cycles whose clock is set past the cooldown: spread over the run, the first
        # retraining needing none (nothing retrained before it)
        moved = {round(n_cycles * (k + 1) / retrainings) - 1
                 for k in range(max(retrainings - 1, 0))} if retrainings > 1 else set()
        retraining_seconds: list[float] = []

        def timed_retrain(*args: Any, **kwargs: Any) -> Any:  # the real one, timed
            started = time.perf_counter()
            try:
                return retrain(*args, **kwargs)
            finally:
                retraining_seconds.append(time.perf_counter() - started)

        began = time.perf_counter()
        for cycle_no in range(n_cycles):
            first = have + cycle_no * per_cycle
            plan = SimulatedBatches(first, min(per_cycle, batches - first), rows, scenarios)
            now = datetime.now(UTC)
            if cycle_no in moved:
                now += timedelta(days=settings.retraining.cooldown_days + 1)
            cycle = run_cycle(settings, batch_source(plan), now=now, store=store,
                              retrain_fn=timed_retrain)
            result.cycles += 1
            result.decisions[cycle.decision] += 1
            for b in cycle.batches:
                result.statuses[b.monitoring_status or b.status] += 1
                if b.status != "monitored":
                    result.failed.append(f"{b.batch}: {b.status} {b.message}")
            if cycle.retraining:
                info = cycle.retraining
                new = f" v{info['new_version']}" if info.get("new_version") else ""
                result.retrainings.append(f"after batch {first + plan.count:,}: "
                                          f"{info.get('decision')}{new}")
            done = first + plan.count
            if cycle_no % max(1, 50 // per_cycle) == 0 or done == batches:
                elapsed = time.perf_counter() - began
                say(f"  {done:,}/{batches:,} batches, {elapsed:,.0f} s "
                    f"({elapsed / (done - have):.2f} s a batch)")
        result.seconds = time.perf_counter() - began
        result.retraining_seconds = sum(retraining_seconds)
    result.batches_after = stored_batches(settings)
    return result


def _has_champion(store: Any) -> bool:
    from pipelines.store import alias_version

    try:
        return alias_version(store, "champion") is not None
    except Exception:
        return False


def populate_table(p: Populated, per_cycle: int) -> list[str]:
    added = p.batches_after - p.batches_before
    lines = ["| populating | value |", "|---|---|"]
    if added <= 0:
        lines.append(f"| store reused | {p.batches_after:,} batches already monitored: "
                     "nothing added |")
        return lines
    monitoring = p.seconds - p.retraining_seconds
    lines += [
        f"| batches added | {added:,} ({p.batches_before:,} -> {p.batches_after:,}), "
        f"{p.rows:,} rows each, {per_cycle} a cycle, {p.cycles:,} cycles |",
        f"| baseline training | {p.baseline_seconds:.1f} s |",
        f"| whole populating (cycles) | {p.seconds:,.1f} s ({p.seconds / 60:.1f} min) |",
        f"| of which retraining | {p.retraining_seconds:,.1f} s ({len(p.retrainings)} "
        f"retraining(s): {'; '.join(p.retrainings) or 'none'}) |",
        f"| per batch (monitoring + the cycle's share) | {monitoring / added:.2f} s |",
        f"| rows per second (monitoring) | {added * p.rows / monitoring:,.0f} |",
        f"| batch statuses | {_counts(p.statuses)} |",
        f"| cycle decisions | {_counts(p.decisions)} |",
    ]
    if p.failed:
        lines.append(f"| not monitored | {len(p.failed)}: {'; '.join(p.failed[:3])} |")
    return lines


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counter.most_common())



# ----------------------------------------------------------------------------- the service

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """The service, a new process over the benchmark's store."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path
    first_snapshot_seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)

    def memory_mb(self) -> dict[str, float]:
        """``VmRSS`` (now) and ``VmHWM`` (peak) of the process, in MB (Linux)."""
        found: dict[str, float] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found[key] = int(value.split()[0]) / 1024
        return found


@contextlib.contextmanager
def service(root: Path, *, wait_seconds: float,
            refresh_seconds: float | None = None,
            timeout_seconds: float | None = None) -> Iterator[Service]:
    """``python -m pipelines.serve`` on a free port over the store under ``root``, waited for
    until ``/health`` answers 200 (its first snapshot read), stopped (SIGTERM) afterwards."""
    import requests

    port = free_port()
    log = root / "bench-service.log"
    command = [sys.executable, "-m", "pipelines.serve", "--host", "127.0.0.1",
               "--port", str(port)]
    started = time.perf_counter()
    with log.open("wb") as out:
        env = service_env(root, refresh_seconds, timeout_seconds)
        process = subprocess.Popen(command, env=env, cwd=root, stdout=out,
                                   stderr=subprocess.STDOUT)
    svc = Service(process, f"http://127.0.0.1:{port}", log)
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the service exited ({process.returncode}):\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                answer = requests.get(f"{svc.base}/health", timeout=5)
                if answer.status_code == 200:
                    svc.health = answer.json()
                    break
            if time.perf_counter() - started > wait_seconds:
                raise SystemExit(f"the service did not answer /health with 200 within "
                                 f"{wait_seconds:g} s; its log:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        svc.first_snapshot_seconds = time.perf_counter() - started
        yield svc
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Timed:
    endpoint: str
    ms: list[float]
    statuses: Counter[int]
    note: str = ""

    def quantile(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def endpoints(batches: int) -> list[tuple[str, str]]:
    """(label, path) of every endpoint timed, but ``/batches/{seq}`` (timed apart)."""
    return [
        ("/health", "/health"),
        ("/alerts", "/alerts"),
        ("/metrics/baseline", "/metrics/baseline"),
        ("/metrics/latest", "/metrics/latest"),
        ("/metrics/history", "/metrics/history"),
        ("/drift/data", "/drift/data"),
        ("/drift/concept", "/drift/concept"),
        ("/drift/matrix", "/drift/matrix"),
        (f"/features/{FEATURE}/drift", f"/features/{FEATURE}/drift"),
        ("/quality/history", "/quality/history"),
        ("/retraining/status", "/retraining/status"),
        ("/models", "/models"),
        ("/batches?limit=50", "/batches?limit=50"),
        (f"/batches?limit=50&offset={max(batches - 50, 0)} (oldest page)",
         f"/batches?limit=50&offset={max(batches - 50, 0)}"),
        ("/audit", "/audit"),
        ("/metrics (Prometheus)", "/metrics"),
        ("/ (dashboard)", "/"),
    ]


def time_requests(session: Any, base: str, label: str, paths: Sequence[str]) -> Timed:
    """One request per path, in order, each timed from before sending until its whole body
    is read."""
    timed = Timed(label, [], Counter())
    for path in paths:
        began = time.perf_counter()
        answer = session.get(base + path, timeout=60)
        _ = answer.content
        timed.ms.append((time.perf_counter() - began) * 1000)
        timed.statuses[answer.status_code] += 1
    return timed


def measure_service(svc: Service, batches: int, n: int) -> list[Timed]:
    import requests

    results = []
    with requests.Session() as session:
        for label, path in endpoints(batches):
            results.append(time_requests(session, svc.base, label, [path] * n))
        # a different batch each request (its report downloaded), newest to oldest spread
        count = max(1, min(n, batches))
        sequences = [batches - (k * batches) // count for k in range(count)]
        cold = time_requests(session, svc.base, "/batches/{seq} cold",
                             [f"/batches/{s}" for s in sequences])
        cold.note = f"{count} different batches, each once"
        results.append(cold)
        warm_path = f"/batches/{sequences[0]}"
        session.get(svc.base + warm_path, timeout=60)  # fetched once before: cached
        warm = time_requests(session, svc.base, "/batches/{seq} warm", [warm_path] * n)
        warm.note = "the same batch again"
        results.append(warm)
    return results


def latency_table(results: Sequence[Timed]) -> list[str]:
    lines = ["| endpoint | requests | status | p50 ms | p95 ms | max ms | "
             f"> {LIMIT_MS:g} ms |", "|---|---|---|---|---|---|---|"]
    for t in results:
        status = ", ".join(f"{code} x{count}" if len(t.statuses) > 1 else str(code)
                           for code, count in sorted(t.statuses.items()))
        over = []
        if t.quantile(0.5) > LIMIT_MS:
            over.append("p50")
        if t.quantile(0.95) > LIMIT_MS:
            over.append("p95")
        if not over and max(t.ms) > LIMIT_MS:
            over.append(f"max only ({sum(m > LIMIT_MS for m in t.ms)} of {len(t.ms)})")
        note = f" ({t.note})" if t.note else ""
        lines.append(f"| {t.endpoint}{note} | {len(t.ms)} | {status} | {t.quantile(0.5):.1f} | "
                     f"{t.quantile(0.95):.1f} | {max(t.ms):.1f} | {', '.join(over) or 'no'} |")
    return lines


def snapshot_times(root: Path, repeats: int = 3) -> dict[str, float]:
    """The snapshot read in this process: the connection, a cold read (no previous snapshot:
    every run's report downloaded) and warm reads (from the previous one; median of
    ``repeats``)."""
    from pipelines.store import connect
    from pipelines.store.views import read_snapshot

    settings = store_settings(root)
    began = time.perf_counter()
    store = connect(settings.tracking, create=False, purpose="serve")
    connected = time.perf_counter() - began
    began = time.perf_counter()
    snap = read_snapshot(store, settings)
    cold = time.perf_counter() - began
    warm = []
    for _ in range(repeats):
        began = time.perf_counter()
        snap = read_snapshot(store, settings, snap)
        warm.append(time.perf_counter() - began)
    return {"connect": connected, "cold": cold,
            "warm": statistics.median(warm), "batches": len(snap.batches),
            "details": len(snap.details)}


def service_table(svc: Service, snap: dict[str, float], memory: dict[str, float]) -> list[str]:
    health = svc.health
    return [
        "| service | value |", "|---|---|",
        f"| start to first snapshot (/health 200) | {svc.first_snapshot_seconds:.1f} s "
        f"({health.get('batches', '?')} batches) |",
        f"| connection to the store (in this process) | {snap['connect']:.2f} s |",
        f"| snapshot read, cold (no previous snapshot: every report downloaded) | "
        f"{snap['cold']:.2f} s "
        f"({snap['batches']:,.0f} batches, {snap['details']:,.0f} reports) |",
        f"| snapshot read, warm (from the previous one; median of 3) | {snap['warm']:.2f} s |",
        f"| service memory after the requests | RSS {memory.get('VmRSS', float('nan')):.0f} MB, "
        f"peak {memory.get('VmHWM', float('nan')):.0f} MB |",
    ]


# ----------------------------------------------------------------------------- command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, help="the store's folder, reused when it holds "
                   "--batches monitored batches already (default: a temporary folder)")
    p.add_argument("--batches", type=int, default=200,
                   help="monitored batches in the store (the issue's figures: 1000)")
    p.add_argument("--rows", type=int, default=300, help="rows of each simulated batch")
    p.add_argument("--per-cycle", type=int, default=20,
                   help="batches per orchestrator cycle while populating")
    p.add_argument("--retrainings", type=int, default=2,
                   help="retrainings wanted while populating (the first comes with the first "
                   "recommendation; the clock passes the cooldown for the others)")
    p.add_argument("--scenarios", default=",".join(SCENARIO_CYCLE),
                   help="the simulator's scenarios, cycled batch by batch")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for populating (default: monitoring.max_drift_plots=0, "
                   "the drifted features' PNGs, which the service does not read)")
    p.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    p.add_argument("--wait", type=float, default=600,
                   help="seconds to wait for the service's first snapshot")
    p.add_argument("--refresh-seconds", type=float,
                   help="the service's service.refresh_seconds (default: its own, 10 s; a "
                   "large value times the requests without the background re-reads)")
    p.add_argument("--store-timeout-seconds", type=float,
                   help="the service's service.store_timeout_seconds (default: its own, 5 s)")
    p.add_argument("--populate-only", action="store_true", help="stop after populating")
    p.add_argument("--verbose", action="store_true", help="the project's log lines too")
    return p


def overrides_of(pairs: Sequence[str]) -> dict[str, Any]:
    values: dict[str, Any] = {"monitoring.max_drift_plots": 0}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        values[key.strip()] = value.strip()
    return values


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # the verdicts' own log lines (one alert block per batch) and MLflow's
        for name in ("pipelines.alerts", "pipelines.notify", "mlflow"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        root = (args.store or Path(tmp) / "store").resolve()
        say(f"store: {root} ({args.batches:,} batches of {args.rows:,} rows wanted)")
        populated = populate(root, args.batches, rows=args.rows, per_cycle=args.per_cycle,
                             retrainings=args.retrainings, scenarios=scenarios,
                             overrides=overrides_of(args.set))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        say("")
        say(f"load average after populating: {load:.2f} on {os.cpu_count()} cores")
        for line in populate_table(populated, args.per_cycle):
            say(line)
        if args.populate_only:
            return 0
        say("")
        say(f"starting the service over {populated.batches_after:,} batches")
        with service(root, wait_seconds=args.wait,
                     refresh_seconds=args.refresh_seconds,
                     timeout_seconds=args.store_timeout_seconds) as svc:
            results = measure_service(svc, populated.batches_after, args.requests)
            memory = svc.memory_mb()
        snap = snapshot_times(root)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        say("")
        refresh = (f"{args.refresh_seconds:g} s" if args.refresh_seconds is not None
                   else "the default")
        say(f"load average after measuring: {load:.2f} on {os.cpu_count()} cores; "
            f"{args.requests} requests per endpoint, one keep-alive session, timed in the "
            f"client; the service re-reading the store every {refresh}"
            + (f", store timeout {args.store_timeout_seconds:g} s"
               if args.store_timeout_seconds is not None else ""))
        for line in latency_table(results):
            say(line)
        say("")
        for line in service_table(svc, snap, memory):
            say(line)
        over = [t.endpoint for t in results if t.quantile(0.95) > LIMIT_MS]
        failed = [f"{t.endpoint}: {sum(n for code, n in t.statuses.items() if code != 200)}"
                  for t in results if set(t.statuses) != {200}]
        say("")
        say(f"p95 above {LIMIT_MS:g} ms: {', '.join(over) if over else 'none'}")
        say(f"answers other than 200: {'; '.join(failed) if failed else 'none'}"
            + (f" (the service's log: {svc.log})" if failed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
