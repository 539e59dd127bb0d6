// edge-agent status page: polls the JSON API and renders it. All text goes through textContent (never
// innerHTML), so nothing a camera id, tag or OTA reason contains can become markup.
"use strict";

(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const CSRF = meta("csrf-token");
  const CSRF_HEADER = meta("csrf-header");
  const REFRESH_HEADER = meta("refresh-header");
  const REFRESH_MS = Number(meta("refresh-ms")) || 2000;
  const inspectionCards = new Map();
  const charts = new Map();

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function fill(tableId, rows) {
    const body = document.querySelector(`#${tableId} tbody`);
    const fresh = document.createElement("tbody");
    for (const cells of rows) {
      const tr = document.createElement("tr");
      for (const cell of cells) tr.appendChild(cell instanceof Node ? wrapCell(cell) : el("td", cell));
      fresh.appendChild(tr);
    }
    body.replaceWith(fresh);
  }

  function wrapCell(node) {
    const td = document.createElement("td");
    td.appendChild(node);
    return td;
  }

  const fmt = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");
  const time = (ms) => (ms ? new Date(ms).toLocaleTimeString() : "–");

  function duration(seconds) {
    const s = Math.floor(seconds);
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function badge(id, ok, text) {
    const node = document.getElementById(id);
    node.textContent = text;
    node.className = `badge ${ok ? "good" : "bad"}`;
  }

  function showProblem(text) {
    const node = document.getElementById("problem");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // polling sends the auto-refresh header, so only a person's actions keep a login from idling out
  async function api(path, options, automatic = true) {
    const headers = Object.assign(automatic ? { [REFRESH_HEADER]: "1" } : {}, (options && options.headers) || {});
    const response = await fetch(path, Object.assign({ credentials: "same-origin", cache: "no-store" }, options, { headers }));
    if (response.status === 401) {
      window.location.assign("/login?next=/");
      throw new Error("login required");
    }
    return response;
  }

  function renderStatus(s) {
    badge("broker", s.broker.connected, s.broker.connected ? "broker connected" : `broker: ${s.broker.detail}`);
    badge("ready", s.ready.ready, s.ready.ready ? "ready" : `not ready: ${s.ready.reasons.join("; ")}`);
    document.getElementById("uptime").textContent = `uptime ${duration(s.uptime_s)}`;
    fill("models", s.models.map((m) => [m.name, m.version, m.task, m.runtime, m.sha256.slice(0, 12), fmt(m.selftest_ms, 1)]));
    fill("streams", s.streams.map((r) => [
      r.stream, r.received, r.processed, r.dropped, r.malformed, r.failed,
      fmt(r.rate.received, 1), fmt(r.rate.processed, 1),
    ]));
    fill("latency", s.latency.map((l) => [l.pipeline, fmt(l.p50_ms, 2), fmt(l.p99_ms, 2), l.count]));
    fill("queues", s.queues.map((q) => {
      const bar = el("meter");
      bar.min = 0;
      bar.max = q.capacity;
      bar.value = q.depth;
      return [q.name, `${q.depth} / ${q.capacity}`, bar, q.dropped, q.policy];
    }));
    const box = s.outbox;
    document.getElementById("outbox").textContent = box
      ? `${box.records} records, ${(box.bytes / 1048576).toFixed(1)} of ${(box.budget_bytes / 1048576).toFixed(0)} MiB; dropped: ${
          Object.entries(box.dropped).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`
      : "no outbox on this agent";
    fill("tags", s.tags.map((t) => [t.asset, t.tag, t.value, t.unit || "", t.quality, time(t.timestamp_ms)]));
    fill("ota", s.ota_history.map((o) => [time(o.ts_ms), o.name, o.version, o.state, o.reason || ""]));
    renderCharts(s.assets);
    renderBaselines(s.baselines || []);
  }

  const g = (value) => (typeof value === "number" ? value.toPrecision(3) : "–");

  async function baselineAction(asset, action, button) {
    if (action === "reset" && !window.confirm(`Forget the baseline of ${asset} and commission it again?`)) return;
    const result = document.getElementById("baseline-result");
    const operator = document.getElementById("operator").value.trim() || "operator";
    button.disabled = true;
    try {
      const response = await api(`/api/v1/baselines/${encodeURIComponent(asset)}/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json", [CSRF_HEADER]: CSRF },
        body: JSON.stringify({ operator }),
      }, false);
      const body = await response.json();
      result.textContent = response.ok ? `${asset}: ${action} → ${body.outcome}` : `${asset}: ${action} refused: ${body.error}`;
      result.className = response.ok ? "good" : "bad";
    } catch (error) {
      result.textContent = `${asset}: ${action} failed: ${error.message}`;
      result.className = "bad";
    } finally {
      button.disabled = false;
    }
  }

  function baselineButtons(b) {
    const box = el("div", null, "label-action");
    if (b.status === "off") return box;
    const reset = el("button", "Reset", "baseline-reset");
    reset.type = "button";
    reset.dataset.asset = b.asset;
    reset.addEventListener("click", () => baselineAction(b.asset, "reset", reset));
    box.appendChild(reset);
    if (b.status === "commissioning") {
      const finish = el("button", "Finish", "baseline-finish");
      finish.type = "button";
      finish.disabled = !b.progress || b.progress[0] < b.min_windows;
      finish.title = `needs at least ${b.min_windows} windows`;
      finish.addEventListener("click", () => baselineAction(b.asset, "finish", finish));
      box.appendChild(finish);
    }
    return box;
  }

  function renderBaselines(list) {
    fill("baselines", list.map((b) => {
      const levels = b.levels || {};
      return [
        b.asset, b.status, b.progress ? `${b.progress[0]} / ${b.progress[1]}` : "",
        g(levels.order_1x_g), g(levels.order_2x_g), g(levels.order_3x_g), g(levels.velocity_rms_mm_s),
        b.iso_zone || "", b.rpm_range ? `${b.rpm_range[0]}–${b.rpm_range[1]}` : "", b.last_status || "",
        b.reason || "", baselineButtons(b),
      ];
    }));
  }

  function renderCharts(assets) {
    const holder = document.getElementById("health");
    for (const asset of assets) {
      let img = charts.get(asset);
      if (!img) {
        img = el("img", null, "chart");
        img.alt = `health trend of ${asset}`;
        img.width = 360;
        img.height = 130;
        charts.set(asset, img);
        holder.appendChild(img);
      }
      const next = new Image(); // load off-screen first, so the chart never flickers blank
      next.onload = () => { img.src = next.src; };
      next.src = `/api/v1/health/${encodeURIComponent(asset)}/chart.svg?t=${Date.now()}`;
    }
  }

  async function submitLabel(item, select, status, button) {
    const operator = document.getElementById("operator").value.trim() || "operator";
    window.localStorage.setItem("edge-agent-operator", operator);
    button.disabled = true;
    status.textContent = "sending…";
    try {
      const response = await api("/api/v1/labels", {
        method: "POST",
        headers: { "Content-Type": "application/json", [CSRF_HEADER]: CSRF },
        body: JSON.stringify({ camera: item.camera, part_id: item.part_id, label: select.value, operator }),
      }, false);
      const body = await response.json();
      status.textContent = response.ok ? `labelled ${body.label}` : `refused: ${body.error}`;
      status.className = `label-status ${response.ok ? "good" : "bad"}`;
    } catch (error) {
      status.textContent = `failed: ${error.message}`;
      status.className = "label-status bad";
    } finally {
      button.disabled = false;
    }
  }

  function labelControls(item) {
    const box = el("div", null, "label-action");
    if (!item.part_id || !item.labels.length) {
      box.appendChild(el("span", item.part_id ? "labels unknown" : "no part id to label", "muted"));
      return box;
    }
    const select = el("select");
    select.setAttribute("aria-label", "true label");
    for (const label of item.labels) {
      const option = el("option", label);
      option.value = label;
      option.selected = label === item.label;
      select.appendChild(option);
    }
    const button = el("button", "Confirm", "label-button");
    button.type = "button";
    const status = el("span", "", "label-status");
    select.addEventListener("change", () => {
      button.textContent = select.value === item.label ? "Confirm" : "Correct";
    });
    button.addEventListener("click", () => submitLabel(item, select, status, button));
    box.append(select, button, status);
    return box;
  }

  function addThumbnail(card, item) {
    if (item.thumbnail_id === null || card.querySelector("img.thumb")) return;
    const img = el("img", null, "thumb");
    img.alt = `${item.camera} ${item.part_id || ""}`;
    img.src = `/api/v1/thumbnails/${item.thumbnail_id}.jpg`;
    card.insertBefore(img, card.firstChild);
    if (item.highlight) card.insertBefore(el("div", `highlight: ${item.highlight}`, "note"), img.nextSibling);
  }

  function inspectionCard(item) {
    const card = el("div", null, `card verdict-${item.verdict === "ng" ? "ng" : "ok"}`);
    card.dataset.id = String(item.id);
    const head = el("div", null, "card-head");
    head.append(el("strong", item.verdict.toUpperCase(), "verdict"), el("span", ` ${item.label}`));
    card.append(head, el("div", `${item.camera} · ${item.part_id || "no part id"}`),
      el("div", `${time(item.ts_ms)} · ${item.model} ${item.version}`, "muted"), labelControls(item));
    addThumbnail(card, item);
    return card;
  }

  function renderInspections(list) {
    // keep existing cards (an operator may be choosing a label in one); add new ones, drop old ones
    const grid = document.getElementById("inspections");
    const wanted = new Set(list.map((item) => item.id));
    for (const [id, card] of inspectionCards) {
      if (!wanted.has(id)) {
        card.remove();
        inspectionCards.delete(id);
      }
    }
    let previous = null;
    for (const item of list) {
      let card = inspectionCards.get(item.id);
      if (!card) {
        card = inspectionCard(item);
        inspectionCards.set(item.id, card);
        if (previous) previous.after(card); else grid.prepend(card);
      } else {
        addThumbnail(card, item);
      }
      previous = card;
    }
  }

  // Line performance: a waterfall and an hourly OEE trend per unit, server-side SVGs refreshed every 10 s.
  const lineCharts = new Map();
  let lineRefreshedAt = 0;

  function loadChart(img, url) {
    const next = new Image(); // off-screen first, so the chart never flickers blank
    next.onload = () => { img.src = next.src; };
    next.src = `${url}?t=${Date.now()}`;
  }

  const LINE_PAGE = document.querySelector('meta[name="line-page"]').content === "on";

  async function refreshLine() {
    if (!LINE_PAGE || Date.now() - lineRefreshedAt < 10000) return;
    lineRefreshedAt = Date.now();
    const response = await api("/api/v1/line");
    const section = document.getElementById("line-section");
    if (!response.ok) { section.hidden = true; return; } // no line configured
    const units = Object.keys((await response.json()).units).sort();
    section.hidden = units.length === 0;
    const holder = document.getElementById("line");
    for (const unit of units) {
      let pair = lineCharts.get(unit);
      if (!pair) {
        pair = [el("img", null, "chart"), el("img", null, "chart")];
        pair[0].alt = `loss waterfall of ${unit}`;
        pair[1].alt = `OEE trend of ${unit}`;
        for (const img of pair) { img.width = 420; img.height = 170; holder.appendChild(img); }
        lineCharts.set(unit, pair);
      }
      const base = `/api/v1/line/${encodeURIComponent(unit)}`;
      loadChart(pair[0], `${base}/waterfall.svg`);
      loadChart(pair[1], `${base}/trend.svg`);
    }
    await refreshCycles();
  }

  async function refreshCycles() {
    const response = await api("/api/v1/line/cycles");
    const units = response.ok ? (await response.json()).units : {};
    const ids = Object.keys(units).sort();
    document.getElementById("line-cycles-block").hidden = ids.length === 0;
    fill("line-cycles", ids.map((id) => {
      const c = units[id];
      const latest = c.recent.length ? c.recent[c.recent.length - 1].reason : "";
      const pace = `${c.pace >= 0 ? "+" : ""}${fmt(c.pace * 100, 1)}%`;
      return [id, c.model ? c.model.version : "none", c.counts.normal, c.counts.slow, c.counts.micro_stop, pace,
        c.drift ? `since ${new Date(c.drift.since_ms).toLocaleTimeString()}` : "", latest];
    }));
  }

  async function refresh() {
    refreshLine().catch(() => {}); // never holds up the rest of the page
    try {
      const [status, inspections] = await Promise.all([
        api("/api/v1/status").then((r) => r.json()),
        api("/api/v1/inspections?limit=24").then((r) => r.json()),
      ]);
      renderStatus(status);
      renderInspections(inspections.inspections);
      document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
      showProblem("");
    } catch (error) {
      showProblem(`cannot reach the agent: ${error.message}`);
    } finally {
      window.setTimeout(refresh, REFRESH_MS);
    }
  }

  document.getElementById("operator").value = window.localStorage.getItem("edge-agent-operator") || "";
  refresh();
})();
