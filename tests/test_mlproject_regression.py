"""Every MLproject entry point with examples/regression.toml (see tests/mlproject_types)."""

from pathlib import Path

import pytest

from tests.mlproject_types.chain import run_chain

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def test_every_entry_point_with_the_regression_example(tmp_path: Path) -> None:
    run_chain("regression", tmp_path)
