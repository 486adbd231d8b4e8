"""The dashboard as a person sees it: `python -m pipelines.serve` over a store that lived
through the demo's story, the page opened in Debian's Chromium (Playwright's driver, as
`make ui-check` does). Screenshots are kept in docs/service/ (README and MONITORING.md show
them)."""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from pipelines.config import Settings
from tests.service.serving import ServiceProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "service"
VIEWPORTS = {"desktop": (1400, 900), "phone": (390, 844)}
#: The page polls this often (?refresh=) and the service re-reads the store this often.
REFRESH = 1

#: The browser tests' marks (the page's own checks at the end need none).
BROWSER_MARKS = (
    pytest.mark.slow, pytest.mark.server, pytest.mark.subprocess, pytest.mark.ui,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium"),
)
F = TypeVar("F", bound=Callable[..., Any])


def browser_test(test: F) -> F:
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


@pytest.fixture
def service(story_store: tuple[Settings, list[Any]], tmp_path: Path
            ) -> Iterator[ServiceProcess]:
    settings, _ = story_store
    server = ServiceProcess(settings, tmp_path / "serve.log",
                            args=["--set", f"service.refresh_seconds={REFRESH}"]).start()
    try:
        _ready(server, batches=6)
        yield server
    finally:
        server.stop()


def _ready(server: ServiceProcess, batches: int, timeout: float = 120) -> None:
    """Wait until the service has read every batch's report (a busy machine may not download
    them all within the first read's budget; the next reads bring the rest)."""
    server.wait_for("/health", 200)
    deadline = time.monotonic() + timeout
    while (len(server.get("/drift/matrix").json.get("sequences", ())) < batches
           or len(server.get("/quality/history").json.get("points", ())) < batches):
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.3)


class Watched:
    """A page with what it logged and asked for: console errors, uncaught exceptions and
    requests (to check that none leaves the service's host)."""

    def __init__(self, browser: Any, viewport: tuple[int, int]) -> None:
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def foreign(self, base: str) -> list[str]:
        own = urlsplit(base).netloc
        return [u for u in self.requests
                if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != own]


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(watched: Watched, service: ServiceProcess, rows: int) -> None:
    """Open the dashboard and wait for the batch table's ``rows`` and the three charts."""
    page = watched.page
    page.goto(f"{service.url}/?refresh={REFRESH}")
    page.wait_for_function(f"document.querySelectorAll('#batches tbody tr').length === {rows}",
                           timeout=30_000)
    for chart in ("perf", "heatmap", "quality"):
        page.wait_for_selector(f"#{chart} .main-svg", timeout=15_000)
    page.wait_for_timeout(500)  # plotly's last frame


