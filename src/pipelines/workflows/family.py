"""The experiment family a command works on, and what that family remembers.

Every experiment of one deployment shares a prefix: ``<prefix>-Pipeline``, ``-Monitoring``,
``-Retraining``, ``-Audit``. The seed's commands take the pipeline (training) experiment, by
id or by name, as their positional argument (``monitor_performance.py $EXP_ID``): it selects
that prefix (:func:`settings_for_experiment`); runs still go to the experiment each step owns,
never into the experiment named. Any member of the family is accepted; an experiment that does
not exist, or whose name is not ``<prefix>-<member>``, is refused.

The family also remembers what ``register_reference`` (or ``train_baseline``) was told
(:func:`remember`, :func:`resolve_settings`). Precedence: explicit settings (command line,
environment, configuration file values other than the built-in defaults) > what the family
remembers > defaults. An explicit target or prediction column that contradicts the
registered model's contract is an error naming both values; an explicit model name, id or
timestamp column overrides the memory (said at INFO).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from pipelines.config import Settings, TrackingSettings, explicit_keys, with_overrides
from pipelines.data.schema import FeatureSchema
from pipelines.errors import ConfigError, TrackingError
from pipelines.store import Store, connect
from pipelines.store import contract as c
from pipelines.store.database import masked
from pipelines.store.family import remember_settings, remembered_settings

logger = logging.getLogger(__name__)

#: The family's experiments, as the properties of :class:`TrackingSettings` that name them.
MEMBERS: tuple[str, ...] = ("pipeline_experiment", "monitoring_experiment",
                            "retraining_experiment", "audit_experiment")


@functools.cache
def member_suffixes() -> tuple[str, ...]:
    """``("-Pipeline", "-Monitoring", ...)``, read from :class:`TrackingSettings` itself."""
    probe = TrackingSettings(experiment_prefix="P")
    return tuple(getattr(probe, member)[len("P"):] for member in MEMBERS)


def family_prefix(name: str) -> str | None:
    """The prefix of an experiment named ``<prefix>-<member>``; None for any other name."""
    for suffix in member_suffixes():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)]
    return None


def settings_for_experiment(settings: Settings, experiment: str, *,
                            explicit_prefix: str | None = None,
                            store: Store | None = None) -> Settings:
    """``settings`` with the prefix of the family ``experiment`` (an id or a name) belongs to.

    Raises :class:`TrackingError` when no such experiment exists, :class:`ConfigError` when
    its name is not a family member's or contradicts ``explicit_prefix`` (the
    ``--experiment-prefix`` given on the same command line).
    """
    store = store or connect(settings.tracking)
    name = store.experiment_name(experiment)  # an unknown id raises TrackingError
    if store.experiment_id(name, create=False) is None:
        raise TrackingError(
            f"No experiment named {name!r} in {masked(store.uri)}: give the pipeline "
            f"experiment's id or name (e.g. {settings.tracking.pipeline_experiment!r}), or "
            "leave it out.")
    prefix = family_prefix(name)
    if prefix is None:
        raise ConfigError(
            f"Experiment {name!r} is not one of a family '<prefix>"
            + "', '<prefix>".join(member_suffixes())
            + "': give the pipeline experiment (e.g. "
            f"{settings.tracking.pipeline_experiment!r}) or set --experiment-prefix instead.")
    if explicit_prefix and explicit_prefix != prefix:
        raise ConfigError(
            f"Experiment {name!r} belongs to the family {prefix!r}, but --experiment-prefix "
            f"says {explicit_prefix!r}: give one or the other.")
    if prefix != settings.tracking.experiment_prefix:
        logger.info("Experiment %s: working on the %s-* experiments", name, prefix)
    return with_overrides(settings, {"tracking.experiment_prefix": prefix})


#: Settings that are the registered model's contract: an explicit other value is an error.
CONTRACT_KEYS: tuple[str, ...] = ("data.target", "data.prediction_column")
#: How each remembered setting is called on the command line, for the messages.
_OPTIONS = {"tracking.registered_model_name": "--model-name", "data.target": "--target",
            "data.prediction_column": "--prediction-column"}


def _get(settings: Settings, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(settings, section), name)


def _same(a: Any, b: Any) -> bool:
    return (list(a) if isinstance(a, tuple | list) else a) == (
        list(b) if isinstance(b, tuple | list) else b)


def resolve_settings(settings: Settings, store: Store, *, registering: bool = False
                     ) -> Settings:
    """``settings`` with what the family remembers filled in where nothing was set
    explicitly; ``store`` is switched to the resolved model name. ``registering`` (a new
    reference: a new contract) lets explicit values differ from the remembered ones.

    Raises :class:`ConfigError` naming both values when an explicit target or prediction
    column contradicts the registered one."""
    remembered = remembered_settings(store)
    if not remembered:
        return settings
    explicit = explicit_keys(settings)
    family = settings.tracking.experiment_prefix
    model = remembered.get("tracking.registered_model_name", settings.tracking
                           .registered_model_name)
    for key in CONTRACT_KEYS:
        value, known = _get(settings, key), remembered.get(key)
        if (not registering and key in explicit and known is not None
                and not _same(value, known)):
            option = _OPTIONS.get(key, f"--set {key}=...")
            raise ConfigError(
                f"{key} is {value!r} here, but model {model!r} (family {family}) was "
                f"registered with {key} = {known!r}. Drop {option} to use {known!r}, or "
                f"register a new reference with {option} {value} "
                "(python -m pipelines.register_reference).")
    fill = {k: v for k, v in remembered.items() if k not in explicit}
    overridden = {k: (_get(settings, k), v) for k, v in remembered.items()
                  if k in explicit and not _same(_get(settings, k), v)}
    for key, (value, known) in overridden.items():
        logger.info("%s = %r (set explicitly) instead of %r, which family %s remembers",
                    key, value, known, family)
    resolved = with_overrides(settings, fill) if fill else settings
    changed = {k: v for k, v in fill.items() if not _same(_get(settings, k), v)}
    if changed:
        logger.info("Family %s remembers %s", family,
                    ", ".join(f"{k} = {v!r}" for k, v in changed.items()))
    store.tracking = resolved.tracking
    return resolved


def remember(settings: Settings, store: Store, writer: str,
             schema: FeatureSchema | None = None) -> None:
    """Record ``settings``' model name and columns as what the family remembers; the id and
    timestamp columns ``schema`` found in the data, if given (inferred when the configured
    ones were absent)."""
    values: dict[str, Any] = {key: _get(settings, key) for key in c.FAMILY_TAGS}
    if schema is not None:
        values.update({k: v for k, v in (("data.id_column", schema.id_column),
                                         ("data.timestamp_column", schema.timestamp_column))
                       if v is not None})
    remember_settings(store, values, writer)
    logger.debug("Family %s now remembers %s", settings.tracking.experiment_prefix, values)
