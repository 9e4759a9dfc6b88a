/* Fleet dashboard on the admin index: counters and the recent-events list, fed by /ws/fleet/. */
(function () {
  "use strict";

  const list = document.getElementById("acv-recent-events");
  const limit = list ? Number(list.dataset.limit || 20) : 20;

  function counterValue(counters, path) {
    return path.split(".").reduce((value, key) => (value == null ? value : value[key]), counters);
  }

  function showCounters(counters) {
    document.querySelectorAll("[data-counter]").forEach((el) => {
      const value = counterValue(counters, el.dataset.counter);
      if (value != null && String(value) !== el.textContent) {
        el.textContent = value;
        AcuvimLive.flash(el);
      }
    });
  }

  function describe(event) {
    const d = event.data || {};
    switch (event.event) {
      case "DeviceStatusChanged":
        if (d.bulk) return d.count + " devices " + d.from + " \u2192 " + d.status + " (" + d.reason + ")";
        return (d.from || "new") + " \u2192 " + d.status + (d.reason ? " (" + d.reason + ")" : "");
      case "DeviceRegistered":
        return "registered" + (d.status ? " as " + d.status : "");
      case "AlertCreated":
        return d.severity + " alert: " + (d.message || d.alert_type);
      case "AlertUpdated":
        return "alert " + (d.alert_type || "") + (d.resolved ? " resolved" : d.acknowledged ? " acknowledged" : " updated");
      case "CommandCompleted":
        return d.command + ": " + d.status + (d.error_message ? " (" + d.error_message + ")" : "");
      case "RolloutProgress":
        return "rollout " + d.version + ": " + d.status;
      default:
        return event.event;
    }
  }

  function eventItem(event) {
    const item = document.createElement("li");
    item.className = "acv-event acv-event--" + event.event;
    const time = document.createElement("time");
    time.setAttribute("datetime", event.at || new Date().toISOString());
    time.setAttribute("data-relative", "");
    time.textContent = AcuvimLive.relativeText(new Date(time.getAttribute("datetime")));
    const name = document.createElement("span");
    name.className = "acv-event__name";
    name.textContent = event.event;
    const device = document.createElement("span");
    device.className = "acv-event__device";
    device.textContent = event.device_id || "fleet";
    const text = document.createElement("span");
    text.className = "acv-event__text";
    text.textContent = describe(event);
    item.append(time, name, device, text);
    return item;
  }

  function showEvents(events) {
    if (!list) return;
    list.replaceChildren(...events.slice(0, limit).map(eventItem));
    if (!events.length) list.innerHTML = '<li class="acv-muted">No events yet.</li>';
  }

  function prependEvent(event) {
    if (!list) return;
    list.querySelectorAll(".acv-muted").forEach((el) => el.remove());
    const item = eventItem(event);
    list.prepend(item);
    AcuvimLive.flash(item);
    while (list.children.length > limit) list.lastElementChild.remove();
  }

  const initial = document.getElementById("acv-recent-events-data");
  if (initial) showEvents(JSON.parse(initial.textContent));

  AcuvimLive.ready((socket) => {
    socket.on("snapshot", (m) => { showCounters(m.counters); showEvents(m.recent_events); });
    socket.on("FleetCounters", (m) => showCounters(m.data));
    for (const name of ["DeviceStatusChanged", "DeviceRegistered", "AlertCreated", "AlertUpdated", "CommandCompleted"]) {
      socket.on(name, prependEvent);
    }
    // Rollouts report every device's progress; the list only records a rollout changing state.
    const rolloutStatus = {};
    socket.on("RolloutProgress", (m) => {
      if (rolloutStatus[m.data.rollout_id] === m.data.status) return;
      rolloutStatus[m.data.rollout_id] = m.data.status;
      prependEvent(m);
    });
  });
})();