@browser_test
def test_the_dashboard_shows_the_story(service: ServiceProcess, browser: Any,
                                       story_store: tuple[Settings, list[Any]]) -> None:
    from pipelines.store import alias_version, connect

    settings, cycles = story_store
    store = connect(settings.tracking)
    champion = alias_version(store, settings.tracking.champion_alias)
    fallback = alias_version(store, settings.tracking.previous_alias)
    assert champion is not None
    assert fallback is not None  # the story promoted once
    run_ids = [b.run_id for c in cycles for b in c.batches if b.run_id]
    assert len(run_ids) == 6
    alerts = service.get("/alerts?limit=30").json["alerts"]
    features = service.get("/drift/matrix?limit=50").json["features"]
    ui = settings.service.mlflow_ui_url

    for name, viewport in VIEWPORTS.items():
        watched = Watched(browser, viewport)
        page = watched.page
        _open(watched, service, rows=6)

        # the model now: serving and fallback versions, the last verdict with its colour
        assert page.locator("#serving").inner_text() == f"v{champion.version}"
        assert page.locator("#fallback").inner_text() == f"v{fallback.version}"
        newest = cycles[-1].batches[0].monitoring_status
        assert page.locator("#verdict").inner_text() == newest.upper()
        assert f"st-{newest}" in (page.locator("#card-verdict").get_attribute("class") or "")
        assert page.locator("#as-of").inner_text().startswith("as of 20")

        # the alerts panel: one row per alert the API gives, each with its severity colour
        assert alerts, "the story raised alerts (covariate shift, concept drift)"
        rows = page.locator("#alerts li.alert")
        assert rows.count() == len(alerts)
        assert rows.first.locator(".rule").inner_text() == alerts[0]["rule"]
        assert set(page.locator("#alerts .badge").all_inner_texts()) <= {
            "info", "warning", "critical"}

        # the performance chart: realized values of the six batches, the limit line
        drawn = page.evaluate("""() => {
            const gd = document.getElementById('perf');
            const realized = gd.data.find((t) => t.name === 'realized');
            return {traces: gd.data.length, svg: gd.querySelectorAll('.scatterlayer .trace').length,
                    realized: realized.x.length,
                    limit: gd.data.some((t) => String(t.name).startsWith('alert line')),
                    shapes: (gd.layout.shapes || []).length};
        }""")
        assert drawn["realized"] == 6, drawn
        assert drawn["svg"] >= 4, drawn
        assert drawn["limit"], "the performance limit line is drawn"
        assert drawn["shapes"] >= 2, "retraining and champion-change markers are drawn"

        # the heat map: one row per feature, the drifted cells marked
        assert features
        heat = page.evaluate("""() => {
            const gd = document.getElementById('heatmap');
            return {rows: gd.data[0].y.length,
                    ticks: [...gd.querySelectorAll('.ytick text')].map((t) => t.textContent),
                    cells: gd.querySelectorAll('.heatmaplayer image, .hm image').length,
                    marked: gd.data[1].x.length};
        }""")
        assert heat["rows"] == len(features), heat
        assert sorted(heat["ticks"]) == sorted(features), heat
        assert heat["cells"] == 1, heat  # plotly draws the heat map as one image
        assert heat["marked"] > 0, "the story's covariate shift drifted features"

        # data quality over the six batches
        assert page.evaluate("document.getElementById('quality').data[0].x.length") == 6

        # the batch table: six rows, newest first, links to each run and its report
        rows = page.locator("#batches tbody tr")
        assert rows.count() == 6
        assert rows.first.get_attribute("data-sequence") == "6"
        for run_id in run_ids:
            row = page.locator(f"#batches tbody tr[data-run='{run_id}']")
            run = row.locator("a.run-link").get_attribute("href") or ""
            report = row.locator("a.report-link").get_attribute("href") or ""
            assert run.startswith(ui), run
            assert run.endswith(f"/runs/{run_id}"), run
            assert report.startswith(ui), report
            assert f"run_uuid={run_id}" in report, report
        assert row.locator("a.run-link").is_visible()

        assert not page.locator("#banner").is_visible()
        assert watched.errors == [], watched.errors
        assert watched.foreign(service.url) == [], watched.foreign(service.url)
        DOCS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS / f"dashboard-{name}.png"), full_page=True)
        page.close()


