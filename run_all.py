"""The whole demo on the embedded store: baseline, then monitoring cycles end to end.

    python run_all.py [--config monitoring.toml] [--set section.key=value ...]

1. Trains and registers the baseline (``churn-model@champion``) unless a champion exists.
2. Runs orchestrator cycles on simulated batches whose time moves a day per batch: stable,
   stable, covariate shift (warning), concept drift (critical -> retraining -> the candidate
   trained on the new regime is promoted), concept drift again (ok: the new champion knows
   it), a broad covariate shift (critical, retraining recommended but blocked by the cooldown).
3. Prints what happened and why, and the command that opens the MLflow UI on it.

Seeds are fixed, so a fresh store always tells the same story. Running it again continues
from the stored state (no new baseline, later days and seeds; the cooldown holds).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

from pipelines.cli import add_common_options, int_arg, run_cli, settings_from_args, setup_logging
from pipelines.data.generator import NUMERIC_FEATURES
from pipelines.data.sources import SimulatedSource
from pipelines.store import alias_version, connect, landing
from pipelines.store.searches import next_sequence
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.orchestrate import CycleResult, run_cycle

logger = logging.getLogger("run_all")

#: (label, scenario, generator options): the story the demo tells.
DEMO_SEQUENCE: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("original regime", "no_drift", {}),
    ("original regime", "no_drift", {}),
    ("covariate shift", "covariate_shift", {}),
    ("concept drift", "concept_drift", {}),
    ("concept drift continues", "concept_drift", {}),
    ("broad covariate shift", "covariate_shift",
     {"shift_features": NUMERIC_FEATURES[:10]}),
)
#: Seeds are fixed (a fresh store always tells the same story) and continue with the stored
#: sequence when the demo runs again.
SEED_BASE = 1000


def _story(cycle: CycleResult) -> str:
    """What happened to one batch and why, in one line."""
    batch = cycle.batches[0] if cycle.batches else None
    if batch is None:
        return f"{cycle.decision}: {cycle.message}"
    text = f"status {batch.monitoring_status}"
    if batch.retraining_recommended:
        text += f" ({batch.message.split(';')[0][:110]})"
    text += f"; decision {cycle.decision}"
    if cycle.retraining:
        gate = cycle.retraining.get("gate") or {}
        text += f" -> retraining {cycle.retraining.get('decision')}"
        if gate:
            pvalue = gate.get("pvalue")
            text += (f": holdout ROC-AUC candidate {gate['candidate_auc']:.3f} vs champion "
                     f"{gate['champion_auc']:.3f}, DeLong p "
                     + ("n/a" if pvalue is None else f"{pvalue:.2g}"))
    elif cycle.decision == "cooldown":
        text += f" (next eligible {cycle.next_eligible})"
    return text


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
    first = next_sequence(store, tracking.monitoring_experiment)
    for i, (label, scenario, options) in enumerate(DEMO_SEQUENCE):
        source = SimulatedSource(scenario, rows=args.rows, seed=SEED_BASE + first + i,
                                 options=options)
        cycle = run_cycle(settings, source, store=store)
        lines.append(f"batch {first + i} ({label}): {_story(cycle)}")
    champion = alias_version(store, tracking.champion_alias)
    backup = alias_version(store, tracking.previous_alias)
    lines.append(f"champion: v{champion.version if champion else '?'}"
                 + (f", previous-champion: v{backup.version}" if backup else ""))
    lines.append(f"took {time.monotonic() - started:.0f} s; reports in {settings.paths.output}/")
    ui = (f"mlflow ui --backend-store-uri {tracking.uri}" if tracking.uri.startswith("sqlite")
          else f"open {tracking.uri}")
    base = "http://127.0.0.1:5000/" if tracking.uri.startswith("sqlite") else tracking.uri + "/"
    monitoring = store.experiment_id(tracking.monitoring_experiment, create=False)
    page = landing.experiment_path(monitoring) if monitoring else landing.models_path()
    lines.append(f"open the MLflow UI: {ui}  (then {base}{page}; in the sidebar choose "
                 "'Model training' once and experiments open on their runs)")
    print("\n".join(["", "=== Demo summary ===", *lines]))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
