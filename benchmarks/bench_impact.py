"""The cost of "drift that matters" (issue 24): one monitor cycle on the demo champion with and
without the impact ranking and consecutive drift, at 1M rows.

    python benchmarks/bench_impact.py                   # 1M rows, a fresh demo store
    python benchmarks/bench_impact.py --rows 200000 --repeats 3
    python benchmarks/bench_impact.py --store DIR       # a store with a trained champion

The champion is the demo's baseline (``train_baseline``, trained in a temporary SQLite store
unless ``--store`` names one), the batch the simulator's ``covariate_shift`` (three features
drifted: monthly_charges, support_calls, contract), scored by the champion in the cycle. A
first cycle with everything on warms up (imports, the counts profile) and leaves the feature
counts the consecutive comparison reads; then, ``--repeats`` times each, alternating:

* **plain**: ``monitoring.impact_ranking = false``, ``monitoring.consecutive_drift = false``;
* **with impact**: both on (the defaults): the ranking scores ``impact_max_rows`` (20,000)
  rows once per drifted feature and once more for all of them together; the consecutive
  comparison counts the batch on the reference's 1,000 bins, downloads the previous batch's
  counts and compares.

It prints the median seconds of each cycle, their ratio, the two phases on their own
(``impact``, ``consecutive drift``) and the impact-ranked drift table of the last cycle
(what MONITORING.md shows). Timings are wall-clock on whatever machine it runs; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from pipelines.config import Settings, load_settings
from pipelines.data.batch import Batch
from pipelines.data.generator import generate_batch
from pipelines.monitoring import consecutive, summary
from pipelines.monitoring.counts import count_features
from pipelines.monitoring.impact import format_shift
from pipelines.store.matters import previous_feature_counts
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.monitor import Monitor

#: Small, quick training for a store made here (the champion's quality is beside the point).
TRAINING = {"data.demo_rows": 20_000, "training.rf_n_estimators": 100,
            "training.xgb_n_estimators": 200}


def _out(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")


def settings_for(store: Path, **overrides: Any) -> Settings:
    values = {"tracking.uri": f"sqlite:///{store / 'mlflow.db'}",
              "tracking.artifact_root": str(store / "mlartifacts"),
              "paths.output_dir": str(store / "monitoring"),
              "paths.inbox_dir": str(store / "monitoring" / "inbox"), **TRAINING}
    values.update({k: v for k, v in overrides.items()})
    return load_settings(env={}, overrides=values)


def cycle(settings: Settings, frame: Any, batch_id: str) -> tuple[float, dict[str, float], Any]:
    """One monitor cycle (champion loaded beforehand, as a cycle of many batches has it)."""
    monitor = Monitor(settings)
    batch = Batch(frame, batch_id, "bench")
    start, cpu = time.perf_counter(), time.process_time()
    outcome = monitor.run(batch)
    timings = {**outcome.timings, "cpu": time.process_time() - cpu}
    return time.perf_counter() - start, timings, outcome.report


def phases_alone(settings: Settings, frame: Any) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds of the impact ranking, the batch's counting and the comparison
    with the previous batch, each alone on an evaluated batch (CPU time is steadier than
    wall time on a shared machine)."""
    monitor = Monitor(settings)
    report, prepared, _ = monitor.evaluate(Batch(frame, "phases", "bench"))
    profile = monitor.counts_profile
    out: dict[str, tuple[float, float]] = {}

    def timed(name: str, work: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        out[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result

    timed("impact ranking", lambda: monitor._impact(report, prepared))
    counts = timed("counting the batch (1,000 bins)", lambda: count_features(profile, prepared))
    timed("previous counts + comparison", lambda: consecutive.consecutive_drift(
        previous_feature_counts(monitor.store, monitor.experiment)[0], counts, profile,
        monitor.policy.drift, report.feature_drift))
    return out


def drift_table(report: Any) -> str:
    """The drifted features in impact order, as MONITORING.md shows them (Markdown)."""
    table = summary.feature_table(report)
    drifted = table[table["verdict"] == "drifted"]
    kind = report.problem_type
    lines = ["| feature | kind | PSI | impact on the mean score | share of the score drift | "
             "verdict | vs previous batch |", "|---|---|---|---|---|---|---|"]
    for r in drifted.itertuples():
        share = "" if r.impact_share != r.impact_share else f"{r.impact_share:.0%}"
        lines.append(f"| {r.feature} | {r.kind} | {r.effect:.3f} | "
                     f"{format_shift(r.impact, kind)} | {share} | "
                     f"{'harmless' if r.harmless else 'moves the score'} | "
                     f"{getattr(r, 'consecutive_label', '')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--store", type=Path, default=None,
                   help="a folder with mlflow.db and a trained champion (default: train one)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or Path(tmp) / "store"
        if not (store / "mlflow.db").exists():  # train one (kept when --store names a folder)
            store.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            train_baseline(settings_for(store))
            _out(f"trained the demo champion in {time.perf_counter() - started:.1f} s")
        plain = settings_for(store, **{"monitoring.impact_ranking": False,
                                       "monitoring.consecutive_drift": False})
        full = settings_for(store)
        calm = generate_batch("no_drift", args.rows, seed=101)
        shifted = generate_batch("covariate_shift", args.rows, seed=102)
        cycle(full, calm, "warm-up")  # imports, profiles; leaves counts for the comparison
        times: dict[str, list[float]] = {"plain": [], "with impact": []}
        cpu: dict[str, list[float]] = {"plain": [], "with impact": []}
        phases: dict[str, list[float]] = {"impact": [], "consecutive drift": []}
        report = None
        for i in range(args.repeats):
            seconds, timings, _ = cycle(plain, shifted, f"plain-{i}")
            times["plain"].append(seconds)
            cpu["plain"].append(timings["cpu"])
            cycle(full, calm, f"calm-{i}")  # the previous batch of the measured one
            seconds, timings, report = cycle(full, shifted, f"full-{i}")
            times["with impact"].append(seconds)
            cpu["with impact"].append(timings["cpu"])
            for name in phases:
                phases[name].append(timings.get(name, float("nan")))
        med = {k: statistics.median(v) for k, v in times.items()}
        ph = {k: statistics.median(v) for k, v in phases.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        _out(f"\n{args.rows:,} rows, covariate shift, champion scoring, median of "
              f"{args.repeats}:")
        _out(f"  plain cycle             {med['plain']:.2f} s")
        _out(f"  with impact + previous  {med['with impact']:.2f} s "
              f"(x{med['with impact'] / med['plain']:.2f})")
        _out(f"  CPU seconds: plain {med_cpu['plain']:.2f}, with impact + previous "
             f"{med_cpu['with impact']:.2f} (x{med_cpu['with impact'] / med_cpu['plain']:.2f})")
        _out(f"    impact ranking phase  {ph['impact']:.2f} s")
        _out(f"    consecutive drift     {ph['consecutive drift']:.2f} s")
        alone = phases_alone(full, shifted)
        _out(f"  the two phases alone (wall / CPU seconds, load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
        for name, (wall, cpu) in alone.items():
            _out(f"    {name:<32} {wall:.2f} / {cpu:.2f}")
        assert report is not None
        assert report.impact is not None
        _out(f"\n{report.impact.summary()}\n")
        _out(drift_table(report))
        if args.json:
            args.json.write_text(json.dumps({"rows": args.rows, "seconds": med, "phases": ph,
                                             "cpu": med_cpu, "alone": alone,
                                             "impact": report.impact.to_dict()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
