"""The pages `make ui-check` opens and what proves each one rendered (pure: no browser, no
store; scripts/ui_check.py reads the store and drives Chromium).

Each page names the elements it must show once loaded (Playwright selectors: CSS, `text=`
for a case-insensitive substring, chained with ``>>``), chosen from the store's facts (run
names, tags, aliases), not from fixed names: a page that is still MLflow's loading skeleton
shows none of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: MLflow 3.17's loading states (read from the DOM of loading pages in Chromium): the Du Bois
#: skeletons (`du-bois-light-skeleton*`), spinners (`du-bois-light-spin-spinning`), the old
#: spinner image, the runs grid's loading overlay, progress bars.
LOADING = ", ".join([
    "[class*=skeleton i]",
    "[class*=-spin-spinning]",
    ".mlflow-loading-spinner",
    ".ag-overlay-loading-wrapper",
    "[role=progressbar]",
    "[aria-busy=true]",
])

#: Loading indicators a person would see on the screenshot: displayed, of non-zero size and
#: not clipped away by a scrolling ancestor (the chart view keeps spinners in the cards below
#: its fold until they scroll into view; those are not on the screenshot).
SEEN_LOADING_JS = """
(selector) => {
  const seen = (e) => {
    const style = getComputedStyle(e);
    if (style.display === 'none' || style.visibility === 'hidden' || style.opacity === '0')
      return false;
    const r = e.getBoundingClientRect();
    let top = r.top, bottom = r.bottom, left = r.left, right = r.right;
    if (right - left < 1 || bottom - top < 1) return false;
    for (let a = e.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
      if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
        const c = a.getBoundingClientRect();
        top = Math.max(top, c.top); bottom = Math.min(bottom, c.bottom);
        left = Math.max(left, c.left); right = Math.min(right, c.right);
        if (right - left < 1 || bottom - top < 1) return false;
      }
    }
    return true;
  };
  return [...document.querySelectorAll(selector)].filter(seen)
    .map((e) => (e.getAttribute('class') || e.getAttribute('role') || e.tagName).slice(0, 80));
}
"""

#: How many of the newest runs the runs table surely draws at first.
TOP_ROWS = 10

#: Images of a page (or its report frame) that did not load: broken or still downloading.
UNLOADED_IMAGES_JS = """
() => [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0))
  .map((i) => (i.getAttribute('alt') || i.src).slice(0, 80))
"""


@dataclass(frozen=True)
class Expect:
    """One element a page must show: ``what`` (for the person reading a failure) and the
    Playwright selector that finds it, inside the iframe ``frame`` if given."""

    what: str
    selector: str
    frame: str | None = None


@dataclass(frozen=True)
class Page:
    """A page a reviewer opens: its screenshot's file stem, the URL fragment after ``#``,
    and what proves it rendered."""

    name: str
    fragment: str
    expect: tuple[Expect, ...]
    #: iframes whose images must have loaded too (the HTML report)
    frames: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFacts:
    """What a page check needs of a run: ids, its name, its description, a param key."""

    run_id: str
    experiment_id: str
    name: str
    description: str = ""
    param: str | None = None
    health: str = "health/roc_auc"
    """The run's headline metric in the health section (``health/<primary metric>``: roc_auc,
    rmse or macro_f1, as the model's type says)."""

    @property
    def fragment(self) -> str:
        return f"/experiments/{self.experiment_id}/runs/{self.run_id}"


@dataclass(frozen=True)
class VersionFacts:
    version: str
    alias: str
    tag: str | None = None


@dataclass
class StoreFacts:
    """What the store holds for the reviewer's pages; None where it holds nothing."""

    experiments: Mapping[str, str | None]  # role (monitoring, retraining, audit) -> id
    experiment_names: Mapping[str, str]  # role -> name
    model: str
    newest_monitoring: RunFacts | None = None
    critical: RunFacts | None = None
    drift: RunFacts | None = None
    retraining: RunFacts | None = None
    report: str | None = None  # the critical run's HTML report (artifact path)
    champion: VersionFacts | None = None
    fallback: VersionFacts | None = None
    newest_audit: RunFacts | None = None
    model_description: bool = False
    #: the critical run is among the runs table's first rows (the table loads and draws
    #: only the newest runs: an older one is checked on its own page only)
    critical_on_top: bool = True


def text(value: str) -> str:
    """A Playwright ``text=`` selector: the smallest elements whose text contains ``value``
    (case-insensitive, whitespace normalized). A ``>>`` would end the selector: only what
    precedes one is used."""
    return "text=" + " ".join(value.split(">>")[0].split())


def headline_text(markdown: str) -> str:
    """The plain text of a Markdown description's first line as MLflow renders it (heading
    marks, emphasis, code ticks and link targets dropped): what the run page shows first.
    The longest piece between markup characters, so inline code or a link in the line
    cannot break the match. Empty when there is no description."""
    for line in markdown.splitlines():
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.strip())  # [text](url) -> text
        line = re.sub(r"^(#+|[-*>]|\d+\.)\s+", "", line)
        pieces = [p.strip(" :·|") for p in re.split(r"\*\*|`|\*|\||<[^>]*>", line)]
        pieces = [p for p in pieces if p]
        if pieces:
            return max(pieces, key=len)
    return ""


