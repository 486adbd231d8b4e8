"""The promotion gate: strict 'more than', absolute and relative margins, NaN, bad arguments."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from pipelines.errors import ConfigError, DataError
from pipelines.retraining import GateDecision, PromotionGate


@pytest.mark.parametrize(
    ("candidate", "champion", "margin", "mode", "expected"),
    [
        (0.90, 0.80, 0.01, "absolute", True),      # clear win
        (0.81, 0.80, 0.01, "absolute", False),     # equality: not promoted
        (0.80, 0.70, 0.10, "absolute", False),     # equality though 0.7 + 0.1 < 0.8 in floats
        (0.8101, 0.80, 0.01, "absolute", True),    # just above
        (0.8099, 0.80, 0.01, "absolute", False),   # just below
        (0.80, 0.80, 0.0, "absolute", False),      # zero margin, tie
        (0.8001, 0.80, 0.0, "absolute", True),     # zero margin, any improvement
        (0.70, 0.80, 0.01, "absolute", False),     # worse
        (0.808, 0.80, 0.01, "relative", False),    # 0.80 * 1.01 = 0.808: equality
        (0.8081, 0.80, 0.01, "relative", True),    # just above
        (0.81, 0.80, 0.02, "relative", False),     # 0.816 needed
        (0.99, 0.60, 0.5, "relative", True),       # 0.9 needed
        (0.99, 0.60, 0.5, "absolute", False),      # 1.1 needed: impossible
        (1.0, 0.5, 0.49, "absolute", True),
    ],
)
def test_decide_table(candidate: float, champion: float, margin: float, mode: str,
                      expected: bool) -> None:
    decision = PromotionGate(margin, mode).decide(candidate, champion)  # type: ignore[arg-type]
    assert decision.promote is expected
    assert decision.candidate_auc == candidate
    assert decision.champion_auc == champion
    assert decision.margin == margin
    assert decision.mode == mode
    expected_required = champion + margin if mode == "absolute" else champion * (1 + margin)
    assert decision.required_auc == pytest.approx(expected_required)


def test_message_explains_the_decision() -> None:
    promoted = PromotionGate(0.01, "absolute").decide(0.85, 0.80)
    assert "0.8500" in promoted.message
    assert "0.8000" in promoted.message
    assert "0.01" in promoted.message
    assert "absolute" in promoted.message
    assert "PROMOTED" in promoted.message
    rejected = PromotionGate(0.02, "relative").decide(0.81, 0.80)
    assert "REJECTED" in rejected.message
    assert "relative" in rejected.message
    assert "0.8160" in rejected.message  # the AUC it had to beat


@pytest.mark.parametrize(("candidate", "champion", "which"),
                         [(math.nan, 0.8, "candidate"), (0.9, math.nan, "champion"),
                          (np.float32("nan"), 0.8, "candidate")])
def test_nan_auc_is_never_promoted(candidate: float, champion: float, which: str) -> None:
    decision = PromotionGate(0.0).decide(candidate, champion)
    assert decision.promote is False
    assert f"the {which} ROC-AUC is undefined" in decision.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"margin": -0.01}, r"'margin' parameter of PromotionGate .* Got -0\.01"),
        ({"margin": 1.0}, r"'margin' .* \[0, 1\)\. Got 1\.0"),
        ({"margin": math.nan}, r"'margin' .* Got nan"),
        ({"margin": "0.1"}, r"'margin' .* Got '0\.1'"),
        ({"margin": True}, r"'margin' .* Got True"),
        ({"margin": 0.01, "mode": "percent"},
         r"'mode' parameter of PromotionGate must be one of 'absolute', 'relative'\. "
         r"Got 'percent'"),
    ],
)
def test_bad_arguments_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PromotionGate(**kwargs)


@pytest.mark.parametrize(("candidate", "champion", "match"), [
    (1.2, 0.8, r"'candidate_auc' parameter of PromotionGate.decide must be a float in the range "
     r"\[0, 1\] or NaN\. Got 1\.2 instead"),
    (0.9, -0.1, r"champion_auc' .* Got -0\.1"),
    (0.9, None, r"champion_auc' .* Got None"),
])
def test_bad_auc_raises(candidate: object, champion: object, match: str) -> None:
    with pytest.raises(DataError, match=match):
        PromotionGate(0.01).decide(candidate, champion)  # type: ignore[arg-type]


def test_frozen_and_serialisable() -> None:
    gate = PromotionGate(0.05, "relative")
    with pytest.raises(FrozenInstanceError, match="margin"):
        gate.margin = 0.5  # type: ignore[misc]
    assert gate.to_dict() == {"margin": 0.05, "mode": "relative", "alpha": None}
    decision = gate.decide(0.9, 0.8)
    assert isinstance(decision, GateDecision)
    assert decision.to_dict() == {
        "promote": True, "candidate_auc": 0.9, "champion_auc": 0.8,
        "required_auc": pytest.approx(0.84), "margin": 0.05, "mode": "relative",
        "message": decision.message, "margin_passed": True, "alpha": None, "pvalue": None,
        "test_passed": None, "comparisons": 1, "margin_gain": pytest.approx(0.1),
    }


@pytest.mark.parametrize(
    ("candidate", "pvalue", "promote", "says"),
    [
        (0.85, 0.01, True, ["margin passed", "paired test passed: p = 0.01 < 0.05"]),
        (0.85, 0.20, False, ["margin passed", "paired test failed: p = 0.2 is not below 0.05"]),
        (0.805, 0.001, False, ["margin failed", "paired test passed"]),
        (0.85, None, False, ["paired test failed: not computed"]),
    ],
)
def test_margin_and_paired_test_must_both_pass(candidate: float, pvalue: float | None,
                                               promote: bool, says: list[str]) -> None:
    decision = PromotionGate(0.01, alpha=0.05).decide(candidate, 0.80, pvalue)
    assert decision.promote is promote
    assert decision.message.startswith("candidate ROC-AUC")
    assert ("PROMOTED" if promote else "REJECTED") in decision.message
    for text in says:
        assert text in decision.message
    assert decision.margin_gain == pytest.approx(candidate - 0.80)
    assert decision.pvalue == pvalue


def test_alpha_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"'alpha' parameter of PromotionGate .* Got 1\.5"):
        PromotionGate(0.01, alpha=1.5)


def _scored_holdout(n: int, seed: int, gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two correlated models' scores; the candidate's signal is ``gap`` stronger."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    shared = rng.normal(0, 1, n)
    champion = 1.0 * y + shared + rng.normal(0, 0.7, n)
    candidate = (1.0 + gap) * y + shared + rng.normal(0, 0.7, n)
    return y, champion, candidate


def test_small_holdout_margin_passes_but_the_paired_test_does_not() -> None:
    from pipelines.stats.delong import delong_test

    y, champion, candidate = _scored_holdout(80, seed=3, gap=0.25)
    paired = delong_test(y, champion, candidate)
    assert paired.difference > 0.01  # the margin alone would promote
    decision = PromotionGate(0.01, alpha=0.05).decide(paired.auc_b, paired.auc_a, paired.pvalue)
    assert not decision.promote
    assert decision.margin_passed
    assert "paired test failed" in decision.message


def test_large_holdout_significant_but_below_the_margin() -> None:
    from pipelines.stats.delong import delong_test

    y, champion, candidate = _scored_holdout(60_000, seed=4, gap=0.04)
    paired = delong_test(y, champion, candidate)
    assert paired.pvalue < 0.05  # the test alone would promote
    decision = PromotionGate(0.01, alpha=0.05).decide(paired.auc_b, paired.auc_a, paired.pvalue)
    assert not decision.promote
    assert decision.test_passed
    assert "margin failed" in decision.message


def test_bonferroni_for_a_candidate_chosen_on_the_gate_holdout() -> None:
    """The best of 3 candidates chosen on the gate's own holdout: the paired p-value is
    multiplied by 3 before it meets alpha, and the message says so in words."""
    gate = PromotionGate(0.01, alpha=0.05)
    alone = gate.decide(0.85, 0.80, 0.02)
    assert alone.promote
    assert alone.pvalue == 0.02
    chosen = gate.decide(0.85, 0.80, 0.02, comparisons=3)
    assert not chosen.promote
    assert chosen.pvalue == pytest.approx(0.06)
    assert chosen.comparisons == 3
    assert "p = 0.06 (Bonferroni-corrected for 3 candidates) is not below 0.05" in chosen.message
    assert gate.decide(0.85, 0.80, 0.5, comparisons=3).pvalue == 1.0  # capped
    with pytest.raises(DataError, match="comparisons"):
        gate.decide(0.85, 0.80, 0.02, comparisons=0)
