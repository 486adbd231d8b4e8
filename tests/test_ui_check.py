"""`make ui-check` (scripts/ui_check.py): pages pass only once they show their content.

The page plan is pure (scripts/ui_pages.py: fast tests). The rest runs real Chromium
(Debian's /usr/bin/chromium, the `ui` extra): a page that shows only a loading skeleton
fails naming itself; a demo store opened in a real `mlflow ui` passes, screenshots in the
named folder and docs/ui untouched. Without Chromium or Playwright these tests FAIL (they do
not skip): CI installs Chromium (.ci/run) and `make test` the `ui` extra.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import PASSTHROUGH_ENV, copy_store, make_settings

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "ui_check.py"
DOCS = ROOT / "docs" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
if str(SCRIPT.parent) not in sys.path:
    sys.path.insert(0, str(SCRIPT.parent))
ui_pages = importlib.import_module("ui_pages")

#: every page of the reviewer's set, in order
PAGES = ["0_experiments", "1_monitoring_runs", "1b_monitoring_charts", "2_critical_run",
         "2b_critical_run_metrics", "3_critical_run_report", "3b_drift_run", "4_retraining_run",
         "5_registry_model",
         "6_champion_version", "6b_fallback_version", "7_audit_trail"]
#: one page of each kind (the test time: the others are the same kinds of page)
ONE_OF_EACH = ["1_monitoring_runs", "3_critical_run_report", "0_experiments",
               "1b_monitoring_charts", "2_critical_run", "5_registry_model",
               "6b_fallback_version"]

# --- the plan (pure) ----------------------------------------------------------------------


@pytest.mark.parametrize(("markdown", "shown"), [
    ("### CRITICAL: 10 of 24 features drifted, partly concept drift\n\nmore",
     "CRITICAL: 10 of 24 features drifted, partly concept drift"),
    ("\n**Retraining** PROMOTED v2: candidate `xgboost` beat the champion",
     "PROMOTED v2: candidate"),
    ("- see [the report](#/experiments/1/runs/abc) for every feature", "see the report for "
     "every feature"),
    ("", ""),
])
def test_the_description_check_uses_the_text_mlflow_renders(markdown: str, shown: str) -> None:
    assert ui_pages.headline_text(markdown) == shown


def _facts(**given) -> object:
    run = ui_pages.RunFacts("r1", "3", "b0004 CRIT 0.56 drift", "### CRITICAL", "n_rows")
    facts = dict(
        experiments={"monitoring": "3", "retraining": "4", "audit": "2"},
        experiment_names={"monitoring": "P-Monitoring", "retraining": "P-Retraining",
                          "audit": "P-Audit"},
        model="churn-model", newest_monitoring=run, critical=run, drift=run,
        retraining=ui_pages.RunFacts("r2", "4", "retrain PROMOTED v2"), report="report.html",
        champion=ui_pages.VersionFacts("2", "champion", "promoted_at"),
        fallback=ui_pages.VersionFacts("1", "previous-champion"),
        newest_audit=ui_pages.RunFacts("r3", "2", "promote v1->v2"), model_description=True)
    facts.update(given)
    return ui_pages.StoreFacts(**facts)


def test_every_page_names_what_proves_it_rendered() -> None:
    pages, missing = ui_pages.plan_pages(_facts())
    assert missing == []
    assert [p.name for p in pages] == PAGES
    assert all(p.expect for p in pages)
    by_name = {p.name: p for p in pages}
    assert "[role=row] >> text=b0004 CRIT 0.56 drift" in [
        e.selector for e in by_name["1_monitoring_runs"].expect]
    assert by_name["1b_monitoring_charts"].fragment.endswith("?compareRunsMode=CHART")
    report = by_name["3_critical_run_report"]
    assert report.fragment == "/experiments/3/runs/r1/artifacts/report.html"
    assert report.frames == ("iframe",)
    assert any(e.frame == "iframe" for e in report.expect)
    critical = [e.selector for e in by_name["2_critical_run"].expect]
    assert "[data-testid=note-editor-preview-content] >> text=CRITICAL" in critical
    assert "text=n_rows" in critical
    # the alias as the version page's alias tag shows it ("@ champion"), exactly: the
    # fallback's "@ previous-champion" or a description naming it would not do
    assert '[data-component-type=tag] >> text="@ champion"' in [
        e.selector for e in by_name["6_champion_version"].expect]
    assert by_name["6b_fallback_version"].fragment == "/models/churn-model/versions/1"


def test_an_old_critical_run_is_not_expected_among_the_newest_rows() -> None:
    newest = ui_pages.RunFacts("r9", "3", "b0120 ok 0.86")
    pages, _ = ui_pages.plan_pages(_facts(newest_monitoring=newest, critical_on_top=False))
    (table,) = [p for p in pages if p.name == "1_monitoring_runs"]
    assert [e.selector for e in table.expect] == ["[role=row] >> text=b0120 ok 0.86"]
    assert "2_critical_run" in [p.name for p in pages]


def test_what_the_store_lacks_is_named_not_skipped() -> None:
    pages, missing = ui_pages.plan_pages(_facts(fallback=None, critical=None, newest_audit=None))
    names = [p.name for p in pages]
    assert "2_critical_run" not in names
    assert "6b_fallback_version" not in names
    assert missing == ["no critical monitoring run (tag monitoring.status = critical)",
                       "no fallback (previous champion) version of 'churn-model'",
                       "no audit runs (experiment 'P-Audit')"]


# --- real Chromium -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium and Playwright's driver, or a failure saying how to get them."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the UI tests need Debian's Chromium "
                    "(sudo apt-get install chromium; .ci/run installs it)")
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        pytest.fail('Playwright is missing: pip install -e ".[test,ui]" (make test does)')
    return CHROMIUM


def _docs_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in DOCS.glob("*")}


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory, trained_template) -> str:
    """The demo's story in small: the tests' trained baseline, then a stable batch, a
    covariate shift and a concept drift whose retraining promotes a candidate (the champion
    v2, the fallback v1, audit runs). Returns its tracking URI."""
    from pipelines.data.sources import SimulatedSource
    from pipelines.store import alias_version, connect
    from pipelines.workflows.orchestrate import run_cycle

    root = tmp_path_factory.mktemp("ui-demo") / "store"
    copy_store(trained_template[0], root)
    settings = make_settings(root)
    store = connect(settings.tracking)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed, scenario in ((1001, "no_drift"), (1003, "covariate_shift"),
                               (1004, "concept_drift")):
            run_cycle(settings, SimulatedSource(scenario, rows=1500, seed=seed), store=store)
    t = settings.tracking
    versions = [alias_version(store, a) for a in (t.champion_alias, t.previous_alias)]
    assert [str(v.version) if v else None for v in versions] == ["2", "1"], "no promotion happened"
    return t.uri


def _ui_check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", **PASSTHROUGH_ENV}
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


SKELETON = b"""<!doctype html><html><body>
<div class="du-bois-light-skeleton du-bois-light-skeleton-active">
 <div class="du-bois-light-skeleton-content">
  <h3 class="du-bois-light-skeleton-title" style="width:38%;height:16px;background:#eee"></h3>
  <ul class="du-bois-light-skeleton-paragraph"><li style="height:16px;background:#eee"></li>
  <li style="height:16px;background:#eee"></li></ul></div></div></body></html>"""


@pytest.fixture
def skeleton_ui() -> Iterator[str]:
    """A fake `mlflow ui` on 127.0.0.1: every page is a loading skeleton, forever."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(SKELETON)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _page_check(html: str, *expect: tuple[str, str]) -> str | None:
    """Run ui_check's wait on a page holding ``html`` (in Chromium, no server): None when it
    passes, else what failed."""
    from playwright.sync_api import sync_playwright

    ui_check = importlib.import_module("ui_check")
    spec = ui_pages.Page("p", "/", tuple(ui_pages.Expect(w, s) for w, s in expect))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ui_check.ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 600})
        page.set_content(html)
        try:
            ui_check._wait_until_loaded(page, spec, timeout=2)
        except ui_check.PageFailed as exc:
            return str(exc)
        finally:
            browser.close()
    return None


