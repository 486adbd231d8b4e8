"""The orchestrator: get the next batch(es), monitor, decide, and retrain when warranted.

Usage::

    python -m pipelines.run_monitoring --source simulate --scenario covariate_shift
    python -m pipelines.run_monitoring --source inbox      # every file in paths.inbox_dir
    mlflow run . -e run_monitoring -P source=inbox --env-manager local

One cycle holds a lock kept in the MLflow registry, so two orchestrators started at once
(say by cron) never monitor the same batch or retrain twice. Retraining is triggered when a
batch recommends it and the cooldown (read from MLflow) allows it, or with ``--force``.
Exit codes: 0 done, 1 a batch failed (it stays in the inbox for the next run), 2 bad input or
configuration, or every new file was refused (decision ``all_refused``; a cycle that monitored
some files and refused others exits 0, the refusals in ``rejected/`` and on ERROR log lines),
75 skipped because another orchestrator holds the lock. The work is
:func:`pipelines.workflows.orchestrate.run_cycle`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipelines.cli import (
    EXIT_BAD_INPUT,
    EXIT_LOCK_BUSY,
    add_common_options,
    bool_arg,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
)
from pipelines.data.generator import SCENARIOS
from pipelines.data.sources import BatchSource, InboxSource, SimulatedSource
from pipelines.workflows.orchestrate import run_cycle


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.run_monitoring", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=("simulate", "inbox"), default="simulate")
    p.add_argument("--scenario", choices=SCENARIOS, default="no_drift")
    p.add_argument("--rows", type=int_arg, default=5000)
    p.add_argument("--seed", type=int_arg)
    p.add_argument("--force", type=bool_arg, nargs="?", const=True, default=False,
                   help="retrain even inside the cooldown (and even if not recommended)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    source: BatchSource = (InboxSource(settings.paths.inbox, settings.data)
                           if args.source == "inbox" else
                           SimulatedSource(args.scenario, rows=args.rows, seed=args.seed))
    cycle = run_cycle(settings, source, force=args.force)
    if cycle.decision == "lock_busy":
        return EXIT_LOCK_BUSY
    return 1 if any(b.status == "failed" for b in cycle.batches) else (
        EXIT_BAD_INPUT if cycle.decision == "all_refused" else 0)


if __name__ == "__main__":
    exit_with(main)
