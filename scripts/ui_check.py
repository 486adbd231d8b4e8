"""What a reviewer sees: `mlflow ui` over a store, the reviewer's pages opened in headless
Chromium, each saved as a screenshot once it shows its content. Run by `make ui-check`
(after `make run`).

A page passes when every element that proves it rendered (the run names in the runs table,
the run's description and parameters, the report inside the artifact viewer, the versions
table, the version's alias and tags: scripts/ui_pages.py) is shown and no loading skeleton or
spinner is left on screen, within --timeout seconds. A page that does not is saved as
NAME-FAILED.png (what Chromium showed) and named with what was missing; the exit code is 1.

Screenshots go to --out (default ./ui-check, not tracked); --docs copies a fully passing set
into docs/ui/ (the tracked screenshots MONITORING.md shows), and only then.

Needs Debian's Chromium (`sudo apt-get install chromium`, /usr/bin/chromium) and the `ui`
extra (`pip install -e ".[ui]"`: Playwright's Python driver; no browser download).

    python scripts/ui_check.py [--tracking-uri sqlite:///mlflow.db] [--out ui-check] [--docs]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ui_pages
from ui_pages import (
    LOADING,
    SEEN_LOADING_JS,
    UNLOADED_IMAGES_JS,
    Page,
    RunFacts,
    StoreFacts,
    VersionFacts,
    plan_pages,
)

from pipelines.cli import add_common_options, settings_from_args, setup_logging
from pipelines.problems import problem
from pipelines.store import alias_version, connect

logger = logging.getLogger("ui_check")

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "ui"
#: As the machine notes say: without the background-networking flags Chromium keeps trying
#: (and failing) to reach Google's hosts.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The assistant panel and first-visit tips would cover half of every page. The reviewer has
#: chosen "Model training" in the sidebar's switch once (MLflow 3.17 keeps that choice in the
#: browser, JSON-encoded, and starts a new browser on GenAI: see MONITORING.md).
QUIET_UI = """
localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
localStorage.setItem('mlflow.workflowType_v1', JSON.stringify('machine_learning'));
"""
#: No loading indicator for this long (seconds) before a screenshot: a chart that draws
#: its spinner right after the content came is caught.
SETTLE = 1.0
#: MLflow's pages scroll inside panels, which a full-page screenshot cuts at the window's
#: height: the window is made as tall as the most hidden panel's content, up to this.
MAX_HEIGHT = 4000
HIDDEN_HEIGHT_JS = """
() => Math.max(0, ...[...document.querySelectorAll('*')]
  .filter((e) => /(auto|scroll)/.test(getComputedStyle(e).overflowY)
                 && e.scrollHeight > e.clientHeight + 1)
  .map((e) => e.scrollHeight - e.clientHeight))
"""


class PageFailed(Exception):
    """A page did not show its content in time (the message says what was missing)."""


# --- the store's facts -------------------------------------------------------------------


def _run_facts(run: Any) -> RunFacts:
    params = sorted(run.data.params)
    primary = problem(run.data.tags.get("problem_type")).primary_metric
    return RunFacts(run.info.run_id, run.info.experiment_id, run.info.run_name or run.info.run_id,
                    run.data.tags.get("mlflow.note.content", ""), params[0] if params else None,
                    health=f"health/{primary}")


def _drift_amount(run: Any) -> float:
    """How much drift a monitoring run found, from whichever record it has (the metrics
    `drift_share`, `n_drifted_features`, alone or under a section prefix, the tag
    `drifted_features`: names or "none")."""
    metrics = run.data.metrics
    for name in ("drift_share", "n_drifted_features"):  # also in a section: health/drift_share
        for key, value in metrics.items():
            if key == name or key.endswith(f"/{name}"):
                return float(value)
    names = run.data.tags.get("drifted_features", "none")
    return 0.0 if names.strip() in ("", "none") else float(len(names.split(",")))


def _report(client: Any, run_id: str) -> str | None:
    """The run's HTML report: the first .html artifact (top level, then one folder down)."""
    files = client.list_artifacts(run_id)
    for f in files:
        if not f.is_dir and f.path.endswith(".html"):
            return f.path
    for folder in (f for f in files if f.is_dir):
        for f in client.list_artifacts(run_id, folder.path):
            if not f.is_dir and f.path.endswith(".html"):
                return f.path
    return None


