// The console's small helpers: the live recipient count while composing, and live delivery figures
// on an alert's page. Every page works without this file; it only saves a click.
"use strict";

function liveCount() {
  const form = document.getElementById("compose");
  const panel = document.querySelector("[data-testid=count]");
  if (!form || !panel) return;
  let timer = null;
  const refresh = () => {
    const data = new FormData(form);
    const query = new URLSearchParams();
    for (const key of ["audience_kind", "audience_values", "roles"]) query.append(key, data.get(key) || "");
    for (const channel of data.getAll("channels")) query.append("channels", channel);
    fetch(form.dataset.countUrl + "?" + query.toString(), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => { if (html !== null) panel.innerHTML = html; })
      .catch(() => {});
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  form.addEventListener("change", refresh);
}

function liveProgress() {
  // Server-sent events: the server sends the figures again whenever they change.
  const section = document.getElementById("progress");
  if (!section || !window.EventSource) return;
  const source = new EventSource(section.dataset.eventsUrl);
  source.addEventListener("progress", (event) => { section.innerHTML = event.data; });
}

document.addEventListener("DOMContentLoaded", () => { liveCount(); liveProgress(); });
