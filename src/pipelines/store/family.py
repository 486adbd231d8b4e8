"""What an experiment family remembers of its model: the registered model name and the
columns it was registered with, as tags on the ``<prefix>-Pipeline`` experiment (see
:data:`pipelines.store.contract.FAMILY_TAGS`). A later command knows the family (its
experiment prefix) but not the model name, so the memory lives with the experiments, and each
model version keeps its own full contract (its feature schema) besides."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from pipelines.store import contract as c
from pipelines.store.client import Store

logger = logging.getLogger(__name__)


def remembered_settings(store: Store) -> dict[str, Any]:
    """The settings the family remembers (dotted key -> value), empty when it remembers none
    (no ``<prefix>-Pipeline`` experiment yet, or one written before the memory existed)."""
    experiment = store.client.get_experiment_by_name(store.tracking.pipeline_experiment)
    if experiment is None:
        return {}
    out: dict[str, Any] = {}
    for key, tag in c.FAMILY_TAGS.items():
        if tag in experiment.tags:
            try:
                out[key] = json.loads(experiment.tags[tag])
            except json.JSONDecodeError:
                logger.warning("Experiment %s: tag %s is not JSON (%r); ignored",
                               experiment.name, tag, experiment.tags[tag][:80])
    return out


def remember_settings(store: Store, values: Mapping[str, Any], writer: str) -> None:
    """Record ``values`` (dotted setting keys of :data:`~pipelines.store.contract.FAMILY_TAGS`)
    as what the family remembers; ``writer`` says which step recorded them."""
    experiment_id = store.experiment_id(store.tracking.pipeline_experiment)
    assert experiment_id is not None
    for key, value in values.items():
        store.client.set_experiment_tag(experiment_id, c.FAMILY_TAGS[key],
                                        json.dumps(list(value) if isinstance(value, tuple)
                                                   else value))
    store.client.set_experiment_tag(experiment_id, c.TAG_FAMILY_WRITER, writer)
