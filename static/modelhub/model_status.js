// Live model status in the admin (list and change page): while any model shown is registered or
// preparing, ask status.json every 2 s and update its badge, progress bar and error.
(function () {
  "use strict";
  const BUSY = new Set(["registered", "preparing"]);
  const PERIOD_MS = 2000;

  function badges() {
    return Array.from(document.querySelectorAll(".model-status[data-model-id]"));
  }

  function update(row) {
    const id = String(row.id);
    for (const badge of document.querySelectorAll('.model-status[data-model-id="' + id + '"]')) {
      badge.textContent = row.status;
      badge.className = "model-status model-status-" + row.status;
    }
    for (const holder of document.querySelectorAll('.model-progress[data-model-id="' + id + '"]')) {
      const bar = holder.querySelector("progress");
      if (bar) bar.value = Number(row.progress) || 0;
      const text = holder.querySelector(".model-progress-text");
      if (text) text.textContent = row.progress_text || "";
    }
    for (const error of document.querySelectorAll('.model-error[data-model-id="' + id + '"]')) {
      error.textContent = row.error || "-";
    }
  }

  async function poll() {
    const busy = badges().filter((badge) => BUSY.has(badge.textContent.trim()));
    if (!busy.length) return;
    const url = busy[0].dataset.statusUrl + "?ids=" + busy.map((badge) => badge.dataset.modelId).join(",");
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (answer.ok) {
        const data = await answer.json();
        for (const row of data.models || []) update(row);
      }
    } catch (error) {
      // The server is restarting or the network dropped: try again at the next tick.
    }
    window.setTimeout(poll, PERIOD_MS);
  }

  function start() {
    if (badges().some((badge) => BUSY.has(badge.textContent.trim()))) window.setTimeout(poll, PERIOD_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
