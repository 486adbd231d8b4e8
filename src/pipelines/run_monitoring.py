"""The orchestrator: get the next batch(es), monitor, decide, and retrain when warranted.

Usage::

    python -m pipelines.run_monitoring --source simulate --scenario covariate_shift
    python -m pipelines.run_monitoring --source inbox      # every file in paths.inbox_dir (or s3://)
    python src/pipelines/run_monitoring.py [PIPELINE_EXPERIMENT]
    churnmon run --source inbox
    mlflow run . -e run_monitoring -P source=inbox --env-manager local

The optional positional names the pipeline (training) experiment, by id or name, as the seed's
``run_monitoring.py $EXP_ID`` does: it selects the experiment family (its prefix) and must
exist; monitoring runs still go to ``<prefix>-Monitoring``, retraining to
``<prefix>-Retraining``.

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

if __name__ == "__main__" and not __package__:  # run as a script: import the package from src/
    import sys
    from pathlib import Path as _Path

    _here = _Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if _Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import argparse
from collections.abc import Sequence

from pipelines.choices import SCENARIOS
from pipelines.cli import (
    EXIT_BAD_INPUT,
    EXIT_LOCK_BUSY,
    add_common_options,
    add_experiment_argument,
    bool_arg,
    exit_with,
    int_arg,
    settings_for_family,
    setup_logging,
    step_parser,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("run_monitoring", __doc__, prog)
    add_experiment_argument(p)
    p.add_argument("--source", choices=("simulate", "inbox"), default="simulate")
    p.add_argument("--scenario", choices=SCENARIOS, default="no_drift")
    p.add_argument("--rows", type=int_arg, default=5000)
    p.add_argument("--seed", type=int_arg)
    p.add_argument("--force", type=bool_arg, nargs="?", const=True, default=False,
                   help="retrain even inside the cooldown (and even if not recommended)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_for_family(args)
    from pipelines.data.sources import BatchSource, SimulatedSource, inbox_source
    from pipelines.workflows.orchestrate import run_cycle

    source: BatchSource = (inbox_source(settings.paths.inbox_dir, settings.data,
                                        lease_seconds=settings.retraining.lock_lease_seconds)
                           if args.source == "inbox" else
                           SimulatedSource(args.scenario, rows=args.rows, seed=args.seed))
    cycle = run_cycle(settings, source, force=args.force)
    if cycle.decision == "lock_busy":
        return EXIT_LOCK_BUSY
    return 1 if any(b.status == "failed" for b in cycle.batches) else (
        EXIT_BAD_INPUT if cycle.decision == "all_refused" else 0)


if __name__ == "__main__":
    exit_with(main)
