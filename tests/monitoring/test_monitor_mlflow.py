"""Monitoring runs in MLflow: metrics, tags, inputs, artifacts; bad batches refused cleanly."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipelines.data.batch import Batch
from pipelines.data.generator import TARGET, generate_batch
from pipelines.errors import DataError, SchemaError
from pipelines.monitoring.timing import phase_slug
from pipelines.store import connect
from pipelines.workflows.monitor import Monitor, monitor_batch
from tests.conftest import PASSTHROUGH_ENV, make_settings, mlflow_server

pytestmark = pytest.mark.slow

REQUIRED_METRICS = {"roc_auc", "accuracy", "precision", "recall", "f1", "drift_share",
                    "n_drifted_features", "prediction_drift_pvalue", "target_drift_pvalue"}


def _check_run(client: MlflowClient, run_id: str, drifted: set[str]) -> None:
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    m = run.data.metrics
    assert REQUIRED_METRICS <= set(m)
    # per-feature evidence is in drift_table.json, not charts; the reference's values are
    # reference_<metric>; the chart view's first section repeats the headline numbers
    sections = {k.split("/")[0] for k in m if "/" in k}  # issue 24: impact/, consecutive/
    assert {"health", "ops"} <= sections <= {"health", "ops", "impact", "consecutive"}
    assert m["health/roc_auc"] == m["roc_auc"]
    assert m["health/status_level"] == m["status_level"]
    assert "reference_roc_auc" in m
    assert m["n_drifted_features"] == len(drifted)
    tags = run.data.tags
    status = tags["monitoring.status"]
    sequence = int(tags["monitoring.sequence"])
    # the run list reads as verdicts: sequence, status, ROC-AUC, cause
    word = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}[status]
    assert run.info.run_name == f"b{sequence:04d} {word} {m['roc_auc']:.2f} drift"
    note = tags["mlflow.note.content"]
    assert note.startswith(f"### {status.upper()}")
    assert "**Drifted features**" in note
    assert "|" not in note  # lists, no tables: MLflow's run page runs table cells together
    assert all(f"- `{f}`: " in note for f in drifted)
    assert tags["monitoring.status"] in ("ok", "warning", "critical")
    assert tags["retraining_recommended"] in ("true", "false")
    assert tags["batch_id"] == "shifted-batch"
    assert tags["champion_version"] == "1"
    contexts = [t.value for d in run.inputs.dataset_inputs for t in d.tags
                if t.key == "mlflow.data.context"]
    assert contexts == ["production"]
    arts = {a.path for a in client.list_artifacts(run_id)}
    plots = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert {"monitoring_report.json", "report.html", "drift_table.json",
            "quality_table.json"} <= arts
    table = json.loads(Path(client.download_artifacts(run_id, "drift_table.json")).read_text())
    rows = [dict(zip(table["columns"], r, strict=True)) for r in table["data"]]
    assert {r["feature"] for r in rows[:len(drifted)]} == drifted  # drifted first ...
    impacts = [abs(r["impact"]) for r in rows[:len(drifted)]]
    assert impacts == sorted(impacts, reverse=True)  # ... largest impact on the score first
    assert {r["verdict"] for r in rows[:len(drifted)]} == {"drifted"}
    assert "batch" in arts
    assert {"plots/score_distribution.png", "plots/performance_over_time.png"} <= plots
    assert {f"plots/drift_{f}.png" for f in drifted} <= plots
    history = client.get_metric_history(run_id, "roc_auc")
    assert len(history) == 1
    assert history[0].step >= 1


def _monitor_shifted(settings) -> tuple:
    frame = generate_batch("covariate_shift", 4000, seed=21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return monitor_batch(settings, frame, batch_id="shifted-batch", source="test")


def test_monitoring_run_contents_on_sqlite(trained_store) -> None:
    settings, _ = trained_store
    outcome = _monitor_shifted(settings)
    client = connect(settings.tracking).client
    _check_run(client, outcome.run_id, set(outcome.report.drifted_features))
    assert set(outcome.report.drifted_features) == {"monthly_charges", "support_calls", "contract"}
    local = json.loads(outcome.report_path.read_text())
    page = outcome.report_path.with_suffix(".html").read_text()  # beside the JSON
    assert page.startswith("<!DOCTYPE html>")
    word = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}[outcome.report.status]
    assert f"<title>b0001 {word} " in page
    assert outcome.report_path.name.startswith("monitoring_report_")
    assert outcome.report_path.parent == Path(settings.paths.output_dir)
    assert local["batch_id"] == "shifted-batch"
    assert local["drift"]["n_drifted_features"] == 3
    # every figure the page shows is one the run logged (byte for byte), and every logged
    # figure is on the page
    logged = {Path(client.download_artifacts(outcome.run_id, a.path)).read_bytes()
              for a in client.list_artifacts(outcome.run_id, "plots")}
    shown = {base64.b64decode(data) for data in
             re.findall(r'src="data:image/png;base64,([^"]+)"', page)}
    assert shown
    assert shown == logged
    rows = Monitor(settings).reference.profile.n_rows
    assert (f'<p class="reference">Reference: {rows:,} rows, the validation and test rows of '
            "the baseline training run") in page
    exp = client.get_experiment(outcome.experiment_id)
    assert exp.name == "ChurnPrediction-Monitoring"


def test_sequence_grows_across_batches(trained_store) -> None:
    settings, _ = trained_store
    client = connect(settings.tracking).client
    a = monitor_batch(settings, generate_batch("no_drift", 1000, seed=31), batch_id="a")
    b = monitor_batch(settings, generate_batch("no_drift", 1000, seed=32), batch_id="b")
    seq_a = int(client.get_run(a.run_id).data.tags["monitoring.sequence"])
    seq_b = int(client.get_run(b.run_id).data.tags["monitoring.sequence"])
    assert seq_b == seq_a + 1


def test_unlabelled_batch_file(trained_store, tmp_path: Path) -> None:
    settings, _ = trained_store
    path = tmp_path / "unlabelled.parquet"
    generate_batch("no_drift", 1500, seed=41).drop(columns=[TARGET]).to_parquet(path)
    outcome = monitor_batch(settings, path)
    run = connect(settings.tracking).client.get_run(outcome.run_id)
    assert "roc_auc" not in run.data.metrics
    assert "drift_share" in run.data.metrics
    assert run.data.tags["has_labels"] == "false"
    assert run.data.tags["batch_id"] == "unlabelled"


def _runs(settings) -> list:
    client = connect(settings.tracking).client
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id])


@pytest.mark.parametrize(
    ("write", "error", "match"),
    [
        (lambda p: generate_batch("no_drift", 200, 1).drop(columns=["tenure_months", "contract"])
         .to_csv(p, index=False), SchemaError,
         r"required column\(s\) missing: tenure_months, contract"),
        (lambda p: p.write_bytes(b"\x00\x01garbage,\n\"unterminated"), DataError,
         r"could not be read as CSV|required column"),
        (lambda p: p.write_text(""), DataError, r"is empty"),
        (lambda p: generate_batch("no_drift", 200, 1).assign(monthly_charges="cheap")
         .to_csv(p, index=False), SchemaError,
         r"numeric feature\(s\) hold non-numeric values: monthly_charges"),
        (lambda p: generate_batch("no_drift", 200, 1).assign(churn=7).to_csv(p, index=False),
         DataError, r"target 'churn' must be 0/1"),
    ],
)
def test_bad_batches_are_refused_before_any_run(trained_store, tmp_path: Path, write, error,
                                                 match: str) -> None:
    settings, _ = trained_store
    before = {r.info.run_id for r in _runs(settings)}
    client = connect(settings.tracking).client
    versions = len(client.search_model_versions("name='churn-model'"))
    path = tmp_path / "bad.csv"
    write(path)
    with pytest.raises(error, match=match):
        monitor_batch(settings, path)
    assert {r.info.run_id for r in _runs(settings)} == before
    assert len(client.search_model_versions("name='churn-model'")) == versions


def test_empty_frame_is_refused(trained_store) -> None:
    settings, _ = trained_store
    empty = generate_batch("no_drift", 10, 1).iloc[0:0]
    with pytest.raises(DataError, match="no rows"):
        Monitor(settings).evaluate(Batch(empty, "e", "frame"))


@pytest.mark.subprocess
def test_seed_style_script_on_simulated_batch(trained_store) -> None:
    settings, _ = trained_store
    script = Path(__file__).resolve().parents[2] / "src" / "pipelines" / "monitor_performance.py"
    env = {"PATH": "/usr/bin:/bin", "CHURNMON_TRACKING__URI": settings.tracking.uri,
           "CHURNMON_PATHS__OUTPUT_DIR": settings.paths.output_dir, "HOME": str(Path.home()),
           **PASSTHROUGH_ENV}
    # the positional is the pipeline experiment (here another family's), as the seed passes it
    pipeline_id = connect(settings.tracking).experiment_id("Seed-Style-Pipeline")
    proc = subprocess.run([sys.executable, str(script), pipeline_id, "--rows", "800",
                           "--scenario", "covariate_shift"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = connect(settings.tracking).client
    assert client.search_runs([pipeline_id]) == []
    exp = client.get_experiment_by_name("Seed-Style-Monitoring")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    assert runs[0].data.tags["monitoring.status"] in ("warning", "critical")


@pytest.mark.server
@pytest.mark.subprocess
def test_same_run_against_a_real_mlflow_server(tmp_path: Path) -> None:
    with mlflow_server(tmp_path / "server") as uri:
        settings = make_settings(tmp_path, **{"tracking.uri": uri})
        connect(settings.tracking)
        # every later call to the server is bounded: an outage ends a cycle, it does not hang
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "10"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
        from pipelines.workflows.baseline import train_baseline

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train_baseline(settings)
        outcome = _monitor_shifted(settings)
        _check_run(connect(settings.tracking).client, outcome.run_id,
                   set(outcome.report.drifted_features))


def test_the_verdict_reaches_every_notifier(trained_store) -> None:
    from pipelines.workflows.monitor import Monitor

    settings, _ = trained_store
    received = []

    class Collector:
        def notify(self, notification) -> None:
            received.append(notification)

    frame = generate_batch("concept_drift", 3000, seed=51)
    outcome = Monitor(settings, notifiers=[Collector()]).run(Batch(frame, "b51", "test"))
    (note,) = received
    assert note.severity == "critical"
    assert note.subject == "batch b51: critical (retraining recommended)"
    assert {text.split(":")[0] for _, text in note.findings} == {
        a.rule for a in outcome.report.alerts}
    assert note.links["run"] == outcome.run_id


def test_a_changed_decision_threshold_refits_the_baseline(trained_store,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    from pipelines.config import with_overrides
    from pipelines.workflows.monitor import Monitor

    settings, _ = trained_store
    frame = generate_batch("no_drift", 2000, seed=52)
    at_half = Monitor(settings).evaluate(Batch(frame, "t", "test"))[0]
    strict = with_overrides(settings, {"training.decision_threshold": 0.8})
    at_strict = Monitor(strict).evaluate(Batch(frame, "t", "test"))[0]
    assert "refitting the baseline" in caplog.text
    assert at_strict.baseline["roc_auc"] == pytest.approx(at_half.baseline["roc_auc"])
    assert at_strict.baseline["recall"] < at_half.baseline["recall"]  # fewer predicted churners


def test_cli_batch_id_names_a_simulated_batch(trained_store) -> None:
    from pipelines.monitor_performance import main

    settings, _ = trained_store
    code = main(["--rows", "800", "--scenario", "no_drift", "--batch-id", "my-batch",
                 "--tracking-uri", settings.tracking.uri,
                 "--set", f"paths.output_dir={settings.paths.output_dir}"])
    assert code == 0
    client = connect(settings.tracking).client
    exp = client.get_experiment_by_name(settings.tracking.monitoring_experiment)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["batch_id"] == "my-batch"


def test_the_reference_sentence_is_best_effort(trained_store, monkeypatch) -> None:
    """The report's sentence about the reference never fails a cycle: a registry that cannot
    be read leaves the reference's size alone."""
    settings, _ = trained_store
    monitor = Monitor(settings)

    def unreadable(*_args: object) -> None:
        raise RuntimeError("registry unreachable")

    monkeypatch.setattr(monitor.store.client, "get_model_version", unreadable)
    rows = monitor.reference.profile.n_rows
    assert monitor.reference_story == f"Reference: {rows:,} rows, registered with v1."


