"""Feature-importance stability (issue 24) in the workflows: a registered model's importances
logged with it, a retraining candidate's compared with the champion's, and on request a
labelled batch's. Each step is best effort: a failure is logged and the step goes on."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from pipelines.data.schema import FeatureSchema
from pipelines.retraining.candidates import model_outputs
from pipelines.retraining.importance import (
    ImportanceComparison,
    Importances,
    compare_importances,
    model_importances,
    permutation_importances,
)
from pipelines.store import Champion, Store, load_reference_frame
from pipelines.store import contract as c
from pipelines.store.matters import load_importances, log_importances

logger = logging.getLogger(__name__)


def importances_of(estimator: Any, flavor: str, frame: pd.DataFrame, schema: FeatureSchema,
                   seed: int = 0) -> Importances | None:
    """A trained model's importances (native, else permutation on ``frame``), or None."""
    try:
        return model_importances(
            estimator, lambda rows: model_outputs(estimator, flavor, rows, schema),  # type: ignore[arg-type]
            frame, schema, seed=seed)
    except Exception as exc:  # noqa: BLE001 (a record beside the model, not the model)
        logger.warning("Feature importances could not be computed: %s", exc)
        return None


def record(store: Store, importances: Importances | None) -> None:
    """Log ``importances`` on the active run (the model's training run)."""
    if importances is not None:
        log_importances(store, importances.to_dict())


def champion_importances(store: Store, champion: Champion, frame: pd.DataFrame,
                         seed: int = 0) -> Importances | None:
    """The champion's importances as recorded at registration, else computed now on
    ``frame`` (a champion registered before they were recorded); None for a model scored
    elsewhere."""
    stored = load_importances(store, champion.run_id)
    if stored is not None:
        return Importances.from_dict(stored)
    if champion.external:
        return None
    return importances_of(champion.estimator, champion.flavor, frame, champion.schema, seed)


def reference_importances(store: Store, champion: Champion,
                          seed: int = 0) -> Importances | None:
    """The champion's permutation importance on its stored reference rows: what a labelled
    batch's permutation importance is compared with. Like with like: the importances
    recorded at registration are a tree's own (gain, impurity), which no batch changes and
    which rank features differently from permutation importance even when nothing moved."""
    if champion.external:
        return None
    try:
        frame = load_reference_frame(store, champion.run_id)
    except Exception as exc:  # noqa: BLE001 (an add-on to the verdict)
        logger.warning("The champion's reference rows could not be read: %s", exc)
        return None
    return batch_importances(champion, frame, seed)


def log_stability(store: Store, champion: Importances | None, other: Importances | None,
                  top_k: int, prefix: str = "importance/") -> ImportanceComparison | None:
    """Compare and log on the active run: ``<prefix>spearman``, ``<prefix>top_k_overlap`` and
    the comparison as ``importance_stability.json``."""
    if champion is None or other is None:
        return None
    if champion.method != other.method:  # e.g. a tree champion against a linear candidate
        logger.warning("Importance stability compares the champion's %s importances with %s "
                       "ones: read the rank correlation with care", champion.method,
                       other.method)
    comparison = compare_importances(champion, other, top_k)
    store.log_metrics({k: v for k, v in comparison.metrics(prefix).items() if v == v})
    store.log_json({**comparison.to_dict(), "champion": champion.to_dict(),
                    "other": other.to_dict()}, c.IMPORTANCE_STABILITY_ARTIFACT)
    logger.info("Importance stability: %s", comparison.sentence())
    return comparison


def batch_importances(champion: Champion, frame: pd.DataFrame,
                      seed: int = 0) -> Importances | None:
    """Permutation importance of the champion on a labelled batch, or None."""
    if champion.external:
        return None
    try:
        values, metric = permutation_importances(champion.score, frame, champion.schema,
                                                 seed=seed)
    except Exception as exc:  # noqa: BLE001
        logger.warning("Permutation importance on the batch failed: %s", exc)
        return None
    total = sum(max(v, 0.0) for v in values.values())
    return Importances("permutation", {k: max(v, 0.0) / total if total > 0 else 0.0
                                       for k, v in values.items()}, metric, len(frame))
