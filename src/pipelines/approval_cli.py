"""The command line shared by ``pipelines.approve`` and ``pipelines.reject``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.cli import (
    EXIT_LOCK_BUSY,
    add_common_options,
    settings_from_args,
    setup_logging,
    step_parser,
)


def build_parser(action: str, description: str,
                 prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser(action, description, prog)
    p.add_argument("--version", default=None,
                   help="the version you mean (refused unless it is the challenger)")
    p.add_argument("--reason", default="", help="why (kept in the audit trail)")
    add_common_options(p)
    return p


def run(action: str, description: str, argv: Sequence[str] | None,
        prog: str | None = None) -> int:
    """Parse, approve or reject, print the outcome; 75 when a cycle holds the lock."""
    args = build_parser(action, description, prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.workflows.approval import approve, reject

    step = approve if action == "approve" else reject
    version = args.version or None
    if version is not None and version.endswith(".0"):  # MLflow renders numbers as floats
        version = version[:-2]
    result = step(settings, reason=args.reason, version=version)
    if result is None:
        return EXIT_LOCK_BUSY
    sys.stdout.write(result.message + "\n")
    return 0
