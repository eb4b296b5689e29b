/*
 * Energy Arena — battle page, side-by-side page and retrieval page (docs/arena-protocol.md).
 *
 * ES modules, no framework, no build step: templates/arena/{battle,compare,retrieval}.html load
 * this entry with <script type="module"> (deferred, like `defer`). It keeps the state of the page
 * and wires the parts together:
 *   format.js  how numbers, energy and labels are written (pure)
 *   stream.js  splicing streamed text at its offsets, buffering after gaps (pure)
 *   api.js     the HTTP calls (CSRF header, errors as sentences)
 *   socket.js  the websocket of a battle being written, with reconnects
 *   corpora.js the retrieval page's corpus field while the corpora are being embedded
 *   render.js  the DOM (text only: textContent / createTextNode for anything from the server)
 */

import { battleApi, pageExamples } from "./api.js";
import { watchCorpusField } from "./corpora.js";
import { CHOICE_LABELS } from "./format.js";
import {
  answerSink,
  clearError,
  findView,
  renderControls,
  renderEmpty,
  renderResults,
  renderSideStatus,
  renderStage,
  renderStatusLine,
  setHidden,
  showError,
  showNotice,
} from "./render.js";
import { BattleSocket } from "./socket.js";
import { SIDES, SideStream } from "./stream.js";

