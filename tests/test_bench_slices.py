"""benchmarks/bench_slices.py at a tiny size, so that it cannot rot (timings not asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_the_slice_benchmark_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_slices",
                                                  BENCHMARKS / "bench_slices.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_slices", module)
    spec.loader.exec_module(module)
    assert module.main(["--rows", "3000", "--repeats", "1", "--reference-rows", "3000"]) == 0
    out = capsys.readouterr().out
    assert "3,000 rows, 10 slices" in out
    assert "slice alerts on this stable batch: 0" in out
