from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.config import ConfigError, Settings, load_settings, parse_set_options, with_overrides
from pipelines.errors import MonitoringError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_documented_thresholds() -> None:
    s = load_settings(env={})
    assert s.monitoring.roc_auc_floor == 0.75
    assert s.monitoring.drift_p_value == 0.05
    assert s.monitoring.drift_share == 0.30
    assert s.retraining.cooldown_days == 7.0
    assert s.retraining.promotion_margin == 0.01
    assert s.retraining.margin_mode == "absolute"
    assert s.tracking.uri == "sqlite:///mlflow.db"
    assert s.tracking.pipeline_experiment == "ChurnPrediction-Pipeline"
    assert s.tracking.monitoring_experiment == "ChurnPrediction-Monitoring"
    assert s.tracking.registered_model_name == "churn-model"


def test_shipped_file_documents_exactly_the_defaults() -> None:
    assert load_settings(REPO / "monitoring.toml", env={}) == Settings()
    import tomllib

    shipped = tomllib.loads((REPO / "monitoring.toml").read_text())
    for section, values in Settings().model_dump().items():
        listed = {k for k, v in values.items() if v is not None}  # None cannot be written in TOML
        assert listed <= set(shipped[section]), (section, listed - set(shipped[section]))


def test_precedence_file_then_env_then_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text("[monitoring]\ndrift_p_value = 0.01\nroc_auc_floor = 0.7\n"
                   "[retraining]\nmargin_mode = 'relative'\n")
    env = {"CHURNMON_MONITORING__ROC_AUC_FLOOR": "0.8", "MLFLOW_TRACKING_URI": "http://x:5000"}
    s = load_settings(cfg, env=env, overrides={"monitoring.roc_auc_floor": 0.9})
    assert s.monitoring.drift_p_value == 0.01          # file
    assert s.retraining.margin_mode == "relative"      # file
    assert s.tracking.uri == "http://x:5000"           # environment
    assert s.monitoring.roc_auc_floor == 0.9           # command line wins


def test_env_lists_and_config_env_var(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[data]\ntarget = 'y'\n")
    env = {"CHURNMON_CONFIG": str(cfg), "CHURNMON_DATA__NUMERIC_FEATURES": '["a", "b"]'}
    s = load_settings(env=env)
    assert s.data.target == "y"
    assert s.data.numeric_features == ("a", "b")


@pytest.mark.parametrize(
    ("overrides", "env", "match"),
    [
        ({"monitoring.drift_p_value": 1.5}, {},
         r"The 'monitoring\.drift_p_value' parameter of Settings must be a float in the range "
         r"\(0, 1\)\. Got 1\.5 instead \(from command line\)\."),
        ({}, {"CHURNMON_MONITORING__DRIFT_SHARE": "-1"},
         r"'monitoring\.drift_share' parameter of Settings must be a float in the range \(0, 1\]\. "
         r"Got '-1' instead \(from environment CHURNMON_MONITORING__DRIFT_SHARE\)"),
        ({"retraining.margin_mode": "percent"}, {},
         r"'retraining\.margin_mode' parameter of Settings must be one of 'absolute', 'relative'\. "
         r"Got 'percent' instead"),
        ({"retraining.cooldown_days": "soon"}, {},
         r"'retraining\.cooldown_days' parameter .* must be a valid number.*Got 'soon'"),
        ({"monitoring.correction": "holm"}, {},
         r"'monitoring\.correction' .* must be one of 'none', 'bonferroni', 'bh'"),
        ({"monitoring.typo_key": 1}, {}, r"unknown key 'monitoring\.typo_key'.*allowed keys"),
        ({"nosection.key": 1}, {}, r"Unknown configuration key 'nosection\.key'"),
        ({"training.candidates": ["svm"]}, {},
         r"'training\.candidates' parameter .* Got 'svm' instead"),
        ({"training.candidates": []}, {}, r"must be a non-empty list of random_forest, xgboost"),
        ({"monitoring.numeric_statistics": "wasserstein"}, {}, r"numeric_statistics' parameter"),
        ({}, {"CHURNMON_BADFORMAT": "1"}, r"CHURNMON_BADFORMAT is not a configuration key"),
    ],
)
def test_bad_values_are_rejected_naming_key_value_and_rule(
    overrides: dict, env: dict, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(env=env, overrides=overrides)


def test_infinite_durations_mean_never_and_other_infinities_are_refused() -> None:
    s = load_settings(env={}, overrides={"retraining.cooldown_days": "inf",
                                         "retraining.lock_timeout_seconds": float("inf")})
    assert s.retraining.cooldown_days == float("inf")
    with pytest.raises(ConfigError, match=r"'monitoring\.min_psi' parameter .* Got inf"):
        load_settings(env={}, overrides={"monitoring.min_psi": float("inf")})
    with pytest.raises(ConfigError, match=r"'retraining\.cooldown_days' .* Got -inf"):
        load_settings(env={}, overrides={"retraining.cooldown_days": float("-inf")})


def test_config_error_is_a_value_error_and_monitoring_error() -> None:
    with pytest.raises(ValueError, match="drift_share"):
        load_settings(env={}, overrides={"monitoring.drift_share": 2})
    assert issubclass(ConfigError, MonitoringError)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitoring\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, env={})
    unknown = tmp_path / "u.toml"
    unknown.write_text("[alerts]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[alerts\]"):
        load_settings(unknown, env={})


def test_set_options_and_with_overrides() -> None:
    assert parse_set_options(["monitoring.drift_share=0.5"]) == {"monitoring.drift_share": "0.5"}
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_set_options(["oops"])
    s = with_overrides(Settings(), {"retraining.promotion_margin": 0.05})
    assert s.retraining.promotion_margin == 0.05
    with pytest.raises(ConfigError, match="promotion_margin"):
        with_overrides(Settings(), {"retraining.promotion_margin": -1})


@pytest.mark.parametrize(
    ("key", "replacement"),
    [("min_cramers_v", "monitoring.min_categorical_psi"),
     ("target_min_cramers_v", "monitoring.target_min_psi")],
)
def test_a_file_setting_a_removed_cramers_v_floor_is_told_what_replaces_it(
        tmp_path: Path, key: str, replacement: str) -> None:
    # issue 19: Cramér's V floors were replaced by size-independent PSI floors; a V floor has
    # no PSI equivalent, so an old file is refused with the key to set instead
    config = tmp_path / "old.toml"
    config.write_text(f"[monitoring]\n{key} = 0.1\n")
    with pytest.raises(ConfigError, match=rf"'monitoring\.{key}' \(from file .*old\.toml\) "
                                          rf"was removed: .*set '{re.escape(replacement)}'"):
        load_settings(config, env={})
    defaults = load_settings(env={}).monitoring
    assert (defaults.min_categorical_psi, defaults.target_min_psi) == (0.1, 0.01)
