"""The first screens in the installed MLflow UI (headless Chromium, Playwright): the project's
link to an experiment opens its runs list with the model registry in the sidebar, not the
GenAI overview; the registry's model list holds the model and no lock. Runs only where Debian's
Chromium is installed (/usr/bin/chromium) and Playwright's Python driver is importable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.data.sources import SimulatedSource
from pipelines.store import connect, landing
from pipelines.workflows.orchestrate import run_cycle
from tests.conftest import mlflow_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: MLflow's assistant panel would cover half the page.
QUIET = "localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');"

pytestmark = [
    pytest.mark.slow, pytest.mark.server,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


def test_the_project_link_opens_the_runs_list_and_the_registry_shows_no_lock(
        trained_store, tmp_path: Path) -> None:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    settings, _ = trained_store
    store = connect(settings.tracking)
    model = settings.tracking.registered_model_name
    # an older version's visible lock model, then one full orchestrator cycle
    store.client.create_registered_model(f"{model}.orchestrator-lock.3",
                                         tags={"lock.released_at": "1"})
    run_cycle(settings, SimulatedSource("no_drift", rows=800, seed=3), store=store)
    assert [m.name for m in store.client.search_registered_models()] == [model]
    monitoring = store.experiment_id(settings.tracking.monitoring_experiment, create=False)
    assert monitoring is not None
    db = Path(settings.tracking.uri.removeprefix("sqlite:///"))

    with mlflow_server(tmp_path / "server", db=db) as uri, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(QUIET)  # a fresh browser: MLflow's default view is GenAI
            page = context.new_page()
            page.goto(f"{uri}/{landing.experiment_path(monitoring)}")
            page.get_by_text(re.compile(r"^b0001 ")).first.wait_for(timeout=90_000)
            assert "/runs" in page.url
            assert "/overview" not in page.url
            page.get_by_role("link", name="Model registry").first.wait_for(timeout=10_000)
            assert page.get_by_text("Detect Issues").count() == 0

            page.goto(f"{uri}/{landing.models_path()}")
            page.get_by_role("link", name=model, exact=True).first.wait_for(timeout=90_000)
            assert "orchestrator-lock" not in page.content()
        finally:
            browser.close()
