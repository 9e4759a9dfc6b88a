/* Acuvim Console live client: one websocket per admin page, snapshot then deltas (docs/websockets.md).
 *
 * A page opts in with an element carrying data-acv-socket="/ws/fleet/" or "/ws/devices/<id>/"; rollout
 * pages (data-rollout-id) get the fleet socket automatically. Page scripts subscribe with
 * AcuvimLive.ready(socket => socket.on("EventName", handler)). The updates every page shares (status
 * badges, relative times, alert states, rollout rows) live here.
 */
(function () {
  "use strict";

  const STATUS_LABELS = {
    pending: "Pending approval", online: "Online", degraded: "Degraded",
    offline: "Offline", decommissioned: "Decommissioned",
  };
  const FINAL_CLOSE_CODES = new Set([4401, 4403, 4404]);
  const MAX_RECONNECT_MS = 15000;
  const readyCallbacks = [];
  let socket = null;

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function setIndicator(state, title) {
    const el = document.getElementById("acv-live-indicator");
    if (!el) return;
    el.className = "acv-live acv-live--" + state;
    el.title = title;
    document.documentElement.dataset.acvLive = state;
  }

  class LiveSocket {
    constructor(path) {
      this.path = path;
      this.handlers = {};
      this.delay = 500;
      this.connect();
    }

    on(name, handler) {
      (this.handlers[name] = this.handlers[name] || []).push(handler);
      return this;
    }

    emit(name, message) {
      for (const handler of (this.handlers[name] || []).concat(this.handlers["*"] || [])) {
        try { handler(message); } catch (err) { console.error("live handler for", name, err); }
      }
    }

    send(action) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ action }));
    }

    connect() {
      const ws = new WebSocket(wsUrl(this.path));
      this.ws = ws;
      ws.onopen = () => { this.delay = 500; };
      ws.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type === "snapshot") {
          setIndicator("on", "Live updates connected");
          this.emit("snapshot", message);
        }
        else if (message.type === "event") this.emit(message.event, message);
      };
      ws.onclose = (event) => {
        if (FINAL_CLOSE_CODES.has(event.code)) {
          setIndicator("denied", "Live updates refused (" + event.code + ")");
          return;
        }
        setIndicator("off", "Live updates disconnected; reconnecting");
        setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, MAX_RECONNECT_MS);
      };
    }
  }

  // --- Shared DOM updates -------------------------------------------------------------------
  function flash(el) {
    el.classList.remove("acv-flash");
    void el.offsetWidth; // restart the animation
    el.classList.add("acv-flash");
  }

  function cssEscape(value) {
    return window.CSS && CSS.escape ? CSS.escape(value) : String(value).replace(/"/g, '\\"');
  }

  function each(selector, fn) {
    document.querySelectorAll(selector).forEach(fn);
  }

  function setStatus(deviceId, status) {
    each('[data-device-status="' + cssEscape(deviceId) + '"]', (el) => {
      el.className = "acv-badge acv-badge--" + status;
      el.textContent = STATUS_LABELS[status] || status;
      flash(el);
    });
  }

  function touchLastSeen(deviceId, iso) {
    each('[data-device-last-seen="' + cssEscape(deviceId) + '"]', (el) => {
      el.setAttribute("datetime", iso || new Date().toISOString());
      el.setAttribute("data-relative", "");
      renderRelative(el);
    });
  }

  function relativeText(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    if (seconds < 5) return "just now";
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  function renderRelative(el) {
    const iso = el.getAttribute("datetime");
    if (iso) el.textContent = relativeText(new Date(iso));
  }

  function renderAllRelative() {
    each("time[data-relative]", renderRelative);
  }

  function setAlertState(data) {
    const state = data.resolved || data.resolved_at ? "resolved" : data.acknowledged ? "acknowledged" : "open";
    each('[data-alert-state="' + cssEscape(data.id) + '"]', (el) => {
      el.className = "acv-state acv-state--" + state;
      el.textContent = state;
      flash(el);
    });
  }

  function setRolloutProgress(data) {
    each('[data-rollout-id="' + cssEscape(data.rollout_id) + '"]', (page) => {
      page.querySelectorAll("[data-rollout-status]").forEach((el) => { el.textContent = data.status; });
      page.querySelectorAll("[data-rollout-pause-reason]").forEach((el) => { el.textContent = data.pause_reason || "-"; });
      page.querySelectorAll("[data-rollout-wave]").forEach((el) => {
        el.textContent = data.current_wave + (data.wave_count ? " / " + data.wave_count : "");
      });
      page.querySelectorAll("[data-rollout-count]").forEach((el) => {
        el.textContent = (data.counts || {})[el.dataset.rolloutCount] || 0;
      });
      for (const entry of data.devices || []) {
        page.querySelectorAll('[data-rollout-device="' + cssEscape(entry.device_id) + '"]').forEach((row) => {
          const fields = row.querySelectorAll("[data-rollout-field]");
          if (!fields.length) row.textContent = entry.state;
          fields.forEach((el) => {
            const name = el.dataset.rolloutField;
            if (name === "progress" && el.tagName === "PROGRESS") el.value = entry.progress;
            else el.textContent = entry[name] == null ? "" : entry[name] + (name === "progress" ? " %" : "");
          });
          row.dataset.state = entry.state;
          flash(row);
        });
      }
    });
  }

  // A list page cannot insert a row it did not render (or learn which rows a mass change touched);
  // it offers a reload instead.
  function attachNotices(live) {
    each("[data-acv-notice]", (el) => {
      let count = 0;
      live.on(el.dataset.acvNotice, () => {
        count += 1;
        el.hidden = false;
        el.querySelector("[data-notice-count]").textContent = count;
      });
    });
  }

  // Heartbeats are not sent to the fleet socket: a list follows the devices it shows instead.
  function followShownDevices(live) {
    const ids = Array.from(document.querySelectorAll("[data-device-last-seen]"), (el) => el.dataset.deviceLastSeen);
    if (!ids.length || live.path !== "/ws/fleet/") return;
    live.on("snapshot", () => live.ws.send(JSON.stringify({ action: "follow", device_ids: ids.slice(0, 200) })));
    live.on("DevicesSeen", (m) => {
      for (const [deviceId, seen] of Object.entries(m.data)) {
        each('[data-device-last-seen="' + cssEscape(deviceId) + '"]', (el) => {
          if (!seen.last_seen || el.getAttribute("datetime") === seen.last_seen) return;
          el.setAttribute("datetime", seen.last_seen);
          el.setAttribute("data-relative", "");
          renderRelative(el);
        });
        each('[data-device-status="' + cssEscape(deviceId) + '"]', (el) => {
          if (!el.classList.contains("acv-badge--" + seen.status)) setStatus(deviceId, seen.status);
        });
      }
    });
  }

  function attachSharedUpdates(live) {
    attachNotices(live);
    followShownDevices(live);
    live.on("DeviceStatusChanged", (m) => {
      // A mass outage arrives as one event per transition, without device ids (devices/health/sweep.py).
      if (m.data.bulk) { live.emit("BulkStatusChanged", m); return; }
      setStatus(m.device_id, m.data.status);
      touchLastSeen(m.device_id, m.data.at);
    });
    live.on("DeviceRegistered", (m) => touchLastSeen(m.device_id));
    live.on("HeartbeatReceived", (m) => touchLastSeen(m.device_id));
    live.on("TelemetryReceived", (m) => touchLastSeen(m.device_id));
    live.on("AlertUpdated", (m) => setAlertState(m.data));
    live.on("RolloutProgress", (m) => setRolloutProgress(m.data));
  }

  // Buttons that need a second thought carry data-confirm="question" (inline onclick is refused by the CSP).
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });

  function start() {
    renderAllRelative();
    setInterval(renderAllRelative, 5000);
    const host = document.querySelector("[data-acv-socket]");
    const path = host ? host.dataset.acvSocket : document.querySelector("[data-rollout-id]") ? "/ws/fleet/" : null;
    if (!path) return;
    socket = new LiveSocket(path);
    attachSharedUpdates(socket);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") socket.send("snapshot");
    });
    readyCallbacks.splice(0).forEach((fn) => fn(socket));
  }

  window.AcuvimLive = {
    ready(fn) { if (socket) fn(socket); else readyCallbacks.push(fn); },
    relativeText,
    flash,
    statusLabel: (status) => STATUS_LABELS[status] || status,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
