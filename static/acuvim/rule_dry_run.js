/* The alert rule editor's Dry run button: posts the unsaved form to /admin/alerts/alertrule/dry-run/
 * (alerts/admin_views.py rule_dry_run) and shows how often the rule would have opened over the stored
 * history, or the form's errors as saving would report them. Nothing is saved.
 */
(function () {
  "use strict";

  function start() {
    const box = document.getElementById("acv-dry-run");
    if (!box) return;
    const form = box.closest("form");
    const button = document.getElementById("acv-dry-run-button");
    const errors = document.getElementById("acv-dry-run-errors");
    const result = document.getElementById("acv-dry-run-result");

    function line(text, className) {
      const el = document.createElement(className === "busiest" ? "li" : "p");
      el.textContent = text;
      return el;
    }

    function show(body) {
      const range = new Date(body.since).toLocaleString() + " \u2013 " + new Date(body.until).toLocaleString();
      const parts = [line("Would have opened " + body.would_open + " alert(s) on " + body.devices_alerted + " of " +
        body.devices + " device(s), from " + body.readings + " " + (body.resolution === "5min" ? "5-minute rollups" : "readings") +
        " (" + range + ")." + (body.truncated ? " Stopped at the row limit: the figure is a lower bound." : ""))];
      parts[0].dataset.dryRunSummary = "";
      if (body.busiest.length) {
        const list = document.createElement("ul");
        body.busiest.forEach((d) => list.append(line(d.device_id + ": " + d.opened + " time(s), first at " +
          new Date(d.first_at).toLocaleString(), "busiest")));
        parts.push(line("Busiest devices:"), list);
      }
      result.replaceChildren(...parts);
    }

    button.addEventListener("click", async () => {
      button.disabled = true;
      errors.replaceChildren();
      result.textContent = "Replaying the stored history\u2026";
      try {
        const data = new FormData(form);
        const response = await fetch(box.dataset.dryRunUrl, {
          method: "POST", credentials: "same-origin", body: data,
          headers: { "X-CSRFToken": data.get("csrfmiddlewaretoken") },
        });
        let body = {};
        try { body = await response.json(); } catch (err) { body = { errors: { server: response.statusText } }; }
        if (response.ok) { show(body); return; }
        result.replaceChildren();
        errors.replaceChildren(...Object.entries(body.errors || {}).map(([field, message]) => line(field + ": " + message)));
      } finally {
        button.disabled = false;
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
