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
    assert gate.to_dict() == {"margin": 0.05, "mode": "relative"}
    decision = gate.decide(0.9, 0.8)
    assert isinstance(decision, GateDecision)
    assert decision.to_dict() == {
        "promote": True, "candidate_auc": 0.9, "champion_auc": 0.8,
        "required_auc": pytest.approx(0.84), "margin": 0.05, "mode": "relative",
        "message": decision.message,
    }
