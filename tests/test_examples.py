"""The example configurations (examples/*.toml): they load, and differ from the built-in
defaults exactly where the example says."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Settings, load_settings
from pipelines.data.generator import TASK_TARGETS
from pipelines.data.sources import demo_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: What each example changes (dotted key -> value); everything else is the default.
INTENDED = {
    "regression": {
        "tracking.experiment_prefix": "ChargesRegression",
        "tracking.registered_model_name": "charges-model",
        "data.target": "next_month_charges",
        "data.problem_type": "regression",
        "monitoring.rmse_ratio_ceiling": 1.5,
        "paths.output_dir": "monitoring/regression",
        "paths.inbox_dir": "monitoring/regression/inbox",
    },
    "multiclass": {
        "tracking.experiment_prefix": "PlanMulticlass",
        "tracking.registered_model_name": "plan-model",
        "data.target": "next_plan",
        "data.problem_type": "multiclass",
        "monitoring.macro_f1_floor": 0.6,
        "paths.output_dir": "monitoring/multiclass",
        "paths.inbox_dir": "monitoring/multiclass/inbox",
    },
}


def _flat(settings: Settings) -> dict[str, object]:
    return {f"{section}.{key}": value
            for section, body in settings.model_dump().items() for key, value in body.items()}


@pytest.mark.parametrize("kind", sorted(INTENDED))
def test_an_example_differs_from_the_defaults_only_where_intended(kind: str) -> None:
    example = load_settings(EXAMPLES / f"{kind}.toml", env={})
    defaults = _flat(Settings())
    changed = {k: v for k, v in _flat(example).items() if v != defaults[k]}
    assert changed == INTENDED[kind]
    assert demo_task(example.data) == kind  # the demo generator makes its target
    assert example.data.target == TASK_TARGETS[kind]


def test_an_example_lists_every_key_of_monitoring_toml() -> None:
    """Complete configurations: the same keys as monitoring.toml, in the same order."""
    def keys(path: Path) -> list[str]:
        import tomllib

        tree = tomllib.loads(path.read_text())
        return [f"{s}.{k}" for s, body in tree.items() for k in body]

    churn = keys(EXAMPLES.parent / "monitoring.toml")
    for kind in INTENDED:
        assert keys(EXAMPLES / f"{kind}.toml") == churn


def test_the_examples_share_no_names_with_the_churn_demo() -> None:
    trackings = [load_settings(EXAMPLES / f"{kind}.toml", env={}).tracking
                 for kind in sorted(INTENDED)]
    trackings.append(Settings().tracking)
    assert len({t.experiment_prefix for t in trackings}) == 3
    assert len({t.registered_model_name for t in trackings}) == 3


# ----------------------------------------------------------------- run_all's story per type


def test_the_demo_tells_the_same_story_for_every_type() -> None:
    import run_all
    from pipelines.data.generator import generate_batch

    assert run_all.DEMO_SEQUENCES["binary"] is run_all.DEMO_SEQUENCE
    story = [(label, scenario) for label, scenario, _ in run_all.DEMO_SEQUENCE]
    for kind, steps in run_all.DEMO_SEQUENCES.items():
        assert [(label, scenario) for label, scenario, _ in steps] == story
        for _, scenario, options in steps:
            frame = generate_batch(scenario, 50, 1, task=kind, **options)
            assert TASK_TARGETS[kind] in frame.columns


def test_the_gate_line_reads_the_generic_keys_or_the_binary_ones() -> None:
    import run_all

    binary = {"candidate_auc": 0.8123, "champion_auc": 0.6012, "pvalue": 0.00012}
    assert run_all._gate_story(binary) == (
        "holdout ROC-AUC candidate 0.812 vs champion 0.601, DeLong p 0.00012")
    regression = {"metric": "rmse", "candidate_value": 3.568, "champion_value": 22.907,
                  "test": "paired_t_squared_error", "pvalue": 1e-30,
                  "candidate_auc": None}
    assert run_all._gate_story(regression) == (
        "holdout RMSE candidate 3.568 vs champion 22.907, paired t-test p 1e-30")
    multiclass = {"metric": "macro_f1", "candidate_value": 0.68, "champion_value": 0.26,
                  "test": "paired_bootstrap_macro_f1", "pvalue": None}
    assert run_all._gate_story(multiclass) == (
        "holdout macro F1 candidate 0.680 vs champion 0.260, paired bootstrap p n/a")
