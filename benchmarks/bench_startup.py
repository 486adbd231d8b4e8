"""Benchmark: what a command costs from the shell (issue 19), run by hand.

    python benchmarks/bench_startup.py                       # this checkout
    python benchmarks/bench_startup.py --src /path/to/old/src --src src   # before / after

For each package source given (``--src``, default this checkout's ``src``), every
measurement is a new ``python`` process started the way a user starts one, timed from the
outside (wall time, median of ``--repeats``):

- ``--help`` of ``python -m pipelines.monitor_performance`` (and of ``python -m pipelines``,
  the ``churnmon`` command, where that source has it);
- a verdict on a ``--rows``-row CSV batch (default 5,000):
  ``python -m pipelines.monitor_performance --batch FILE`` against a SQLite store whose
  champion was trained once beforehand (a small demo baseline), each repeat one more
  monitoring run.

Targets (issue 19, on an idle 2-core machine): ``--help`` < 1 s, a 5,000-row verdict < 3 s.
Times depend on the machine's load: compare sources in one invocation, not across days.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"help": 1.0, "verdict": 3.0}
#: The baseline the verdicts are judged against: small, so that setting up takes seconds.
TRAIN = ["--demo-rows", "3000", "--set", "training.candidates=[\"xgboost\"]",
         "--set", "training.xgb_n_estimators=60"]


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def environment(src: Path, work: Path) -> dict[str, str]:
    """A user's shell on the benchmark's store: no MLFLOW_* / CHURNMON_* of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env["PYTHONPATH"] = str(src.resolve())
    env["CHURNMON_TRACKING__URI"] = f"sqlite:///{work / 'mlflow.db'}"
    env["CHURNMON_PATHS__OUTPUT_DIR"] = str(work / "monitoring")
    return env


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one process; a failure stops the benchmark
    with its output. CPU time says less about what a user waits for, but more than wall time
    when other work shares the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu


def setup(src: Path, work: Path, rows: int) -> Path:
    """Train the champion and write the batch once (with the first source)."""
    env = environment(src, work)
    say(f"setting up in {work}: a small baseline champion, a {rows:,}-row batch")
    run([sys.executable, "-m", "pipelines.train_baseline", *TRAIN], env, work)
    out = subprocess.run([sys.executable, "-m", "pipelines.simulate", "--rows", str(rows),
                          "--seed", "7", "--out", str(work / "batches")],
                         env=env, cwd=work, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"simulate failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def measure(src: Path, work: Path, batch: Path,
            repeats: int) -> dict[str, list[tuple[float, float]]]:
    env = environment(src, work)
    py = [sys.executable, "-m"]
    commands = {"help": [*py, "pipelines.monitor_performance", "--help"]}
    if (src / "pipelines" / "__main__.py").is_file():
        commands["churnmon --help"] = [*py, "pipelines", "--help"]
    commands["verdict"] = [*py, "pipelines.monitor_performance", "--batch", str(batch)]
    times: dict[str, list[tuple[float, float]]] = {}
    for name, command in commands.items():
        times[name] = [run(command, env, work) for _ in range(repeats)]
    return times


def table(results: dict[str, dict[str, list[tuple[float, float]]]], rows: int) -> list[str]:
    lines = ["| source | command | median wall s | median CPU s | runs, wall (s) | target |",
             "|---|---|---|---|---|---|"]
    labels = {"help": "`monitor_performance --help`", "churnmon --help": "`churnmon --help`",
              "verdict": f"{rows:,}-row verdict (`monitor_performance --batch`)"}
    for src, times in results.items():
        for name, runs in times.items():
            target = TARGETS.get(name.replace("churnmon --", ""))
            median = statistics.median(wall for wall, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            verdict = "" if target is None else (
                f"< {target:g} s: {'met' if median < target else 'not met'}")
            lines.append(f"| {src} | {labels[name]} | {median:.2f} | {cpu:.2f} | "
                         f"{', '.join(f'{wall:.2f}' for wall, _ in runs)} | {verdict} |")
    return lines


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", action="append", type=Path, default=[],
                   help="a package source folder (holding pipelines/); repeatable; default: "
                   "this checkout's src")
    p.add_argument("--rows", type=int, default=5000, help="rows of the monitored batch")
    p.add_argument("--repeats", type=int, default=5, help="runs per command (median shown)")
    p.add_argument("--work-dir", type=Path, help="where the store and batch go (default: a "
                   "temporary folder)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sources = args.src or [REPO / "src"]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = (args.work_dir or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        batch = setup(sources[-1], work, args.rows)
        results = {}
        for src in sources:
            say(f"measuring {src} ({args.repeats} runs per command)")
            results[str(src)] = measure(src, work, batch, args.repeats)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        say("")
        say(f"load average at the end: {load:.2f} on {os.cpu_count()} cores")
        for line in table(results, args.rows):
            say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
