"""Monitor one production batch with the champion model and log the verdict to MLflow.

Usage::

    python -m pipelines.monitor_performance --batch FILE [--batch-id ID]
    python -m pipelines.monitor_performance --batch s3://bucket/key.parquet   # any engine
    python -m pipelines.monitor_performance --batch FILE_OR_FOLDER --engine chunked
    python -m pipelines.monitor_performance --batch PATH_OR_TABLE --engine spark
    python src/pipelines/monitor_performance.py [PIPELINE_EXPERIMENT]   # a simulated batch
    churnmon monitor --batch FILE
    mlflow run . -e monitor -P batch=FILE --env-manager local

The optional positional names the pipeline (training) experiment, by id or name, as the seed's
``monitor_performance.py $EXP_ID`` does: it selects the experiment family (its prefix) and must
exist; the monitoring run still goes to ``<prefix>-Monitoring``. Any member of the family
(``<prefix>-Monitoring`` too) selects the same family
(:func:`pipelines.workflows.family.settings_for_experiment`).

The batch is read and validated (required columns, dtypes, labels) *before* a run is opened,
so a refused batch leaves no monitoring run behind. Scores come from the batch's prediction
column when configured and present, otherwise from ``models:/<name>@champion``. The work is
:func:`pipelines.workflows.monitor.monitor_source`; with ``--engine chunked`` or ``spark``
(or ``[engine] name``) the batch is reduced to counts first, in bounded memory or on Spark
(:func:`pipelines.workflows.engines.monitor_counted`).
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
from pathlib import Path

from pipelines.choices import ENGINES, SCENARIOS
from pipelines.cli import (
    add_common_options,
    add_experiment_argument,
    exit_with,
    int_arg,
    settings_for_family,
    setup_logging,
    step_parser,
)
from pipelines.errors import ConfigError


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("monitor_performance", __doc__, prog)
    add_experiment_argument(p)
    p.add_argument("--batch", help="CSV or Parquet batch (a file or an s3:// object, "
                   "downloaded first); without it a batch is simulated")
    p.add_argument("--batch-id", help="batch id (default: the file name)")
    p.add_argument("--scenario", default="no_drift", choices=SCENARIOS,
                   help="scenario of the simulated batch")
    p.add_argument("--rows", type=int_arg, default=5000, help="rows of the simulated batch")
    p.add_argument("--seed", type=int_arg, default=None, help="seed of the simulated batch")
    p.add_argument("--engine", choices=ENGINES, default="",
                   help="memory: the batch in pandas, exact KS; chunked: any size in bounded "
                   "memory; spark: on PySpark (default: [engine] name, memory)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_for_family(args)
    batch_id = args.batch_id or None
    engine = args.engine or settings.engine.name
    if engine != "memory":
        if not args.batch:
            raise ConfigError(f"--engine {engine} monitors a batch given with --batch "
                              "(a file, a folder of Parquet files or, on Spark, a table)")
        from pipelines.workflows.engines import monitor_counted

        monitor_counted(settings, args.batch, engine, batch_id=batch_id)
        return 0
    from pipelines.data.objects import is_object_uri, object_source
    from pipelines.data.sources import BatchSource, FileSource, SimulatedSource
    from pipelines.workflows.monitor import monitor_source

    source: BatchSource = (
        object_source(args.batch, settings.data, batch_id) if is_object_uri(args.batch) else
        FileSource(Path(args.batch), settings.data, batch_id) if args.batch else
        SimulatedSource(args.scenario, rows=args.rows, seed=args.seed, batch_id=batch_id))
    monitor_source(settings, source)
    return 0


def run() -> None:
    """The ``churn-monitor`` console script: one line and an exit code on a user error."""
    exit_with(main)


if __name__ == "__main__":
    run()