const RESYNC_RETRY_MS = 700;
// While answers are being written, a silent stream for this long makes the page ask the server
// over HTTP: that is where a side whose worker died is noticed and shown as failed.
const STALL_CHECK_MS = 8000;
// A new battle refused with 503 and Retry-After (the arena is warming up: no worker serves its
// models yet) is sent again by itself, for this long at most; then the refusal is shown as an error.
const UNAVAILABLE_RETRY_FOR_MS = 10 * 60 * 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function start(root) {
  const view = findView(root);
  const { els, mode } = view;
  const server = battleApi(root.dataset.battlesUrl || "/arena/battles/", els.form);
  const examples = pageExamples(document.getElementById("arena-examples"));
  const maxChars =
    parseInt((els.prompt && els.prompt.getAttribute("maxlength")) || root.dataset.maxPromptChars || "0", 10) || 0;

  // -------------------------------------------------------------------------------------------
  // State of the page
  // -------------------------------------------------------------------------------------------
  let battle = null; // the last battle state the server sent
  let generation = 0; // bumped whenever the page switches battle: stale callbacks compare it
  let busy = false; // a POST is in flight
  let refreshing = false;
  let refreshAgain = false;
  let resyncTimer = null;
  let lastMessageAt = Date.now();

  // What the page shows of each answer.
  const streams = {};
  // A chat answer streams into its box; a search's results are drawn from the state (renderResults).
  for (const side of SIDES) {
    streams[side] = new SideStream(mode === "retrieval" ? null : answerSink(view.panes[side].answer));
  }

  const generating = () => !!battle && battle.stage === "generating";
  const socket = new BattleSocket({
    live: generating,
    path: () => battle.ws_url,
    generation: () => generation,
    onMessage: handleMessage,
    onForbidden: () =>
      showError(view, "This battle belongs to another browser session, so it cannot be shown here."),
    onStuck: () => refresh(),
  });

  // -------------------------------------------------------------------------------------------
  // URL (?battle=<id>)
  // -------------------------------------------------------------------------------------------
  function setBattleParam(id) {
    const url = new URL(window.location.href);
    if (id === null || id === undefined) url.searchParams.delete("battle");
    else url.searchParams.set("battle", String(id));
    if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
  }

  // -------------------------------------------------------------------------------------------
  // Rendering the server's state and the stream
  // -------------------------------------------------------------------------------------------
  function renderState(state) {
    if (!state || typeof state !== "object") return;
    if (battle && state.id !== battle.id) return; // a late answer about another battle
    battle = state;
    setHidden(els.battle, false);
    if (els.sentPrompt) els.sentPrompt.textContent = typeof state.prompt === "string" ? state.prompt : "";
    const sides = state.sides || {};
    for (const side of SIDES) {
      if (streams[side].applyState(sides[side])) renderSideStatus(view, side, streams[side]);
      if (mode === "retrieval") renderResults(view.panes[side].answer, sides[side]);
    }
    setBattleParam(state.id);
    renderStage(view, battle, streams, busy);
    if (state.stage === "generating") socket.ensure();
    else socket.close();
  }

  function handleMessage(msg) {
    lastMessageAt = Date.now();
    switch (msg.type) {
      case "snapshot":
      case "state":
        if (msg.battle) renderState(msg.battle);
        break;
      case "tokens":
        applyTokens(msg);
        break;
      case "side_done":
        applySideDone(msg);
        break;
      case "queue":
        applyQueue(msg);
        break;
      default:
        break;
    }
  }

  function applyTokens(msg) {
    const side = msg.side;
    if (!SIDES.includes(side) || !battle) return;
    const result = streams[side].tokens(msg);
    if (result === "ignored") return;
    // A gap: some text was missed. The message is kept; fetch the state: once the text reaches
    // its offset, the kept messages are applied in order.
    if (result === "gap" && !refreshing && !resyncTimer) refresh();
    renderSideStatus(view, side, streams[side]);
    renderStatusLine(view, battle, streams);
  }

  function applyQueue(msg) {
    const side = msg.side;
    if (!SIDES.includes(side) || !battle) return;
    if (streams[side].queue(msg)) {
      renderSideStatus(view, side, streams[side]);
      renderStatusLine(view, battle, streams);
    }
  }

  function applySideDone(msg) {
    const side = msg.side;
    if (!SIDES.includes(side) || !battle) return;
    if (streams[side].done(msg)) renderSideStatus(view, side, streams[side]);
    renderStatusLine(view, battle, streams);
    // Both sides are finished: a "state" message should follow. If it does not arrive soon
    // (a dropped connection), fetch the state over HTTP.
    if (SIDES.every((s) => streams[s].finished)) {
      const gen = generation;
      setTimeout(() => {
        if (gen === generation && generating()) refresh();
      }, 2000);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Server calls
  // -------------------------------------------------------------------------------------------
  async function refresh() {
    if (!battle) return;
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    const gen = generation;
    try {
      const state = await server.detail(battle.id);
      if (gen === generation) renderState(state);
    } catch (err) {
      if (gen === generation) showError(view, err.message, els.status);
    } finally {
      refreshing = false;
      if (gen === generation) {
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        } else if (SIDES.some((side) => streams[side].hasGap) && !resyncTimer && generating()) {
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
    socket.close();
    generation += 1;
    battle = null;
    refreshing = false;
    refreshAgain = false;
    if (resyncTimer) {
      clearTimeout(resyncTimer);
      resyncTimer = null;
    }
    for (const side of SIDES) {
      streams[side].reset();
      streams[side].setText("");
    }
    renderEmpty(view, streams);
    setBattleParam(null);
    renderControls(view, battle, busy);
  }

  function startFresh(prefill) {
    clearBattle();
    clearError(view);
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
    if (busy || generating()) return;
    const prompt = els.prompt ? els.prompt.value : "";
    if (!prompt.trim()) {
      showError(view, view.words.empty_prompt);
      if (els.prompt) els.prompt.focus();
      return;
    }
    clearError(view);
    const body = new FormData();
    body.append("prompt", prompt);
    if (mode === "named") {
      body.append("contender_a", els.contenderA ? els.contenderA.value : "");
      body.append("contender_b", els.contenderB ? els.contenderB.value : "");
    }
    const corpus = document.getElementById("corpus"); // the retrieval page (its field may be replaced: corpora.js)
    if (corpus) body.append("corpus", corpus.value);
    busy = true;
    renderControls(view, battle, busy);
    if (els.send) els.send.setAttribute("aria-busy", "true");
    try {
      const state = await createWhenAvailable(body);
      clearBattle();
      renderState(state);
      if (els.prompt) {
        els.prompt.value = "";
        updateCount();
      }
      if (els.battle && els.battle.scrollIntoView) els.battle.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) {
      showError(view, err.message); // the prompt stays in the box
    } finally {
      showNotice(view, "");
      busy = false;
      if (els.send) els.send.removeAttribute("aria-busy");
      renderControls(view, battle, busy);
    }
  }

  /** POST the new battle; while the server answers 503 with Retry-After, say so (not as an error) and retry. */
  async function createWhenAvailable(body) {
    const since = Date.now();
    for (;;) {
      try {
        return await server.create(body);
      } catch (err) {
        if (err.status !== 503 || err.retryAfterS === null || Date.now() - since > UNAVAILABLE_RETRY_FOR_MS) throw err;
        const wait = Math.min(Math.max(err.retryAfterS, 1), 30);
        showNotice(view, err.message + " Your battle starts by itself as soon as it can (next try in " + wait + " s).");
        await sleep(wait * 1000);
      }
    }
  }

  async function vote(stage, choice, bar) {
    if (busy || !battle || !(choice in CHOICE_LABELS)) return;
    const gen = generation;
    const body = new FormData();
    body.append("stage", stage);
    body.append("choice", choice);
    busy = true;
    renderControls(view, battle, busy);
    clearError(view);
    try {
      const state = await server.vote(battle.id, body);
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
      showError(view, err.message, bar);
      if (err.status === 409) refresh(); // out of order: show where the battle really is
    } finally {
      if (gen === generation) {
        busy = false;
        renderControls(view, battle, busy);
      }
    }
  }

  async function loadBattle(id) {
    const gen = generation;
    try {
      const state = await server.detail(id);
      if (gen === generation) renderState(state);
    } catch (err) {
      if (gen !== generation) return;
      setBattleParam(null);
      showError(view, err.message);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Wiring
  // -------------------------------------------------------------------------------------------
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

  for (const [bar, stage] of [[els.voteBar, "blind"], [els.finalVoteBar, "final"]]) {
    if (!bar) continue;
    bar.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-choice]");
      if (button && !button.disabled) vote(stage, button.dataset.choice, bar);
    });
  }

  // Keys 1-4 press the open vote bar's buttons in order (not while typing, not with a modifier).
  document.addEventListener("keydown", (event) => {
    if (event.repeat || event.ctrlKey || event.metaKey || event.altKey || !/^[1-9]$/.test(event.key)) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    for (const [bar, stage] of [[els.voteBar, "blind"], [els.finalVoteBar, "final"]]) {
      const button = bar && bar.querySelector(`button[data-key="${event.key}"]`);
      if (button && !button.disabled && !bar.closest("[hidden]")) {
        event.preventDefault();
        vote(stage, button.dataset.choice, bar);
        return;
      }
    }
  });

  if (els.newBattle) els.newBattle.addEventListener("click", () => startFresh(""));

  root.addEventListener("click", (event) => {
    const button = event.target.closest(".try-another");
    if (!button) return;
    // Same as "New battle", with the prompt put back so it can be sent again.
    startFresh(battle && typeof battle.prompt === "string" ? battle.prompt : "");
  });

  window.addEventListener("online", () => socket.reconnectNow());
  window.addEventListener("pagehide", () => socket.close());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && battle) refresh(); // back from the back/forward cache
  });

  setInterval(() => {
    if (generating() && Date.now() - lastMessageAt > STALL_CHECK_MS) {
      lastMessageAt = Date.now();
      refresh();
    }
  }, 2000);

  renderControls(view, battle, busy);
  if (mode === "retrieval") watchCorpusField(document.getElementById("corpus-field"));

  const initial = new URLSearchParams(window.location.search).get("battle");
  if (initial) {
    if (/^[A-Za-z0-9_-]{1,64}$/.test(initial)) loadBattle(initial);
    else setBattleParam(null);
  }
}

const root = document.getElementById("arena");
if (root) start(root);

