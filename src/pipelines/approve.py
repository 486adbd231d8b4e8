"""Approve the model version waiting as ``@challenger``: it becomes ``@champion``, the old
champion ``@previous-champion``.

``python -m pipelines.approve [--version N] [--reason R]`` or ``mlflow run . -e approve``.
Refused (exit 2) when the champion changed since the candidate was compared with it, or when
``--version`` is not the challenger, or when the tracking server's user
(``MLFLOW_TRACKING_USERNAME``) lacks MANAGE on the registered model; 75 when a cycle holds the
lock. The work is
:func:`pipelines.workflows.approval.approve`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipelines.approval_cli import run
from pipelines.cli import exit_with


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    return run("approve", __doc__ or "", argv, prog)


if __name__ == "__main__":
    exit_with(main)
