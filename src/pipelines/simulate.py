"""Simulate a production batch from the demo generator and write it where batches go.

``python -m pipelines.simulate --scenario covariate_shift --rows 5000`` writes
``monitoring/production_batch_<timestamp>.csv`` (or into ``--out``) and prints its path.
The batch is of the configuration's ``data.problem_type``: ``--config
examples/regression.toml`` writes regression batches (target ``next_month_charges``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.choices import SCENARIOS
from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
    step_parser,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("simulate", __doc__, prog)
    p.add_argument("--scenario", default="no_drift", choices=SCENARIOS)
    p.add_argument("--rows", type=int_arg, default=5000)
    p.add_argument("--seed", type=int_arg, help="seed (negative or unset: from the clock)")
    p.add_argument("--out", help="folder for the batch (default: paths.output_dir)")
    p.add_argument("--no-labels", action="store_true", help="drop the target column")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.data.sources import write_simulated_batch

    seed = args.seed if args.seed is not None and args.seed >= 0 else None
    path = write_simulated_batch(settings, args.scenario, rows=args.rows, seed=seed,
                                 out_dir=Path(args.out) if args.out else None,
                                 with_labels=not args.no_labels)
    sys.stdout.write(f"{path}\n")  # the command's output is the path
    return 0


if __name__ == "__main__":
    exit_with(main)
