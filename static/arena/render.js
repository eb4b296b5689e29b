/*
 * Energy Arena — putting the battle into the page (templates/arena/_arena.html).
 *
 * Security rule: everything that comes from the server (prompt, errors, names, energy method text)
 * is put into the page with textContent / createTextNode only; a chat answer goes through
 * markdown.js (rendered, then sanitized by DOMPurify's allowlist), never as raw HTML. A retrieval
 * side's results are cards built with createElement / textContent.
 *
 * The words that differ between a chat battle and a retrieval battle ("answer" / "results") are the
 * page's "arena-words" JSON (arena.formatting.PAGE_WORDS): `view.words`.
 */

import {
  SOURCE_LABELS,
  choiceLabel,
  fmtJoules,
  fmtRate,
  fmtSeconds,
  num,
  plural,
  resultCards,
  sideLabel,
} from "./format.js";
import { renderAnswerInto } from "./markdown.js";
import { FINISHED, SIDES } from "./stream.js";

const $ = (id) => document.getElementById(id);

export function setHidden(el, hidden) {
  if (el) el.hidden = !!hidden;
}

/** The page's words (the "arena-words" JSON of the template): {} when missing or not an object. */
function pageWords(node) {
  try {
    const words = node ? JSON.parse(node.textContent) : null;
    return words && typeof words === "object" && !Array.isArray(words) ? words : {};
  } catch (_) {
    return {};
  }
}

/** The elements of the arena under `root` (#arena), by the ids of the template. */
export function findView(root) {
  const els = {
    form: $("prompt-form"),
    prompt: $("prompt"),
    count: $("prompt-count"),
    random: $("random-example"),
    send: $("send"),
    error: $("error"),
    notice: $("notice"),
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
    energySides: $("energy-sides"),
    finalVote: $("final-vote"),
    finalVoteQuestion: $("final-vote-question"),
    finalVoteBar: $("final-vote-bar"),
    reveal: $("reveal"),
    revealHeading: $("reveal-heading"),
    revealNames: { a: $("reveal-name-a"), b: $("reveal-name-b") },
    revealDetails: { a: $("reveal-details-a"), b: $("reveal-details-b") },
    voteChanged: $("vote-changed"),
    ownLadder: $("own-ladder"),
    ownLadderLink: $("own-ladder-link"),
    newBattle: $("new-battle"),
  };
  const panes = {};
  for (const side of SIDES) {
    const pane = $("pane-" + side);
    const errorBox = $("error-" + side);
    panes[side] = {
      pane,
      answer: $("answer-" + side),
      waiting: $("waiting-" + side),
      cutOff: $("cut-off-" + side),
      stats: $("stats-" + side),
      name: $("name-" + side),
      errorBox,
      errorText: errorBox ? errorBox.querySelector(".side-error-text") : null,
      badge: pane ? pane.querySelector(".chosen-badge") : null,
      energy: $("energy-" + side),
    };
  }
  return {
    root,
    mode: root.dataset.mode || "anonymous",
    words: pageWords($("arena-words")),
    els,
    panes,
    errorHome: els.error ? { parent: els.error.parentNode, next: els.error.nextSibling } : null,
  };
}

/**
 * A SideStream sink writing a chat answer into `el`, rendered as Markdown (markdown.js: sanitized).
 * Rendering waits for the next frame, so a burst of tokens is drawn once. While the reader is at
 * the bottom of the box it follows the text.
 */
export function answerSink(el) {
  let latest = "";
  let frame = 0;
  const atBottom = () => el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  const paint = () => {
    frame = 0;
    const follow = atBottom() && el.dataset.finished !== "true";
    renderAnswerInto(el, latest);
    if (follow) el.scrollTop = el.scrollHeight;
  };
  if (el) el.classList.add("markdown");
  const schedule = (text) => {
    if (!el) return;
    latest = text;
    if (!frame) frame = requestAnimationFrame(paint);
  };
  return { replace: schedule, append: (part, text) => schedule(text) };
}

const resultsShown = new WeakMap(); // a results box → what it shows (JSON), so an unchanged state keeps its scroll

