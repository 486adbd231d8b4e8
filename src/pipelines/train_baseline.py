"""Baseline training: train the candidates, log the best to MLflow, register it as champion.

``python -m pipelines.train_baseline [--data FILE --target COL]`` or ``mlflow run . -e train``.
Any model type (``data.problem_type``: binary, multiclass, regression; ``--config FILE``).
Data are validated before anything is logged, so bad input registers nothing. The work is
:func:`pipelines.workflows.baseline.train_baseline`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
    step_parser,
)

logger = logging.getLogger(__name__)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("train_baseline", __doc__, prog)
    p.add_argument("--data", help="CSV or Parquet training file (default: the demo generator)")
    p.add_argument("--target", help="target column (default: data.target, churn in the demo)")
    p.add_argument("--demo-rows", type=int_arg, help="rows of generated demo data")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args, {
        "data.path": args.data, "data.target": args.target, "data.demo_rows": args.demo_rows,
    })
    from pipelines.workflows.baseline import train_baseline

    result = train_baseline(settings)
    logger.info("Done: run %s, model version %s", result.run_id, result.model_version)
    return 0


if __name__ == "__main__":
    exit_with(main)
