"""Undo a promotion: point ``champion`` back at ``previous-champion``.

``python -m pipelines.rollback`` or ``mlflow run . -e rollback``. The two aliases swap, so a
second rollback undoes the first. Exit 2 when the tracking server's user
(``MLFLOW_TRACKING_USERNAME``) lacks EDIT on the registered model (nothing moves). The work
is :func:`pipelines.workflows.rollback.rollback`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.cli import (
    add_common_options,
    exit_with,
    settings_from_args,
    setup_logging,
    step_parser,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("rollback", __doc__, prog)
    p.add_argument("--reason", default="", help="why (kept in the audit trail)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.workflows.rollback import rollback

    from_version, to_version = rollback(settings, reason=args.reason)
    t = settings.tracking
    sys.stdout.write(f"{t.registered_model_name}@{t.champion_alias}: "
                     f"version {from_version} -> {to_version}\n")
    return 0


if __name__ == "__main__":
    exit_with(main)
