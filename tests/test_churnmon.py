"""``churnmon``: one command with subcommands, each the step's own entry point; parsers built
from argparse alone (``--help`` imports nothing heavy); names validated up front."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipelines import churnmon
from pipelines.cli import run_cli
from pipelines.config import load_settings
from pipelines.errors import ConfigError
from pipelines.store import connect
from tests.conftest import PASSTHROUGH_ENV
from tests.test_architecture import ENTRY_POINTS

ROOT = Path(__file__).resolve().parents[1]
#: Modules a parser must not need: each costs from 0.1 to over a second to import.
HEAVY = ("mlflow", "pandas", "numpy", "scipy", "sklearn", "xgboost", "matplotlib", "pyspark",
         "pydantic", "pyarrow", "skops", "requests")


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **PASSTHROUGH_ENV}


def test_every_entry_point_is_a_subcommand() -> None:
    assert {module for module, _ in churnmon.COMMANDS.values()} == ENTRY_POINTS
    assert list(churnmon.COMMANDS) == [
        "monitor", "run", "retrain", "rollback", "approve", "reject", "history",
        "register-reference", "register-labels", "simulate", "train", "serve", "migrate-store"]


def test_pyproject_declares_the_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["churnmon"] == "pipelines.churnmon:run"
    assert scripts["churn-monitor"] == "pipelines.monitor_performance:run"  # kept, exits as all


@pytest.mark.parametrize("command", list(churnmon.COMMANDS))
def test_each_subcommand_has_its_help_with_the_shared_options(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="^0$"):
        churnmon.main([command, "--help"])
    out = capsys.readouterr().out
    assert out.startswith(f"usage: churnmon {command} ")
    for option in ("--config", "--set", "--tracking-uri", "--experiment-prefix",
                   "--model-name", "--verbose"):
        assert option in out, option


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="^2$"):
        churnmon.main(["monitr"])
    assert "invalid choice: 'monitr'" in capsys.readouterr().err


def test_shared_options_before_the_subcommand_go_first() -> None:
    args = churnmon.build_parser().parse_args(
        ["--tracking-uri", "sqlite:///a.db", "--set", "a.b=1", "-v", "history", "--limit", "3",
         "--set", "a.b=2"])
    assert args.command == "history"
    assert args.args == ["--limit", "3", "--set", "a.b=2"]
    assert churnmon._shared(args) == ["--tracking-uri", "sqlite:///a.db", "--set", "a.b=1", "-v"]


def test_shared_options_reach_the_step(settings, capsys: pytest.CaptureFixture[str]) -> None:
    code = churnmon.main(["--tracking-uri", settings.tracking.uri, "--model-name", "other-model",
                          "history"])
    assert code == 0
    assert capsys.readouterr().out == "No alias moves recorded for other-model.\n"


@pytest.mark.slow
def test_churnmon_monitor_logs_a_verdict(trained_store) -> None:
    settings, _ = trained_store
    code = churnmon.main(["--tracking-uri", settings.tracking.uri,
                          "--set", f"paths.output_dir={settings.paths.output_dir}",
                          "monitor", "--rows", "600", "--batch-id", "via-churnmon"])
    assert code == 0
    client = connect(settings.tracking).client
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["batch_id"] == "via-churnmon"


def _commands() -> list[list[str]]:
    """``python -m pipelines``, and the console script when installed beside Python."""
    found = [[sys.executable, "-m", "pipelines"]]
    script = Path(sys.executable).parent / "churnmon"
    if script.is_file():
        found.append([str(script)])
    return found


@pytest.mark.subprocess
@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_the_command_from_the_shell(command: list[str], tmp_path: Path) -> None:
    listing = subprocess.run([*command, "--help"], env=_env(), capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("usage: churnmon ")
    for name in churnmon.COMMANDS:
        assert f"\n  {name} " in listing.stdout, name
    # a step's exit codes come through: bad configuration is one line and exit 2
    bad = subprocess.run([*command, "history", "--model-name", "churn'model"], env=_env(),
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2
    assert "registered_model_name" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store was opened


@pytest.mark.subprocess
def test_parsers_import_nothing_heavy() -> None:
    """Every entry point's parser, and churnmon's, is built (and --help printed) without
    importing MLflow, pandas, scipy, ... (they cost seconds before anything happens)."""
    modules = sorted(ENTRY_POINTS | {"pipelines.churnmon"})
    code = f"""
import contextlib, importlib, io, json, sys
for name in {modules!r}:
    module = importlib.import_module(name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        module.main(["--help"])
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))
print(json.dumps(heavy))
"""
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_every_listed_scenario_is_one_the_generator_makes() -> None:
    from pipelines.choices import SCENARIOS
    from pipelines.data.generator import generate_batch

    for scenario in SCENARIOS:
        assert len(generate_batch(scenario, 50, 0)) == 50


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(("key", "value"), [
    ("tracking.registered_model_name", "churn'model"),
    ("tracking.registered_model_name", 'churn"model'),
    ("tracking.registered_model_name", "team/churn"),
    ("tracking.registered_model_name", "churn:v2"),
    ("tracking.registered_model_name", "churn\\model"),
    ("tracking.registered_model_name", ".."),
    ("tracking.registered_model_name", " "),
    ("tracking.experiment_prefix", "Churn'Prediction"),
    ("tracking.experiment_prefix", "x" * 490),
    ("tracking.champion_alias", "champion model"),
    ("tracking.previous_alias", "latest"),
    ("promotion.challenger_alias", "v3"),
])
def test_names_mlflow_or_a_search_would_refuse_are_refused_up_front(key: str,
                                                                    value: str) -> None:
    with pytest.raises(ConfigError, match=f"The '{key}' parameter of Settings must be"):
        load_settings(env={}, overrides={key: value})


@pytest.mark.parametrize(("key", "value"), [
    ("tracking.registered_model_name", "churn model v2"),
    ("tracking.registered_model_name", "churn_model.prod"),
    ("tracking.experiment_prefix", "Team A/Churn"),
    ("tracking.experiment_prefix", "x" * 489),
    ("tracking.champion_alias", "prod_2"),
])
def test_names_mlflow_accepts_are_accepted(key: str, value: str) -> None:
    settings = load_settings(env={}, overrides={key: value})
    section, name = key.split(".")
    assert getattr(getattr(settings, section), name) == value


def test_a_bad_model_name_on_the_command_line_is_one_error_and_exit_2(
        settings, caplog: pytest.LogCaptureFixture) -> None:
    from pipelines import run_monitoring

    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(run_monitoring.main, ["--tracking-uri", settings.tracking.uri,
                                             "--model-name", "churn'model"])
    assert code == 2
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "\n" not in record.getMessage()  # one line
    assert "tracking.registered_model_name" in record.getMessage()
    assert "Got \"churn'model\" instead (from command line)" in record.getMessage()
