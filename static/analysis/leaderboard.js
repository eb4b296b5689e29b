/* Leaderboard page: draws the plotly figures, keeps "updated N seconds ago" current, and swaps in
   the server-rendered board (the summary in plain words, the tables, the figure data) when the
   websocket says a refit landed. Without JavaScript the page is the same, minus the figures. */
(function () {
  "use strict";

  var root = document.getElementById("lb-board");
  if (!root) return;
  var announce = document.getElementById("lb-announce");
  var refreshing = false;
  var pending = false;

  function board() {
    return root.querySelector(".lb-board");
  }

  function ageText(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + (seconds === 1 ? " second ago" : " seconds ago");
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + (minutes === 1 ? " minute ago" : " minutes ago");
    var hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + (hours === 1 ? " hour ago" : " hours ago");
    return Math.floor(hours / 24) + " days ago";
  }

  function tick() {
    var time = root.querySelector("time[data-updated]");
    if (!time) return;
    var at = Date.parse(time.getAttribute("datetime"));
    if (!isNaN(at)) time.textContent = ageText((Date.now() - at) / 1000);
  }

  function drawFigures() {
    var data = document.getElementById("lb-figures");
    if (!data || !window.Plotly) return;
    var figures;
    try {
      figures = JSON.parse(data.textContent) || {};
    } catch (e) {
      return;
    }
    root.querySelectorAll("[data-figure]").forEach(function (div) {
      var figure = figures[div.getAttribute("data-figure")];
      if (!figure) return;
      var layout = Object.assign({}, figure.layout || {}, { autosize: true });
      window.Plotly.react(div, figure.data || [], layout, { responsive: true, displaylogo: false });
    });
  }

  function refresh() {
    if (refreshing) {
      pending = true;
      return;
    }
    refreshing = true;
    fetch(root.getAttribute("data-fragment-url"), { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // what the reader opened or ticked (disclosures, the Elo toggle) stays so after the swap
        var open = Array.prototype.map.call(root.querySelectorAll("details"), function (d) { return d.open; });
        var ticked = {};
        root.querySelectorAll("input[type=checkbox][id]").forEach(function (box) { ticked[box.id] = box.checked; });
        root.innerHTML = html; // rendered (and escaped) by the server: the summary, tables and figure data
        root.querySelectorAll("details").forEach(function (d, i) {
          if (i < open.length) d.open = open[i];
        });
        root.querySelectorAll("input[type=checkbox][id]").forEach(function (box) {
          if (Object.prototype.hasOwnProperty.call(ticked, box.id)) box.checked = ticked[box.id];
        });
        // the fragment carries the summary at the board's top: the page shows it above the filters
        var summary = root.querySelector(".lb-summary");
        var slot = document.getElementById("lb-summary-slot");
        if (summary && slot) slot.replaceChildren(summary);
        drawFigures();
        tick();
        if (announce) announce.textContent = "Leaderboard updated.";
      })
      .catch(function () { /* keep what is shown; the next update retries */ })
      .then(function () {
        refreshing = false;
        if (pending) {
          pending = false;
          refresh();
        }
      });
  }

  function onMessage(event) {
    var message;
    try {
      message = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (message.type !== "leaderboard" || !message.snapshot_id) return;
    var current = board() ? board().getAttribute("data-snapshot-id") : "";
    var live = board() ? board().getAttribute("data-live") === "1" : true;
    // a filtered (not live) view is recomputed by the server on every update
    if (!live || String(message.snapshot_id) !== String(current)) refresh();
  }

  var delay = 1000;
  function connect() {
    if (!("WebSocket" in window)) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + root.getAttribute("data-ws-path"));
    socket.onopen = function () { delay = 1000; };
    socket.onmessage = onMessage;
    socket.onclose = function () {
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }

  drawFigures();
  tick();
  setInterval(tick, 1000);
  connect();
})();
