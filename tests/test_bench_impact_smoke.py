"""benchmarks/bench_impact.py at a tiny size on the session's trained store, so that it cannot
rot (timings are printed, not asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_bench_impact_runs_and_ranks(trained_store, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_impact", BENCHMARKS / "bench_impact.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_impact", bench)
    spec.loader.exec_module(bench)
    out = tmp_path / "impact.json"
    assert bench.main(["--rows", "4000", "--store", str(tmp_path / "store"),
                       "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "plain cycle" in printed
    assert "with impact + previous" in printed
    assert "| monthly_charges | numeric |" in printed
    data = json.loads(out.read_text())
    assert set(data["seconds"]) == {"plain", "with impact"}
    ranked = [f["feature"] for f in data["impact"]["features"]]
    assert set(ranked) == {"monthly_charges", "support_calls", "contract"}
