"""Drift that matters (issue 24) end to end: three batches through the real monitor on the
trained store: the report and the alerts in impact order, the ``impact/`` and
``consecutive/`` metrics, the feature counts each run keeps, the chunked engine saying it
has no impact ranking but comparing with the previous batch from its counts."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from pipelines.data.generator import generate_batch
from pipelines.monitoring.report import report_metrics
from pipelines.store import connect
from pipelines.workflows.engines import monitor_counted
from pipelines.workflows.monitor import monitor_batch
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def test_impact_order_metrics_and_consecutive_drift_through_the_monitor(
        trained_store, tmp_path: Path) -> None:
    _, _ = trained_store  # its store, with the champion's permutation importance on batches
    settings = make_settings(tmp_path / "store", **{"monitoring.importance_on_batch": True})
    client = connect(settings.tracking).client
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = monitor_batch(settings, generate_batch("no_drift", 4000, seed=61),
                              batch_id="calm", source="test")
        second = monitor_batch(settings, generate_batch("covariate_shift", 4000, seed=62),
                               batch_id="shifted", source="test")
    # the first batch: nothing to compare with, its counts kept for the next
    assert first.report.consecutive is not None
    assert not first.report.consecutive.computed
    assert "first monitored batch" in first.report.consecutive.note
    assert {a.path for a in client.list_artifacts(first.run_id, "consecutive")} == {
        "consecutive/feature_counts.json"}

    report = second.report
    drifted = set(report.drifted_features)
    assert drifted == {"monthly_charges", "support_calls", "contract"}
    ranking = report.impact
    assert ranking is not None
    assert ranking.computed
    assert ranking.rows_scored == 4000
    order = [f.feature for f in ranking.features]
    assert set(order) == drifted
    shifts = [abs(f.shift) for f in ranking.features]
    assert shifts == sorted(shifts, reverse=True)
    assert shifts[0] > 0.005
    # the alerts follow the ranking, each saying what the drift does to the score
    feature_alerts = [a for a in report.alerts if a.rule == "feature_drift"]
    assert [a.columns[0] for a in feature_alerts] == order
    assert feature_alerts[0].message.startswith(f"drift in {order[0]} moves the mean score by ")
    # against the previous (calm) batch: a sudden change of the shifted features
    consecutive = report.consecutive
    assert consecutive is not None
    assert consecutive.computed
    assert consecutive.previous_batch_id == "calm"
    assert consecutive.label == "sudden"
    assert set(consecutive.labelled("sudden")) == drifted
    assert not any(a.rule == "consecutive_drift" for a in report.alerts)  # off by default

    run = client.get_run(second.run_id)
    m = run.data.metrics
    assert {f"impact/{f}" for f in drifted} <= set(m)
    assert m[f"impact/{order[0]}"] == pytest.approx(ranking.features[0].shift)
    assert m["consecutive/n_sudden"] == 3.0
    assert m["consecutive/drift_share"] == pytest.approx(consecutive.drift_share)
    assert set(report_metrics(report)) <= set(m)
    # the champion's importances (recorded at training) against its importance on the batch
    stability = report.tables["importance_stability"]
    assert stability["champion_top"]
    assert -1.0 <= m["importance/spearman"] <= 1.0
    assert m["importance/top_k_overlap"] == pytest.approx(stability["top_k_overlap"])
    table = json.loads(Path(client.download_artifacts(second.run_id,
                                                      "drift_table.json")).read_text())
    rows = [dict(zip(table["columns"], r, strict=True)) for r in table["data"]]
    assert [r["feature"] for r in rows[:3]] == order  # the drift table in impact order
    assert rows[0]["impact"] == pytest.approx(ranking.features[0].shift)
    assert rows[0]["consecutive_label"] == "sudden"
    local = json.loads(second.report_path.read_text())
    assert [f["feature"] for f in local["impact"]["features"]] == order
    assert local["consecutive_drift"]["label"] == "sudden"
    page = second.report_path.with_suffix(".html").read_text()
    assert 'id="matters"' in page
    assert f"drift in {order[0]}" in page

    # the chunked engine: no ranking (it says why), consecutive drift from its counts
    path = tmp_path / "shifted-again.parquet"
    generate_batch("covariate_shift", 4000, seed=63).to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counted = monitor_counted(settings, str(path), "chunked")
    assert counted.report.impact is not None
    assert not counted.report.impact.computed
    assert "counts engine" in counted.report.impact.note
    again = counted.report.consecutive
    assert again is not None
    assert again.computed
    assert again.previous_batch_id == "shifted"
    assert again.labelled("sudden") == ()  # the same shift as the batch before
    assert "not computed: counts engine" in counted.report_path.with_suffix(".html").read_text()
