"""Tests of the generator's regression and multiclass tasks and of the demo source's wiring.

The binary task is covered by test_generator.py (unchanged); here: the other targets are
the known functions they claim, their scenarios change what they claim, and the demo
source generates the configured type (or says what to set).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from pipelines.config import load_settings
from pipelines.data.generator import (
    CHARGES_NOISE_STD,
    FEATURES,
    ID_COLUMN,
    MULTICLASS_TARGET,
    NUMERIC_FEATURES,
    PLANS,
    REGRESSION_TARGET,
    SCENARIOS,
    STRING_DTYPE,
    TARGET,
    TASK_TARGETS,
    TIMESTAMP_COLUMN,
    _reference_targets,
    describe_scenario,
    expected_charges,
    generate_batch,
    generate_reference,
    plan_probabilities,
)
from pipelines.data.sources import (
    SimulatedSource,
    demo_task,
    load_training_data,
    write_simulated_batch,
)
from pipelines.errors import ConfigError

N = 20_000
TASKS = ("regression", "multiclass")


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - pred) ** 2)))


def _plan_index(frame: pd.DataFrame) -> np.ndarray:
    return frame[MULTICLASS_TARGET].map({p: i for i, p in enumerate(PLANS)}).to_numpy()


@pytest.fixture(scope="module")
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    """(task, scenario) -> frame, every scenario from the same seed (same customers)."""
    return {(task, scenario): generate_batch(scenario, N, 11, task=task)
            for task in TASKS for scenario in ("no_drift", "covariate_shift", "concept_drift")}


# ------------------------------------------------------------------------ schema


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_schema_and_determinism(task: str, scenario: str) -> None:
    frame = generate_batch(scenario, 400, 3, task=task)
    target = TASK_TARGETS[task]
    assert list(frame.columns) == [ID_COLUMN, TIMESTAMP_COLUMN, *FEATURES, target]
    assert TARGET not in frame.columns
    pd.testing.assert_frame_equal(frame, generate_batch(scenario, 400, 3, task=task))
    assert not frame.equals(generate_batch(scenario, 400, 4, task=task))
    assert frame[target].notna().all()
    if task == "regression":
        assert frame[target].dtype == np.float64
        values = frame[target].to_numpy()
        assert (values >= 0).all()
        assert np.allclose(values, np.round(values, 2))
    else:
        assert frame[target].dtype == STRING_DTYPE
        assert set(frame[target]) <= set(PLANS)


def test_binary_is_the_default_and_features_do_not_depend_on_the_task() -> None:
    binary = generate_batch("covariate_shift", 500, 9)
    pd.testing.assert_frame_equal(binary, generate_batch("covariate_shift", 500, 9,
                                                         task="binary"))
    for task in TASKS:
        other = generate_batch("covariate_shift", 500, 9, task=task)
        pd.testing.assert_frame_equal(other.drop(columns=TASK_TARGETS[task]),
                                      binary.drop(columns=TARGET))
    pd.testing.assert_frame_equal(generate_reference(300, 5, task="multiclass"),
                                  generate_batch("no_drift", 300, 5, task="multiclass"))


def test_unknown_task_raises() -> None:
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        generate_batch("no_drift", 10, 1, task="ranking")
    with pytest.raises(ValueError, match="unknown task"):
        describe_scenario("no_drift", task="ranking")


@pytest.mark.parametrize("task", TASKS)
def test_describe_scenario_names_the_task_target(task: str) -> None:
    target = TASK_TARGETS[task]
    assert describe_scenario("concept_drift", task=task).changed == (target,)
    info = describe_scenario("label_shift", label_rate=0.4, task=task)
    assert info.changed == (target,)
    assert info.label_change == "prior"
    assert "40%" in info.description
    assert describe_scenario("covariate_shift", task=task).changed == (
        describe_scenario("covariate_shift").changed)


# -------------------------------------------------------------------- regression


def test_regression_target_is_the_known_function_plus_noise(frames) -> None:
    ref = frames[("regression", "no_drift")]
    residual = ref[REGRESSION_TARGET].to_numpy() - expected_charges(ref)
    assert abs(residual.mean()) < 0.1
    assert residual.std() == pytest.approx(CHARGES_NOISE_STD, rel=0.03)
    assert stats.normaltest(residual).pvalue > 1e-3  # Gaussian (rounding to cents aside)
    assert 55 < ref[REGRESSION_TARGET].mean() < 80  # a plausible monthly bill


def test_regression_concept_drift_changes_the_function_not_the_inputs(frames) -> None:
    ref, drifted = frames[("regression", "no_drift")], frames[("regression", "concept_drift")]
    pd.testing.assert_frame_equal(drifted[list(FEATURES)], ref[list(FEATURES)])
    y = drifted[REGRESSION_TARGET].to_numpy()
    # the old pricing misses by far more than the noise; the new pricing is exact up to noise
    assert _rmse(y, expected_charges(drifted, "base")) > 3 * CHARGES_NOISE_STD
    assert _rmse(y, expected_charges(drifted, "concept")) == pytest.approx(
        CHARGES_NOISE_STD, rel=0.03)


def test_regression_covariate_shift_keeps_the_function(frames) -> None:
    shifted = frames[("regression", "covariate_shift")]
    ref = frames[("regression", "no_drift")]
    assert shifted["monthly_charges"].mean() > ref["monthly_charges"].mean() + 10
    assert _rmse(shifted[REGRESSION_TARGET].to_numpy(), expected_charges(shifted)) == (
        pytest.approx(CHARGES_NOISE_STD, rel=0.03))


def test_regression_label_shift_sets_the_share_above_the_reference_median() -> None:
    _, median = _reference_targets()
    ref = generate_reference(N, 21, task="regression")
    assert (ref[REGRESSION_TARGET] > median).mean() == pytest.approx(0.5, abs=0.015)
    shifted = generate_batch("label_shift", 4000, 22, label_rate=0.8, task="regression")
    above = shifted[REGRESSION_TARGET] > median
    assert above.sum() == 3200
    # P(x | above) is the reference one: within the stratum, monthly charges look alike
    same = stats.ks_2samp(shifted.loc[above, "monthly_charges"],
                          ref.loc[ref[REGRESSION_TARGET] > median, "monthly_charges"])
    assert same.pvalue > 1e-3
    # the noise is still the known one
    residual = shifted[REGRESSION_TARGET].to_numpy() - expected_charges(shifted)
    assert abs(residual.mean()) < 1.0


# -------------------------------------------------------------------- multiclass


def test_multiclass_classes_are_balanced_enough_and_follow_the_softmax(frames) -> None:
    for scenario in ("no_drift", "concept_drift"):
        frame = frames[("multiclass", scenario)]
        shares = frame[MULTICLASS_TARGET].value_counts(normalize=True)
        assert set(shares.index) == set(PLANS)
        assert shares.min() >= 0.10, shares.to_dict()
        rule = "concept" if scenario == "concept_drift" else "base"
        proba = plan_probabilities(frame, rule)
        assert proba.shape == (N, len(PLANS))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        expected = pd.Series(proba.mean(axis=0), index=list(PLANS))
        np.testing.assert_allclose(shares[list(PLANS)], expected, atol=0.01)


def test_multiclass_concept_drift_moves_the_drivers_not_the_inputs(frames) -> None:
    ref, drifted = frames[("multiclass", "no_drift")], frames[("multiclass", "concept_drift")]
    pd.testing.assert_frame_equal(drifted[list(FEATURES)], ref[list(FEATURES)])
    # the reference rule's best guess (what a perfect reference model predicts)
    before = f1_score(_plan_index(ref), plan_probabilities(ref).argmax(1), average="macro")
    after = f1_score(_plan_index(drifted), plan_probabilities(drifted).argmax(1),
                     average="macro")
    relearned = f1_score(_plan_index(drifted),
                         plan_probabilities(drifted, "concept").argmax(1), average="macro")
    assert before > 0.75
    assert before - after > 0.3
    assert relearned > 0.7


def test_multiclass_label_shift_sets_the_cancel_share() -> None:
    shares, _ = _reference_targets()
    shifted = generate_batch("label_shift", 5000, 31, label_rate=0.55, task="multiclass")
    counts = shifted[MULTICLASS_TARGET].value_counts()
    assert counts["cancel"] == 2750
    others = [p for p in PLANS if p != "cancel"]
    rest = np.array([shares[PLANS.index(p)] for p in others])
    np.testing.assert_allclose(counts[others].to_numpy(), rest / rest.sum() * 2250, atol=1)
    assert counts.sum() == 5000
    ref = generate_reference(N, 32, task="multiclass")
    same = stats.ks_2samp(shifted.loc[shifted[MULTICLASS_TARGET] == "cancel", "support_calls"],
                          ref.loc[ref[MULTICLASS_TARGET] == "cancel", "support_calls"])
    assert same.pvalue > 1e-3


@pytest.mark.parametrize("task", TASKS)
def test_data_quality_leaves_the_target_alone(task: str) -> None:
    clean = generate_batch("no_drift", 2000, 41, task=task)
    faulty = generate_batch("data_quality", 2000, 41, task=task)
    pd.testing.assert_series_equal(faulty[TASK_TARGETS[task]], clean[TASK_TARGETS[task]])
    assert faulty["satisfaction_score"].isna().mean() == pytest.approx(0.25)


def test_known_functions_refuse_bad_input() -> None:
    frame = generate_batch("no_drift", 50, 1)
    with pytest.raises(ValueError, match="missing from the frame.*monthly_charges"):
        expected_charges(frame.drop(columns="monthly_charges"))
    with pytest.raises(ValueError, match="unknown rule"):
        plan_probabilities(frame, "future")  # type: ignore[arg-type]
    assert np.isfinite(expected_charges(frame)).all()
    assert set(NUMERIC_FEATURES) <= set(frame.columns)


# ------------------------------------------------------------ the demo data source


def _data(**overrides: object):
    return load_settings(None, overrides=overrides, env={}).data


def test_demo_task_checks_the_target() -> None:
    assert demo_task(_data()) == "binary"
    assert demo_task(_data(**{"data.problem_type": "regression",
                              "data.target": "next_month_charges"})) == "regression"
    with pytest.raises(ConfigError, match="data.problem_type = regression with the demo "
                       "generator: set data.target = next_month_charges"):
        demo_task(_data(**{"data.problem_type": "regression"}))
    with pytest.raises(ConfigError, match="set data.target = next_plan"):
        demo_task(_data(**{"data.problem_type": "multiclass", "data.target": "plan"}))


def test_training_data_and_simulated_batches_follow_the_problem_type(tmp_path) -> None:
    data = _data(**{"data.problem_type": "multiclass", "data.target": "next_plan",
                    "data.demo_rows": 500})
    frame, source = load_training_data(data)
    assert MULTICLASS_TARGET in frame.columns
    assert TARGET not in frame.columns
    assert source == "generated:churn-demo(task=multiclass,rows=500,seed=42)"
    assert load_training_data(_data(**{"data.demo_rows": 500}))[1] == (
        "generated:churn-demo(rows=500,seed=42)")

    simulated = SimulatedSource("concept_drift", rows=300, seed=4)
    simulated.read_with(data)
    batch = next(iter(simulated.pending())).load()
    assert list(batch.frame.columns)[-1] == MULTICLASS_TARGET
    never_told = SimulatedSource("no_drift", rows=300, seed=4)
    assert TARGET in next(iter(never_told.pending())).load().frame.columns

    settings = load_settings(None, overrides={
        "data.problem_type": "regression", "data.target": "next_month_charges",
        "paths.output_dir": str(tmp_path)}, env={})
    path = write_simulated_batch(settings, "no_drift", rows=200, seed=1, with_labels=False)
    written = pd.read_csv(path)
    assert REGRESSION_TARGET not in written.columns
    assert TARGET not in written.columns
    path = write_simulated_batch(settings, "no_drift", rows=200, seed=1)
    assert pd.read_csv(path)[REGRESSION_TARGET].dtype == np.float64