def _run_page(name: str, run: RunFacts) -> Page:
    expect = [Expect(f"run name {run.name!r}", text(run.name))]
    line = headline_text(run.description)
    if line:
        expect.append(Expect(f"description starting {line[:40]!r}",
                             f"[data-testid=note-editor-preview-content] >> {text(line)}"))
    if run.param:
        expect.append(Expect(f"parameter {run.param!r}", text(run.param)))
    return Page(name, run.fragment, tuple(expect))


def _runs_table(name: str, experiment_id: str, runs: Sequence[RunFacts]) -> Page:
    return Page(name, f"/experiments/{experiment_id}/runs", tuple(
        Expect(f"run {r.name!r} in the runs table", f"[role=row] >> {text(r.name)}")
        for r in runs))


def _chart_view(name: str, experiment_id: str, run: RunFacts) -> Page:
    return Page(name, f"/experiments/{experiment_id}/runs?compareRunsMode=CHART", (
        Expect(f"run {run.name!r} in the run list", text(run.name)),
        Expect("a metric chart with its plot",
               "[data-testid=experiment-view-compare-runs-card] .js-plotly-plot")))


def _version_page(name: str, model: str, v: VersionFacts) -> Page:
    expect = [Expect(f"version {v.version}", text(f"Version {v.version}")),
              Expect(f"alias @{v.alias}", f'[data-component-type=tag] >> text="@ {v.alias}"')]
    if v.tag:
        expect.append(Expect(f"version tag {v.tag!r}", text(v.tag)))
    return Page(name, f"/models/{model}/versions/{v.version}", tuple(expect))


def plan_pages(facts: StoreFacts) -> tuple[list[Page], list[str]]:
    """The pages for the reviewer's four questions (is the model healthy and which batches
    were bad; why did the drift batch alert; why was the champion promoted; which version
    serves, what is the fallback and how did it get there), and what the store lacks for
    the others (each a page that cannot be shown)."""
    names = facts.experiment_names
    pages = [Page("0_experiments", "/experiments", tuple(
        Expect(f"experiment {names[role]!r}", text(names[role]))
        for role in ("monitoring", "retraining", "audit") if facts.experiments.get(role)))]
    missing = []
    monitoring = facts.experiments.get("monitoring")
    shown = [r for r in (facts.newest_monitoring,
                         facts.critical if facts.critical_on_top else None) if r is not None]
    if monitoring is None or not shown:
        missing.append(f"no monitoring runs (experiment {names['monitoring']!r})")
    else:
        shown = list(dict.fromkeys(shown))
        pages.append(_runs_table("1_monitoring_runs", monitoring, shown))
        pages.append(_chart_view("1b_monitoring_charts", monitoring, shown[0]))
    if facts.critical is None:
        missing.append("no critical monitoring run (tag monitoring.status = critical)")
    else:
        pages.append(_run_page("2_critical_run", facts.critical))
        # the run's own charts: health/ first, and the chart named as the primary metric
        # (roc_auc, rmse, macro_f1) is the batch's
        pages.append(Page("2b_critical_run_metrics", f"{facts.critical.fragment}/model-metrics", (
            Expect("the health section", text(facts.critical.health)),
            Expect("a metric chart with its plot", ".js-plotly-plot"))))
        if facts.report is None:
            missing.append(f"no HTML report among the artifacts of {facts.critical.name!r}")
        else:
            frame = "iframe"
            pages.append(Page(
                "3_critical_run_report", f"{facts.critical.fragment}/artifacts/{facts.report}",
                (Expect(f"artifact {facts.report!r} in the artifact tree",
                        text(facts.report.rsplit("/", 1)[-1])),
                 Expect("the report's heading inside the artifact viewer", "h1", frame)),
                frames=(frame,)))
    if facts.drift is None:
        missing.append("no monitoring run with drifted features")
    else:
        pages.append(_run_page("3b_drift_run", facts.drift))
    if facts.retraining is None:
        missing.append("no retraining run (tag retraining.role = parent)")
    else:
        pages.append(_run_page("4_retraining_run", facts.retraining))
    versions = [v for v in (facts.champion, facts.fallback) if v is not None]
    if versions:
        expect = [Expect(f"version {v.version} in the versions table",
                         f"[data-testid=model-version-table] >> {text(f'Version {v.version}')}")
                  for v in versions]
        if facts.model_description:
            expect.append(Expect("the model's description",
                                 "[data-testid=note-editor-preview-content]"))
        pages.append(Page("5_registry_model", f"/models/{facts.model}", tuple(expect)))
    if facts.champion is None:
        missing.append(f"no champion version of {facts.model!r}")
    else:
        pages.append(_version_page("6_champion_version", facts.model, facts.champion))
    if facts.fallback is None:
        missing.append(f"no fallback (previous champion) version of {facts.model!r}")
    else:
        pages.append(_version_page("6b_fallback_version", facts.model, facts.fallback))
    audit = facts.experiments.get("audit")
    if audit is None or facts.newest_audit is None:
        missing.append(f"no audit runs (experiment {names['audit']!r})")
    else:
        pages.append(_runs_table("7_audit_trail", audit, [facts.newest_audit]))
    return pages, missing
