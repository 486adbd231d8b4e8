"""The promotion gate per problem type: macro F1 (higher is better) and RMSE (lower is better),
each with its paired test named in the message (pure, small seeded arrays)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipelines.errors import ConfigError, DataError
from pipelines.retraining import PromotionGate
from pipelines.retraining.gate import AUC_KEYS, gate_values, margin_mode_for
from pipelines.stats.paired import PairedTest, paired_bootstrap_test, paired_squared_error_test


@pytest.mark.parametrize(
    ("candidate", "champion", "margin", "mode", "expected", "required"),
    [
        (36.0, 40.0, 0.01, "relative", True, 39.6),     # 10 % lower RMSE
        (39.6, 40.0, 0.01, "relative", False, 39.6),    # equality: not promoted
        (39.59, 40.0, 0.01, "relative", True, 39.6),    # just below
        (39.61, 40.0, 0.01, "relative", False, 39.6),   # just above
        (41.0, 40.0, 0.01, "relative", False, 39.6),    # worse
        (39.5, 40.0, 0.5, "absolute", False, 39.5),     # absolute: target units, equality
        (39.4, 40.0, 0.5, "absolute", True, 39.5),
        (0.0, 0.0, 0.0, "absolute", False, 0.0),        # perfect tie
    ],
)
def test_rmse_is_promoted_only_when_lower_by_more_than_the_margin(
        candidate: float, champion: float, margin: float, mode: str, expected: bool,
        required: float) -> None:
    decision = PromotionGate(margin, mode, problem_type="regression").decide(  # type: ignore[arg-type]
        candidate, champion)
    assert decision.promote is expected
    assert decision.metric == "rmse"
    assert decision.candidate_value == candidate
    assert decision.champion_value == champion
    assert decision.required_value == pytest.approx(required)
    assert decision.margin_gain == pytest.approx(champion - candidate)  # positive = better
    assert math.isnan(decision.candidate_auc)  # no ROC-AUC on a regression decision
    assert decision.message.startswith(f"candidate RMSE {candidate:.4g} vs champion RMSE")
    assert ("PROMOTED" if expected else "REJECTED") in decision.message
    if not expected and candidate >= required:
        assert "is not less than" in decision.message


def test_rmse_rule_is_named_by_mode() -> None:
    rel = PromotionGate(0.02, "relative", problem_type="regression").decide(45.0, 40.0)
    assert "margin failed: 45 is not less than 39.2 (champion * (1 - margin))" in rel.message
    ab = PromotionGate(0.5, "absolute", problem_type="regression").decide(30.0, 40.0)
    assert "margin passed: 30 < 39.5 (champion - margin)" in ab.message


@pytest.mark.parametrize(
    ("candidate", "champion", "mode", "expected"),
    [(0.72, 0.70, "absolute", True), (0.71, 0.70, "absolute", False),
     (0.707, 0.70, "relative", False), (0.7072, 0.70, "relative", True)],
)
def test_macro_f1_is_higher_is_better(candidate: float, champion: float, mode: str,
                                      expected: bool) -> None:
    decision = PromotionGate(0.01, mode, problem_type="multiclass").decide(  # type: ignore[arg-type]
        candidate, champion)
    assert decision.promote is expected
    assert decision.metric == "macro_f1"
    assert decision.margin_gain == pytest.approx(candidate - champion)
    assert decision.message.startswith(f"candidate macro F1 {candidate:.4f} vs champion "
                                       f"macro F1 {champion:.4f}")


@pytest.mark.parametrize("problem_type", ["regression", "multiclass"])
@pytest.mark.parametrize(("candidate", "champion", "which"),
                         [(math.nan, 0.5, "candidate"), (0.4, math.nan, "champion")])
def test_nan_is_never_promoted(problem_type: str, candidate: float, champion: float,
                               which: str) -> None:
    decision = PromotionGate(0.0, problem_type=problem_type).decide(candidate, champion)
    label = "RMSE" if problem_type == "regression" else "macro F1"
    assert not decision.promote
    assert f"the {which} {label} is undefined (NaN), so no comparison is possible" in \
        decision.message


def test_bad_values_raise_with_the_metric_named() -> None:
    with pytest.raises(DataError, match=r"'candidate_rmse' .* a finite float of at least 0 "
                                        r"or NaN\. Got -1\.0"):
        PromotionGate(0.01, problem_type="regression").decide(-1.0, 3.0)
    with pytest.raises(DataError, match=r"'champion_rmse' .* Got inf"):
        PromotionGate(0.01, problem_type="regression").decide(1.0, math.inf)
    with pytest.raises(DataError, match=r"'candidate_macro_f1' .* \[0, 1\] or NaN\. Got 1\.5"):
        PromotionGate(0.01, problem_type="multiclass").decide(1.5, 0.5)
    with pytest.raises(ConfigError, match=r"'problem_type' .* Got 'ranking'"):
        PromotionGate(0.01, problem_type="ranking")


def _regression_holdout(n: int, seed: int, champion_noise: float,
                        candidate_noise: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.normal(60.0, 15.0, n)
    shared = rng.normal(0.0, 3.0, n)
    return (y, y + shared + rng.normal(0.0, champion_noise, n),
            y + shared + rng.normal(0.0, candidate_noise, n))


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def test_regression_margin_and_t_test_promote_and_the_message_says_which_test() -> None:
    y, champion, candidate = _regression_holdout(2000, seed=1, champion_noise=6.0,
                                                 candidate_noise=3.0)
    test = paired_squared_error_test(y, champion, candidate)
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(
        _rmse(y, candidate), _rmse(y, champion), comparisons=2, test=test)
    assert decision.promote
    assert decision.test == "paired_t_squared_error"
    assert decision.pvalue == pytest.approx(min(1.0, 2 * test.pvalue))
    assert "paired one-sided t-test on the holdout rows' squared errors at alpha 0.05" in \
        decision.message
    assert "The test: one-sided paired t-test on the 2,000 holdout rows' squared errors" in \
        decision.message  # and why it fits
    assert "Bonferroni-corrected for 2 candidates" in decision.message


def test_regression_small_holdout_margin_passes_but_the_t_test_does_not() -> None:
    y, champion, candidate = _regression_holdout(12, seed=6, champion_noise=3.4,
                                                 candidate_noise=3.0)
    test = paired_squared_error_test(y, champion, candidate)
    cand, champ = _rmse(y, candidate), _rmse(y, champion)
    assert cand < champ * 0.99  # the margin alone would promote
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(cand, champ,
                                                                          test=test)
    assert decision.margin_passed
    assert decision.test_passed is False
    assert not decision.promote
    assert "paired test failed" in decision.message


def test_regression_worse_candidate_fails_both() -> None:
    y, champion, candidate = _regression_holdout(1000, seed=2, champion_noise=3.0,
                                                 candidate_noise=6.0)
    test = paired_squared_error_test(y, champion, candidate)
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(
        _rmse(y, candidate), _rmse(y, champion), test=test)
    assert not decision.promote
    assert "margin failed" in decision.message
    assert "paired test failed" in decision.message


def _multiclass_holdout(n: int, seed: int, champion_skill: float,
                        candidate_skill: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)

    def proba(skill: float) -> np.ndarray:
        logits = rng.normal(0.0, 1.0, (n, 3))
        logits[np.arange(n), y] += skill
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    return y, proba(champion_skill), proba(candidate_skill)


def _macro_f1(y: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, proba.argmax(axis=1), average="macro"))


def test_multiclass_bootstrap_promotes_a_clearly_better_candidate() -> None:
    y, champion, candidate = _multiclass_holdout(1500, seed=3, champion_skill=0.8,
                                                 candidate_skill=2.0)
    test = paired_bootstrap_test(y, champion, candidate, n_resamples=300, seed=0)
    decision = PromotionGate(0.01, "absolute", 0.05, "multiclass").decide(
        _macro_f1(y, candidate), _macro_f1(y, champion), test=test)
    assert decision.promote
    assert decision.test == "paired_bootstrap_macro_f1"
    assert "paired one-sided bootstrap of the holdout rows' macro F1 at alpha 0.05" in \
        decision.message
    assert "The test: one-sided paired bootstrap (300 resamples" in decision.message


def test_multiclass_tie_fails_margin_and_bootstrap() -> None:
    y, champion, _ = _multiclass_holdout(400, seed=4, champion_skill=1.0, candidate_skill=1.0)
    test = paired_bootstrap_test(y, champion, champion, n_resamples=200, seed=0)
    f1 = _macro_f1(y, champion)
    decision = PromotionGate(0.01, "absolute", 0.05, "multiclass").decide(f1, f1, test=test)
    assert not decision.promote
    assert not decision.margin_passed
    assert decision.test_passed is False


def test_a_missing_test_is_a_failed_test() -> None:
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(30.0, 40.0)
    assert not decision.promote
    assert "paired test failed: not computed" in decision.message
    assert decision.test == "paired_t_squared_error"


def test_to_dict_per_type_and_gate_values() -> None:
    test = PairedTest("paired_t_squared_error", -3.0, 0.001, "one-sided paired t-test")
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(30.0, 40.0,
                                                                          test=test)
    d = decision.to_dict()
    assert not set(AUC_KEYS) & set(d)
    assert d["metric"] == "rmse"
    assert d["test"] == "paired_t_squared_error"
    assert (d["candidate_value"], d["champion_value"]) == (30.0, 40.0)
    assert d["required_value"] == pytest.approx(39.6)
    assert d["margin_gain"] == pytest.approx(10.0)
    json.dumps(d)  # JSON-able as it is
    assert gate_values(d) == ("rmse", 30.0, 40.0, pytest.approx(39.6))
    binary = PromotionGate(0.01).decide(0.9, 0.8).to_dict()
    assert "metric" not in binary  # the binary summary keeps its keys
    assert gate_values(binary) == ("roc_auc", 0.9, 0.8, pytest.approx(0.81))
    assert PromotionGate(0.01, problem_type="regression").to_dict()["problem_type"] == \
        "regression"


@pytest.mark.parametrize(("problem_type", "mode", "explicit", "expected"), [
    ("regression", "absolute", set(), "relative"),  # the default margin is in AUC points
    ("regression", "absolute", {"retraining.margin_mode"}, "absolute"),
    ("regression", "relative", {"retraining.margin_mode"}, "relative"),
    ("binary", "absolute", set(), "absolute"),
    ("multiclass", "absolute", set(), "absolute"),
])
def test_margin_mode_for(problem_type: str, mode: str, explicit: set[str],
                         expected: str) -> None:
    assert margin_mode_for(problem_type, mode, explicit) == expected


def test_the_workflows_paired_test_per_type() -> None:
    from pipelines.stats.delong import DeLongResult
    from pipelines.workflows.retrain import paired_test

    y, champion, candidate = _regression_holdout(300, seed=7, champion_noise=6.0,
                                                 candidate_noise=3.0)
    reg = paired_test("regression", y, champion, candidate)
    assert isinstance(reg, PairedTest)
    assert reg.name == "paired_t_squared_error"
    assert reg.pvalue < 0.01
    y_idx, p_champion, p_candidate = _multiclass_holdout(300, seed=8, champion_skill=0.5,
                                                         candidate_skill=2.0)
    multi = paired_test("multiclass", y_idx, p_champion, p_candidate, seed=1)
    assert isinstance(multi, PairedTest)
    assert multi.name == "paired_bootstrap_macro_f1"
    assert multi.pvalue < 0.01
    rng = np.random.default_rng(9)
    labels = (rng.random(200) < 0.4).astype(int)
    binary = paired_test("binary", labels, rng.random(200), labels + rng.random(200))
    assert isinstance(binary, DeLongResult)
    assert paired_test("binary", np.zeros(50, dtype=int), rng.random(50), rng.random(50)) is None
    wrong_shape = paired_test("multiclass", y_idx, p_champion, p_candidate[:, :2])
    assert wrong_shape is None  # said in the log; the gate then says "not computed"


def test_best_of_follows_the_metrics_direction() -> None:
    from types import SimpleNamespace

    from pipelines.problems import problem
    from pipelines.workflows.retrain import best_of

    def ev(name: str, **metrics: float) -> SimpleNamespace:
        return SimpleNamespace(name=name, metrics=metrics)

    rmse = [ev("a", rmse=5.0), ev("b", rmse=4.0), ev("c", rmse=4.0), ev("d", rmse=math.nan)]
    assert best_of(rmse, problem("regression")).name == "b"  # lowest, first of ties
    f1 = [ev("a", macro_f1=math.nan), ev("b", macro_f1=0.7), ev("c", macro_f1=0.8)]
    assert best_of(f1, problem("multiclass")).name == "c"  # a NaN is worse than any number
    nan = [ev("a", roc_auc=math.nan), ev("b", roc_auc=math.nan)]
    assert best_of(nan, problem("binary")).name == "a"  # all NaN: the first
    f1 = [ev("a", macro_f1=0.6), ev("b", macro_f1=0.8), ev("c", macro_f1=math.nan)]
    assert best_of(f1, problem("multiclass")).name == "b"
