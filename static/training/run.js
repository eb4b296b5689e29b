// A training run's page: draw the loss and the alignment-uniformity plane, poll the run until it ends.
(function () {
  "use strict";

  const script = document.getElementById("training-script");
  let state = JSON.parse(document.getElementById("training-data").textContent);

  function text(id, value) {
    const node = document.getElementById(id);
    if (node) node.textContent = value;
  }

  function timeLeft(seconds) {
    if (seconds === null || seconds === undefined) return "";
    return seconds < 90 ? Math.round(seconds) + " s left" : Math.round(seconds / 60) + " min left";
  }

  function draw() {
    if (!window.Plotly) return;
    const points = state.curves || [];
    const trained = points.filter(function (p) { return p.loss !== null; });
    const layout = { margin: { t: 40, r: 10 }, height: 340 };
    window.Plotly.react("training-loss", [{
      x: trained.map(function (p) { return p.step; }), y: trained.map(function (p) { return p.loss; }),
      mode: "lines+markers", name: "loss",
    }], Object.assign({ title: { text: "Training loss" }, xaxis: { title: { text: "step" } },
      yaxis: { title: { text: "loss" } } }, layout),
    { displaylogo: false, responsive: true });
    window.Plotly.react("training-plane", [{
      x: points.map(function (p) { return p.uniformity; }), y: points.map(function (p) { return p.alignment; }),
      text: points.map(function (p) { return "step " + p.step; }), mode: "lines+markers+text",
      textposition: "top center", name: "held-out sample",
      marker: { color: points.map(function (p) { return p.step; }), colorscale: "Viridis", size: 9 },
    }], Object.assign({ title: { text: "Alignment vs uniformity (both: lower is better)" },
      xaxis: { title: { text: "uniformity" } }, yaxis: { title: { text: "alignment" } } }, layout),
    { displaylogo: false, responsive: true });
  }

  function show() {
    text("training-status", state.status);
    const bar = document.getElementById("training-progress");
    if (bar) bar.value = Math.round((state.progress || 0) * 100);
    const left = state.status === "running" ? timeLeft(state.seconds_left) : "";
    text("training-progress-text", (state.progress_text || "") + (left && state.progress_text.indexOf("left") < 0 ? " · " + left : ""));
    const error = document.getElementById("training-error");
    if (error) { error.hidden = !state.error; error.textContent = state.error || ""; }
    if (state.joules !== null) text("training-energy", "Training cost " + (state.joules / 1000).toFixed(2) + " kJ (" + state.energy_method + ")");
    draw();
  }

  async function poll() {
    try {
      const answer = await fetch(script.dataset.url, { headers: { Accept: "application/json" } });
      const wasFinished = state.finished;
      state = await answer.json();
      show();
      if (state.finished && !wasFinished) { window.location.reload(); return; } // the comparison table
    } catch (err) {
      // The next tick tries again.
    }
    if (!state.finished) setTimeout(poll, 2000);
  }

  window.addEventListener("load", function () {
    show();
    if (!state.finished) setTimeout(poll, 2000);
  });
})();
