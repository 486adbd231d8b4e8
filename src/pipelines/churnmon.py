"""``churnmon``: every step of the product as one command with subcommands.

    churnmon monitor --batch batch.csv
    churnmon run --source inbox
    churnmon --tracking-uri http://mlflow:5000 history --limit 10
    churnmon serve --port 8765       # the REST API, dashboard and /metrics
    python -m pipelines ...            # the same command

Each subcommand is the step's own entry point (``churnmon monitor`` is
``python -m pipelines.monitor_performance``, with the same options, ``--help`` and exit
codes); the modules stay importable and runnable as before, and so do the MLproject entries.
The shared options (``--config``, ``--set``, ``--tracking-uri``, ``--experiment-prefix``,
``--model-name``, ``-v``) are accepted before the subcommand as well as after it (after wins).
Nothing but argparse is imported until a subcommand runs, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from pipelines.cli import add_common_options, run_cli

PROG = "churnmon"

#: subcommand -> (entry-point module, one line). The modules are imported by name when their
#: subcommand runs: nothing heavy is imported to list them.
COMMANDS: dict[str, tuple[str, str]] = {
    "monitor": ("pipelines.monitor_performance",
                "monitor one batch (a file, or a simulated one) and log the verdict"),
    "run": ("pipelines.run_monitoring",
            "one orchestrator cycle: next batch(es), verdict, retraining when warranted"),
    "retrain": ("pipelines.trigger_retraining",
                "retrain now; promote the candidate only if it clearly wins"),
    "rollback": ("pipelines.rollback", "point @champion back at @previous-champion"),
    "approve": ("pipelines.approve", "approve the @challenger waiting for approval"),
    "reject": ("pipelines.reject", "reject the @challenger waiting for approval"),
    "history": ("pipelines.history", "the registry's audit trail of alias moves"),
    "register-reference": ("pipelines.register_reference",
                           "monitor a model trained elsewhere: register its reference rows"),
    "register-labels": ("pipelines.register_labels",
                        "register labels that arrived after their batches were monitored"),
    "simulate": ("pipelines.simulate", "write a simulated production batch"),
    "train": ("pipelines.train_baseline", "train the baseline and register it as champion"),
    "serve": ("pipelines.serve",
              "the read-only service: REST API, dashboard and Prometheus /metrics"),
    "migrate-store": ("pipelines.migrate_store",
                      "move the MLflow store from SQLite to PostgreSQL (rows, ids unchanged)"),
}


def build_parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<20}{text}" for name, (_, text) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"commands:\n{listing}\n\n`{PROG} COMMAND --help` shows a command's options.")
    p.add_argument("command", choices=list(COMMANDS), metavar="COMMAND",
                   help="one of: " + ", ".join(COMMANDS))
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own options")
    add_common_options(p)
    return p


def _shared(args: argparse.Namespace) -> list[str]:
    """The shared options given before the subcommand, as arguments for it (placed first, so
    the same option given after the subcommand wins; ``--set`` values add up)."""
    out: list[str] = []
    for option, value in (("--config", args.config), ("--tracking-uri", args.tracking_uri),
                          ("--experiment-prefix", args.experiment_prefix),
                          ("--model-name", args.model_name)):
        if value is not None:
            out += [option, value]
    for item in args.set:
        out += ["--set", item]
    if args.verbose:
        out.append("-v")
    return out


def entry_point(command: str) -> Callable[..., int]:
    """The ``main`` of ``command``'s module (imported now)."""
    module = importlib.import_module(COMMANDS[command][0])
    return module.main


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    step = entry_point(args.command)
    return step([*_shared(args), *args.args], prog=f"{PROG} {args.command}")


def run() -> None:
    """The console script: exit codes as every entry point's (:func:`pipelines.cli.run_cli`)."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    run()
