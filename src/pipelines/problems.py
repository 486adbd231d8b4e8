"""What kind of model is watched: binary, multiclass or regression.

One frozen descriptor per problem type says which metric is primary, which way is better, how a
reviewer reads it and which metrics are logged. Every layer asks it instead of assuming
ROC-AUC: the monitor (alerts and run names), the estimate, the promotion gate and the figures.

The type comes from ``data.problem_type`` when a model is trained or registered, is stored in the
model's feature schema and as the version tag ``problem_type``, and is read back from the
champion by every later command (a batch is judged as its model's type, whatever the
configuration now says). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProblemType = Literal["binary", "multiclass", "regression"]
PROBLEM_TYPES: tuple[ProblemType, ...] = ("binary", "multiclass", "regression")
#: Model version tag (and feature-schema key) holding the problem type.
PROBLEM_TYPE_TAG = "problem_type"


@dataclass(frozen=True)
class Problem:
    """How a problem type is measured."""

    name: ProblemType
    primary_metric: str
    """The metric alerts, run names and the promotion gate use."""
    higher_is_better: bool
    label: str
    """The primary metric as a reviewer reads it (``ROC-AUC``, ``macro F1``, ``RMSE``)."""
    metrics: tuple[str, ...]
    """The headline metrics logged for a labelled batch (per-class metrics come on top)."""
    estimated_metrics: tuple[str, ...]
    """Metrics the label-free estimate gives (``estimated_<metric>``)."""

    def better(self, candidate: float, champion: float) -> bool:
        """True when ``candidate`` is strictly better than ``champion`` (NaN never is)."""
        if candidate != candidate or champion != champion:
            return False
        return candidate > champion if self.higher_is_better else candidate < champion

    @property
    def classifier(self) -> bool:
        return self.name != "regression"


PROBLEMS: dict[str, Problem] = {
    "binary": Problem("binary", "roc_auc", True, "ROC-AUC",
                      ("roc_auc", "accuracy", "precision", "recall", "f1"),
                      ("roc_auc", "accuracy", "precision", "recall", "f1")),
    "multiclass": Problem("multiclass", "macro_f1", True, "macro F1",
                          ("accuracy", "macro_f1", "weighted_f1", "roc_auc", "log_loss"),
                          ("accuracy", "macro_f1", "roc_auc")),
    "regression": Problem("regression", "rmse", False, "RMSE",
                          ("rmse", "mae", "mape", "r2", "bias"),
                          ("rmse", "mae")),
}


def problem(name: str | None) -> Problem:
    """The descriptor of ``name`` (None: binary, as models registered before types existed)."""
    key = name or "binary"
    try:
        return PROBLEMS[key]
    except KeyError:
        raise ValueError(f"unknown problem type {name!r}; expected one of "
                         f"{', '.join(PROBLEM_TYPES)}") from None