def test_a_monitoring_run_logs_its_operational_metrics(trained_store) -> None:
    """ops/: every phase's seconds (the ones after the run closed too), the total, rows per
    second, the champion's scoring time per 1,000 rows and the batch's freshness."""
    settings, _ = trained_store
    outcome = _monitor_shifted(settings)
    metrics = connect(settings.tracking).client.get_run(outcome.run_id).data.metrics
    ops = {k: v for k, v in metrics.items() if k.startswith("ops/")}
    phases = {"convert", "scoring", "drift", "prediction_drift", "quality", "performance",
              "alerts", "mlflow_run", "artifacts", "plots", "batch_storage", "report_files",
              "registry", "notify", "impact", "consecutive_drift"}  # the last two: issue 24
    assert {f"ops/{p}_seconds" for p in phases} | {
        "ops/total_seconds", "ops/rows_per_second", "ops/scoring_ms_per_1000_rows",
        "ops/batch_freshness_seconds"} == set(ops)
    assert all(v >= 0 for v in ops.values())
    for phase, seconds in outcome.timings.items():  # the outcome's timings, as logged
        assert ops[f"ops/{phase_slug(phase)}_seconds"] == pytest.approx(seconds)
    total = ops["ops/total_seconds"]
    assert sum(outcome.timings.values()) <= total + 1e-6  # the phases happen in turn
    assert ops["ops/rows_per_second"] == pytest.approx(4000 / total)
    assert ops["ops/scoring_ms_per_1000_rows"] == pytest.approx(
        outcome.timings["scoring"] * 1e6 / 4000)
    newest = pd.Timestamp(generate_batch("covariate_shift", 4000, seed=21)[
        "event_timestamp"].max())
    age = pd.Timestamp.now(tz="UTC") - (newest.tz_localize("UTC") if newest.tzinfo is None
                                       else newest)
    assert ops["ops/batch_freshness_seconds"] == pytest.approx(age.total_seconds(), abs=120)
    # the headline metrics keep their own section and values
    assert {k.split("/")[0] for k in metrics if "/" in k} - {"impact", "consecutive"} == {
        "health", "ops"}  # issue 24 adds impact/<feature> (and consecutive/ from the 2nd batch)


def test_the_metrics_after_the_run_closed_are_best_effort(trained_store, monkeypatch,
                                                          caplog) -> None:
    """A store that refuses the late ops/ write costs a warning, never the verdict: the run
    is FINISHED with the ops/ metrics logged while it was open."""
    settings, _ = trained_store
    monitor = Monitor(settings)

    def refused(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("store went away")

    monkeypatch.setattr(monitor.store, "log_metrics_to", refused)
    frame = generate_batch("no_drift", 2000, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = monitor.run(Batch(frame, "late-ops", "test"))
    run = connect(settings.tracking).client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    ops = {k for k in run.data.metrics if k.startswith("ops/")}
    assert {"ops/convert_seconds", "ops/mlflow_run_seconds", "ops/report_files_seconds",
            "ops/scoring_ms_per_1000_rows", "ops/batch_freshness_seconds"} <= ops
    assert not ops & {"ops/registry_seconds", "ops/notify_seconds", "ops/total_seconds"}
    assert "could not be logged: store went away" in caplog.text