function textElement(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * A retrieval side (`side`: its part of the battle state) in its box `el`: an ordered list of cards
 * built from `results` (format.js resultCards: rank, title, similarity, the server's cleaned snippet),
 * all as text. A side without results shows its plain `text`.
 */
export function renderResults(el, side) {
  if (!el) return;
  const s = side && typeof side === "object" ? side : {};
  const cards = resultCards(s.results);
  const text = cards.length || typeof s.text !== "string" ? "" : s.text;
  const key = JSON.stringify([cards, text]);
  if (resultsShown.get(el) === key) return;
  resultsShown.set(el, key);
  el.textContent = "";
  if (!cards.length) {
    if (text) el.appendChild(document.createTextNode(text));
    return;
  }
  const list = document.createElement("ol");
  list.className = "results";
  for (const card of cards) {
    const item = document.createElement("li");
    item.className = "result";
    const heading = textElement("h4", "result-title", "");
    heading.append(textElement("span", "result-rank", card.rank), " ", card.title);
    item.appendChild(heading);
    if (card.score) item.appendChild(textElement("p", "result-score", card.score));
    if (card.snippet) item.appendChild(textElement("p", "result-snippet", card.snippet));
    list.appendChild(item);
  }
  el.appendChild(list);
}

// -----------------------------------------------------------------------------------------------
// Errors (always as text)
// -----------------------------------------------------------------------------------------------
export function showError(view, message, anchor) {
  const { els, errorHome } = view;
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

/** A message that is not an error (the arena is warming up and the page tries again), as text. */
export function showNotice(view, message) {
  const { els } = view;
  if (!els.notice) return;
  els.notice.textContent = String(message || "");
  els.notice.hidden = !message;
}

export function clearError(view) {
  const { els } = view;
  if (!els.error) return;
  els.error.textContent = "";
  els.error.hidden = true;
}

// -----------------------------------------------------------------------------------------------
// One side
// -----------------------------------------------------------------------------------------------
function renderStats(view, side, l) {
  const el = view.panes[side].stats;
  if (!el) return;
  const parts = [];
  const rate = fmtRate(l.tokens_per_s);
  const tokens = plural(num(l.output_tokens) || 0, "token");
  if (view.mode === "retrieval") {
    // No tokens in a search: its time, or how it ended (the status line says it is searching).
    if (l.status === "done" && num(l.duration_s) !== null) parts.push("searched in " + fmtSeconds(l.duration_s));
    if (l.status === "failed" || l.status === "timeout") parts.push(l.status === "timeout" ? "Timed out" : "Failed");
  } else if (l.status === "queued" || (l.status === "running" && l.waitingText)) {
    // Not writing yet: the pane's waiting note says why.
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

/** The pane of `side` for its SideStream `l`: status, busy flag, error box and figures. */
export function renderSideStatus(view, side, l) {
  const p = view.panes[side];
  const failed = l.status === "failed" || l.status === "timeout";
  if (p.pane) {
    p.pane.dataset.status = l.status;
    p.pane.classList.toggle("is-failed", failed);
    p.pane.classList.toggle("is-writing", l.status === "running" || l.status === "queued");
  }
  if (p.answer) {
    const finished = FINISHED.has(l.status);
    p.answer.setAttribute("aria-busy", String(!finished));
    // A finished answer is read from its start (once, when it finishes).
    if (finished && p.answer.dataset.finished !== "true") p.answer.scrollTop = 0;
    p.answer.dataset.finished = String(finished);
  }
  if (p.cutOff) {
    const cut = l.status === "done" && l.cut_off;
    p.cutOff.textContent = cut ? "Cut off at " + plural(num(l.output_tokens) || 0, "token") + " (this contender's limit)." : "";
    p.cutOff.hidden = !cut;
  }
  if (p.waiting) {
    // Until the first token: where the side waits (queued for its model's batch, or for a worker).
    const waiting = l.waitingText;
    if (p.waiting.textContent !== waiting) p.waiting.textContent = waiting;
    p.waiting.hidden = !waiting;
  }
  if (p.errorBox) {
    if (failed) {
      const ending = l.status === "timeout" ? "took too long and was stopped." : view.words.side_failed;
      const fallback = sideLabel(side) + " " + ending;
      if (p.errorText) p.errorText.textContent = l.error ? String(l.error) : fallback;
    }
    p.errorBox.hidden = !failed;
  }
  renderStats(view, side, l);
}

export function renderName(view, side, contender) {
  const el = view.panes[side].name;
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
  if (typeof contender.parameters === "string" && contender.parameters) details.push(contender.parameters);
  if (details.length) {
    const small = document.createElement("small");
    small.className = "model-name-details";
    small.textContent = details.join(" · ");
    el.appendChild(small);
  }
  el.hidden = false;
}

function renderEnergySide(view, side, energy, chosen) {
  const box = view.panes[side].energy;
  if (!box) return;
  const e = energy && typeof energy === "object" ? energy : {};
  const set = (selector, text) => {
    const el = box.querySelector(selector);
    if (el) el.textContent = text;
  };
  // An engine without a meter: "not measured", never a figure (arena.selectors._energy).
  set(".energy-joules", e.source === "none" ? "not measured" : fmtJoules(e.joules));
  // The relative reveal (arena.reveal): which used less, no figure; carbon: grams of CO2e besides.
  const relative = typeof e.relative === "string" ? e.relative : "";
  setHidden(box.querySelector(".energy-figures"), Boolean(relative));
  const relativeEl = box.querySelector(".energy-relative");
  if (relativeEl) relativeEl.textContent = relative;
  setHidden(relativeEl, !relative);
  const carbonEl = box.querySelector(".energy-carbon");
  if (carbonEl) carbonEl.textContent = typeof e.carbon === "string" ? e.carbon : "";
  setHidden(carbonEl, typeof e.carbon !== "string");
  const perUnit = view.mode === "retrieval" ? e.joules_per_1000_documents : e.joules_per_token;
  set(".energy-per-unit", num(perUnit) === null ? "—" : fmtJoules(perUnit) + " " + view.words.per_unit);
  set(".energy-duration", fmtSeconds(e.duration_s));
  set(".energy-device", e.device ? String(e.device) : "—");
  set(".energy-everyday", typeof e.everyday === "string" ? e.everyday : "");
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

// -----------------------------------------------------------------------------------------------
// The whole battle
// -----------------------------------------------------------------------------------------------
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

/** The sentence under the prompt: where the battle stands (`streams`: the SideStream per side; `words`: the page's). */
export function statusLine(battle, streams, words) {
  if (!battle) return "";
  switch (battle.stage) {
    case "generating": {
      const parts = SIDES.map((side) => {
        const s = streams[side].status;
        if (s === "queued") return sideLabel(side) + " is waiting to start…";
        if (s === "running") return sideLabel(side) + " " + words.working;
        if (s === "done") return sideLabel(side) + " is done.";
        if (s === "timeout") return sideLabel(side) + " timed out.";
        return sideLabel(side) + " failed.";
      });
      return parts.join(" ");
    }
    case "blind_vote":
      return words.both_done + " (Keys 1 to 4 vote.)";
    case "final_vote":
      if (battle.reveal === "control") return "Would you like to change your vote? (Keys 1 to 4 vote.)";
      if (battle.reveal === "relative") return "Here is which answer used less energy. Knowing it, which do you prefer now? (Keys 1 to 4 vote.)";
      return words.energy_each + " Knowing it, which do you prefer now? (Keys 1 to 4 vote.)";
    case "revealed":
      return "Thanks for voting! The names are revealed below.";
    case "failed":
      return words.battle_failed;
    case "closed":
      return words.closed;
    default:
      return "";
  }
}

export function renderStatusLine(view, battle, streams) {
  if (view.els.status) view.els.status.textContent = statusLine(battle, streams, view.words);
}

/** The send button and both vote bars: what can be pressed now. */
export function renderControls(view, battle, busy) {
  const { els } = view;
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

/** Side `side`'s name in the reveal card (where focus lands after the final vote), linking its page. */
function renderRevealName(view, side, contender) {
  const link = view.els.revealNames ? view.els.revealNames[side] : null;
  const details = view.els.revealDetails ? view.els.revealDetails[side] : null;
  const known = contender && typeof contender === "object";
  if (link) {
    link.textContent = known ? String(contender.name || "") : "";
    const url = known && typeof contender.url === "string" && contender.url.startsWith("/") ? contender.url : "";
    if (url) link.setAttribute("href", url);
    else link.removeAttribute("href");
  }
  if (details) {
    const parts = known
      ? [contender.model, contender.parameters, contender.decoding, contender.precision].filter((v) => typeof v === "string" && v)
      : [];
    details.textContent = parts.join(" · ");
  }
}

/** Everything that depends on the stage: status line, picks, energy, names, the reveal. */
export function renderStage(view, battle, streams, busy) {
  if (!battle) return;
  const { els, panes, root } = view;
  const stage = battle.stage;
  const vote = battle.vote && typeof battle.vote === "object" ? battle.vote : null;
  const blind = vote ? vote.blind_choice || null : null;
  const final = vote ? vote.final_choice || null : null;
  const current = final || blind;

  root.dataset.stage = String(stage || "");
  renderStatusLine(view, battle, streams);

  for (const side of SIDES) {
    const badge = panes[side].badge;
    const chosen = current === side;
    setHidden(badge, !chosen);
    if (panes[side].pane) panes[side].pane.classList.toggle("is-chosen", chosen);
  }

  // Energy: shown once the blind vote is in (the server sends it only then); in the control condition
  // the panel first holds only the second vote ("a second look"), and the energy after it.
  const sides = battle.sides || {};
  const hasEnergy = SIDES.some((side) => sides[side] && sides[side].energy);
  const secondLook = stage === "final_vote" && battle.reveal === "control" && !hasEnergy;
  const showEnergy = (stage === "final_vote" || stage === "revealed" || stage === "closed") && (hasEnergy || secondLook);
  setHidden(els.energyPanel, !showEnergy);
  setHidden(els.energySides, secondLook);
  if (els.energyHeading) els.energyHeading.textContent = secondLook ? "A second look" : "Energy used";
  if (els.finalVoteQuestion) {
    els.finalVoteQuestion.textContent = secondLook
      ? "Would you like to change your vote?"
      : battle.reveal === "relative"
        ? "Knowing which used less energy, which do you prefer now?"
        : "Knowing the energy, which do you prefer now?";
  }
  if (secondLook) {
    if (els.energyRatio) els.energyRatio.textContent = "";
    if (els.blindChoiceText) els.blindChoiceText.textContent = blind ? "Your vote: " + choiceLabel(blind) + "." : "";
  }
  if (showEnergy && !secondLook) {
    const summary = battle.energy_summary && typeof battle.energy_summary === "object" ? battle.energy_summary : null;
    if (els.energyRatio) els.energyRatio.textContent = summary && summary.ratio_text ? String(summary.ratio_text) : "";
    if (els.blindChoiceText) els.blindChoiceText.textContent = blind ? "Your blind vote: " + choiceLabel(blind) + "." : "";
    for (const side of SIDES) renderEnergySide(view, side, sides[side] && sides[side].energy, blind === side);
  }
  setHidden(els.finalVote, !showEnergy || stage === "closed");

  // Names: the server sends them only after the final vote.
  for (const side of SIDES) renderName(view, side, sides[side] ? sides[side].contender : null);

  const revealed = stage === "revealed";
  setHidden(els.reveal, !revealed);
  for (const side of SIDES) renderRevealName(view, side, revealed && sides[side] ? sides[side].contender : null);
  if (revealed && els.voteChanged) {
    const when = battle.reveal === "control" ? "on a second look" : "after seeing the energy";
    if (vote && vote.changed) {
      els.voteChanged.textContent =
        "You changed your vote " + when + ": from “" + choiceLabel(blind) + "” to “" + choiceLabel(final) + "”.";
    } else if (vote) {
      els.voteChanged.textContent = "You kept your vote " + when + ": “" + choiceLabel(final || blind) + "”.";
    } else {
      els.voteChanged.textContent = "";
    }
  }

  // After enough votes in this session, a link to its own ladder (the server sends the address then).
  const ownUrl = revealed && typeof battle.own_ladder_url === "string" && battle.own_ladder_url.startsWith("/")
    ? battle.own_ladder_url : "";
  if (els.ownLadderLink) {
    if (ownUrl) els.ownLadderLink.setAttribute("href", ownUrl);
    else els.ownLadderLink.removeAttribute("href");
  }
  setHidden(els.ownLadder, !ownUrl);

  root.classList.toggle("is-failed", stage === "failed");
  renderControls(view, battle, busy);
}

/** Back to the empty page (no battle); `streams` were reset and their text emptied already. */
export function renderEmpty(view, streams) {
  const { els, panes, root } = view;
  for (const side of SIDES) {
    renderSideStatus(view, side, streams[side]);
    if (view.mode === "retrieval") renderResults(panes[side].answer, null);
    renderName(view, side, null);
    if (panes[side].pane) panes[side].pane.classList.remove("is-chosen");
    setHidden(panes[side].badge, true);
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
}
