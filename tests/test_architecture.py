"""The package's seams, checked on the import graph (static: every module parsed, none run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "pipelines"
#: Thin entry points: argument parsing and one workflow call each (names kept for MLproject).
ENTRY_POINTS = {"pipelines.monitor_performance", "pipelines.run_monitoring",
                "pipelines.trigger_retraining", "pipelines.train_baseline",
                "pipelines.rollback", "pipelines.simulate", "pipelines.approve",
                "pipelines.reject", "pipelines.history", "pipelines.register_labels",
                "pipelines.register_reference", "pipelines.serve",
                "pipelines.migrate_store"}
#: Packages of pure computation and local files: they know nothing of MLflow or workflows.
PURE = ("pipelines.stats", "pipelines.monitoring", "pipelines.retraining", "pipelines.data",
        "pipelines.notify", "pipelines.constraints", "pipelines.config", "pipelines.errors")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` gives a and a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_the_graph_covers_the_package() -> None:
    assert {"pipelines.store.client", "pipelines.workflows.monitor",
            "pipelines.stats.methods"} <= set(GRAPH)
    assert ENTRY_POINTS <= set(GRAPH)


def test_mlflow_is_imported_only_under_store() -> None:
    importers = {m for m, imported in GRAPH.items()
                 if any(i == "mlflow" or i.startswith("mlflow.") for i in imported)}
    assert importers, "the store must import mlflow"
    assert {m for m in importers if not m.startswith("pipelines.store")} == set()


def test_no_entry_point_is_imported_by_another_module() -> None:
    run_all = Path(__file__).resolve().parents[1] / "run_all.py"
    graph = {**GRAPH, "run_all": _imports(run_all)}
    offenders = {(m, i) for m, imported in graph.items() for i in imported
                 if i in ENTRY_POINTS and m != i}
    assert offenders == set()


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_do_not_reach_the_store_or_the_workflows(package: str) -> None:
    members = {m: imported for m, imported in GRAPH.items()
               if m == package or m.startswith(package + ".")}
    assert members
    reached = {(m, i) for m, imported in members.items() for i in imported
               if i.startswith(("pipelines.store", "pipelines.workflows", "mlflow"))}
    assert reached == set()


def test_a_forbidden_import_would_be_seen(tmp_path: Path) -> None:
    """The parser sees imports inside functions too (where a lazy import would hide)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from mlflow.tracking import MlflowClient\n    import mlflow\n")
    assert {"mlflow", "mlflow.tracking", "mlflow.tracking.MlflowClient"} <= _imports(module)