def read_facts(settings: Any) -> StoreFacts:
    """What the store holds for each page, found by tags and aliases (not by names)."""
    t = settings.tracking
    store = connect(t, create=False, purpose="check the UI")
    client = store.client
    names = {"monitoring": t.monitoring_experiment, "retraining": t.retraining_experiment,
             "audit": t.audit_experiment}
    ids = {role: getattr(client.get_experiment_by_name(name), "experiment_id", None)
           for role, name in names.items()}
    facts = StoreFacts(ids, names, t.registered_model_name)
    newest_first = ["attributes.start_time DESC"]
    if ids["monitoring"]:
        runs = client.search_runs([ids["monitoring"]], order_by=newest_first, max_results=1000)
        if runs:
            facts.newest_monitoring = _run_facts(runs[0])
        critical = [r for r in runs if r.data.tags.get("monitoring.status") == "critical"]
        if critical:  # the earliest: the one that set the story going
            first = critical[-1]
            facts.critical = _run_facts(first)
            facts.critical_on_top = runs.index(first) < ui_pages.TOP_ROWS
            facts.report = _report(client, first.info.run_id)
        drifted = [r for r in runs if _drift_amount(r) > 0]
        if drifted:
            facts.drift = _run_facts(max(drifted, key=_drift_amount))
    champion = alias_version(store, t.champion_alias)
    fallback = alias_version(store, t.previous_alias)
    if ids["retraining"]:
        parents = client.search_runs([ids["retraining"]], "tags.`retraining.role` = 'parent'",
                                     order_by=newest_first, max_results=100)
        # the retraining that made the champion, else the newest
        made = [p for p in parents if champion is not None
                and p.data.tags.get("new_version") == str(champion.version)]
        if made or parents:
            facts.retraining = _run_facts((made or parents)[0])
    for alias, version, slot in ((t.champion_alias, champion, "champion"),
                                 (t.previous_alias, fallback, "fallback")):
        if version is not None:
            tags = sorted(version.tags)
            setattr(facts, slot, VersionFacts(str(version.version), alias,
                                              tags[0] if tags else None))
    if champion is not None:
        facts.model_description = bool(
            client.get_registered_model(t.registered_model_name).description)
    if ids["audit"]:
        audit = client.search_runs([ids["audit"]], order_by=newest_first, max_results=1)
        if audit:
            facts.newest_audit = _run_facts(audit[0])
    return facts


