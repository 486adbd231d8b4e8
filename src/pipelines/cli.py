"""Shared command-line plumbing: common options, settings, logging. Entry points only parse
arguments and call one function.

Light on purpose: building a parser (and ``--help``) imports argparse and nothing heavy; the
configuration (pydantic, the statistics registry) and the store (MLflow) are imported once the
arguments are parsed, the workflow by each entry point's ``main`` after that.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipelines.errors import (
    Interrupted,
    MonitoringError,
    StoreLocked,
    StoreWriteFailed,
    TrackingUnavailable,
)
from pipelines.signals import interruptible

if TYPE_CHECKING:
    from pipelines.config import Settings

logger = logging.getLogger("pipelines")


def step_parser(step: str, description: str | None,
                prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of entry point ``pipelines.<step>``: named as the command that runs it
    (``prog``, e.g. ``churnmon monitor``; default ``python -m pipelines.<step>``), its module
    docstring as the help text, kept as written."""
    return argparse.ArgumentParser(prog=prog or f"python -m pipelines.{step}",
                                   description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("configuration")
    g.add_argument("--config",
                   help="TOML configuration file (default: ./monitoring.toml if present)")
    g.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", default=[],
                   help="override any configuration key; repeatable")
    g.add_argument("--tracking-uri", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    g.add_argument("--experiment-prefix", help="experiment name prefix (default ChurnPrediction)")
    g.add_argument("--model-name", help="registered model name (default churn-model)")
    g.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def int_arg(text: str) -> int:
    """An integer option that also accepts MLflow's float rendering ("5000.0")."""
    value = float(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def bool_arg(text: str) -> bool:
    """Strict boolean option value: true/false/1/0/yes/no."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def settings_from_args(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Settings:
    from pipelines.config import load_settings, parse_set_options

    overrides = parse_set_options(args.set)
    named = {
        "tracking.uri": args.tracking_uri,
        "tracking.experiment_prefix": args.experiment_prefix,
        "tracking.registered_model_name": args.model_name,
    }
    overrides.update({k: v for k, v in named.items() if v not in (None, "")})
    overrides.update({k: v for k, v in (extra or {}).items() if v not in (None, "")})
    settings = load_settings(args.config or None, overrides)
    remember_settings_secrets(settings)
    return settings


def remember_settings_secrets(settings: Settings) -> None:
    """Mask the configured secrets in everything written from now on: the webhook URL's path
    and query, a password in the tracking URI (:mod:`pipelines.redact`)."""
    from pipelines.redact import remember, remember_url

    remember_url(settings.notifications.webhook_url)
    remember(settings.tracking.uri)


def settings_for_family(args: argparse.Namespace) -> Settings:
    """:func:`settings_from_args`, then the positional ``experiment`` if given: the pipeline
    experiment's id or name, as the seed's commands pass it, selects the experiment family
    (:func:`pipelines.workflows.family.settings_for_experiment`)."""
    settings = settings_from_args(args)
    if not getattr(args, "experiment", None):
        return settings
    from pipelines.workflows.family import settings_for_experiment

    return settings_for_experiment(settings, args.experiment,
                                   explicit_prefix=args.experiment_prefix or None)


def add_experiment_argument(parser: argparse.ArgumentParser) -> None:
    """The seed's positional: the pipeline (training) experiment, by id or name."""
    parser.add_argument(
        "experiment", nargs="?",
        help="the pipeline experiment's id or name, e.g. $EXP_ID (selects the experiment "
        "family <prefix>-*; runs still go to their own experiments; default: the configured "
        "prefix)")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from pipelines.redact import guard_handlers

    guard_handlers()  # every record written through the root's handlers: secrets masked
    for noisy in ("alembic", "mlflow.store", "matplotlib", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # its "Retrying ..." lines during an outage would bury the one line that says what happened
    logging.getLogger("urllib3").setLevel(logging.ERROR)


#: Exit codes: 0 done, 1 failed but worth retrying as is (a batch failed, the tracking server
#: stopped answering mid-step, the SQLite store stayed locked, a disk refused a file), 2 bad
#: input or configuration (fix something first), 130 / 143 stopped by SIGINT / SIGTERM.
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
#: Another orchestrator holds the lock (EX_TEMPFAIL: "try again later"), so cron and
#: schedulers see the skip.
EXIT_LOCK_BUSY = 75


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run an entry point; a :class:`MonitoringError` becomes one clear line and exit code 2,
    a tracking server that stopped answering mid-step (a locked store, a disk that refuses a
    file) one line and exit code 1, SIGTERM / SIGINT one line and 143 / 130 once the step
    was unwound."""
    try:
        with interruptible():
            return main(argv)
    except Interrupted as exc:
        logger.error("Stopped: %s; the step under way was abandoned (its run marked FAILED, "
                     "its batch back in the inbox, the lock released): run again to go on",
                     exc)
        return exc.exit_code
    except TrackingUnavailable as exc:
        logger.error("%s; %s (nothing was lost)", exc, _retry_hint(exc))
        return EXIT_FAILED
    except MonitoringError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return EXIT_BAD_INPUT
    except Exception as exc:
        from pipelines.store import tracking_outage
        from pipelines.store.auth import permission_refusal

        refused = permission_refusal(exc)
        if refused is not None:  # a 403 / 401 met midway: one line, exit 2
            logger.error("%s: %s", type(refused).__name__, refused)
            return EXIT_BAD_INPUT
        outage = tracking_outage(exc)
        if outage is None:
            raise
        logger.error("%s; %s (nothing was lost)", outage, _retry_hint(outage))
        return EXIT_FAILED


def _retry_hint(exc: TrackingUnavailable) -> str:
    if isinstance(exc, StoreWriteFailed):
        return "free space or fix the folder's permissions, then run again"
    if isinstance(exc, StoreLocked):
        return "run again once the other writer is done"
    return "run again once it is back"


def exit_with(main: Callable[[Sequence[str] | None], int]) -> None:
    sys.exit(run_cli(main))
