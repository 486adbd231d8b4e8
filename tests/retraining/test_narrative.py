"""The retraining run's description reads on MLflow's run page: lists (no tables), the data's
sources and window, how the candidate was chosen, rounded numbers (pure, no store)."""

from __future__ import annotations

import math

import pandas as pd

from pipelines.retraining import DataSpan, PromotionGate
from pipelines.retraining.narrative import description

TABLE = pd.DataFrame([
    {"model": "champion v1", "role": "champion", "val_roc_auc": math.nan,
     "roc_auc": 0.5735644171643295, "accuracy": 0.65, "f1": 0.2698191933240612,
     "selected": False},
    {"model": "xgboost", "role": "candidate", "val_roc_auc": 0.7667123456,
     "roc_auc": 0.7884152511785585, "accuracy": 0.76, "f1": 0.3617, "selected": True},
    {"model": "random_forest", "role": "candidate", "val_roc_auc": 0.7661,
     "roc_auc": 0.7723, "accuracy": 0.754, "f1": 0.2998, "selected": False},
])
HOLDOUT = DataSpan(1500, ("b0006@1234abcd",), pd.Timestamp("2026-01-07 00:00"),
                   pd.Timestamp("2026-01-07 23:59"), "data timestamps")


def test_description_is_lists_with_sources_window_and_selection() -> None:
    decision = PromotionGate(0.01, alpha=0.05).decide(0.7884152511785585, 0.5735644171643295,
                                                      1.1e-37, comparisons=2)
    text = description("promoted", "ROC-AUC below the floor", decision, TABLE,
                       {"promoted": "[churn-model v2](#/models/churn-model/versions/2)"},
                       data=[("holdout", HOLDOUT)])
    assert not any(line.lstrip().startswith("|") for line in text.splitlines())
    assert "- **xgboost** (candidate, chosen): ROC-AUC 0.7884 · accuracy 0.76 · F1 0.3617 · " \
           "validation ROC-AUC 0.7667" in text
    assert "- champion v1 (champion): ROC-AUC 0.5736 · accuracy 0.65 · F1 0.2698" in text
    assert "- holdout: 1,500 rows from b0006, 2026-01-07 00:00 to 2026-01-07 23:59 " \
           "(data timestamps)" in text
    chosen = next(line for line in text.splitlines()
                  if line.startswith("**How the candidate was chosen**"))
    assert "best by **holdout** ROC-AUC" in chosen
    assert "multiplied by 2 (Bonferroni" in chosen
    assert "p = 2.2e-37 is the corrected" in chosen
    assert "0.5735644" not in text
    assert "0.78841525" not in text


def test_one_candidate_needs_no_correction() -> None:
    decision = PromotionGate(0.01, alpha=0.05).decide(0.7723, 0.5736, 0.001)
    text = description("rejected", "manual", decision, TABLE.iloc[[0, 2]])
    assert "nothing was chosen on the holdout, so no correction" in text
