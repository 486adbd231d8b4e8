"""Benchmark: the counts engines at scale (issue 13), run by hand or by ``make bench``.

    python benchmarks/bench_scale.py                          # chunked 1M/10M/50M, Spark 10M
    python benchmarks/bench_scale.py --sizes 1000000,10000000 --spark-sizes 1000000

A baseline champion is trained once in a temporary SQLite store (the demo's default data),
then each measurement is one ``python -m pipelines.monitor_performance --engine ...`` process
on a seeded Parquet batch of the demo schema (24 features, labels, a ``score`` column),
written once under ``--data`` (1M-row row groups, 10 distinct 1M-row blocks repeated). For
each size it prints wall time (the whole command: start-up, champion load, reading, scoring,
counting, statistics, the MLflow run and reports), and the process's peak resident memory
(``ru_maxrss`` of the monitor process; for Spark the driver's Python process only: the JVM
and the Python workers are apart, bounded by Spark's own settings). Scores come from the
batch's ``score`` column (``data.prediction_column``) unless ``--champion`` is given; the
Spark engine at its sizes scores with the champion through ``spark_udf`` as well.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BLOCK = 1_000_000


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def write_batch(path: Path, rows: int) -> Path:
    """A seeded Parquet batch of ``rows`` rows (covariate shift in three features)."""
    if path.exists():
        return path
    from pipelines.data.generator import churn_probability, generate_batch

    blocks = []
    for seed in range(min(10, -(-rows // BLOCK))):
        frame = generate_batch("covariate_shift", min(BLOCK, rows), seed=1000 + seed)
        frame["score"] = np.nan_to_num(churn_probability(frame), nan=0.27)
        blocks.append(pa.Table.from_pandas(frame, preserve_index=False))
    tmp = path.with_suffix(".tmp")
    with pq.ParquetWriter(tmp, blocks[0].schema) as writer:
        written, i = 0, 0
        while written < rows:
            table = blocks[i % len(blocks)].slice(0, rows - written)
            writer.write_table(table, row_group_size=BLOCK)
            written += table.num_rows
            i += 1
    tmp.replace(path)
    return path


def measure(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one command, run from a fresh helper process so
    that ``RUSAGE_CHILDREN`` holds this command alone."""
    helper = ("import resource, subprocess, sys, time, json\n"
              "t = time.perf_counter()\n"
              "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
              "w = time.perf_counter() - t\n"
              "m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
              "print(json.dumps({'wall': w, 'rss': m, 'rc': r.returncode,"
              " 'err': r.stderr[-2000:]}))\n")
    out = subprocess.run([sys.executable, "-c", helper, *argv], cwd=cwd, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result['err']}")
    return result["wall"], result["rss"], result["err"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000,10000000,50000000")
    p.add_argument("--spark-sizes", default="10000000")
    p.add_argument("--data", type=Path, default=HERE / "data")
    p.add_argument("--champion", action="store_true",
                   help="chunked engine: score with the champion, not the score column")
    p.add_argument("--spark-master", default="local[*]")
    args = p.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    spark_sizes = [int(s) for s in args.spark_sizes.split(",") if s]
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    env_python = sys.executable
    say(f"training the champion in {work} ...")
    subprocess.run([env_python, "-m", "pipelines.train_baseline"], cwd=work, check=True,
                   capture_output=True)
    rows_out: list[dict[str, object]] = []
    base = [env_python, "-m", "pipelines.monitor_performance"]
    column = ["--set", "data.prediction_column=score"]
    for n in sorted(set(sizes + spark_sizes)):
        t = time.perf_counter()
        path = write_batch(args.data / f"scale_{n}.parquet", n)
        say(f"{n:,} rows: {path} ({path.stat().st_size / 1e6:,.0f} MB, "
              f"{time.perf_counter() - t:.0f} s to write)")
    for n in sizes:
        path = args.data / f"scale_{n}.parquet"
        wall, rss, _ = measure([*base, "--batch", str(path), "--engine", "chunked",
                                *([] if args.champion else column)], work)
        rows_out.append({"engine": "chunked", "rows": n, "wall": wall, "rss": rss,
                         "scored_by": "champion" if args.champion else "score column"})
        say(f"chunked {n:>11,} rows: {wall:7.1f} s, peak {rss:6.0f} MB")
    for n in spark_sizes:
        path = args.data / f"scale_{n}.parquet"
        for scoring, extra in (("score column", column), ("champion (spark_udf)", [])):
            wall, rss, _ = measure([*base, "--batch", str(path), "--engine", "spark",
                                    "--set", f"engine.spark_master={args.spark_master}",
                                    *extra], work)
            rows_out.append({"engine": "spark", "rows": n, "wall": wall, "rss": rss,
                             "scored_by": scoring})
            say(f"spark   {n:>11,} rows ({scoring}): {wall:7.1f} s, driver peak "
                  f"{rss:6.0f} MB")
    say()
    say("| engine | scores from | rows | wall s | s per 1M rows | s per 1M rows per core "
          "| peak RSS MB |\n|---|---|---:|---:|---:|---:|---:|")
    for r in rows_out:
        per_m = float(r["wall"]) / (int(r["rows"]) / 1e6)
        say(f"| {r['engine']} | {r['scored_by']} | {int(r['rows']):,} | {r['wall']:.1f} | "
              f"{per_m:.2f} | {per_m * cores:.2f} | {r['rss']:.0f} |")
    chunked = [r for r in rows_out if r["engine"] == "chunked"]
    if len(chunked) >= 2:
        a, b = chunked[0], chunked[-1]
        slope = (float(b["wall"]) - float(a["wall"])) / ((int(b["rows"]) - int(a["rows"])) / 1e6)
        say(f"\nchunked: {slope:.2f} s per extra 1M rows from {int(a['rows']):,} to "
              f"{int(b['rows']):,}; peak memory {a['rss']:.0f} -> {b['rss']:.0f} MB")
    say(f"({cores} cores; peak RSS of the monitor process: ru_maxrss)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
