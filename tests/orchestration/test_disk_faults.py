"""Disks that refuse a cycle's files: the artifact folder full or read-only, the local report
folder full. Real file systems: a tiny tmpfs mounted over the folder (as root, unmounted in a
``finally``), or, where mounting is not allowed, the orchestrator run inside ``unshare -Urm``
(its own user and mount namespace, where it may mount) with the tmpfs mounted there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from mlflow.entities import Run

from pipelines.data.generator import generate_batch
from pipelines.store import connect
from pipelines.store import contract as c
from tests.conftest import PASSTHROUGH_ENV

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _mount(options: str, folder: Path) -> bool:
    """Mount a tmpfs over ``folder`` in this namespace (root only); False if not allowed."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    return done.returncode == 0


@contextmanager
def small_disk(folder: Path, *, size: str = "16k",
               read_only: bool = False) -> Iterator[list[str]]:
    """``folder`` as a tiny (or read-only) tmpfs for the command run with the yielded
    prefix: mounted here when we may (and unmounted afterwards), else in the command's own
    namespace (``unshare -Urm``). Fails, never skips, when neither is possible."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if _mount(options, folder):
        try:
            yield []
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.fail("cannot make a small file system here: not root, and no user namespaces "
                    f"(unshare -Urm: {probe.stderr!r})")
    yield ["unshare", "-Urm", "sh", "-c",
           'mount -t tmpfs -o "$1" tmpfs "$2" && shift 2 && exec "$@"', "sh", options,
           str(folder)]


def _cycle(settings, *extra: str, prefix: list[str] | None = None
           ) -> subprocess.CompletedProcess:
    overrides = {"paths.output_dir": settings.paths.output_dir,
                 "paths.inbox_dir": settings.paths.inbox_dir,
                 "data.demo_rows": 3000, "training.rf_n_estimators": 30,
                 "training.xgb_n_estimators": 50, "training.n_jobs": 1}
    options = [item for key, value in overrides.items() for item in ("--set", f"{key}={value}")]
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "pipelines.run_monitoring", "--source", "inbox",
         "--tracking-uri", settings.tracking.uri, *options, *extra],
        capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(Path.home()),
             **PASSTHROUGH_ENV})


def _monitoring_runs(settings) -> list[Run]:
    store = connect(settings.tracking)
    experiment = store.experiment_id(settings.tracking.monitoring_experiment, create=False)
    assert experiment is not None
    return list(store.client.search_runs([experiment],
                                         f"tags.`{c.TAG_STEP}` = '{c.STEP_MONITOR}'"))


def _drop_batch(settings, scenario: str = "no_drift") -> Path:
    inbox = settings.paths.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / "b1.parquet"
    generate_batch(scenario, 2000, 5, start_time=pd.Timestamp("2026-02-01")).to_parquet(path)
    return path


def _assert_failed_cleanly(settings, done: subprocess.CompletedProcess, batch: Path,
                           where: Path, cause: str) -> Run:
    """One line naming the folder and the cause, exit 1, the run FAILED and named so, with
    the reason and no artifacts, the batch back in the inbox."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr
    assert f"Cannot write {where}" in errors[0]
    assert cause in errors[0]
    (run,) = _monitoring_runs(settings)
    assert run.info.status == "FAILED"
    assert run.info.run_name == f"b0001 FAILED {cause}"
    assert cause in run.data.tags[c.TAG_FAILURE_REASON]
    assert str(where) in run.data.tags[c.TAG_FAILURE_REASON]
    assert connect(settings.tracking).client.list_artifacts(run.info.run_id) == []
    assert batch.exists()  # back in the inbox, to be retried
    return run


@pytest.mark.parametrize(("read_only", "cause"), [(False, "disk full"),
                                                  (True, "read-only file system")],
                         ids=["full", "read-only"])
def test_an_artifact_folder_that_refuses_files(trained_store, tmp_path: Path,
                                               read_only: bool, cause: str) -> None:
    """Before: a traceback per batch; the FAILED run kept its verdict's name ("b0001 OK auc
    0.86 stable"), had no failure.reason and kept the artifacts already written."""
    settings, _ = trained_store
    batch = _drop_batch(settings)
    artifacts = tmp_path / "artifacts"
    with small_disk(artifacts, read_only=read_only) as prefix:
        refused = _cycle(settings, "--set", f"tracking.artifact_root={artifacts}",
                         prefix=prefix)
    _assert_failed_cleanly(settings, refused, batch, artifacts, cause)

    again = _cycle(settings)  # the disk has room again
    assert again.returncode == 0, again.stderr
    assert not batch.exists()
    statuses = sorted(r.info.status for r in _monitoring_runs(settings))
    assert statuses == ["FAILED", "FINISHED"]


def test_a_full_report_folder_never_loses_the_recommendation(trained_store) -> None:
    """Before: the critical batch's run was FINISHED, the local report write failed, the retry
    said "already processed": no decision tagged, no retraining ever. Now the run fails with
    the reason, the batch is retried, and the retry decides (and retrains)."""
    settings, _ = trained_store
    batch = _drop_batch(settings, "concept_drift")
    output = settings.paths.output
    with small_disk(output / "reports", size="4k") as prefix:
        full = _cycle(settings, "--set", f"paths.output_dir={output / 'reports'}",
                      prefix=prefix)
    _assert_failed_cleanly(settings, full, batch, output / "reports", "disk full")

    again = _cycle(settings, "--set", f"paths.output_dir={output / 'reports'}")
    assert again.returncode == 0, again.stderr
    assert "already processed" not in again.stderr
    finished = [r for r in _monitoring_runs(settings) if r.info.status == "FINISHED"]
    assert len(finished) == 1
    tags = finished[0].data.tags
    assert tags[c.TAG_RETRAINING_RECOMMENDED] == "true"
    assert tags[c.TAG_CYCLE_DECISION] == "retrain"
    assert list((output / "reports").glob("monitoring_report_*.json"))
