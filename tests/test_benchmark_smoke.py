"""The benchmark (benchmarks/run_benchmarks.py) at a tiny size, so that it cannot rot.

No peer environments and no network: this project, the scipy loop and the numpy floor only,
each in its own worker process as `make bench` runs them. Timings are not asserted.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

pytestmark = pytest.mark.subprocess  # each measurement runs in a worker process

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("run_benchmarks")


def _run(bench: ModuleType, tmp_path: Path, *extra: str) -> tuple[int, str, dict]:
    out = tmp_path / "results" / "latest.md"
    code = bench.main(["--sizes", "2000", "--repeats", "1", "--skip-peers", "--features", "25",
                       "--work-dir", str(tmp_path / "work"), "--out", str(out), *extra])
    return code, out.read_text(), json.loads(out.with_suffix(".json").read_text())


def test_tiny_benchmark_flags_exactly_the_injected_features(bench: ModuleType,
                                                            tmp_path: Path) -> None:
    code, text, data = _run(bench, tmp_path, "--skip-monitor")
    assert code == 0, data["errors"] + data["failures"]
    by_tool = {r["tool"]: r for r in data["results"]}
    assert set(by_tool) == {"project_fit", "project_drift", "project_drift_counts",
                            "scipy_loop", "numpy_floor", "numpy_floor_sortboth"}
    injected = set(by_tool["project_drift"]["injected"])
    assert injected == {"num_01", "num_07", "num_13", "cat_2"}
    assert set(by_tool["project_drift"]["verdict"]["flagged"]) == injected
    assert set(by_tool["project_drift_counts"]["verdict"]["flagged"]) == injected
    assert set(by_tool["scipy_loop"]["verdict"]["flagged"]) == injected
    assert set(by_tool["numpy_floor"]["verdict"]["flagged"]) == injected - {"cat_2"}
    for result in data["results"]:
        assert len(result["times"]) == 1
        assert result["median"] > 0
        assert result["peak_delta_mb"] >= 0
    for label in ("this project: drift per batch", "scipy loop", "numpy KS floor"):
        assert any(line.startswith(f"| {label}") and "| 2,000 | 25 |" in line
                   for line in text.splitlines()), label
    assert "| this project: drift per batch | 2,000 | 25 |" in text
    assert "= injected" in text
    assert "FAILED" not in text
    # the per-batch table: fitting apart, per batch, fit + per batch
    assert "## Per batch: calculate against calculate" in text
    assert any(line.startswith("| this project: drift per batch, counts path |")
               for line in text.splitlines())
    assert "| counts path KS within 1e-3 of exact |" in text


@pytest.mark.slow
def test_tiny_benchmark_runs_the_full_monitor(bench: ModuleType, tmp_path: Path) -> None:
    code, text, data = _run(bench, tmp_path, "--tools", "project_drift,project_monitor")
    assert code == 0, data["errors"] + data["failures"]
    monitor = next(r for r in data["results"] if r["tool"] == "project_monitor")
    assert set(monitor["verdict"]["flagged"]) == set(monitor["injected"])
    assert monitor["verdict"]["scored_by"] == "column score"
    assert "| this project: full monitor (score column) | 2,000 | 25 |" in text
    assert "full monitor < 2x drift alone" in text
    # the cycle's breakdown, phase by phase
    assert "## One monitor cycle, phase by phase" in text
    for phase in ("| drift |", "| scoring |", "| plots |", "| mlflow run |", "| artifacts |",
                  "| **whole cycle** |"):
        assert phase in text, phase
    assert set(monitor["phases"]) >= {"convert", "drift", "quality", "performance", "plots"}


def test_a_wrong_verdict_fails_the_run(bench: ModuleType, tmp_path: Path) -> None:
    run = bench.Run(args=bench.build_parser().parse_args([]), work_dir=tmp_path)
    run.results.append({"tool": "project_drift", "rows": 10, "features": 25,
                        "injected": ["num_01", "cat_2"],
                        "verdict": {"flagged": ["num_01", "num_00"],
                                    "tested": ["num_00", "num_01", "cat_2"]}})
    failures, _ = bench.check_verdicts(run)
    assert len(failures) == 1
    assert "project_drift" in failures[0]


def test_the_numpy_floor_matches_scipy_with_ties() -> None:
    tools = _load("bench_tools")
    rng = np.random.default_rng(7)
    for trial in range(300):
        a = rng.poisson(2.0, rng.integers(1, 50)).astype(np.float64)
        b = rng.poisson(rng.uniform(1.0, 3.0), rng.integers(1, 50)).astype(np.float64)
        if trial % 2:
            a, b = a + rng.normal(size=a.size), b + rng.normal(size=b.size)
        expected = stats.ks_2samp(a, b, method="asymp").statistic
        assert tools.ks_statistic_presorted(np.sort(a), np.sort(b)) == pytest.approx(expected)
        assert tools.ks_statistic_scipy_formula(a, b) == pytest.approx(expected)


@pytest.mark.slow
def test_the_scale_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """bench_scale.py end to end at 2,000 rows (chunked engine only): it trains its champion,
    writes the batch, monitors it in another process and prints the table."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_scale.py"), "--sizes", "2000",
         "--spark-sizes", "", "--data", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data" / "scale_2000.parquet").is_file()
    row = next(line for line in proc.stdout.splitlines() if line.startswith("| chunked |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["chunked", "score column", "2,000"]
    assert float(cells[3]) > 0  # wall seconds
    assert float(cells[6]) > 0  # peak MB


@pytest.mark.slow
def test_the_startup_benchmark_runs_at_a_tiny_size(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """bench_startup.py end to end, one run per command at 600 rows: it trains its champion,
    times `--help` and a verdict from new processes and prints the table (no durations
    asserted)."""
    startup = _load("bench_startup")
    src = Path(__file__).resolve().parents[1] / "src"
    assert startup.main(["--src", str(src), "--rows", "600", "--repeats", "1",
                         "--work-dir", str(tmp_path / "work")]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith(f"| {src} |")]
    assert [r.split("|")[2].strip() for r in rows] == [
        "`monitor_performance --help`", "`churnmon --help`",
        "600-row verdict (`monitor_performance --batch`)"]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[2]) > 0  # wall seconds
    assert (tmp_path / "work" / "mlflow.db").is_file()


@pytest.mark.slow
@pytest.mark.server
def test_the_service_benchmark_runs_at_a_tiny_size(tmp_path: Path) -> None:
    """bench_service.py end to end at 3 batches and 3 requests per endpoint: it trains its
    champion, monitors the simulated batches through the orchestrator, starts the service
    over the store, times every endpoint and prints its tables (no durations asserted); run
    again on the same store, it reuses it."""
    import subprocess

    script = str(BENCHMARKS / "bench_service.py")
    store = tmp_path / "store"
    proc = subprocess.run([sys.executable, script, "--store", str(store), "--batches", "3",
                           "--requests", "3", "--per-cycle", "2"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "| batches added | 3 (0 -> 3), 300 rows each, 2 a cycle, 2 cycles |" in lines
    assert any(line.startswith("| rows per second (monitoring) |") for line in lines)
    rows = {cells[0]: cells for cells in (
        [c.strip() for c in line.strip("|").split("|")] for line in lines
        if line.startswith("| /"))}
    src = Path(__file__).resolve().parents[1] / "src" / "pipelines" / "service"
    optional = {"/metrics (Prometheus)": (src / "prom.py").is_file(),
                "/ (dashboard)": (src / "dashboard.py").is_file()}
    for endpoint in ("/health", "/alerts", "/metrics/latest", "/metrics/history",
                     "/batches?limit=50", "/features/monthly_charges/drift", "/drift/matrix",
                     "/audit", "/models", *optional):
        assert endpoint in rows, endpoint
        assert rows[endpoint][1] == "3", rows[endpoint]
        if optional.get(endpoint, True):
            assert rows[endpoint][2] == "200", rows[endpoint]
        p50, p95, top = (float(x) for x in rows[endpoint][3:6])
        assert 0 < p50 <= p95 <= top
    cold = next(cells for name, cells in rows.items() if name.startswith("/batches/{seq} cold"))
    warm = next(cells for name, cells in rows.items() if name.startswith("/batches/{seq} warm"))
    assert cold[1:3] == ["3", "200"]
    assert warm[1:3] == ["3", "200"]
    text = proc.stdout
    assert "| start to first snapshot (/health 200) |" in text
    assert "(3 batches, 3 reports) |" in text  # the cold snapshot read
    assert "| service memory after the requests | RSS " in text

    again = subprocess.run([sys.executable, script, "--store", str(store), "--batches", "3",
                            "--populate-only"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "| store reused | 3 batches already monitored: nothing added |" in again.stdout
