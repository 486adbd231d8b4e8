"""Which settings were given explicitly (what a model family's remembered values must not
replace) survives derived copies; a configuration file's default values pin nothing."""

from __future__ import annotations

from pathlib import Path

from pipelines.config import Settings, explicit_keys, load_settings, with_overrides


def test_explicit_keys_come_from_environment_command_line_and_file(tmp_path: Path) -> None:
    config = tmp_path / "monitoring.toml"
    config.write_text('[data]\ntarget = "churn"\nid_column = "account"\n'
                      '[tracking]\nregistered_model_name = "churn-model"\n')
    settings = load_settings(config, {"tracking.experiment_prefix": "X"},
                             env={"CHURNMON_DATA__PREDICTION_COLUMN": "p"})
    # the file's target and model name are the built-in defaults: not pinned
    assert explicit_keys(settings) == {"data.id_column", "data.prediction_column",
                                       "tracking.experiment_prefix"}
    assert settings.data.target == "churn"
    derived = with_overrides(settings, {"data.target": "churned"})
    assert explicit_keys(derived) == explicit_keys(settings) | {"data.target"}
    assert derived.data.id_column == "account"
    assert explicit_keys(Settings()) == set()
