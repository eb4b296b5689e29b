/*
 * Energy Arena — battle page and side-by-side page (docs/arena-protocol.md).
 *
 * Plain script, no framework, no build step. Loaded with `defer` by
 * templates/arena/battle.html and templates/arena/compare.html.
 *
 * Security rule: everything that comes from the server (prompt, answers, errors, names,
 * energy method text) is put into the page with textContent / createTextNode only.
 */
(() => {
  "use strict";

  const root = document.getElementById("arena");
  if (!root) return;

  const $ = (id) => document.getElementById(id);
  const SIDES = ["a", "b"];
  const FINISHED = new Set(["done", "failed", "timeout"]);
  const CHOICE_LABELS = { a: "A is better", b: "B is better", tie: "Tie", bothbad: "Both are bad" };
  const SOURCE_LABELS = { nvml: "measured on the GPU (NVML)", rapl: "measured on the CPU (RAPL)", estimate: "estimate" };
  const RECONNECT_MAX_MS = 10000;

  const mode = root.dataset.mode || "anonymous";
  const battlesUrl = root.dataset.battlesUrl || "/arena/battles/";

  const els = {
    form: $("prompt-form"),
    prompt: $("prompt"),
    count: $("prompt-count"),
    random: $("random-example"),
    send: $("send"),
    error: $("error"),
    contenderA: $("contender-a"),
    contenderB: $("contender-b"),
    battle: $("battle"),
    sentPrompt: $("sent-prompt"),
    status: $("status"),
    voteSection: $("vote-section"),
    voteBar: $("vote-bar"),
    energyPanel: $("energy-panel"),
    energyHeading: $("energy-heading"),
    energyRatio: $("energy-ratio"),
    blindChoiceText: $("blind-choice-text"),
    finalVote: $("final-vote"),
    finalVoteBar: $("final-vote-bar"),
    reveal: $("reveal"),
    revealHeading: $("reveal-heading"),
    voteChanged: $("vote-changed"),
    newBattle: $("new-battle"),
  };
  const errorHome = els.error ? { parent: els.error.parentNode, next: els.error.nextSibling } : null;

  const paneEls = {};
  for (const side of SIDES) {
    const pane = $("pane-" + side);
    const errorBox = $("error-" + side);
    paneEls[side] = {
      pane,
      answer: $("answer-" + side),
      stats: $("stats-" + side),
      name: $("name-" + side),
      errorBox,
      errorText: errorBox ? errorBox.querySelector(".side-error-text") : null,
      badge: pane ? pane.querySelector(".chosen-badge") : null,
      energy: $("energy-" + side),
    };
  }

  let examples = [];
  try {
    const node = $("arena-examples");
    examples = node ? JSON.parse(node.textContent) : [];
  } catch (_) {
    examples = [];
  }
  if (!Array.isArray(examples)) examples = [];
  examples = examples.filter((e) => typeof e === "string" && e.trim());

  const maxChars = parseInt((els.prompt && els.prompt.getAttribute("maxlength")) || root.dataset.maxPromptChars || "0", 10) || 0;

  // ---------------------------------------------------------------------------------------------
  // State of the page
  // ---------------------------------------------------------------------------------------------
  let battle = null; // the last battle state the server sent
  let generation = 0; // bumped whenever the page switches battle: stale callbacks compare it
  let busy = false; // a POST is in flight
  let ws = null;
  let wsTimer = null;
  let wsRetry = 0;
  let refreshing = false;
  let refreshAgain = false;
  let resyncTimer = null;
  const RESYNC_RETRY_MS = 700;
  // While answers are being written, a silent stream for this long makes the page ask the server
  // over HTTP: that is where a side whose worker died is noticed and shown as failed.
  const STALL_CHECK_MS = 8000;
  let lastMessageAt = Date.now();
  const MAX_PENDING = 5000;

  // What the page shows of each answer. Offsets on the wire count characters as Python does
  // (Unicode code points), so the length is kept in code points, not UTF-16 units.
  const local = {};
  function resetLocal() {
    for (const side of SIDES) {
      local[side] = {
        text: "",
        len: 0,
        node: null,
        status: "queued",
        output_tokens: 0,
        tokens_per_s: null,
        time_to_first_token_s: null,
        duration_s: null,
        error: "",
        pending: [], // "tokens" messages that arrived after a gap, waiting for the text before them
      };
    }
  }
  resetLocal();

  // ---------------------------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------------------------
  function cpLength(s) {
    let n = 0;
    // eslint-disable-next-line no-unused-vars
    for (const _ of s) n++;
    return n;
  }

  function cpSlice(s, start) {
    return Array.from(s).slice(start).join("");
  }

  function num(v) {
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function fmtNumber(v) {
    const a = Math.abs(v);
    if (a >= 100) return Math.round(v).toLocaleString("en");
    if (a >= 10) return v.toFixed(1);
    if (a >= 1) return v.toFixed(2);
    if (a === 0) return "0";
    return String(Number(v.toPrecision(3)));
  }

  function fmtJoules(v) {
    v = num(v);
    return v === null ? "—" : fmtNumber(v) + " J";
  }

  function fmtSeconds(v) {
    v = num(v);
    if (v === null) return "—";
    return (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " s";
  }

  function fmtRate(v) {
    v = num(v);
    return v === null ? null : v.toFixed(1) + " tokens/s";
  }

  function fmtParams(n) {
    n = num(n);
    if (n === null || n <= 0) return "";
    if (n >= 1e9) return Number((n / 1e9).toPrecision(3)) + "B parameters";
    if (n >= 1e6) return Number((n / 1e6).toPrecision(3)) + "M parameters";
    if (n >= 1e3) return Number((n / 1e3).toPrecision(3)) + "K parameters";
    return n + " parameters";
  }

  function sideLabel(side) {
    return "Model " + side.toUpperCase();
  }

  function choiceLabel(choice) {
    return CHOICE_LABELS[choice] || String(choice || "");
  }

  function setHidden(el, hidden) {
    if (el) el.hidden = !!hidden;
  }

  function getCookie(name) {
    for (const part of document.cookie ? document.cookie.split(";") : []) {
      const eq = part.indexOf("=");
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
    }
    return "";
  }

  function csrfToken() {
    const input = els.form && els.form.querySelector("input[name=csrfmiddlewaretoken]");
    return (input && input.value) || getCookie("csrftoken");
  }

  // ---------------------------------------------------------------------------------------------
  // Errors (always as text)
  // ---------------------------------------------------------------------------------------------
  function showError(message, anchor) {
    if (!els.error) return;
    // Show the message next to the control that caused it (the prompt form by default).
    if (anchor && anchor.parentNode) {
      anchor.after(els.error);
    } else if (errorHome && els.error.parentNode !== errorHome.parent) {
      errorHome.parent.insertBefore(els.error, errorHome.next);
    }
    els.error.textContent = String(message || "Something went wrong. Please try again.");
    els.error.hidden = false;
  }

  function clearError() {
    if (!els.error) return;
    els.error.textContent = "";
    els.error.hidden = true;
  }

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, url, body) {
    const options = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
    };
    if (method !== "GET") {
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = body;
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (_) {
      throw new ApiError("Could not reach the server. Check your connection and try again.", 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      if (data && typeof data.error === "string" && data.error) throw new ApiError(data.error, response.status);
      if (response.status === 403) {
        throw new ApiError("The server refused the request (403). Reload the page and try again.", 403);
      }
      throw new ApiError("Something went wrong (HTTP " + response.status + "). Please try again.", response.status);
    }
    if (!data || typeof data.battle !== "object" || data.battle === null) {
      throw new ApiError("The server sent an unexpected answer. Please try again.", response.status);
    }
    return data.battle;
  }

  // ---------------------------------------------------------------------------------------------
  // URL (?battle=<id>)
  // ---------------------------------------------------------------------------------------------
  function setBattleParam(id) {
    const url = new URL(window.location.href);
    if (id === null || id === undefined) url.searchParams.delete("battle");
    else url.searchParams.set("battle", String(id));
    if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering
  // ---------------------------------------------------------------------------------------------
  function setAnswerText(side, text) {
    const l = local[side];
    const el = paneEls[side].answer;
    l.text = text;
    l.len = cpLength(text);
    if (!el) return;
    el.textContent = "";
    l.node = document.createTextNode(text);
    el.appendChild(l.node);
  }

  function appendAnswerText(side, part) {
    if (!part) return;
    const l = local[side];
    l.text += part;
    l.len += cpLength(part);
    const el = paneEls[side].answer;
    if (!el) return;
    // Follow the text while the reader is at the bottom of the answer box.
    const follow = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    if (l.node && l.node.parentNode === el) {
      l.node.appendData(part);
    } else {
      el.textContent = "";
      l.node = document.createTextNode(l.text);
      el.appendChild(l.node);
    }
    if (follow) el.scrollTop = el.scrollHeight;
  }

  function renderStats(side) {
    const l = local[side];
    const el = paneEls[side].stats;
    if (!el) return;
    const parts = [];
    const rate = fmtRate(l.tokens_per_s);
    const tokens = plural(num(l.output_tokens) || 0, "token");
    if (mode === "retrieval" && l.status === "done") {
      if (num(l.duration_s) !== null) parts.push("searched in " + fmtSeconds(l.duration_s));
    } else if (l.status === "queued") {
      parts.push("Waiting to start…");
    } else if (l.status === "running") {
      parts.push("Writing…", tokens);
      if (rate) parts.push(rate);
    } else if (l.status === "done") {
      parts.push(tokens);
      if (rate) parts.push(rate);
      if (num(l.time_to_first_token_s) !== null) parts.push("first token after " + fmtSeconds(l.time_to_first_token_s));
      if (num(l.duration_s) !== null) parts.push(fmtSeconds(l.duration_s) + " in total");
    } else if (l.status === "failed" || l.status === "timeout") {
      parts.push((l.status === "timeout" ? "Timed out" : "Failed") + " after " + tokens);
    }
    el.textContent = parts.join(" · ");
    el.dataset.status = l.status;
  }

  function renderSideStatus(side) {
    const l = local[side];
    const p = paneEls[side];
    const failed = l.status === "failed" || l.status === "timeout";
    if (p.pane) {
      p.pane.dataset.status = l.status;
      p.pane.classList.toggle("is-failed", failed);
      p.pane.classList.toggle("is-writing", l.status === "running" || l.status === "queued");
    }
    if (p.answer) p.answer.setAttribute("aria-busy", String(!FINISHED.has(l.status)));
    if (p.errorBox) {
      if (failed) {
        const fallback =
          l.status === "timeout" ? sideLabel(side) + " took too long and was stopped." : sideLabel(side) + " failed to answer.";
        if (p.errorText) p.errorText.textContent = l.error ? String(l.error) : fallback;
      }
      p.errorBox.hidden = !failed;
    }
    renderStats(side);
  }

  function applySideState(side, s) {
    if (!s || typeof s !== "object") return;
    const l = local[side];
    const status = typeof s.status === "string" ? s.status : l.status;
    const serverText = typeof s.text === "string" ? s.text : "";
    // While a side is still streaming the stored text may lag behind what the websocket
    // already delivered: keep the longer local text when it extends the server's.
    const keepLocal = !FINISHED.has(status) && l.text.length > serverText.length && l.text.startsWith(serverText);
    if (!keepLocal && serverText !== l.text) setAnswerText(side, serverText);
    l.status = status;
    drainPending(side);
    if (!keepLocal || (num(s.output_tokens) || 0) >= (num(l.output_tokens) || 0)) {
      if (num(s.output_tokens) !== null) l.output_tokens = s.output_tokens;
      if (num(s.tokens_per_s) !== null) l.tokens_per_s = s.tokens_per_s;
    }
    l.time_to_first_token_s = num(s.time_to_first_token_s);
    l.duration_s = num(s.duration_s);
    l.error = typeof s.error === "string" ? s.error : "";
    renderSideStatus(side);
  }

  function renderName(side, contender) {
    const el = paneEls[side].name;
    if (!el) return;
    el.textContent = "";
    if (!contender || typeof contender !== "object") {
      el.hidden = true;
      return;
    }
    const main = document.createElement("strong");
    main.className = "model-name-main";
    main.textContent = String(contender.name || "");
    el.appendChild(main);
    const details = [contender.model, contender.decoding, contender.precision]
      .filter((v) => typeof v === "string" && v)
      .map(String);
    const params = fmtParams(contender.parameter_count);
    if (params) details.push(params);
    if (details.length) {
      const small = document.createElement("small");
      small.className = "model-name-details";
      small.textContent = details.join(" · ");
      el.appendChild(small);
    }
    el.hidden = false;
  }

  function renderEnergySide(side, energy, chosen) {
    const box = paneEls[side].energy;
    if (!box) return;
    const e = energy && typeof energy === "object" ? energy : {};
    const set = (selector, text) => {
      const el = box.querySelector(selector);
      if (el) el.textContent = text;
    };
    set(".energy-joules", fmtJoules(e.joules));
    set(".energy-per-token", num(e.joules_per_token) === null ? "—" : fmtJoules(e.joules_per_token) + " per token");
    set(".energy-duration", fmtSeconds(e.duration_s));
    set(".energy-device", e.device ? String(e.device) : "—");
    const method = box.querySelector(".energy-method");
    if (method) {
      method.textContent = "";
      if (e.source) {
        const tag = document.createElement("span");
        tag.className = "energy-source";
        tag.dataset.source = String(e.source);
        tag.textContent = SOURCE_LABELS[e.source] || String(e.source);
        method.appendChild(tag);
        method.appendChild(document.createTextNode(" "));
      }
      method.appendChild(document.createTextNode(e.method ? String(e.method) : ""));
    }
    box.classList.toggle("is-chosen", chosen);
    const badge = box.querySelector(".chosen-badge");
    setHidden(badge, !chosen);
  }

  function markBar(bar, { enabled, selected, keep }) {
    if (!bar) return;
    for (const button of bar.querySelectorAll("button[data-choice]")) {
      const choice = button.dataset.choice;
      button.disabled = !enabled;
      const isSelected = selected !== null && selected !== undefined && choice === selected;
      button.classList.toggle("selected", isSelected);
      button.setAttribute("aria-pressed", String(isSelected));
      const isKeep = keep !== null && keep !== undefined && choice === keep;
      button.classList.toggle("keep", isKeep);
      let label = button.querySelector(".keep-label");
      if (isKeep && !label) {
        label = document.createElement("span");
        label.className = "keep-label";
        label.textContent = " (keep)";
        button.appendChild(label);
      } else if (!isKeep && label) {
        label.remove();
      }
    }
  }

  function statusLine() {
    if (!battle) return "";
    switch (battle.stage) {
      case "generating": {
        const parts = SIDES.map((side) => {
          const s = local[side].status;
          if (s === "queued") return sideLabel(side) + " is waiting to start…";
          if (s === "running") return sideLabel(side) + (mode === "retrieval" ? " is searching…" : " is writing…");
          if (s === "done") return sideLabel(side) + " is done.";
          if (s === "timeout") return sideLabel(side) + " timed out.";
          return sideLabel(side) + " failed.";
        });
        return parts.join(" ");
      }
      case "blind_vote":
        return "Both answers are complete. Which one is better?";
      case "final_vote":
        return "Here is the energy each answer used. Knowing it, which do you prefer now?";
      case "revealed":
        return "Thanks for voting! The names are revealed below.";
      case "failed":
        return "One of the models did not finish, so this battle cannot be voted on. Try another battle.";
      case "closed":
        return "Voting on this battle has closed. Here is the energy each answer used, and who wrote it.";
      default:
        return "";
    }
  }

  function renderControls() {
    const stage = battle ? battle.stage : null;
    if (els.send) els.send.disabled = busy || stage === "generating";
    if (els.send) els.send.setAttribute("aria-disabled", String(els.send.disabled));
    const vote = battle && battle.vote && typeof battle.vote === "object" ? battle.vote : null;
    const blind = vote ? vote.blind_choice || null : null;
    const final = vote ? vote.final_choice || null : null;
    markBar(els.voteBar, { enabled: stage === "blind_vote" && !busy, selected: blind, keep: null });
    markBar(els.finalVoteBar, {
      enabled: stage === "final_vote" && !busy,
      selected: stage === "revealed" ? final : null,
      keep: stage === "final_vote" ? blind : null,
    });
  }

  function renderStage() {
    if (!battle) return;
    const stage = battle.stage;
    const vote = battle.vote && typeof battle.vote === "object" ? battle.vote : null;
    const blind = vote ? vote.blind_choice || null : null;
    const final = vote ? vote.final_choice || null : null;
    const current = final || blind;

    root.dataset.stage = String(stage || "");
    if (els.status) els.status.textContent = statusLine();

    for (const side of SIDES) {
      const badge = paneEls[side].badge;
      const chosen = current === side;
      setHidden(badge, !chosen);
      if (paneEls[side].pane) paneEls[side].pane.classList.toggle("is-chosen", chosen);
    }

    // Energy: shown once the blind vote is in (the server sends it only then).
    const sides = battle.sides || {};
    const hasEnergy = SIDES.some((side) => sides[side] && sides[side].energy);
    const showEnergy = (stage === "final_vote" || stage === "revealed" || stage === "closed") && hasEnergy;
    setHidden(els.energyPanel, !showEnergy);
    if (showEnergy) {
      const summary = battle.energy_summary && typeof battle.energy_summary === "object" ? battle.energy_summary : null;
      if (els.energyRatio) els.energyRatio.textContent = summary && summary.ratio_text ? String(summary.ratio_text) : "";
      if (els.blindChoiceText) els.blindChoiceText.textContent = blind ? "Your blind vote: " + choiceLabel(blind) + "." : "";
      for (const side of SIDES) renderEnergySide(side, sides[side] && sides[side].energy, blind === side);
    }
    setHidden(els.finalVote, !showEnergy || stage === "closed");

    // Names: the server sends them only after the final vote.
    for (const side of SIDES) renderName(side, sides[side] ? sides[side].contender : null);

    const revealed = stage === "revealed";
    setHidden(els.reveal, !revealed);
    if (revealed && els.voteChanged) {
      if (vote && vote.changed) {
        els.voteChanged.textContent =
          "You changed your vote after seeing the energy: from “" + choiceLabel(blind) + "” to “" + choiceLabel(final) + "”.";
      } else if (vote) {
        els.voteChanged.textContent = "You kept your vote after seeing the energy: “" + choiceLabel(final || blind) + "”.";
      } else {
        els.voteChanged.textContent = "";
      }
    }

    root.classList.toggle("is-failed", stage === "failed");
    renderControls();
  }

  function renderState(state) {
    if (!state || typeof state !== "object") return;
    if (battle && state.id !== battle.id) return; // a late answer about another battle
    battle = state;
    setHidden(els.battle, false);
    if (els.sentPrompt) els.sentPrompt.textContent = typeof state.prompt === "string" ? state.prompt : "";
    const sides = state.sides || {};
    for (const side of SIDES) applySideState(side, sides[side]);
    setBattleParam(state.id);
    renderStage();
    if (state.stage === "generating") ensureSocket();
    else closeSocket();
  }

  // ---------------------------------------------------------------------------------------------
  // Websocket
  // ---------------------------------------------------------------------------------------------
  function closeSocket() {
    if (wsTimer) {
      clearTimeout(wsTimer);
      wsTimer = null;
    }
    wsRetry = 0;
    if (ws) {
      const sock = ws;
      ws = null;
      sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
      try {
        sock.close(1000);
      } catch (_) {
        /* already closed */
      }
    }
  }

  function ensureSocket() {
    if (!battle || ws || wsTimer) return;
    openSocket();
  }

  function scheduleReconnect() {
    if (wsTimer || !battle || battle.stage !== "generating") return;
    const delay = Math.min(1000 * 2 ** wsRetry, RECONNECT_MAX_MS);
    wsRetry += 1;
    const gen = generation;
    wsTimer = setTimeout(() => {
      wsTimer = null;
      if (gen !== generation) return;
      // After a few failed tries, also ask for the state over HTTP so that the page moves on
      // even when the websocket cannot get through.
      if (wsRetry >= 3) refresh();
      openSocket();
    }, delay);
  }

  function openSocket() {
    if (!battle || battle.stage !== "generating" || !battle.ws_url || ws) return;
    const gen = generation;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + battle.ws_url;
    let sock;
    try {
      sock = new WebSocket(url);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onmessage = (event) => {
      if (gen !== generation || ws !== sock) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (msg && typeof msg === "object") handleMessage(msg);
    };
    sock.onclose = (event) => {
      if (ws === sock) ws = null;
      if (gen !== generation) return;
      if (event.code === 4403) {
        showError("This battle belongs to another browser session, so its answers cannot be shown here.");
        return;
      }
      scheduleReconnect();
    };
    sock.onerror = () => {
      /* a close event follows */
    };
  }

  function handleMessage(msg) {
    lastMessageAt = Date.now();
    switch (msg.type) {
      case "snapshot":
        wsRetry = 0;
        if (msg.battle) renderState(msg.battle);
        break;
      case "state":
        if (msg.battle) renderState(msg.battle);
        break;
      case "tokens":
        applyTokens(msg);
        break;
      case "side_done":
        applySideDone(msg);
        break;
      default:
        break;
    }
  }

  // Put one "tokens" message into the text. Returns false when it starts past the end of
  // what the page has (a gap), true otherwise.
  function spliceTokens(side, msg) {
    const l = local[side];
    const offset = msg.offset;
    const text = typeof msg.text === "string" ? msg.text : "";
    if (offset > l.len) return false;
    const length = cpLength(text);
    if (offset + length > l.len) {
      appendAnswerText(side, offset === l.len ? text : cpSlice(text, l.len - offset));
    }
    return true;
  }

  // Apply the buffered messages that now join up with the text.
  function drainPending(side) {
    const l = local[side];
    if (!l.pending.length) return;
    if (FINISHED.has(l.status)) {
      l.pending = [];
      return;
    }
    l.pending.sort((x, y) => x.offset - y.offset);
    while (l.pending.length && l.pending[0].offset <= l.len) spliceTokens(side, l.pending.shift());
  }

  function hasGap() {
    return SIDES.some((side) => local[side].pending.length > 0 && !FINISHED.has(local[side].status));
  }

  function applyTokens(msg) {
    const side = msg.side;
    if (!SIDES.includes(side) || !battle) return;
    const l = local[side];
    if (FINISHED.has(l.status)) return; // the full text is already here
    if (!Number.isInteger(msg.offset) || msg.offset < 0) return;
    if (!spliceTokens(side, msg)) {
      // A gap: some text was missed. Keep this message, and fetch the state: once the text
      // reaches this offset, the kept messages are applied in order.
      if (l.pending.length < MAX_PENDING) l.pending.push(msg);
      if (!refreshing && !resyncTimer) refresh();
    } else {
      drainPending(side);
    }
    l.status = "running";
    if (num(msg.output_tokens) !== null && msg.output_tokens >= (num(l.output_tokens) || 0)) {
      l.output_tokens = msg.output_tokens;
      if (num(msg.tokens_per_s) !== null) l.tokens_per_s = msg.tokens_per_s;
    }
    renderSideStatus(side);
    if (els.status) els.status.textContent = statusLine();
  }

  function applySideDone(msg) {
    const side = msg.side;
    if (!SIDES.includes(side) || !battle) return;
    applySideState(side, {
      status: msg.status,
      text: typeof msg.text === "string" ? msg.text : local[side].text,
      output_tokens: msg.output_tokens,
      tokens_per_s: msg.tokens_per_s,
      time_to_first_token_s: msg.time_to_first_token_s,
      duration_s: msg.duration_s,
      error: msg.error,
    });
    if (els.status) els.status.textContent = statusLine();
    // Both sides are finished: a "state" message should follow. If it does not arrive soon
    // (a dropped connection), fetch the state over HTTP.
    if (SIDES.every((s) => FINISHED.has(local[s].status))) {
      const gen = generation;
      setTimeout(() => {
        if (gen === generation && battle && battle.stage === "generating") refresh();
      }, 2000);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Server calls
  // ---------------------------------------------------------------------------------------------
  async function refresh() {
    if (!battle) return;
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    const gen = generation;
    const id = battle.id;
    try {
      const state = await api("GET", battlesUrl + encodeURIComponent(id) + "/");
      if (gen === generation) renderState(state);
    } catch (err) {
      if (gen === generation) showError(err.message, els.status);
    } finally {
      refreshing = false;
      if (gen === generation) {
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        } else if (hasGap() && !resyncTimer && battle && battle.stage === "generating") {
          // The stored text has not caught up with the stream yet: ask again shortly.
          resyncTimer = setTimeout(() => {
            resyncTimer = null;
            if (gen === generation) refresh();
          }, RESYNC_RETRY_MS);
        }
      }
    }
  }

  function clearBattle() {
    closeSocket();
    generation += 1;
    battle = null;
    refreshing = false;
    refreshAgain = false;
    if (resyncTimer) {
      clearTimeout(resyncTimer);
      resyncTimer = null;
    }
    resetLocal();
    for (const side of SIDES) {
      setAnswerText(side, "");
      renderSideStatus(side);
      renderName(side, null);
      if (paneEls[side].pane) paneEls[side].pane.classList.remove("is-chosen");
      setHidden(paneEls[side].badge, true);
    }
    if (els.sentPrompt) els.sentPrompt.textContent = "";
    if (els.status) els.status.textContent = "";
    if (els.energyRatio) els.energyRatio.textContent = "";
    if (els.blindChoiceText) els.blindChoiceText.textContent = "";
    if (els.voteChanged) els.voteChanged.textContent = "";
    setHidden(els.energyPanel, true);
    setHidden(els.reveal, true);
    setHidden(els.battle, true);
    delete root.dataset.stage;
    setBattleParam(null);
    renderControls();
  }

  function startFresh(prefill) {
    clearBattle();
    clearError();
    if (els.prompt) {
      if (typeof prefill === "string") {
        els.prompt.value = maxChars ? prefill.slice(0, maxChars) : prefill;
        updateCount();
      }
      els.prompt.focus();
    }
    window.scrollTo({ top: 0, behavior: "smooth" });
  }

  async function send() {
    if (busy || (battle && battle.stage === "generating")) return;
    const prompt = els.prompt ? els.prompt.value : "";
    if (!prompt.trim()) {
      showError("Type a prompt first, or pick a random example.");
      if (els.prompt) els.prompt.focus();
      return;
    }
    clearError();
    const body = new FormData();
    body.append("prompt", prompt);
    if (mode === "named") {
      body.append("contender_a", els.contenderA ? els.contenderA.value : "");
      body.append("contender_b", els.contenderB ? els.contenderB.value : "");
    }
    const corpus = document.getElementById("corpus");
    if (corpus) body.append("corpus", corpus.value);
    busy = true;
    renderControls();
    if (els.send) els.send.setAttribute("aria-busy", "true");
    try {
      const state = await api("POST", battlesUrl, body);
      clearBattle();
      renderState(state);
      if (els.prompt) {
        els.prompt.value = "";
        updateCount();
      }
      if (els.battle && els.battle.scrollIntoView) els.battle.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) {
      showError(err.message); // the prompt stays in the box
    } finally {
      busy = false;
      if (els.send) els.send.removeAttribute("aria-busy");
      renderControls();
    }
  }

  async function vote(stage, choice, bar) {
    if (busy || !battle || !(choice in CHOICE_LABELS)) return;
    const gen = generation;
    const id = battle.id;
    const body = new FormData();
    body.append("stage", stage);
    body.append("choice", choice);
    busy = true;
    renderControls();
    clearError();
    try {
      const state = await api("POST", battlesUrl + encodeURIComponent(id) + "/vote/", body);
      if (gen !== generation) return;
      busy = false;
      renderState(state);
      // Move the reader on to what the vote unlocked.
      const target = state.stage === "final_vote" ? els.energyHeading : state.stage === "revealed" ? els.revealHeading : null;
      if (target) {
        target.setAttribute("tabindex", "-1");
        target.focus({ preventScroll: true });
        if (target.scrollIntoView) target.scrollIntoView({ behavior: "smooth", block: "start" });
      }
    } catch (err) {
      if (gen !== generation) return;
      showError(err.message, bar);
      if (err.status === 409) refresh(); // out of order: show where the battle really is
    } finally {
      if (gen === generation) {
        busy = false;
        renderControls();
      }
    }
  }

  async function loadBattle(id) {
    const gen = generation;
    try {
      const state = await api("GET", battlesUrl + encodeURIComponent(id) + "/");
      if (gen === generation) renderState(state);
    } catch (err) {
      if (gen !== generation) return;
      setBattleParam(null);
      showError(err.message);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Wiring
  // ---------------------------------------------------------------------------------------------
  function updateCount() {
    if (!els.count || !els.prompt) return;
    const n = els.prompt.value.length;
    els.count.textContent = maxChars ? n + " / " + maxChars : String(n);
    els.count.classList.toggle("near-limit", maxChars > 0 && n >= maxChars * 0.9);
  }

  if (els.form) {
    els.form.addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
  }

  if (els.prompt) {
    els.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send();
      }
    });
    els.prompt.addEventListener("input", updateCount);
    updateCount();
  }

  if (els.random) {
    els.random.disabled = examples.length === 0;
    els.random.addEventListener("click", () => {
      if (!examples.length || !els.prompt) return;
      let pick = examples[Math.floor(Math.random() * examples.length)];
      if (examples.length > 1) {
        for (let i = 0; i < 5 && pick === els.prompt.value; i++) {
          pick = examples[Math.floor(Math.random() * examples.length)];
        }
      }
      els.prompt.value = maxChars ? pick.slice(0, maxChars) : pick;
      updateCount();
      els.prompt.focus();
    });
  }

  if (els.voteBar) {
    els.voteBar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-choice]");
      if (button && !button.disabled) vote("blind", button.dataset.choice, els.voteBar);
    });
  }

  if (els.finalVoteBar) {
    els.finalVoteBar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-choice]");
      if (button && !button.disabled) vote("final", button.dataset.choice, els.finalVoteBar);
    });
  }

  if (els.newBattle) els.newBattle.addEventListener("click", () => startFresh(""));

  root.addEventListener("click", (event) => {
    const button = event.target.closest(".try-another");
    if (!button) return;
    // Same as "New battle", with the prompt put back so it can be sent again.
    startFresh(battle && typeof battle.prompt === "string" ? battle.prompt : "");
  });

  window.addEventListener("online", () => {
    if (battle && battle.stage === "generating" && !ws) {
      if (wsTimer) {
        clearTimeout(wsTimer);
        wsTimer = null;
      }
      wsRetry = 0;
      openSocket();
    }
  });

  window.addEventListener("pagehide", () => closeSocket());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && battle) refresh(); // back from the back/forward cache
  });

  setInterval(() => {
    if (battle && battle.stage === "generating" && Date.now() - lastMessageAt > STALL_CHECK_MS) {
      lastMessageAt = Date.now();
      refresh();
    }
  }, 2000);

  renderControls();

  const initial = new URLSearchParams(window.location.search).get("battle");
  if (initial) {
    if (/^[A-Za-z0-9_-]{1,64}$/.test(initial)) loadBattle(initial);
    else setBattleParam(null);
  }
})();
