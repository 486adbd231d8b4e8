"""Retraining runs' names fit what MLflow's run lists show (no tracking store)."""

from __future__ import annotations

import dataclasses

from pipelines.retraining import PromotionGate
from pipelines.store import contract as c
from pipelines.workflows.retrain import run_name


def test_retraining_run_names_are_the_verdict_in_the_lists_width() -> None:
    """Issue 20: ``retrain PROMOTED v2 auc 0.803 vs 0.569`` was cut to ``retrain PROMOTED…``
    beside the parent run's expand icon: the verdict, the version and the candidate's
    ROC-AUC fit, the comparison is the description's; a run still running or failed is
    ``retrain …``."""
    won = PromotionGate(0.01, "absolute").decide(0.803, 0.569)
    lost = PromotionGate(0.01, "absolute").decide(0.801, 0.797)
    assert run_name(c.PROMOTED, won, "2") == "PROMOTED v2 0.80"
    assert run_name(c.REJECTED, lost, None) == "REJECTED 0.80"
    assert run_name(c.AWAITING_APPROVAL, won, "12") == "AWAITING v12 0.80"
    assert run_name(c.INVALID_DATA, None, None) == "INVALID DATA"
    for verdict, decision, version in ((c.PROMOTED, won, "2"), (c.REJECTED, lost, None),
                                       (c.AWAITING_APPROVAL, won, "3"),
                                       (c.INVALID_DATA, None, None)):
        name = run_name(verdict, decision, version)
        assert len(name) <= 16, name


def test_a_nan_auc_is_left_out() -> None:
    decision = dataclasses.replace(PromotionGate(0.01, "absolute").decide(0.8, 0.7),
                                   candidate_auc=float("nan"))
    assert run_name(c.REJECTED, decision, None) == "REJECTED"
