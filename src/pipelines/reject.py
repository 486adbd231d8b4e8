"""Reject the model version waiting as ``@challenger``: the alias goes, the version stays
registered, tagged with who rejected it and why; the champion keeps serving.

``python -m pipelines.reject [--version N] [--reason R]`` or ``mlflow run . -e reject``.
Exit 2 when nothing waits, ``--version`` is not the challenger or the tracking server's user
(``MLFLOW_TRACKING_USERNAME``) lacks MANAGE on the registered model; 75 when a cycle holds the
lock. The work is :func:`pipelines.workflows.approval.reject`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.approval_cli import run
from pipelines.cli import exit_with


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    return run("reject", __doc__ or "", argv, prog)


if __name__ == "__main__":
    exit_with(main)
