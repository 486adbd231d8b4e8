"""Register labels that arrived after their batches were monitored.

``python -m pipelines.register_labels --labels FILE`` or ``mlflow run . -e register_labels
-P labels=FILE``. FILE (CSV or Parquet) holds the id column (``data.id_column``) and the label
(``data.target``, 0/1). Every stored batch with matching ids gets its label coverage tagged
and, once ``monitoring.label_coverage_min`` of its rows are labelled, realized metrics on its
original run and its performance alerts re-evaluated. Prints a JSON summary (per batch:
coverage and what changed; unknown ids, duplicates and conflicts counted and written out).
Registering the same file twice changes nothing. The work is
:func:`pipelines.workflows.labels.register_labels`.
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
    p = step_parser("register_labels", __doc__, prog)
    p.add_argument("--labels", required=True, help="CSV or Parquet file: id, label")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.data.io import json_text
    from pipelines.workflows.labels import register_labels

    outcome = register_labels(settings, args.labels)
    sys.stdout.write(json_text(outcome.to_dict()) + "\n")
    return 0


if __name__ == "__main__":
    exit_with(main)
