"""Performance metrics for any problem type, from the target and the model's outputs: pure.

The model's outputs are P(class 1) per row (binary), one probability per class in the
schema's class order (multiclass, shape (n, k)) or the predicted value (regression). Each
type's metrics live in their own module; this one only dispatches, so training, retraining and
monitoring compute the same numbers under the same names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def performance_metrics(problem_type: str, y_true: np.ndarray, outputs: np.ndarray, *,
                        classes: Sequence[str] = (), threshold: float = 0.5) -> dict[str, float]:
    """The metrics of ``outputs`` against ``y_true`` (as :func:`pipelines.data.schema.target_array`
    reads it) for ``problem_type``."""
    if problem_type == "regression":
        from pipelines.stats.regression import regression_metrics

        return regression_metrics(np.asarray(y_true, dtype=np.float64),
                                  np.asarray(outputs, dtype=np.float64))
    if problem_type == "multiclass":
        from pipelines.stats.multiclass import multiclass_metrics

        return multiclass_metrics(np.asarray(y_true), np.asarray(outputs, dtype=np.float64),
                                  list(classes))
    from pipelines.stats.classification import classification_metrics

    return classification_metrics(y_true, outputs, threshold)
