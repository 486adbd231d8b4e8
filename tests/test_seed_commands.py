"""The seed's own commands, word for word, and what their positional argument means.

The seed passes the pipeline (training) experiment's id to ``monitor_performance.py`` and
``run_monitoring.py``; it selects the experiment family, and monitoring runs still go to
``<prefix>-Monitoring`` (:mod:`pipelines.workflows.family`).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipelines
from pipelines import monitor_performance, run_monitoring
from pipelines.cli import run_cli
from pipelines.store import connect
from pipelines.store.contract import TAG_SEQUENCE
from tests.conftest import FAST_TRAINING, PASSTHROUGH_ENV

#: The project files the seed's commands use: the package source (of the code under test)
#: and the repository's run_all.py and monitoring.toml.
SRC = Path(pipelines.__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parents[1]

SEED_COMMANDS = """\
python run_all.py
EXP_ID=$(python -c "import mlflow; print(mlflow.get_experiment_by_name('ChurnPrediction-Pipeline').experiment_id)")
python src/pipelines/monitor_performance.py $EXP_ID
python src/pipelines/run_monitoring.py $EXP_ID
"""  # noqa: E501 (word for word)


def _seed_env() -> dict[str, str]:
    """The user's shell: no MLFLOW_* variables, `python` is this interpreter; the only
    CHURNMON_* ones make the baseline and the retrainings smaller (the tests' training sizes:
    the commands stay word for word, they take half the time)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "CHURNMON_"))}
    env.update({"CHURNMON_" + key.upper().replace(".", "__"): str(value)
                for key, value in FAST_TRAINING.items()})
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(PASSTHROUGH_ENV)
    return env


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_seed_sequence_word_for_word(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "src").symlink_to(SRC, target_is_directory=True)
    for name in ("run_all.py", "monitoring.toml"):
        shutil.copy(ROOT / name, project / name)
    proc = subprocess.run(["bash", "-c", "set -e\n" + SEED_COMMANDS], cwd=project,
                          env=_seed_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "unrecognized arguments" not in proc.stderr

    # MLflow's default store in the working directory: ./mlflow.db
    client = connect(_tracking(project)).client
    pipeline = client.get_experiment_by_name("ChurnPrediction-Pipeline")
    monitoring = client.get_experiment_by_name("ChurnPrediction-Monitoring")
    in_pipeline = client.search_runs([pipeline.experiment_id])
    assert [r for r in in_pipeline if TAG_SEQUENCE in r.data.tags] == []
    assert [r.info.run_name for r in in_pipeline] == ["baseline-training"]
    sequence = sorted(int(r.data.tags[TAG_SEQUENCE])
                      for r in client.search_runs([monitoring.experiment_id]))
    assert sequence == list(range(1, 9))  # run_all's six batches, then one per command
    names = {r.info.run_name.split()[0] for r in client.search_runs([monitoring.experiment_id])}
    assert {"b0007", "b0008"} <= names


def _tracking(folder: Path):  # noqa: ANN202
    from pipelines.config import load_settings

    return load_settings(env={}, overrides={"tracking.uri": f"sqlite:///{folder}/mlflow.db"}
                         ).tracking


# --------------------------------------------------------------------------- the positional


def _common(settings) -> list[str]:  # noqa: ANN001
    return ["--tracking-uri", settings.tracking.uri,
            "--set", f"paths.output_dir={settings.paths.output_dir}",
            "--set", f"paths.inbox_dir={settings.paths.inbox_dir}"]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("main", [monitor_performance.main, run_monitoring.main])
@pytest.mark.parametrize(("experiment", "words"), [
    ("4242", "No experiment with id 4242"),
    ("ChurnPrediction-Pipelin", "No experiment named 'ChurnPrediction-Pipelin'"),
])
def test_an_unknown_experiment_is_one_line_and_exit_2(settings, caplog, main, experiment,
                                                      words) -> None:
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(main, [experiment, "--rows", "600", *_common(settings)])
    assert code == 2
    (line,) = _errors(caplog)
    assert words in line
    assert "\n" not in line


def test_an_experiment_outside_any_family_is_refused(settings, caplog) -> None:
    store = connect(settings.tracking)
    store.experiment_id("Churn experiments")  # exists, but is no <prefix>-<member>
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(monitor_performance.main,
                       ["Churn experiments", "--rows", "600", *_common(settings)])
    assert code == 2
    (line,) = _errors(caplog)
    assert "is not one of a family '<prefix>-Pipeline', '<prefix>-Monitoring'" in line


def test_a_positional_contradicting_the_prefix_option_is_refused(settings, caplog) -> None:
    store = connect(settings.tracking)
    exp_id = store.experiment_id("Other-Pipeline")
    with caplog.at_level(logging.ERROR, logger="pipelines"):
        code = run_cli(monitor_performance.main,
                       [exp_id, "--experiment-prefix", "ChurnPrediction", *_common(settings)])
    assert code == 2
    assert "belongs to the family 'Other', but --experiment-prefix says" in _errors(caplog)[0]


def _sequences(store, name: str) -> list[int]:  # noqa: ANN001
    exp = store.client.get_experiment_by_name(name)
    if exp is None:
        return []
    return sorted(int(r.data.tags[TAG_SEQUENCE]) for r in store.client.search_runs(
        [exp.experiment_id]) if TAG_SEQUENCE in r.data.tags)


@pytest.mark.slow
def test_the_pipeline_experiment_id_selects_its_family(trained_store) -> None:
    """The seed's call: monitoring runs go to <prefix>-Monitoring, none into the pipeline
    experiment; a member of another family selects that family (its prefix derived)."""
    settings, _ = trained_store
    store = connect(settings.tracking)
    pipeline_id = store.experiment_id("ChurnPrediction-Pipeline", create=False)
    assert pipeline_id is not None
    assert monitor_performance.main([pipeline_id, "--rows", "600", *_common(settings)]) == 0
    assert _sequences(store, "ChurnPrediction-Pipeline") == []
    assert _sequences(store, "ChurnPrediction-Monitoring") == [1]
    # naming the monitoring experiment itself (by name) is the same family
    assert monitor_performance.main(["ChurnPrediction-Monitoring", "--rows", "600",
                                     *_common(settings)]) == 0
    assert _sequences(store, "ChurnPrediction-Monitoring") == [1, 2]
    # another family's pipeline experiment: its own monitoring experiment, its own sequence
    other = store.experiment_id("Other-Pipeline")
    assert monitor_performance.main([other, "--rows", "600", *_common(settings)]) == 0
    assert _sequences(store, "Other-Monitoring") == [1]
    assert _sequences(store, "Other-Pipeline") == []
    assert _sequences(store, "ChurnPrediction-Monitoring") == [1, 2]


@pytest.mark.parametrize(("name", "prefix"), [
    ("ChurnPrediction-Pipeline", "ChurnPrediction"),
    ("ChurnPrediction-Monitoring", "ChurnPrediction"),
    ("A-B-Retraining", "A-B"),
    ("x-Audit", "x"),
    ("-Pipeline", None),
    ("ChurnPrediction", None),
    ("Default", None),
])
def test_family_prefix(name: str, prefix: str | None) -> None:
    from pipelines.workflows.family import family_prefix

    assert family_prefix(name) == prefix


def test_member_suffixes_are_the_settings_own() -> None:
    from pipelines.workflows.family import member_suffixes

    assert member_suffixes() == ("-Pipeline", "-Monitoring", "-Retraining", "-Audit")
