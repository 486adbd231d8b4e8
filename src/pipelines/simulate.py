"""Simulate a production batch from the demo generator and write it where batches go.

``python -m pipelines.simulate --scenario covariate_shift --rows 5000`` writes
``monitoring/production_batch_<timestamp>.csv`` (or into ``--out``) and prints its path.
"""

from __future__ import annotations

import argparse
import logging
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
)
from pipelines.config import Settings
from pipelines.data.generator import SCENARIOS, generate_batch
from pipelines.data.io import write_table

logger = logging.getLogger(__name__)


def simulate_frame(scenario: str, *, rows: int, seed: int | None = None,
                   start_time: pd.Timestamp | None = None) -> pd.DataFrame:
    """A batch of ``scenario``; without a seed, one derived from the clock (a new sample)."""
    if seed is None:
        seed = zlib.crc32(datetime.now(UTC).isoformat().encode()) % 100_000
    return generate_batch(scenario, rows, seed, start_time=start_time)


def simulate_batch(settings: Settings, scenario: str, *, rows: int = 5000,
                   seed: int | None = None, out_dir: Path | None = None,
                   start_time: pd.Timestamp | None = None, with_labels: bool = True) -> Path:
    """Write a simulated batch as ``production_batch_<UTC timestamp>.csv`` and return its path."""
    frame = simulate_frame(scenario, rows=rows, seed=seed, start_time=start_time)
    if not with_labels:
        frame = frame.drop(columns=[settings.data.target])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = (out_dir or settings.paths.output) / f"production_batch_{stamp}.csv"
    write_table(frame, path)
    logger.info("Simulated %s batch of %d rows -> %s", scenario, rows, path)
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__)
    p.add_argument("--scenario", default="no_drift", choices=SCENARIOS)
    p.add_argument("--rows", type=int_arg, default=5000)
    p.add_argument("--seed", type=int_arg, help="seed (negative or unset: from the clock)")
    p.add_argument("--out", help="folder for the batch (default: paths.output_dir)")
    p.add_argument("--no-labels", action="store_true", help="drop the target column")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    seed = args.seed if args.seed is not None and args.seed >= 0 else None
    path = simulate_batch(settings, args.scenario, rows=args.rows, seed=seed,
                          out_dir=Path(args.out) if args.out else None,
                          with_labels=not args.no_labels)
    print(path)  # noqa: T201 (the command's output is the path)
    return 0


if __name__ == "__main__":
    exit_with(main)
