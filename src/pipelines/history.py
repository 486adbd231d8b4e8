"""The registry's audit trail: every alias move (baseline, promotion, approval, rejection,
rollback, recovery) with time, actor, from -> to and reason, newest first.

``python -m pipelines.history [--limit N]`` or ``mlflow run . -e history``. The same events
are the runs of the ``<prefix>-Audit`` experiment in the MLflow UI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.cli import (
    add_common_options,
    exit_with,
    int_arg,
    settings_from_args,
    setup_logging,
    step_parser,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("history", __doc__, prog)
    p.add_argument("--limit", type=int_arg, default=50)
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.store import connect
    from pipelines.store.audit import history

    store = connect(settings.tracking, create=False, purpose="show")
    events = history(store, limit=args.limit)
    if not events:
        sys.stdout.write(f"No alias moves recorded for {settings.tracking.registered_model_name}"
                         ".\n")
        return 0
    for e in events:
        moves = ", ".join(m.text() for m in e["moves"])
        sys.stdout.write(f"{e['time'][:19]}  {e['action']:<20} {moves:<48} by {e['actor']}: "
                         f"{e['reason'][:200]}\n")
    return 0


if __name__ == "__main__":
    exit_with(main)
