"""Every MLproject entry point with examples/multiclass.toml (see tests/mlproject_types)."""

from pathlib import Path

import pytest

from tests.mlproject_types.chain import run_chain

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def test_every_entry_point_with_the_multiclass_example(tmp_path: Path) -> None:
    run_chain("multiclass", tmp_path)
