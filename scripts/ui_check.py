"""What a reviewer sees: `mlflow ui` over a store, pages opened in headless Chromium, saved as
screenshots (docs/ui/*.png). Run by `make ui-check` (after `make run`), looked at by a person.

Needs Debian's Chromium (`sudo apt-get install chromium`, /usr/bin/chromium) and the `ui`
extra (`pip install -e ".[ui]"`: Playwright's Python driver; no browser download).

    python scripts/ui_check.py [--tracking-uri sqlite:///mlflow.db] [--out docs/ui]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient

CHROMIUM = "/usr/bin/chromium"
#: As the machine notes say: without the background-networking flags Chromium keeps trying
#: (and failing) to reach Google's hosts.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: The assistant panel and first-visit tips would cover half of every page.
QUIET_UI = """
localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ui(uri: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise SystemExit("mlflow ui did not start") from None
            time.sleep(0.5)


def _pages(client: MlflowClient, prefix: str, model: str) -> list[tuple[str, str]]:
    """(file name, URL fragment) of each page a reviewer lands on."""
    monitoring = client.get_experiment_by_name(f"{prefix}-Monitoring")
    retraining = client.get_experiment_by_name(f"{prefix}-Retraining")
    audit = client.get_experiment_by_name(f"{prefix}-Audit")
    if monitoring is None:
        raise SystemExit("No monitoring experiment in this store: run `make run` first.")
    pages = [("1_monitoring_runs", f"/experiments/{monitoring.experiment_id}/runs")]
    runs = client.search_runs([monitoring.experiment_id], "tags.`monitoring.status` = 'critical'",
                              order_by=["attributes.start_time ASC"], max_results=1)
    if runs:
        run = runs[0].info
        base = f"/experiments/{run.experiment_id}/runs/{run.run_id}"
        pages += [("2_critical_run", base), ("3_critical_run_report",
                                              f"{base}/artifacts/report.html")]
    drifted = client.search_runs([monitoring.experiment_id], "metrics.n_drifted_features > 0",
                                 order_by=["metrics.n_drifted_features DESC"], max_results=1)
    if drifted:
        run = drifted[0].info
        pages.append(("3b_drift_run", f"/experiments/{run.experiment_id}/runs/{run.run_id}"))
    if retraining is not None:
        parents = client.search_runs([retraining.experiment_id],
                                     "tags.`retraining.role` = 'parent'",
                                     order_by=["attributes.start_time ASC"], max_results=1)
        if parents:
            p = parents[0].info
            pages.append(("4_retraining_run", f"/experiments/{p.experiment_id}/runs/{p.run_id}"))
    pages.append(("5_registry_model", f"/models/{model}"))
    champion = client.get_model_version_by_alias(model, "champion")
    pages.append(("6_champion_version", f"/models/{model}/versions/{champion.version}"))
    if audit is not None:
        pages.append(("7_audit_trail", f"/experiments/{audit.experiment_id}/runs"))
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--experiment-prefix", default="ChurnPrediction")
    parser.add_argument("--model-name", default="churn-model")
    parser.add_argument("--out", default="docs/ui")
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install Debian's Chromium "
                         "(sudo apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    client = MlflowClient(args.tracking_uri)
    pages = _pages(client, args.experiment_prefix, args.model_name)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    ui = _start_ui(args.tracking_uri, port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            context = browser.new_context(viewport={"width": args.width, "height": 1000})
            context.add_init_script(QUIET_UI)
            page = context.new_page()
            for name, fragment in pages:
                page.goto(f"http://127.0.0.1:{port}/#{fragment}", wait_until="load")
                page.wait_for_timeout(4000)  # the UI polls: no network idle; charts render late
                for tip in ("Got it", "Dismiss"):
                    button = page.get_by_role("button", name=tip)
                    if button.count():
                        button.first.click()
                more = page.get_by_text("Show more", exact=True)  # the whole run description
                if more.count():
                    more.first.click()
                    page.wait_for_timeout(500)
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                sys.stdout.write(f"{target}  <- #{fragment}\n")
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
