"""The model-requirements check done at load time instead of MLflow's slower one."""

from __future__ import annotations

from importlib import metadata

from pipelines.store.models import requirement_mismatches


def test_requirements_this_environment_does_not_meet_are_named() -> None:
    sklearn = metadata.version("scikit-learn")
    found = requirement_mismatches([
        f"scikit-learn=={sklearn}",             # met
        "scikit-learn<0.1",                     # installed, wrong version
        "surely-not-installed-package==1.0",    # not installed
        "numpy; python_version < '3'",          # marker does not apply
        "-r other-requirements.txt",            # not a requirement: skipped, as MLflow does
        "mlflow",                               # no specifier: met when installed
    ])
    assert found == [
        f"scikit-learn (current: {sklearn}, required: scikit-learn<0.1)",
        "surely-not-installed-package (current: uninstalled, required: "
        "surely-not-installed-package==1.0)",
    ]


def test_a_champion_logged_with_unmet_requirements_is_loaded_with_a_warning(
        trained_store, caplog) -> None:
    from pathlib import Path

    import mlflow

    from pipelines.store import connect, load_champion

    settings, _ = trained_store
    store = connect(settings.tracking)
    store.use()
    path = Path(mlflow.artifacts.download_artifacts(
        f"models:/{settings.tracking.registered_model_name}/1/requirements.txt"))
    # on a local artifact store that is the logged model's own file: make it ask for another
    # scikit-learn
    assert path.is_relative_to(Path.cwd())
    path.write_text(path.read_text().rstrip("\n") + "\nscikit-learn<0.1\n")
    with caplog.at_level("WARNING", logger="pipelines.store.models"):
        champion = load_champion(store)
    assert champion.version == "1"
    assert any("scikit-learn<0.1" in r.getMessage() for r in caplog.records)
