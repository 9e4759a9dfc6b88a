/* Device page alert inbox: the device's latest alerts with their occurrences and last-seen times, and
 * Acknowledge / Resolve / Silence (for a chosen duration, with a reason) on each one.
 * Rows come from the page (json_script "acv-alerts-data") and from the device socket (AlertCreated,
 * AlertUpdated); the buttons post to /admin/alerts/alert/<id>/inbox/ (alerts/admin_views.py), whose
 * answer and the AlertUpdated that follows it both land in upsert(), so every open page shows the same.
 */
(function () {
  "use strict";

  const panel = document.getElementById("acv-alert-inbox");
  if (!panel) return;
  const root = panel.closest(".acv-cockpit");
  const deviceId = root.dataset.deviceId;
  const rows = document.getElementById("acv-alerts");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const canHandle = panel.dataset.canHandle === "1";
  const canSilence = panel.dataset.canSilence === "1";
  const errors = document.getElementById("acv-alert-errors");
  const result = document.getElementById("acv-alert-result");
  const silenceForm = document.getElementById("acv-silence-form");
  const SHOWN = 10;
  let silencing = null; // the alert whose device the open silence form is for

  function stateOf(alert) {
    return alert.resolved ? "resolved" : alert.acknowledged ? "acknowledged" : "open";
  }

  function setTime(el, iso) {
    if (!iso) { el.removeAttribute("datetime"); el.textContent = "-"; return; }
    el.setAttribute("datetime", iso);
    el.setAttribute("data-relative", "");
    el.textContent = AcuvimLive.relativeText(new Date(iso));
  }

  function button(action, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button acv-alert-action";
    b.dataset.alertAction = action;
    b.textContent = label;
    return b;
  }

  function newRow(alert) {
    const row = document.createElement("tr");
    row.dataset.alertId = alert.id;
    row.innerHTML = '<td><time class="acv-time" data-field="created_at"></time></td>' +
      '<td><strong data-field="title"></strong><div class="acv-muted" data-field="message"></div></td>' +
      '<td><span data-field="severity"></span></td><td data-field="occurrences"></td>' +
      '<td><time class="acv-time" data-field="last_seen_at"></time></td>' +
      '<td><span class="acv-state" data-alert-state=""></span><div class="acv-muted" data-field="handled"></div></td>' +
      '<td class="acv-alert-actions"></td>';
    row.querySelector("[data-alert-state]").dataset.alertState = alert.id;
    const actions = row.querySelector(".acv-alert-actions");
    if (canHandle) actions.append(button("acknowledge", "Acknowledge"), button("resolve", "Resolve"));
    if (canSilence) actions.append(button("silence", "Silence\u2026"));
    return row;
  }

  function upsert(alert, { created = false } = {}) {
    if (alert.device_id !== deviceId) return;
    let row = rows.querySelector('tr[data-alert-id="' + alert.id + '"]');
    if (!row) {
      if (!created) return; // an older alert than the page shows: the full list is one click away
      row = newRow(alert);
      rows.querySelectorAll("tr.acv-empty").forEach((el) => el.remove());
      rows.prepend(row);
      while (rows.querySelectorAll("tr[data-alert-id]").length > SHOWN) rows.lastElementChild.remove();
    }
    const field = (name) => row.querySelector('[data-field="' + name + '"]');
    setTime(field("created_at"), alert.created_at);
    setTime(field("last_seen_at"), alert.last_seen_at || alert.created_at);
    field("title").textContent = alert.rule_name || alert.alert_type;
    field("message").textContent = alert.message;
    const severity = field("severity");
    severity.className = "acv-sev acv-sev--" + alert.severity;
    severity.textContent = alert.severity;
    field("occurrences").textContent = alert.occurrences;
    const state = stateOf(alert);
    const stateEl = row.querySelector("[data-alert-state]");
    stateEl.className = "acv-state acv-state--" + state;
    stateEl.textContent = state;
    const handled = [];
    if (alert.acknowledged) handled.push("ack by " + (alert.acknowledged_by || "?"));
    if (alert.resolved) handled.push(alert.resolved_by ? "resolved by " + alert.resolved_by : "cleared");
    field("handled").textContent = handled.join(", ");
    row.dataset.state = state;
    row.querySelectorAll("[data-alert-action]").forEach((b) => {
      const action = b.dataset.alertAction;
      b.hidden = alert.resolved || (action === "acknowledge" && alert.acknowledged);
    });
    AcuvimLive.flash(row);
  }

  function showErrors(payload) {
    errors.replaceChildren(...Object.entries((payload && payload.errors) || {}).map(([name, message]) => {
      const line = document.createElement("div");
      line.textContent = name + ": " + message;
      return line;
    }));
  }

  async function post(alertId, body) {
    const response = await fetch(panel.dataset.inboxUrl + encodeURIComponent(alertId) + "/inbox/", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    let payload = {};
    try { payload = await response.json(); } catch (err) { payload = { errors: { server: response.statusText } }; }
    showErrors(response.ok ? {} : payload);
    if (response.ok && payload.alert) upsert(payload.alert);
    return response.ok ? payload : null;
  }

  rows.addEventListener("click", async (event) => {
    const b = event.target.closest("[data-alert-action]");
    if (!b) return;
    const alertId = b.closest("tr").dataset.alertId;
    if (b.dataset.alertAction !== "silence") {
      const done = await post(alertId, { action: b.dataset.alertAction });
      if (done) result.textContent = "Alert " + b.dataset.alertAction + "d.";
      return;
    }
    silencing = alertId;
    silenceForm.querySelector("[data-silence-device]").textContent = deviceId;
    silenceForm.hidden = false;
    silenceForm.elements.reason.focus();
  });

  if (silenceForm) {
    silenceForm.querySelector("[data-silence-cancel]").addEventListener("click", () => { silenceForm.hidden = true; });
    silenceForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const done = await post(silencing, {
        action: "silence", duration: silenceForm.elements.duration.value, reason: silenceForm.elements.reason.value,
      });
      if (!done) return;
      silenceForm.hidden = true;
      silenceForm.elements.reason.value = "";
      result.textContent = "Silenced until " + new Date(done.silence.ends_at).toLocaleString() + ": " + done.silence.reason;
    });
  }

  function start() {
    const initial = JSON.parse(document.getElementById("acv-alerts-data").textContent);
    initial.slice().reverse().forEach((alert) => upsert(alert, { created: true }));
    AcuvimLive.ready((socket) => {
      socket.on("AlertCreated", (m) => upsert(m.data, { created: true }));
      socket.on("AlertUpdated", (m) => upsert(m.data));
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
