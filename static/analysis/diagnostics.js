// Diagnostics pages: draw the plotly figures, and follow runs in progress (reload when one ends).
(function () {
  "use strict";

  function drawFigures() {
    if (!window.Plotly) return;
    document.querySelectorAll("[data-figure]").forEach(function (div) {
      const data = document.getElementById(div.dataset.figure);
      if (!data) return;
      const figure = JSON.parse(data.textContent);
      window.Plotly.newPlot(div, figure.data || [], figure.layout || {}, { responsive: true, displaylogo: false });
    });
  }

  function followProgress() {
    let running = document.querySelectorAll("[data-run]").length;
    if (!running) return;
    const timer = setInterval(async function () {
      try {
        const answer = await fetch("/diagnostics/progress.json", { headers: { Accept: "application/json" } });
        const runs = (await answer.json()).runs || [];
        runs.forEach(function (run) {
          const row = document.querySelector('[data-run="' + run.id + '"]');
          if (!row) return;
          const bar = row.querySelector("progress");
          if (bar) bar.value = Math.round(run.progress * 100);
          const text = row.querySelector(".diag-progress-text");
          if (text) text.textContent = run.progress_text || run.status;
        });
        if (runs.length < running) {
          clearInterval(timer);
          window.location.reload(); // a run finished: show its figures
        }
        running = runs.length;
      } catch (err) {
        // The next tick tries again.
      }
    }, 2000);
  }

  window.addEventListener("load", function () {
    drawFigures();
    followProgress();
  });
})();
