"""Time the demo generator (run by hand or by `make bench`; prints figures, asserts nothing).

    python benchmarks/bench_generator.py [--rows 1000000] [--repeats 3]

The test suite checks what the generator produces; how fast it produces it belongs here,
where a busy machine changes a figure instead of failing a build.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from pipelines.data.generator import SCENARIOS, generate_batch, generate_reference


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    generate_reference(1_000, seed=0)  # warm-up: imports, cached scales
    load = os.getloadavg()[0]
    sys.stdout.write(f"demo generator, {args.rows:,} rows, median of {args.repeats} "
                     f"(load average {load:.1f} on {os.cpu_count()} cores)\n\n"
                     "| scenario | wall s (median) | rows/s |\n|---|---:|---:|\n")
    for scenario in SCENARIOS:
        times = []
        for seed in range(args.repeats):
            began = time.perf_counter()
            frame = generate_batch(scenario, args.rows, seed)
            times.append(time.perf_counter() - began)
            del frame
        median = statistics.median(times)
        sys.stdout.write(f"| {scenario} | {median:.2f} | {args.rows / median:,.0f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
