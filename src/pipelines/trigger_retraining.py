"""Retrain on recent labelled data and promote the best candidate only if it clearly wins.

``python -m pipelines.trigger_retraining [--reason R]`` or ``mlflow run . -e retrain``.
Prints the retraining summary (JSON). Runs under the orchestrator's lock, like a cycle (never
at the same time as one). Exit code 0: promoted or rejected; 1: invalid training data
(nothing trained; e.g. a regression batch's target with text or infinite values, a multiclass
label the champion never saw, each named with its batch); 2: bad configuration; 75: another
orchestrator holds the lock. The gate judges the champion's problem type's primary metric
(ROC-AUC, macro F1, RMSE) with its paired test. The work is
:func:`pipelines.workflows.retrain.retrain`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipelines.cli import (
    EXIT_LOCK_BUSY,
    add_common_options,
    exit_with,
    settings_from_args,
    setup_logging,
    step_parser,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = step_parser("trigger_retraining", __doc__, prog)
    p.add_argument("--reason", default="manual",
                   help="why retraining was triggered (tagged on the run; default manual)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.data.io import json_text
    from pipelines.store.contract import INVALID_DATA
    from pipelines.workflows.orchestrate import retrain_under_lock

    summary = retrain_under_lock(settings, reason=args.reason)
    if summary is None:
        return EXIT_LOCK_BUSY
    sys.stdout.write(json_text(summary.to_dict()) + "\n")
    return 1 if summary.decision == INVALID_DATA else 0


if __name__ == "__main__":
    exit_with(main)
