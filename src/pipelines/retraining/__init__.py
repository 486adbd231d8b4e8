"""Safe retraining: the promotion gate and the retraining data set (pure, no MLflow).

The MLflow side (collect labelled batches, train, log, register, promote) lives in
:mod:`pipelines.trigger_retraining`; undoing a promotion in :mod:`pipelines.rollback`.
"""

from pipelines.retraining.dataset import (
    ORIGIN_COLUMN,
    REFERENCE_ORIGIN,
    assemble_training_data,
    holdout_split,
    refresh_categories,
    train_validation_split,
    validate_training_data,
)
from pipelines.retraining.gate import MARGIN_MODES, GateDecision, MarginMode, PromotionGate

__all__ = [
    "MARGIN_MODES",
    "ORIGIN_COLUMN",
    "REFERENCE_ORIGIN",
    "GateDecision",
    "MarginMode",
    "PromotionGate",
    "assemble_training_data",
    "holdout_split",
    "refresh_categories",
    "train_validation_split",
    "validate_training_data",
]
