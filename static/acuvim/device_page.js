/* Device cockpit: live telemetry charts (uPlot) with history ranges and a picker of quantity sets drawn with
 * min/max bands, the command panel and the config editor.
 * Fed by /ws/devices/<device_id>/ (snapshot, TelemetryReceived, HeartbeatReceived, CommandUpdated,
 * CommandCompleted) and by the admin JSON views under /admin/devices/device/<pk>/live/.
 */
(function () {
  "use strict";

  const root = document.querySelector(".acv-cockpit");
  if (!root) return;

  const QUANTITIES = [
    { key: "voltage_avg", wire: "vavg", label: "Voltage", unit: "V", color: "#1565c0" },
    { key: "current_avg", wire: "iavg", label: "Current", unit: "A", color: "#2e7d32" },
    { key: "power_total", wire: "pt", label: "Power", unit: "W", color: "#c62828" },
    { key: "power_factor", wire: "pft", label: "Power factor", unit: "", color: "#6a1b9a" },
    { key: "frequency", wire: "f", label: "Frequency", unit: "Hz", color: "#ef6c00" },
  ];
  const CHART_HEIGHT = 150;
  const RANGE_SECONDS = { "1h": 3600, "24h": 86400, "7d": 604800, "30d": 2592000 };
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const jsonData = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };

  const CHART_SETS = jsonData("acv-chart-sets") || {};
  const SET_COLORS = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a"];
  const AGGREGATES = ["avg", "min", "max"];

  // --- Telemetry ----------------------------------------------------------------------------
  let range = "1h";
  let chartSet = ""; // "" is the overview: one chart per chart quantity, averages only
  let setChart = null;
  let setSeries = null;
  let series = emptySeries();
  const charts = [];

  function emptySeries() {
    const s = { t: [] };
    QUANTITIES.forEach((q) => { s[q.key] = []; });
    return s;
  }

  function epochSeconds(value) {
    if (value == null) return Date.now() / 1000;
    return typeof value === "number" ? value : Date.parse(value) / 1000;
  }

  function valueOf(reading, q) {
    const value = reading[q.key] !== undefined ? reading[q.key] : reading[q.wire];
    return value === undefined ? null : value;
  }

  function buildCharts() {
    const host = document.getElementById("acv-charts");
    if (!host || !window.uPlot) return;
    // Two charts side by side when there is room; the grid and uPlot's canvas width must agree.
    const chartWidth = () => {
      const columns = host.clientWidth > 800 ? 2 : 1;
      host.style.gridTemplateColumns = "repeat(" + columns + ", 1fr)";
      return Math.max(280, Math.floor(host.clientWidth / columns) - 24);
    };
    const width = chartWidth();
    QUANTITIES.forEach((q) => {
      const box = document.createElement("div");
      box.className = "acv-chart";
      box.dataset.quantity = q.key;
      host.append(box);
      charts.push(new uPlot({
        width, height: CHART_HEIGHT,
        title: q.label + (q.unit ? " (" + q.unit + ")" : ""),
        cursor: { sync: { key: "acv-telemetry" } },
        legend: { show: false },
        scales: { x: { time: true } },
        series: [{}, { label: q.label, stroke: q.color, width: 1.5, spanGaps: false }],
        axes: [{ stroke: "#777" }, { stroke: "#777", size: 60 }],
      }, [series.t, series[q.key]], box));
    });
    window.addEventListener("resize", () => {
      const w = chartWidth();
      charts.forEach((chart) => chart.setSize({ width: w, height: CHART_HEIGHT }));
    });
  }

  function redraw() {
    charts.forEach((chart, i) => chart.setData([series.t, series[QUANTITIES[i].key]]));
    root.dataset.points = String(series.t.length);
  }

  async function loadHistory(name) {
    range = name;
    root.querySelectorAll("[data-range]").forEach((b) => b.classList.toggle("acv-range--active", b.dataset.range === name));
    let url = root.dataset.historyUrl + "?range=" + encodeURIComponent(name);
    if (chartSet) url += "&set=" + encodeURIComponent(chartSet);
    const wanted = chartSet;
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    if (name !== range || wanted !== chartSet) return; // the operator picked something else meanwhile
    if (chartSet) { drawSet(body); return; }
    series = emptySeries();
    for (const point of body.points) {
      series.t.push(epochSeconds(point.t));
      QUANTITIES.forEach((q) => series[q.key].push(valueOf(point, q)));
    }
    redraw();
  }

  // One chart for a set of quantities: each one's average as a line, its min..max as a shaded band.
  function drawSet(body) {
    const host = document.getElementById("acv-set-chart");
    const fields = CHART_SETS[chartSet].fields;
    setSeries = [[]].concat(fields.flatMap(() => [[], [], []]));
    for (const point of body.points) {
      setSeries[0].push(epochSeconds(point.t));
      fields.forEach((f, i) => AGGREGATES.forEach((agg, j) => setSeries[1 + 3 * i + j].push(point[f.field][agg])));
    }
    if (setChart) setChart.destroy();
    host.replaceChildren();
    const uplotSeries = [{}];
    const bands = [];
    fields.forEach((f, i) => {
      const color = SET_COLORS[i % SET_COLORS.length];
      const label = f.label + (f.unit ? " (" + f.unit + ")" : "");
      uplotSeries.push({ label, stroke: color, width: 1.5, spanGaps: false });
      uplotSeries.push({ label: label + " min", stroke: color + "55", width: 0.5 });
      uplotSeries.push({ label: label + " max", stroke: color + "55", width: 0.5 });
      bands.push({ series: [3 + 3 * i, 2 + 3 * i], fill: color + "22" });
    });
    setChart = new uPlot({
      width: Math.max(280, host.clientWidth - 24), height: 2 * CHART_HEIGHT,
      title: CHART_SETS[chartSet].label + " (average, min-max band)",
      scales: { x: { time: true } }, series: uplotSeries, bands,
      axes: [{ stroke: "#777" }, { stroke: "#777", size: 60 }],
    }, setSeries, host);
    root.dataset.points = String(setSeries[0].length);
  }

  function chooseSet(key) {
    chartSet = key;
    // style.display, not `hidden`: the charts' grid layout would override the attribute.
    document.getElementById("acv-charts").style.display = key ? "none" : "";
    document.getElementById("acv-set-chart").style.display = key ? "" : "none";
    loadHistory(range);
  }

  function appendToSet(reading) {
    const record = reading.record || {};
    const t = epochSeconds(reading.ts);
    if (!setSeries.length || (setSeries[0].length && t <= setSeries[0][setSeries[0].length - 1])) return;
    setSeries[0].push(t);
    CHART_SETS[chartSet].fields.forEach((f, i) => {
      const value = record[f.field] === undefined ? null : record[f.field];
      AGGREGATES.forEach((_, j) => setSeries[1 + 3 * i + j].push(value));
    });
    setChart.setData(setSeries);
  }

  function appendReading(reading) {
    if (chartSet) { if (setChart) appendToSet(reading); return; }
    const t = epochSeconds(reading.ts);
    if (series.t.length && t <= series.t[series.t.length - 1]) return; // replayed (SD) data is history, not live
    series.t.push(t);
    QUANTITIES.forEach((q) => series[q.key].push(valueOf(reading, q)));
    const horizon = Date.now() / 1000 - RANGE_SECONDS[range];
    while (series.t.length && series.t[0] < horizon) {
      series.t.shift();
      QUANTITIES.forEach((q) => series[q.key].shift());
    }
    redraw();
  }

  function showLatest(reading) {
    if (!reading) return;
    QUANTITIES.forEach((q) => {
      const el = root.querySelector('[data-latest="' + q.key + '"]');
      const value = valueOf(reading, q);
      if (el && value != null) {
        el.textContent = (Math.round(value * 100) / 100) + (el.dataset.unit || "");
        AcuvimLive.flash(el);
      }
    });
    const at = root.querySelector("[data-latest-at]");
    if (at && reading.ts != null) {
      at.setAttribute("datetime", new Date(epochSeconds(reading.ts) * 1000).toISOString());
      at.setAttribute("data-relative", "");
      at.textContent = AcuvimLive.relativeText(new Date(at.getAttribute("datetime")));
    }
  }

  // --- Energy per day -----------------------------------------------------------------------
  // Bars of active energy imported and exported per UTC day, the last ENERGY_DAYS days, from the REST
  // energy endpoint (the admin session authenticates it); drawn with the same uPlot as the charts.
  const ENERGY_DAYS = 30;
  const ENERGY_SERIES = [
    { key: "ep_imp_kwh", label: "Imported (kWh)", color: "#1565c0", align: -1 },
    { key: "ep_exp_kwh", label: "Exported (kWh)", color: "#ef6c00", align: 1 },
  ];

  async function loadEnergy() {
    const host = document.getElementById("acv-energy-chart");
    if (!host || !window.uPlot || !root.dataset.energyUrl) return;
    const end = new Date();
    const start = new Date(end.getTime() - (ENERGY_DAYS - 1) * 86400000);
    start.setUTCHours(0, 0, 0, 0);
    const query = "period=day&start=" + encodeURIComponent(start.toISOString()) + "&end=" + encodeURIComponent(end.toISOString());
    const csv = document.getElementById("acv-energy-csv");
    if (csv) csv.href = csv.href.split("?")[0] + "?" + query;
    const response = await fetch(root.dataset.energyUrl + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const points = await response.json();
    const data = [points.map((p) => epochSeconds(p.t))].concat(ENERGY_SERIES.map((s) => points.map((p) => p[s.key])));
    const day = 86400;
    new uPlot({
      width: Math.max(280, host.clientWidth - 24), height: CHART_HEIGHT + 40,
      title: "Active energy per day",
      scales: { x: { time: true, range: () => [start.getTime() / 1000 - day / 2, end.getTime() / 1000 + day / 2] } },
      series: [{}].concat(ENERGY_SERIES.map((s) => ({
        label: s.label, stroke: s.color, fill: s.color + "aa", width: 1,
        paths: uPlot.paths.bars({ size: [0.4, 24], align: s.align }),
        points: { show: false },
      }))),
      axes: [{ stroke: "#777" }, { stroke: "#777", size: 60 }],
    }, data, host);
    host.dataset.days = String(points.length);
  }

  // --- Device state -------------------------------------------------------------------------
  function formatDuration(seconds) {
    const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    return (d ? d + "d " : "") + (h || d ? h + "h " : "") + m + "m";
  }

  function showState(state) {
    if (!state) return;
    root.querySelectorAll("[data-state]").forEach((el) => {
      const value = state[el.dataset.state];
      if (value === undefined || value === null) return;
      el.textContent = el.dataset.format === "duration" ? formatDuration(value) : value + (el.dataset.unit || "");
    });
    if (state.config_drift !== undefined) {
      const drift = root.querySelector("[data-config-drift]");
      drift.textContent = state.config_drift ? "drift" : "in sync";
      drift.className = state.config_drift ? "acv-drift" : "acv-in-sync";
    }
    const hashes = { desired: state.desired_config_hash, applied: state.applied_config_hash };
    Object.entries(hashes).forEach(([name, value]) => {
      if (value) root.querySelector('[data-hash="' + name + '"]').textContent = value.slice(0, 12) + "\u2026";
    });
  }

  // --- Commands -----------------------------------------------------------------------------
  const commandRows = document.getElementById("acv-commands");

  function resultText(command) {
    if (command.error_code || command.error_message) return (command.error_code + " " + command.error_message).trim();
    if (command.response && command.response.data !== undefined) return JSON.stringify(command.response.data);
    if (command.response) return JSON.stringify(command.response);
    if (command.progress) return (command.progress.stage || "") + " " + (command.progress.progress != null ? command.progress.progress + " %" : "");
    return "";
  }

  // The HTTP answer to "Send" can arrive after the device's own answer came over the socket: a
  // command's status only ever moves forward.
  const STATUS_ORDER = { pending: 0, sent: 1, ack: 2, success: 3, error: 3, timeout: 3, expired: 3 };

  function upsertCommand(command) {
    const id = command.command_id;
    let row = commandRows.querySelector('[data-command-id="' + id + '"]');
    if (row && STATUS_ORDER[command.status] < STATUS_ORDER[row.dataset.status]) return;
    if (!row) {
      row = document.createElement("tr");
      row.dataset.commandId = id;
      row.innerHTML = '<td><time class="acv-time" data-relative></time></td><td class="acv-cmd"></td>' +
        '<td><span class="acv-cmd-status"></span></td><td class="acv-cmd-result"></td>';
      const time = row.querySelector("time");
      time.setAttribute("datetime", command.created_at || new Date().toISOString());
      time.textContent = AcuvimLive.relativeText(new Date(time.getAttribute("datetime")));
      row.querySelector(".acv-cmd").textContent = command.command;
      commandRows.prepend(row);
      while (commandRows.children.length > 10) commandRows.lastElementChild.remove();
    }
    const status = row.querySelector(".acv-cmd-status");
    status.textContent = command.status;
    status.className = "acv-cmd-status acv-cmd-status--" + command.status;
    row.dataset.status = command.status;
    row.querySelector(".acv-cmd-result").textContent = resultText(command);
    AcuvimLive.flash(row);
  }

  function showErrors(box, errors) {
    box.replaceChildren(...Object.entries(errors || {}).map(([field, message]) => {
      const line = document.createElement("div");
      line.textContent = field + ": " + message;
      return line;
    }));
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    let payload = {};
    try { payload = await response.json(); } catch (err) { payload = { errors: { server: response.statusText } }; }
    return { ok: response.ok, payload };
  }

  function parseJson(text, box, field) {
    try { return text.trim() ? JSON.parse(text) : {}; } catch (err) {
      showErrors(box, { [field]: "not valid JSON: " + err.message });
      return undefined;
    }
  }

  const commandForm = document.getElementById("acv-command-form");
  if (commandForm) {
    const errors = document.getElementById("acv-command-errors");
    commandForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const params = parseJson(commandForm.elements.params.value, errors, "params");
      if (params === undefined) return;
      const { ok, payload } = await postJson(root.dataset.commandUrl, { command: commandForm.elements.command.value, params });
      showErrors(errors, ok ? {} : payload.errors);
      if (ok) upsertCommand(payload.command);
    });
  }

  const configPush = document.getElementById("acv-config-push");
  if (configPush) {
    const errors = document.getElementById("acv-config-errors");
    const result = document.getElementById("acv-config-result");
    configPush.addEventListener("click", async () => {
      const config = parseJson(document.getElementById("acv-config").value, errors, "config");
      if (config === undefined) return;
      const { ok, payload } = await postJson(root.dataset.configUrl, { config });
      showErrors(errors, ok ? {} : payload.errors);
      if (!ok) return;
      result.textContent = "Version " + payload.version + " pushed: " + Object.keys(payload.changes).join(", ");
      showState({ desired_config_hash: payload.desired_config_hash, applied_config_hash: payload.applied_config_hash,
        config_drift: payload.desired_config_hash !== payload.applied_config_hash });
      upsertCommand(payload.command);
    });
  }

  // --- Wiring -------------------------------------------------------------------------------
  function start() {
    buildCharts();
    root.querySelectorAll("[data-range]").forEach((button) => button.addEventListener("click", () => loadHistory(button.dataset.range)));
    const picker = root.querySelector("[data-chart-set]");
    if (picker) picker.addEventListener("change", () => chooseSet(picker.value));
    (jsonData("acv-commands-data") || []).slice().reverse().forEach(upsertCommand);
    showLatest(jsonData("acv-latest-telemetry"));
    loadHistory(range);
    loadEnergy();
    AcuvimLive.ready((socket) => {
      socket.on("snapshot", (m) => {
        showState(m.device);
        showLatest(m.telemetry);
        m.commands.slice().reverse().forEach(upsertCommand);
      });
      socket.on("TelemetryReceived", (m) => { showLatest(m.data); appendReading(m.data); });
      socket.on("HeartbeatReceived", (m) => showState(m.data));
      socket.on("CommandUpdated", (m) => upsertCommand(m.data));
      socket.on("CommandCompleted", (m) => upsertCommand(m.data));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
