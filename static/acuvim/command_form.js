/* Command forms (device cockpit, bulk and group actions): picking a command fills in its example params. */
(function () {
  "use strict";

  function wire() {
    const source = document.getElementById("acv-command-examples");
    if (!source) return;
    const examples = JSON.parse(source.textContent);
    document.querySelectorAll("select[name=command]").forEach((select) => {
      const params = select.form && select.form.elements.params;
      if (!params) return;
      const fill = () => { params.value = JSON.stringify(examples[select.value] || {}, null, 2); };
      select.addEventListener("change", fill);
      if (!params.value.trim()) fill();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
