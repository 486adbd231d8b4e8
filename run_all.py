"""The whole demo on the embedded store: baseline, then monitoring cycles end to end.

    python run_all.py [--config monitoring.toml] [--set section.key=value ...]

1. Trains and registers the baseline (``churn-model@champion``) unless a champion exists.
2. Runs orchestrator cycles on simulated batches: stable, stable, covariate shift, concept
   drift (retraining recommended -> candidates trained -> promoted or rejected), concept drift
   again (recommended, but blocked by the retraining cooldown).
3. Prints what happened and the command that opens the MLflow UI on it.

Running it again continues from the stored state (no new baseline; the cooldown holds).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from pipelines.cli import add_common_options, int_arg, run_cli, settings_from_args, setup_logging
from pipelines.data.sources import SimulatedSource
from pipelines.store import alias_version, connect
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.orchestrate import run_cycle

logger = logging.getLogger("run_all")

DEMO_SEQUENCE: tuple[str, ...] = (
    "no_drift", "no_drift", "covariate_shift", "concept_drift", "concept_drift",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python run_all.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int_arg, default=5000, help="rows per simulated batch")
    add_common_options(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    started = time.monotonic()
    store = connect(settings.tracking)
    tracking = settings.tracking
    lines: list[str] = []
    if alias_version(store, tracking.champion_alias) is None:
        base = train_baseline(settings, store)
        lines.append(f"baseline: {base.model_type}, test ROC-AUC {base.test_metrics['roc_auc']:.3f}"
                     f", registered {tracking.registered_model_name} v{base.model_version} "
                     f"as @{tracking.champion_alias}")
    else:
        lines.append("baseline: a champion already exists; continuing from the stored state")
    seed0 = int(time.time()) % 10_000
    for i, scenario in enumerate(DEMO_SEQUENCE):
        source = SimulatedSource(scenario, rows=args.rows, seed=seed0 + i)
        cycle = run_cycle(settings, source, store=store)
        batch = cycle.batches[0] if cycle.batches else None
        status = f"{batch.monitoring_status}" if batch else "-"
        line = f"batch {i + 1} ({scenario}): status {status}; decision {cycle.decision}"
        if cycle.retraining:
            line += f" -> retraining {cycle.retraining.get('decision')}"
        elif cycle.decision == "cooldown":
            line += f" (next eligible {cycle.next_eligible})"
        lines.append(line)
    champion = alias_version(store, tracking.champion_alias)
    backup = alias_version(store, tracking.previous_alias)
    lines.append(f"champion: v{champion.version if champion else '?'}"
                 + (f", previous-champion: v{backup.version}" if backup else ""))
    lines.append(f"took {time.monotonic() - started:.0f} s; reports in {settings.paths.output}/")
    ui = (f"mlflow ui --backend-store-uri {tracking.uri}" if tracking.uri.startswith("sqlite")
          else f"open {tracking.uri}")
    lines.append(f"open the MLflow UI: {ui}  (then http://127.0.0.1:5000)")
    print("\n".join(["", "=== Demo summary ===", *lines]))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
