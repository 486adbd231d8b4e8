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


REGRESSION_TABLE = pd.DataFrame([
    {"model": "champion v1", "role": "champion", "val_rmse": math.nan, "rmse": 7.91234,
     "mae": 6.1, "r2": 0.41, "bias": -0.5, "selected": False},
    {"model": "xgboost", "role": "candidate", "val_rmse": 3.456789, "rmse": 3.2101,
     "mae": 2.5, "r2": 0.9, "bias": 0.01, "selected": True},
])


def test_regression_description_speaks_rmse() -> None:
    decision = PromotionGate(0.01, "relative", 0.05, "regression").decide(3.2101, 7.91234,
                                                                          0.001)
    text = description("promoted", "RMSE above the ceiling", decision, REGRESSION_TABLE,
                       problem_type="regression")
    assert "- **xgboost** (candidate, chosen): RMSE 3.21 · MAE 2.5 · R² 0.9 · bias 0.01 · " \
           "validation RMSE 3.457" in text
    assert "- champion v1 (champion): RMSE 7.912 · MAE 6.1 · R² 0.41 · bias -0.5" in text
    assert "**Gate**: candidate RMSE 3.21 vs champion RMSE 7.912, relative margin 0.01, paired " \
           "one-sided t-test on the holdout rows' squared errors at alpha 0.05" in text
    assert "ROC-AUC" not in text


def test_multiclass_selection_names_macro_f1() -> None:
    from pipelines.retraining.narrative import comparison_lines, selection

    decision = PromotionGate(0.01, alpha=0.05, problem_type="multiclass").decide(0.8, 0.6, 0.01,
                                                                               comparisons=2)
    assert "best by **holdout** macro F1" in selection(2, decision, "multiclass")
    table = pd.DataFrame([{"model": "rf", "role": "candidate", "val_macro_f1": 0.81,
                           "macro_f1": 0.8, "accuracy": 0.82, "weighted_f1": 0.79,
                           "roc_auc": 0.93, "selected": True}])
    assert comparison_lines(table, "multiclass") == [
        "- **rf** (candidate, chosen): macro F1 0.8 · accuracy 0.82 · weighted F1 0.79 · "
        "macro ROC-AUC 0.93 · validation macro F1 0.81"]


def test_run_names_per_type() -> None:
    from pipelines.store import contract as c
    from pipelines.workflows.retrain import run_name

    rmse = PromotionGate(0.01, "relative", problem_type="regression").decide(38.1234, 45.0)
    assert run_name(c.PROMOTED, rmse, "2") == "PROMOTED v2 rmse 38.1"
    big = PromotionGate(0.01, "relative", problem_type="regression").decide(4123.4, 5000.0)
    assert run_name(c.PROMOTED, big, "3") == "PROMOTED v3 rmse 4,123"
    f1 = PromotionGate(0.01, problem_type="multiclass").decide(0.7071, 0.70)
    assert run_name(c.REJECTED, f1, None) == "REJECTED macro_f1 0.71"
    nan = PromotionGate(0.01, problem_type="regression").decide(math.nan, 3.0)
    assert run_name(c.REJECTED, nan, None) == "REJECTED"