SPINNER = '<div class="du-bois-light-spin du-bois-light-spin-spinning" style="height:20px"></div>'


@pytest.mark.ui
@pytest.mark.slow
def test_content_with_a_spinner_still_on_screen_fails_and_one_scrolled_away_does_not(
        chromium) -> None:
    row = ("run 'b0001' in the runs table", "[role=row] >> text=b0001 ok")
    table = '<div role="row"><span>b0001 OK 0.83</span></div>'
    assert _page_check(table, row) is None
    assert _page_check(f"{table}{SPINNER}", row) == (
        "still loading after 2 s: du-bois-light-spin du-bois-light-spin-spinning")
    hidden = f'<div role="row" style="display:none">b0001 ok</div>{SKELETON.decode()}'
    assert _page_check(hidden, row).startswith(
        "run 'b0001' in the runs table not shown within 2 s (still loading: "
        "du-bois-light-skeleton")
    # the chart view: spinners of the cards below the fold of a scrolling panel
    below = (f'<div style="height:300px;overflow:auto">{table}<div style="height:900px"></div>'
             f"{SPINNER}</div>")
    assert _page_check(below, row) is None


@pytest.mark.ui
@pytest.mark.slow
@pytest.mark.subprocess
def test_a_page_that_only_loads_fails_naming_it(chromium, demo_store: str, skeleton_ui: str,
                                               tmp_path: Path) -> None:
    docs = _docs_digest()
    out = tmp_path / "shots"
    proc = _ui_check("--tracking-uri", demo_store, "--ui-url", skeleton_ui, "--timeout", "2",
                     "--out", str(out), "--docs", str(tmp_path / "docs"),
                     "--only", ",".join(ONE_OF_EACH[:3]))
    assert proc.returncode == 1, proc.stderr[-3000:]
    for name in ONE_OF_EACH[:3]:  # each page named with what it lacked, its screenshot kept
        assert f"FAILED {name} " in proc.stderr
        assert (out / f"{name}-FAILED.png").stat().st_size > 0
    assert "run 'b0003" in proc.stderr  # what was missing, by name: the newest run
    assert "still loading: du-bois-light-skeleton" in proc.stderr
    assert [p.name for p in out.iterdir() if not p.name.endswith("-FAILED.png")] == []
    assert not (tmp_path / "docs").exists()  # nothing copied when a page failed
    assert _docs_digest() == docs


@pytest.mark.ui
@pytest.mark.slow
@pytest.mark.server
@pytest.mark.subprocess
def test_a_demo_store_passes_every_page_into_the_named_folder(chromium, demo_store: str,
                                                              tmp_path: Path) -> None:
    docs = _docs_digest()
    out = tmp_path / "shots"
    (out).mkdir()
    (out / "2_critical_run-FAILED.png").write_bytes(b"from an earlier run: removed")
    proc = _ui_check("--tracking-uri", demo_store, "--out", str(out),
                     "--docs", str(tmp_path / "docs"), "--only", ",".join(ONE_OF_EACH))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in ONE_OF_EACH)
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == sorted(
        f"{n}.png" for n in ONE_OF_EACH)
    assert f"ui-check passed: {len(ONE_OF_EACH)} pages" in proc.stderr
    assert _docs_digest() == docs  # the tracked screenshots only on request (--docs)