# --- mlflow ui ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ui(uri: str, port: int) -> subprocess.Popen:
    """`mlflow ui` on 127.0.0.1:port (one worker: the pages are opened one at a time), in its
    own process group (stopped with its workers by :func:`_stop_ui`). It takes a while to
    answer (a minute on a busy machine): see :func:`_wait_for_ui`."""
    return subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _wait_for_ui(proc: subprocess.Popen, base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                _stop_ui(proc)
                raise SystemExit(f"mlflow ui did not answer within {timeout:.0f} s") from None
            time.sleep(0.5)


def _stop_ui(proc: subprocess.Popen) -> None:
    """Stop `mlflow ui` and its workers: it only read the store, so after a short grace
    (its shutdown took half a minute on a busy machine) it is killed."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


# --- one page ----------------------------------------------------------------------------


def _wait_until_loaded(page: Any, spec: Page, timeout: float) -> None:
    """Wait for every element ``spec`` expects, then for no loading indicator on screen for
    :data:`SETTLE` seconds (and the report frame's images), all within ``timeout`` seconds;
    raise :class:`PageFailed` naming what was still missing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    if not spec.expect:
        raise PageFailed("nothing on it to check")
    for expect in spec.expect:
        scope = page.frame_locator(expect.frame) if expect.frame else page
        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            scope.locator(expect.selector).filter(visible=True).first.wait_for(
                state="visible", timeout=remaining * 1000)
        except PlaywrightTimeout:
            loading = page.evaluate(SEEN_LOADING_JS, LOADING)
            still = f" (still loading: {', '.join(loading[:3])})" if loading else ""
            raise PageFailed(f"{expect.what} not shown within {timeout:.0f} s{still}") from None
    quiet_since = None
    while True:
        loading = page.evaluate(SEEN_LOADING_JS, LOADING)
        for name in spec.frames:
            frame = page.frame_locator(name).locator(":root")
            loading += [f"image {i}" for i in frame.evaluate(UNLOADED_IMAGES_JS)]
        now = time.monotonic()
        if loading:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= SETTLE:
            return
        if now > deadline:
            raise PageFailed(f"still loading after {timeout:.0f} s: {', '.join(loading[:3])}")
        page.wait_for_timeout(250)


def _show_all(page: Any) -> None:
    """Close first-visit tips; open the whole run description."""
    for tip in ("Got it", "Dismiss"):
        button = page.get_by_role("button", name=tip)
        if button.count():
            button.first.click()
    more = page.get_by_text("Show more", exact=True)
    if more.count():
        more.first.click()
        page.wait_for_timeout(500)


def check_page(page: Any, base: str, spec: Page, out: Path, timeout: float) -> str | None:
    """Open ``spec``, wait for its content, save the screenshot (NAME.png, or NAME-FAILED.png
    with whatever showed); returns what failed, or None."""
    page.goto(f"{base}/#{spec.fragment}", wait_until="commit")
    size = dict(page.viewport_size)
    failure = None
    try:
        _wait_until_loaded(page, spec, timeout)
        _show_all(page)
        hidden = page.evaluate(HIDDEN_HEIGHT_JS)
        if hidden > 0:  # what the panels hide, then what it brings into view (charts) loaded
            page.set_viewport_size({"width": size["width"],
                                    "height": min(size["height"] + hidden, MAX_HEIGHT)})
            _wait_until_loaded(page, spec, timeout)
    except PageFailed as exc:
        failure = str(exc)
    good, failed = out / f"{spec.name}.png", out / f"{spec.name}-FAILED.png"
    target, stale = (failed, good) if failure else (good, failed)
    stale.unlink(missing_ok=True)
    page.screenshot(path=str(target), full_page=True)
    page.set_viewport_size(size)
    if failure:
        logger.error("FAILED %s (#%s): %s; what it showed: %s", spec.name, spec.fragment,
                     failure, target)
    else:
        logger.info("%s  <- #%s", target, spec.fragment)
    return failure


def check_pages(base: str, pages: Sequence[Page], out: Path, timeout: float,
                width: int) -> dict[str, str]:
    """Every page in headless Chromium; returns {page: what failed}."""
    from playwright.sync_api import sync_playwright

    failures = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": width, "height": 1000})
        context.add_init_script(QUIET_UI)
        page = context.new_page()
        for spec in pages:
            failure = check_page(page, base, spec, out, timeout)
            if failure:
                failures[spec.name] = failure
        browser.close()
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/ui_check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="ui-check",
                        help="folder for the screenshots (default ./ui-check)")
    parser.add_argument("--docs", nargs="?", const=str(DOCS), metavar="DIR",
                        help="copy the screenshots into DIR (default: the repository's "
                        "docs/ui, what MONITORING.md shows) when every page passed")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds each page may take to show its content (default 120: "
                        "the chart view took 45 s on a busy machine)")
    parser.add_argument("--ui-url", help="an `mlflow ui` already serving this store "
                        "(default: start one on a free port)")
    parser.add_argument("--only", metavar="PAGE,...",
                        help="check only these pages (names as the screenshots', e.g. "
                        "2_critical_run,5_registry_model)")
    parser.add_argument("--width", type=int, default=1400)
    add_common_options(parser)
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's Chromium "
                         "(sudo apt-get install chromium)")
    settings = settings_from_args(args)
    ui = None
    base = (args.ui_url or "").rstrip("/")
    if not base:  # it starts while the store is read
        port = _free_port()
        ui = _start_ui(settings.tracking.uri, port)
        base = f"http://127.0.0.1:{port}"
    try:
        return _check(args, settings, base, ui)
    finally:
        if ui is not None:
            _stop_ui(ui)


def _check(args: argparse.Namespace, settings: Any, base: str,
           ui: subprocess.Popen | None) -> int:
    pages, missing = plan_pages(read_facts(settings))
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {p.name for p in pages})
        if unknown:
            raise SystemExit(f"--only: no page {', '.join(unknown)} in this store's plan "
                             f"({', '.join(p.name for p in pages)})")
        pages, missing = [p for p in pages if p.name in wanted], []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if ui is not None:
        _wait_for_ui(ui, base, max(args.timeout, 180))
    failures = check_pages(base, pages, out, args.timeout, args.width)
    for what in missing:
        logger.error("MISSING from the store: %s", what)
    if failures or missing:
        logger.error("ui-check FAILED: %d of %d pages did not show their content%s; "
                     "screenshots in %s/", len(failures), len(pages),
                     f", {len(missing)} pages cannot be shown" if missing else "", out)
        return 1
    if args.docs:
        docs = Path(args.docs)
        docs.mkdir(parents=True, exist_ok=True)
        for spec in pages:
            shutil.copyfile(out / f"{spec.name}.png", docs / f"{spec.name}.png")
        logger.info("copied %d screenshots into %s", len(pages), docs)
    logger.info("ui-check passed: %d pages, screenshots in %s/", len(pages), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
