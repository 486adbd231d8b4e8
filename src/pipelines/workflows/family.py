"""The experiment family a command works on, named by any of its members.

The seed's commands take the pipeline (training) experiment, by id or by name, as their
positional argument (``monitor_performance.py $EXP_ID``). Every experiment of one deployment
shares a prefix: ``<prefix>-Pipeline``, ``-Monitoring``, ``-Retraining``, ``-Audit``. The
positional selects that prefix; runs still go to the experiment each step owns (monitoring
runs to ``<prefix>-Monitoring``, retraining to ``<prefix>-Retraining``), never into the
experiment named. Any member of the family is accepted (the prefix is derived the same way);
an experiment that does not exist, or whose name is not ``<prefix>-<member>``, is refused.
"""

from __future__ import annotations

import logging

from pipelines.config import Settings, TrackingSettings, with_overrides
from pipelines.errors import ConfigError, TrackingError
from pipelines.store import Store, connect

logger = logging.getLogger(__name__)

#: The family's experiments, as the properties of :class:`TrackingSettings` that name them.
MEMBERS: tuple[str, ...] = ("pipeline_experiment", "monitoring_experiment",
                            "retraining_experiment", "audit_experiment")


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
            f"No experiment named {name!r} in {store.uri}: give the pipeline experiment's id "
            f"or name (e.g. {settings.tracking.pipeline_experiment!r}), or leave it out.")
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