@browser_test
def test_a_new_batch_appears_without_reload(service: ServiceProcess, browser: Any,
                                            story_store: tuple[Settings, list[Any]]) -> None:
    from pipelines.data.sources import SimulatedSource
    from pipelines.store import connect
    from pipelines.workflows.orchestrate import run_cycle

    settings, _ = story_store
    watched = Watched(browser, VIEWPORTS["desktop"])
    page = watched.page
    _open(watched, service, rows=6)
    page.evaluate("window.__same_page = true")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cycle = run_cycle(settings, SimulatedSource("no_drift", rows=500, seed=4242),
                          store=connect(settings.tracking))
    run_id = cycle.batches[0].run_id
    assert run_id
    done = time.monotonic()
    # the service re-reads within REFRESH s, the page polls every REFRESH s (+ a busy machine)
    page.wait_for_function("document.querySelectorAll('#batches tbody tr').length === 7",
                           timeout=(2 * REFRESH + 10) * 1000)
    waited = time.monotonic() - done
    assert page.evaluate("window.__same_page === true"), "the page was not reloaded"
    newest = page.locator("#batches tbody tr").first
    assert newest.get_attribute("data-run") == run_id
    assert newest.get_attribute("data-sequence") == "7"
    page.wait_for_function(
        "document.getElementById('perf').data.find((t) => t.name === 'realized').x.length === 7",
        timeout=30_000)
    page.wait_for_function("document.getElementById('heatmap').data[0].x.length === 7",
                           timeout=30_000)  # its report may come with the next read
    assert watched.errors == [], watched.errors
    assert watched.foreign(service.url) == []
    assert waited < 2 * REFRESH + 10

    # the store breaks (its file no longer a database): a banner says so, the data stays
    db = Path(settings.tracking.uri.removeprefix("sqlite:///"))
    content = db.read_bytes()
    db.write_bytes(b"not a database " * (len(content) // 15))
    try:
        page.locator("#banner").wait_for(state="visible", timeout=(2 * REFRESH + 10) * 1000)
        assert "503" in page.locator("#banner").inner_text()
        assert page.locator("#batches tbody tr").count() == 7
    finally:
        db.write_bytes(content)
    # the next read succeeds (a loaded CI machine took longer than 12 s once)
    page.locator("#banner").wait_for(state="hidden", timeout=60_000)


@browser_test
def test_the_page_needs_no_token_but_its_data_does(story_store: tuple[Settings, list[Any]],
                                                   tmp_path: Path, browser: Any) -> None:
    """With a token set: the page and its scripts load without it, the data only with it;
    ``?token=`` is kept for the tab and dropped from the address bar; without it the page asks."""
    settings, _ = story_store
    server = ServiceProcess(settings, tmp_path / "serve.log", token="s3cret",
                            args=["--set", f"service.refresh_seconds={REFRESH}"]).start()
    try:
        _ready(server, batches=6)
        watched = Watched(browser, VIEWPORTS["desktop"])
        page = watched.page
        page.goto(f"{server.url}/?refresh={REFRESH}")
        page.wait_for_selector("#token-form", state="visible", timeout=15_000)
        assert page.locator("#banner").is_visible()
        page.fill("#token-input", "s3cret")
        page.click("#token-form button")
        page.wait_for_function("document.querySelectorAll('#batches tbody tr').length === 6",
                               timeout=15_000)
        assert not page.locator("#banner").is_visible()
        assert not page.locator("#token-form").is_visible()

        second = Watched(browser, VIEWPORTS["phone"])
        second.page.goto(f"{server.url}/?token=s3cret&refresh={REFRESH}")
        second.page.wait_for_function(
            "document.querySelectorAll('#batches tbody tr').length === 6", timeout=15_000)
        assert "token" not in second.page.url
        assert second.errors == [], second.errors
    finally:
        server.stop()



# --- the page itself (no browser, no server) ------------------------------------------------


def _routes(settings: Settings) -> dict[str, Any]:
    from fastapi import FastAPI

    from pipelines.service.dashboard import mount_dashboard

    app = FastAPI()
    mount_dashboard(app, settings)
    return {route.path: route for route in app.routes if hasattr(route, "endpoint")}


def test_the_page_loads_nothing_from_another_host(tmp_path: Path) -> None:
    from pipelines.service.dashboard import OWN_FILES, STATIC, page_html, plotly_js
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "store", **{"service.refresh_seconds": 3})
    page = page_html(settings)
    loaded = set(re.findall(r'(?:src|href)="([^"]+)"', page))
    assert {"/static/plotly.min.js", "/static/dashboard.js", "/static/dashboard.css"} <= loaded
    # every address the page, its script and its style name is its own (or the API docs)
    for text in [page, *((STATIC / name).read_text() for name in OWN_FILES)]:
        assert "http://" not in text
        assert "https://" not in text
        assert "@import" not in text
        assert "url(" not in text.replace("url(data:", "")
    assert all(a.startswith(("/", "data:")) for a in loaded), loaded
    assert '&quot;refresh&quot;: 3.0' in page  # the page polls as often as the service reads
    assert plotly_js().stat().st_size > 1_000_000  # the real library, not a stub


def test_the_page_and_its_files_are_served(tmp_path: Path) -> None:
    from tests.conftest import make_settings

    routes = _routes(make_settings(tmp_path / "store"))
    assert {"/", "/static/plotly.min.js", "/static/{name}"} <= set(routes)
    assert not any(r.include_in_schema for r in routes.values())  # not API endpoints
    page = routes["/"].endpoint()
    assert page.status_code == 200
    assert b'id="heatmap"' in page.body
    assert str(routes["/static/plotly.min.js"].endpoint().path).endswith("plotly.min.js")
    script = routes["/static/{name}"].endpoint(name="dashboard.js")
    assert script.media_type == "text/javascript"
    missing = routes["/static/{name}"].endpoint(name="../dashboard.py")
    assert missing.status_code == 404
    assert b'"status": 404' in missing.body
