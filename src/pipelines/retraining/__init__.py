"""Safe retraining, pure (no MLflow): candidate models, training, the retraining data set, the
promotion gate and the cooldown.

The MLflow side (collect labelled batches, train, log, register, promote) lives in
:mod:`pipelines.workflows.retrain`; undoing a promotion in :mod:`pipelines.workflows.rollback`.
"""

from pipelines.retraining.cooldown import CooldownCheck, check_cooldown
from pipelines.retraining.dataset import (
    ORIGIN_COLUMN,
    REFERENCE_ORIGIN,
    DataSpan,
    assemble_training_data,
    batches_newest_first,
    data_span,
    holdout_split,
    recency_weights,
    refresh_categories,
    train_validation_split,
    validate_training_data,
)
from pipelines.retraining.gate import GateDecision, MarginMode, PromotionGate

__all__ = [
    "CooldownCheck",
    "DataSpan",
    "ORIGIN_COLUMN",
    "REFERENCE_ORIGIN",
    "GateDecision",
    "MarginMode",
    "PromotionGate",
    "assemble_training_data",
    "batches_newest_first",
    "check_cooldown",
    "data_span",
    "holdout_split",
    "recency_weights",
    "refresh_categories",
    "train_validation_split",
    "validate_training_data",
]
