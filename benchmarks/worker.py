"""Run one tool on one data set in this process and write its timings as JSON.

    python benchmarks/worker.py --tool NAME --data DIR --repeats 3 --out result.json
    python benchmarks/worker.py --prepare-champion DIR --data DIR --out info.json

Started by run_benchmarks.py, with the interpreter of the tool's own environment. Order:
imports and data load (neither timed nor counted in memory), then the peak-memory mark is
reset, then the tool's untimed setup, then ``--repeats`` timed runs (``time.perf_counter``
around each), then the verdict (untimed).

Peak memory: the process's resident-set high-water mark (``VmHWM``) is reset through
``/proc/self/clear_refs`` once data and imports are in, read after the setup, reset again and
read after the last run; each reported as peak minus the resident set at the first reset
(``peak_setup_mb``, ``peak_runs_mb``: the latter counts what the setup keeps, such as a fitted
profile, but not the setup's transient peak; ``peak_delta_mb`` is the larger). Where that
file cannot be written (not Linux), ``ru_maxrss`` after the runs minus ``ru_maxrss`` at that
point is used instead (setup and runs together), and the method is named in the output.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import json
import logging
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import bench_data
import bench_tools


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _maxrss_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024


class PeakMemory:
    """Peak resident memory above the level at :meth:`reset`."""

    def reset(self) -> None:
        gc.collect()
        try:  # hand freed heap pages back, so the baseline is what is really in use
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        if "pyarrow" in sys.modules:  # Arrow's allocator (mimalloc) returns freed pages
            # only after a delay: without this, reading the Parquet input left pages that
            # were released during the setup or the first run and lowered the peak seen
            sys.modules["pyarrow"].default_memory_pool().release_unused()
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.method = "VmHWM reset via /proc/self/clear_refs"
        except OSError:
            self.method = "ru_maxrss difference"
        rss = _status_kb("VmRSS")
        self.baseline_mb = rss / 1024 if rss is not None else _maxrss_mb()
        self.baseline_maxrss_mb = _maxrss_mb()

    def peak_delta_mb(self) -> float:
        if self.method.startswith("VmHWM"):
            hwm = _status_kb("VmHWM")
            if hwm is not None:
                return max(0.0, hwm / 1024 - self.baseline_mb)
        return max(0.0, _maxrss_mb() - self.baseline_maxrss_mb)

    def restart_peak(self) -> None:
        """Forget the peak so far (the baseline stays): what follows is measured alone."""
        if self.method.startswith("VmHWM"):
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")


def _versions(env: str) -> dict[str, str]:
    from importlib import metadata

    names = ["numpy", "pandas", "scipy", "pyarrow"]
    names += {"project": ["mlflow", "churn-monitoring"], "evidently": ["evidently"],
              "nannyml": ["nannyml", "statsmodels"]}.get(env, [])
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def run_tool(args: argparse.Namespace) -> dict[str, Any]:
    tool = bench_tools.TOOLS[args.tool]
    meta = bench_data.read_meta(args.data)
    reference, current = bench_data.read_frames(args.data)
    ctx = bench_tools.Context(
        data_dir=Path(args.data), work_dir=Path(args.work_dir or args.data),
        reference=reference, current=current, numeric=meta["numeric"],
        categorical=meta["categorical"], injected=meta["injected"], score=meta["score"],
        target=meta["target"], champion_dir=Path(args.champion_dir) if args.champion_dir else None,
    )
    for module in tool.imports:
        importlib.import_module(module)
    memory = PeakMemory()
    memory.reset()
    started = time.perf_counter()
    state = tool.setup(ctx)
    setup_seconds = time.perf_counter() - started
    setup_peak = memory.peak_delta_mb()
    memory.restart_peak()
    times: list[float] = []
    phases: dict[str, list[float]] = {}
    output: Any = None
    for i in range(args.repeats):
        gc.collect()
        started = time.perf_counter()
        output = tool.run(state, ctx, i)
        times.append(time.perf_counter() - started)
        if isinstance(output, tuple) and len(output) == 2 and isinstance(output[1], dict):
            output, sub = output
            for key, value in sub.items():
                phases.setdefault(key, []).append(value)
    runs_peak = memory.peak_delta_mb()
    verdict = tool.verdict(state, output, ctx)
    if args.profile:
        _profile(tool, state, ctx, Path(args.profile))
    return {
        "tool": tool.name, "label": tool.label, "env": tool.env,
        "rows": meta["n_rows"], "features": meta["n_features"],
        "times": times, "median": statistics.median(times),
        "phases": {k: statistics.median(v) for k, v in phases.items()},
        "setup_seconds": setup_seconds,
        "peak_delta_mb": max(setup_peak, runs_peak), "peak_setup_mb": setup_peak,
        "peak_runs_mb": runs_peak, "baseline_rss_mb": memory.baseline_mb,
        "process_peak_mb": _maxrss_mb(), "memory_method": memory.method,
        "verdict": verdict, "injected": meta["injected"], "versions": _versions(tool.env),
    }


def _profile(tool: bench_tools.Tool, state: Any, ctx: bench_tools.Context, path: Path) -> None:
    """One more run under cProfile; the 40 largest cumulative costs written to ``path``."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    tool.run(state, ctx, 10_000)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", choices=sorted(bench_tools.TOOLS))
    p.add_argument("--prepare-champion", metavar="DIR",
                   help="train the benchmark's champion into DIR instead of running a tool")
    p.add_argument("--data", required=True, help="folder written by bench_data.write_dataset")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--champion-dir", help="folder of the prepared champion (monitor tools)")
    p.add_argument("--work-dir")
    p.add_argument("--profile", help="also profile one extra run with cProfile into this file")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.prepare_champion:
        meta = bench_data.read_meta(args.data)
        result = bench_tools.prepare_champion(Path(args.data), Path(args.prepare_champion),
                                              meta["n_rows"], meta["n_features"], meta["seed"])
    elif args.tool:
        if args.repeats < 1:
            p.error("--repeats must be >= 1")
        result = run_tool(args)
    else:
        p.error("give --tool or --prepare-champion")
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
