/* The monitoring dashboard: reads the service's JSON API every `refresh` seconds (?refresh=,
 * default the service's refresh_seconds) and redraws what changed. The token, if the service
 * wants one, comes from ?token= (then dropped from the address bar) or from the prompt shown
 * after a 401; it is kept in this tab's sessionStorage only. */
(function () {
  "use strict";

  const CONFIG = JSON.parse(document.body.dataset.config || "{}");
  const PARAMS = new URLSearchParams(window.location.search);
  const TOKEN_KEY = "churnmon.token";
  const REFRESH = Math.max(1, Number(PARAMS.get("refresh")) || Number(CONFIG.refresh) || 15);
  const BATCH_ROWS = 50;
  const COLORS = { ok: "#1a7f37", warning: "#b76e00", critical: "#cf222e", failed: "#6e7781",
                   realized: "#0969da", estimated: "#8250df", limit: "#cf222e",
                   retrain: "#b76e00", champion: "#1a7f37" };
  const PLOT_CONFIG = { responsive: true, displayModeBar: false, displaylogo: false };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", size: 12 };

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // --- token ---------------------------------------------------------------------------------

  if (PARAMS.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, PARAMS.get("token"));
    PARAMS.delete("token");
    const rest = PARAMS.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

  const tokenForm = document.getElementById("token-form");
  tokenForm.addEventListener("submit", function (event) {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
    tokenForm.hidden = true;
    poll();
  });

  // --- API -----------------------------------------------------------------------------------

  async function api(path, { optional = false } = {}) {
    const headers = { Accept: "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    let response;
    try {
      response = await fetch(path, { headers, cache: "no-store" });
    } catch (err) {
      throw new HttpError(0, "The service does not answer (" + err.message + ").");
    }
    if (response.ok) return response.json();
    if (optional && response.status === 404) return null;
    let message = response.statusText;
    try {
      const body = await response.json();
      message = (body.error && body.error.message) || body.message || message;
    } catch (_) { /* not JSON */ }
    throw new HttpError(response.status, message);
  }

  // --- small helpers -------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === "") continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(id, text) { document.getElementById(id).textContent = text == null ? "" : text; }

  function when(value, seconds = false) {
    if (value === undefined || value === null || value === "") return "";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(date)) return String(value);
    return date.toISOString().slice(0, seconds ? 19 : 16).replace("T", " ") + " UTC";
  }

  function time(value) {
    if (typeof value === "number") return value * 1000;
    const parsed = Date.parse(value);
    return isNaN(parsed) ? null : parsed;
  }

  function fmt(value, digits = 3) {
    if (value === undefined || value === null || value === "" || isNaN(Number(value))) return "–";
    return Number(value).toFixed(digits);
  }

  function statusOf(value) {
    const status = String(value || "").toLowerCase();
    return ["ok", "warning", "critical", "failed", "info"].includes(status) ? status : "unknown";
  }

  function badge(status, text) {
    return el("span", { class: "badge " + statusOf(status) }, text || status || "failed");
  }

  function version(info) {
    if (!info) return null;
    if (typeof info !== "object") return String(info);
    return info.version === undefined || info.version === null ? null : String(info.version);
  }

  function seqLabel(sequence) { return "#" + sequence; }

  function clock() { return new Date().toISOString().slice(11, 19) + " UTC"; }

  function few(items, shown) {
    return items.length <= shown ? items.join(", ")
      : items.slice(0, shown).join(", ") + " +" + (items.length - shown) + " more";
  }

  function phone() { return window.matchMedia("(max-width: 600px)").matches; }

  const NOTHING_YET = "No monitored batch yet: monitor one (churnmon monitor, or python " +
    "run_all.py for the demo) and it appears here.";

  function draw(id, traces, layout) {
    const node = document.getElementById(id);
    if (node.dataset.empty) {
      node.replaceChildren();
      delete node.dataset.empty;
    }
    Plotly.react(node, traces, layout, PLOT_CONFIG);
  }

  function placeholder(id, text) {
    const node = document.getElementById(id);
    Plotly.purge(node);
    node.replaceChildren(el("p", { class: "empty quiet" }, text));
    node.dataset.empty = "1";
  }

  // --- the model now -------------------------------------------------------------------------

  function setCard(id, big, note, status) {
    setText(id, big);
    setText(id + "-note", note);
    const card = document.getElementById("card-" + id);
    card.className = "card" + (status ? " st-" + status : "");
  }

  function renderState(models, retraining, newest) {
    if (models.name) setText("model-name", models.name);
    if (models.primary_metric) setText("primary-head", models.primary_metric);
    const serving = version(models.serving);
    setCard("serving", serving ? "v" + serving : "none",
            serving ? sinceNote(models.serving) : "no @champion alias");
    const fallback = version(models.fallback);
    setCard("fallback", fallback ? "v" + fallback : "none",
            fallback ? "@previous-champion" : "no earlier champion");
    const challenger = version(models.challenger);
    setCard("challenger", challenger ? "v" + challenger : "none waiting",
            challenger ? "awaiting approval" : "", challenger ? "warning" : null);
    if (newest) {
      const status = newest.status || "failed";
      setCard("verdict", status.toUpperCase(),
              seqLabel(newest.sequence) + " · " + when(newest.at), statusOf(status));
    } else {
      setCard("verdict", "no batch yet", "");
    }
    const last = retraining && retraining.last;
    if (last) {
      const verdict = last.verdict || last.run_status || "running";
      const made = last.new_version ? " v" + last.new_version : "";
      setCard("retraining", verdict + made, when(last.at || last.ended_at || last.started_at),
              verdict === "promoted" ? "ok" : verdict === "rejected" ? "warning" : null);
    } else {
      setCard("retraining", "none yet", "");
    }
    if (retraining) {
      const days = retraining.cooldown_days;
      if (retraining.in_cooldown) {
        setCard("cooldown", "in cooldown", "next eligible " + when(retraining.next_eligible),
                "warning");
      } else {
        setCard("cooldown", "eligible", days !== undefined ? days + " days after a retraining" : "",
                "ok");
      }
    }
  }

  function sinceNote(info) {
    if (!info || typeof info !== "object") return "";
    const since = info.promoted_at || info.created_at;
    return since ? "since " + when(since) : "@champion";
  }

  // --- alerts --------------------------------------------------------------------------------

  function renderAlerts(data, links) {
    const list = document.getElementById("alerts");
    const alerts = data.alerts || [];
    setText("alerts-count", alerts.length ? "(" + alerts.length + " newest)" : "");
    if (!alerts.length) {
      list.replaceChildren(el("li", { class: "quiet" }, "No alerts."));
      return;
    }
    list.replaceChildren(...alerts.map(function (alert) {
      const link = links.get(alert.run_id) || {};
      const batch = link.run
        ? el("a", { href: link.run, target: "_blank", rel: "noopener" }, seqLabel(alert.sequence))
        : seqLabel(alert.sequence);
      return el("li", { class: "alert " + statusOf(alert.severity) },
                el("div", { class: "head" }, badge(alert.severity), el("span", { class: "rule" },
                   alert.rule), el("span", { class: "quiet" }, "batch ", batch, " · ", when(alert.at))),
                el("p", { class: "msg" }, alert.message));
    }));
  }

  // --- performance over batches --------------------------------------------------------------

  function batchOfTime(points, at) {
    // The batch whose cycle started the retraining: the newest monitored at or before `at`.
    const t = time(at);
    let found = null;
    for (const point of points) {
      const pt = time(point.at);
      if (t !== null && pt !== null && pt <= t) found = point.sequence;
    }
    return found;
  }

  function renderPerformance(history) {
    const points = (history.points || []).slice().sort((a, b) => a.sequence - b.sequence);
    const x = points.map((p) => p.sequence);
    const metric = history.metric || "metric";
    setText("perf-title", "Performance over batches: " + metric);
    if (!points.length) return placeholder("perf", NOTHING_YET);
    const pick = (key) => points.map((p) => (p[key] === undefined ? null : p[key]));
    const traces = [
      { x, y: pick("upper"), name: "band", mode: "lines", line: { width: 0 },
        hoverinfo: "skip", showlegend: false, connectgaps: false },
      { x, y: pick("lower"), name: "estimate band", mode: "lines", line: { width: 0 },
        fill: "tonexty", fillcolor: "rgba(130,80,223,0.15)", hoverinfo: "skip",
        connectgaps: false },
      { x, y: pick("estimated"), name: "estimated", mode: "lines+markers",
        line: { color: COLORS.estimated, dash: "dash" }, marker: { size: 6 },
        hovertemplate: "batch #%{x}<br>estimated %{y:.3f}<extra></extra>" },
      { x, y: pick("realized"), name: "realized", mode: "lines+markers",
        line: { color: COLORS.realized, width: 2.5 },
        marker: { size: 9, color: points.map((p) => COLORS[statusOf(p.status)] || COLORS.failed),
                  line: { color: "#fff", width: 1 } },
        customdata: points.map((p) => [p.status || "", p.champion_version || ""]),
        hovertemplate: "batch #%{x}<br>realized %{y:.3f}<br>%{customdata[0]} · champion " +
                       "v%{customdata[1]}<extra></extra>" },
    ];
    const shapes = [];
    const annotations = [];
    if (history.limit_line !== null && history.limit_line !== undefined && x.length) {
      traces.push({ x: [Math.min(...x) - 0.5, Math.max(...x) + 0.5],
                    y: [history.limit_line, history.limit_line], mode: "lines",
                    name: "alert line " + fmt(history.limit_line),
                    line: { color: COLORS.limit, dash: "dot", width: 1.5 }, hoverinfo: "name" });
    }
    const marker = function (sequence, color, text, row) {
      shapes.push({ type: "line", xref: "x", yref: "paper", x0: sequence, x1: sequence,
                    y0: 0, y1: 1, line: { color, width: 1.5, dash: "dot" } });
      annotations.push({ x: sequence, xref: "x", yref: "paper", y: row, yanchor: "bottom",
                         text, showarrow: false, font: { color, size: 11 },
                         bgcolor: "rgba(255,255,255,0.85)" });
    };
    for (const retraining of history.retrainings || []) {
      const sequence = retraining.sequence !== undefined ? retraining.sequence
        : batchOfTime(points, retraining.at);
      if (sequence === null) continue;
      const verdict = retraining.verdict || "retraining";
      marker(sequence + 0.12, COLORS.retrain, phone() ? "retrain" : "retrain: " + verdict, 1.0);
    }
    for (const change of history.champion_changes || []) {
      marker(change.sequence - 0.12, COLORS.champion, "v" + change.from + "→v" + change.to, 0.9);
    }
    const layout = {
      font: FONT, margin: { l: 48, r: 12, t: 26, b: 40 }, autosize: true,
      height: phone() ? 280 : 370, hovermode: "closest",
      xaxis: { tickprefix: "#", dtick: 1, zeroline: false },
      yaxis: { title: { text: metric }, zeroline: false },
      legend: { orientation: "h", y: -0.12, yanchor: "top", x: 0 },
      shapes, annotations,
    };
    draw("perf", traces, layout);
  }

  // --- drift heat map ------------------------------------------------------------------------

  function renderHeatmap(matrix) {
    const features = matrix.features || [];
    const sequences = matrix.sequences || [];
    const effect = matrix.effect || [];
    const drifted = matrix.drifted || [];
    const pValue = matrix.p_value || [];
    if (!features.length || !sequences.length) return placeholder("heatmap", NOTHING_YET);
    const columns = sequences.map(seqLabel);
    // PSI above 0.25 is a large shift: the scale stops at 1 so that moderate shifts show too.
    let top = 0.3;
    for (const row of effect) for (const v of row) if (v !== null && v > top) top = v;
    const capped = top > 1;
    top = Math.min(top, 1);
    const custom = features.map((_, i) => sequences.map((__, j) => {
      const p = pValue[i] ? pValue[i][j] : null;
      return [p === null || p === undefined ? "–" : Number(p).toPrecision(3),
              drifted[i] && drifted[i][j] ? "drifted" : "not drifted"];
    }));
    const marks = { x: [], y: [] };
    features.forEach((feature, i) => sequences.forEach((_, j) => {
      if (drifted[i] && drifted[i][j]) { marks.x.push(columns[j]); marks.y.push(feature); }
    }));
    const traces = [
      { type: "heatmap", x: columns, y: features, z: effect, zmin: 0, zmax: top,
        colorscale: [[0, "#f6f8fa"], [0.1, "#fff1c5"], [0.4, "#fb8f44"], [1, "#a40e26"]],
        xgap: 1, ygap: 1, customdata: custom, hoverongaps: false,
        colorbar: phone()
          ? { title: { text: "PSI", side: "right" }, orientation: "h", thickness: 8, len: 0.8,
              x: 0.5, xanchor: "center", y: -0.06, yanchor: "top" }
          : { title: { text: capped ? "PSI<br>(≥1 dark)" : "PSI" }, thickness: 10, len: 0.9 },
        hovertemplate: "%{y} · batch %{x}<br>PSI %{z:.3f}<br>p %{customdata[0]}" +
                       "<br>%{customdata[1]}<extra></extra>" },
      { type: "scatter", mode: "markers", x: marks.x, y: marks.y, name: "drifted",
        marker: { symbol: "x-thin", size: 10, line: { width: 2, color: "#1f2328" } },
        hoverinfo: "skip", showlegend: false },
    ];
    const small = phone();
    const layout = {
      font: small ? { ...FONT, size: 10 } : FONT, autosize: true,
      margin: { l: 10, r: 10, t: 8, b: small ? 70 : 36 },
      height: Math.max(200, (small ? 100 : 60) + (small ? 20 : 24) * features.length),
      xaxis: { type: "category", tickangle: 0, automargin: true, nticks: small ? 8 : 30,
               range: [-0.5, columns.length - 0.5] },
      yaxis: { type: "category", automargin: true, range: [features.length - 0.5, -0.5] },
    };
    draw("heatmap", traces, layout);
  }

  // --- data quality --------------------------------------------------------------------------

  function count(value) {
    if (Array.isArray(value)) return value.length;
    if (value && typeof value === "object") return Object.keys(value).length;
    return value === undefined || value === null ? null : Number(value);
  }

  function renderQuality(quality) {
    const points = (quality.points || []).slice().sort((a, b) => a.sequence - b.sequence);
    const x = points.map((p) => p.sequence);
    const refused = quality.refused_files;
    setText("quality-note", refused ? "(" + refused + " refused file" + (refused === 1 ? "" : "s") +
            " in the inbox)" : "");
    if (!points.length) return placeholder("quality", NOTHING_YET);
    const traces = [
      { type: "bar", x, y: points.map((p) => count(p.issues)), name: "issues", yaxis: "y2",
        marker: { color: "rgba(183,110,0,0.35)" },
        hovertemplate: "batch #%{x}<br>%{y} issues<extra></extra>" },
    ];
    const shares = new Set();
    for (const p of points) {
      for (const [key, value] of Object.entries(p)) {
        if (key.endsWith("_share") && (typeof value === "number" || value === null)) shares.add(key);
      }
    }
    const palette = ["#0969da", "#8250df", "#1a7f37", "#cf222e", "#6e7781"];
    [...shares].sort().forEach((key, i) => traces.push({
      type: "scatter", mode: "lines+markers", x, name: key.replace(/_share$/, "").replace(/_/g, " ") + " %",
      y: points.map((p) => (p[key] === null || p[key] === undefined ? null : 100 * p[key])),
      line: { color: palette[i % palette.length] },
      hovertemplate: "batch #%{x}<br>%{y:.2f} %<extra>" + key + "</extra>" }));
    const layout = {
      font: FONT, autosize: true, margin: { l: 44, r: 40, t: 10, b: 40 },
      height: phone() ? 240 : 340, barmode: "overlay",
      xaxis: { tickprefix: "#", dtick: 1 },
      yaxis: { title: { text: "% of rows" }, rangemode: "tozero" },
      yaxis2: { title: { text: "issues" }, overlaying: "y", side: "right", rangemode: "tozero",
                showgrid: false, dtick: 1 },
      legend: { orientation: "h", y: -0.12, yanchor: "top", x: 0 },
    };
    draw("quality", traces, layout);
  }

  // --- batch table ---------------------------------------------------------------------------

  let shownRuns = null;

  function renderBatches(data) {
    const batches = data.batches || [];
    const total = data.total === undefined ? batches.length : data.total;
    setText("batches-count", "(" + total + (total > batches.length ? ", newest " +
            batches.length + " shown" : "") + ")");
    const first = batches.find((b) => b.primary && b.primary.metric);
    if (first) setText("primary-head", first.primary.metric);
    document.getElementById("batches-empty").hidden = batches.length > 0;
    const tbody = document.querySelector("#batches tbody");
    const before = shownRuns;
    tbody.replaceChildren(...batches.map(function (b) {
      const primary = b.primary || {};
      const value = primary.realized !== null && primary.realized !== undefined
        ? fmt(primary.realized) : (primary.estimated !== null && primary.estimated !== undefined
          ? "est. " + fmt(primary.estimated) : "–");
      const links = b.links || {};
      const row = el("tr", { "data-run": b.run_id, "data-sequence": b.sequence },
        el("td", { class: "nowrap" }, seqLabel(b.sequence), " ",
           el("span", { class: "quiet hide-phone" }, b.run_name || "")),
        el("td", { class: "nowrap hide-phone" }, when(b.at)),
        el("td", {}, badge(b.status || "failed", b.status || (b.run_status || "failed").toLowerCase())),
        el("td", { class: "num hide-phone" },
           b.n_rows === null || b.n_rows === undefined ? "–" : b.n_rows),
        el("td", { class: "hide-phone" }, b.has_labels ? "yes" : "no"),
        el("td", { class: "hide-phone" }, b.champion_version ? "v" + b.champion_version : "–"),
        el("td", { class: "num" }, value),
        el("td", { class: "hide-phone", title: (b.alerts || []).join(", ") },
           few(b.alerts || [], 3)),
        el("td", { class: "hide-phone", title: (b.drifted_features || []).join(", ") },
           few(b.drifted_features || [], 4)),
        el("td", { class: "hide-phone nowrap" }, (b.decision || "").replace(/_/g, " ")),
        el("td", { class: "links" },
           links.run ? el("a", { href: links.run, target: "_blank", rel: "noopener",
                                 class: "run-link" }, "run ↗") : "",
           links.report ? el("a", { href: links.report, target: "_blank", rel: "noopener",
                                    class: "report-link" }, "report ↗") : ""));
      if (before && !before.has(b.run_id)) row.classList.add("fresh");
      return row;
    }));
    shownRuns = new Set(batches.map((b) => b.run_id));
  }

  // --- polling -------------------------------------------------------------------------------

  const drawn = {};

  function changed(name, data) {
    const { as_of: _, ...rest } = data || {};
    const key = JSON.stringify(rest);
    if (drawn[name] === key) return false;
    drawn[name] = key;
    return true;
  }

  function banner(text) {
    const node = document.getElementById("banner");
    node.textContent = text || "";
    node.hidden = !text;
  }

  let lastAsOf = null;
  let timer = null;

  // One poll at a time: a poll asked for while one is waiting for the API (a resize, a token
  // typed) runs once that one ends, instead of starting a second timer chain.
  let inFlight = false;
  let again = false;

  async function poll() {
    if (inFlight) { again = true; return; }
    inFlight = true;
    clearTimeout(timer);
    let resume = true;
    try {
      resume = await pollOnce();
    } finally {
      inFlight = false;
    }
    if (!resume) return;  // polling resumes once a token is given
    const soon = again;
    again = false;
    timer = setTimeout(poll, soon ? 0 : REFRESH * 1000);
  }

  async function pollOnce() {
    try {
      const [models, retraining, alerts, history, matrix, quality, batches] = await Promise.all([
        api("/models"), api("/retraining/status"), api("/alerts?limit=30"),
        api("/metrics/history"), api("/drift/matrix?limit=50"), api("/quality/history"),
        api("/batches?limit=" + BATCH_ROWS),
      ]);
      banner("");
      tokenForm.hidden = true;
      const links = new Map((batches.batches || []).map((b) => [b.run_id, b.links || {}]));
      const newest = (batches.batches || [])[0];
      if (changed("state", { models, retraining, newest })) renderState(models, retraining, newest);
      const newAlerts = changed("alerts", alerts);
      if (changed("alert-links", { l: [...links] }) || newAlerts) renderAlerts(alerts, links);
      if (changed("history", history)) renderPerformance(history);
      if (changed("matrix", matrix)) renderHeatmap(matrix);
      if (changed("quality", quality)) renderQuality(quality);
      if (changed("batches", batches)) renderBatches(batches);
      lastAsOf = batches.as_of || models.as_of || lastAsOf;
      document.body.dataset.batches = String(batches.total === undefined
        ? (batches.batches || []).length : batches.total);
      setText("as-of", "as of " + when(lastAsOf, true));
      setText("poll", "· checked " + clock() + ", every " + REFRESH + " s");
    } catch (err) {
      if (err.status === 401) {
        banner("This service needs a token: " + err.message);
        tokenForm.hidden = false;
        document.getElementById("token-input").focus();
        return false;
      }
      const stale = lastAsOf ? " Showing the data as of " + when(lastAsOf) + "." : "";
      if (err.status === 503) {
        banner("The tracking store is unavailable (503): " + err.message + stale +
               " Retrying every " + REFRESH + " s.");
      } else if (err.status === 0) {
        banner(err.message + stale + " Retrying every " + REFRESH + " s.");
      } else {
        banner("The service answered " + err.status + ": " + err.message + stale);
      }
      setText("poll", "· last try " + clock());
    }
    return true;
  }

  // Chart heights follow the layout (phone or desktop): redraw them when it switches.
  let wasPhone = phone();
  window.addEventListener("resize", function () {
    if (phone() !== wasPhone) {
      wasPhone = phone();
      for (const name of ["history", "matrix", "quality"]) delete drawn[name];
      poll();
    }
  });

  poll();
})();
