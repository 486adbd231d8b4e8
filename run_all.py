"""The whole demo on the embedded store: baseline, then monitoring cycles end to end.

    python run_all.py [--config monitoring.toml] [--set section.key=value ...]
    python run_all.py --config examples/regression.toml   (or examples/multiclass.toml)

1. Trains and registers the baseline (``churn-model@champion``) unless a champion exists.
2. Runs orchestrator cycles on simulated batches whose time moves a day per batch: stable,
   stable, covariate shift (warning), concept drift (critical -> retraining -> the candidate
   trained on the new regime is promoted), concept drift again (ok: the new champion knows
   it), a broad covariate shift (critical, retraining recommended but blocked by the cooldown).
   The configuration's ``data.problem_type`` picks the generator's task (churn, next month's
   charges or next plan) and the story's batches (:data:`DEMO_SEQUENCES`).
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
from pipelines.problems import PROBLEMS, problem
from pipelines.store import alias_version, connect, landing
from pipelines.store.searches import next_sequence
from pipelines.workflows.baseline import train_baseline
from pipelines.workflows.orchestrate import CycleResult, run_cycle

logger = logging.getLogger("run_all")

Step = tuple[str, str, dict[str, Any]]

#: (label, scenario, generator options): the story the demo tells.
DEMO_SEQUENCE: tuple[Step, ...] = (
    ("original regime", "no_drift", {}),
    ("original regime", "no_drift", {}),
    ("covariate shift", "covariate_shift", {}),
    ("concept drift", "concept_drift", {}),
    ("concept drift continues", "concept_drift", {}),
    ("broad covariate shift", "covariate_shift",
     {"shift_features": NUMERIC_FEATURES[:10]}),
)
#: The same story per ``data.problem_type``. Regression: the first covariate shift moves
#: inputs the bill does not depend on (tenure, support calls, contract), so the model holds
#: (a warning); the default shift pushes monthly charges beyond the training range, where
#: trees cannot extrapolate (RMSE x1.8: critical), which the broad shift at the end shows.
DEMO_SEQUENCES: dict[str, tuple[Step, ...]] = {
    "binary": DEMO_SEQUENCE,
    "multiclass": DEMO_SEQUENCE,
    "regression": (
        *DEMO_SEQUENCE[:2],
        ("covariate shift", "covariate_shift",
         {"shift_features": ("tenure_months", "support_calls", "contract")}),
        *DEMO_SEQUENCE[3:],
    ),
}
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
            text += ": " + _gate_story(gate)
    elif cycle.decision == "cooldown":
        text += f" (next eligible {cycle.next_eligible})"
    return text


def _gate_story(gate: dict[str, Any]) -> str:
    """The promotion gate's comparison: the generic keys (``metric``, ``candidate_value``,
    ``champion_value``, ``test``, ``pvalue``), else the binary ones (``candidate_auc``...)."""
    metric = gate.get("metric") or "roc_auc"
    label = next((p.label for p in PROBLEMS.values() if p.primary_metric == metric), metric)
    candidate = gate.get("candidate_value", gate.get("candidate_auc"))
    champion = gate.get("champion_value", gate.get("champion_auc"))
    test = _TEST_SHORT.get(gate.get("test") or "delong", gate.get("test"))
    pvalue = gate.get("pvalue")
    return (f"holdout {label} candidate {_value(candidate)} vs champion {_value(champion)}, "
            f"{test} p " + ("n/a" if pvalue is None else f"{pvalue:.2g}"))


#: The paired tests' names as the story prints them.
_TEST_SHORT = {"delong": "DeLong", "paired_t_squared_error": "paired t-test",
               "paired_bootstrap_macro_f1": "paired bootstrap"}


def _value(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


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
    kind = problem(settings.data.problem_type)
    if alias_version(store, tracking.champion_alias) is None:
        base = train_baseline(settings, store)
        score = base.test_metrics.get(kind.primary_metric)
        lines.append(f"baseline: {base.model_type}, test {kind.label} {_value(score)}"
                     f", registered {tracking.registered_model_name} v{base.model_version} "
                     f"as @{tracking.champion_alias}")
    else:
        lines.append("baseline: a champion already exists; continuing from the stored state")
    first = next_sequence(store, tracking.monitoring_experiment)
    for i, (label, scenario, options) in enumerate(DEMO_SEQUENCES[kind.name]):
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
    service = settings.service
    where = "" if tracking.uri == "sqlite:///mlflow.db" else f" --tracking-uri {tracking.uri}"
    lines.append(f"open the dashboard: python -m pipelines.serve{where} (or: make serve), then "
                 f"http://{service.host}:{service.port}/")
    print("\n".join(["", "=== Demo summary ===", *lines]))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
