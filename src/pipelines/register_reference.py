"""Monitor a model trained elsewhere: register its reference rows, their scores and labels.

``python -m pipelines.register_reference --data REF --prediction-column COL --target COL
[--model-name NAME]`` or ``mlflow run . -e register_reference -P data=REF -P
prediction_column=COL -P target=COL``. No training: the reference (features, the model's own
predictions, labels in the target) becomes the champion's reference, and every batch is then
judged on the predictions it carries. Per ``data.problem_type`` (``--config``): binary, COL
holds P(class 1) in [0, 1]; regression, COL holds the predicted values; multiclass, one
probability column per class named ``COL_<class>`` (each in [0, 1], rows summing to 1). The
work is :func:`pipelines.workflows.external.register_reference`.
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
    p = step_parser("register_reference", __doc__, prog)
    p.add_argument("--data", required=True, help="reference rows (CSV or Parquet)")
    p.add_argument("--prediction-column", required=True,
                   help="the model's score column, P(positive class) in [0, 1]; regression: "
                        "its predictions; multiclass: the prefix of its COL_<class> "
                        "probability columns")
    p.add_argument("--target", default="", help="the label column (default: data.target)")
    add_common_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    settings = settings_from_args(args)
    from pipelines.problems import problem
    from pipelines.store.models import metric_text
    from pipelines.workflows.external import register_reference

    result = register_reference(settings, args.data, args.prediction_column,
                                target=args.target or None)
    kind = problem(settings.data.problem_type)
    value = result.baseline.get(kind.primary_metric, float("nan"))
    sys.stdout.write(f"registered version {result.model_version} as champion: "
                     f"{result.n_rows:,} reference rows, {len(result.features)} features, "
                     f"reference {kind.label} {metric_text(kind, value)}\n")
    return 0


if __name__ == "__main__":
    exit_with(main)
