/*
 * Energy Arena — splicing a streamed answer together (docs/arena-protocol.md, "Websocket").
 *
 * Pure: no DOM, no network. One SideStream per answer pane keeps what the page shows of that
 * answer and its counters. "tokens" messages carry `text` to put at character `offset`; they can
 * overlap what is already here (the overlap is ignored) or start past its end (a gap: some text was
 * missed). Messages after a gap wait in `pending` until the text reaches their offset, from a
 * snapshot / HTTP state or an earlier message.
 *
 * Offsets on the wire count characters as Python does (Unicode code points), so lengths are kept
 * in code points, not UTF-16 units.
 *
 * The page sees the text change through an optional sink: `replace(text)` when the whole text is
 * set, `append(part, text)` when `part` was added at the end (`text` is the whole text after it).
 */

export const SIDES = Object.freeze(["a", "b"]);
export const FINISHED = new Set(["done", "failed", "timeout"]);
/** At most this many "tokens" messages wait after a gap; later ones are dropped (the state fills in). */
export const MAX_PENDING = 5000;

/** Length of a string in Unicode code points (Python's len). */
export function cpLength(s) {
  let n = 0;
  // eslint-disable-next-line no-unused-vars
  for (const _ of s) n++;
  return n;
}

/** The string from code point `start` on (Python's s[start:]). */
export function cpSlice(s, start) {
  return Array.from(s).slice(start).join("");
}

function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export class SideStream {
  constructor(sink = null) {
    this.sink = sink;
    this.reset();
  }

  /** Forget everything (a new battle). The sink is not told: call setText("") for that. */
  reset() {
    this.text = "";
    this.len = 0; // code points in `text`
    this.status = "queued";
    this.output_tokens = 0;
    this.tokens_per_s = null;
    this.time_to_first_token_s = null;
    this.duration_s = null;
    this.error = "";
    this.cut_off = false; // finished at the contender's token limit, not at the answer's end
    this.waiting = ""; // what the pane says until the first token (where the side waits for a slot)
    this.pending = []; // "tokens" messages that arrived after a gap, waiting for the text before them
  }

  get finished() {
    return FINISHED.has(this.status);
  }

  /** The waiting sentence to show now: none once text has arrived or the side is finished. */
  get waitingText() {
    return this.finished || this.len > 0 ? "" : this.waiting;
  }

  /**
   * A "queue" message: where the side waits for a slot in its model's batch (`text`, e.g.
   * "Queued: 2 requests ahead"). Returns false when it comes too late (text has arrived, or the
   * side is finished) or carries no text.
   */
  queue(msg) {
    if (this.finished || this.len > 0 || typeof msg.text !== "string") return false;
    this.status = "running"; // a worker holds the side now
    this.waiting = msg.text;
    return true;
  }

  /** True while messages wait for missing text (and the answer is still being written). */
  get hasGap() {
    return this.pending.length > 0 && !this.finished;
  }

  setText(text) {
    this.text = text;
    this.len = cpLength(text);
    if (this.sink) this.sink.replace(text);
  }

  append(part) {
    if (!part) return;
    this.text += part;
    this.len += cpLength(part);
    if (this.sink) this.sink.append(part, this.text);
  }

  /**
   * Put one "tokens" message into the text. Returns false when it starts past the end of what is
   * here (a gap), true otherwise (the part past the end, if any, is appended).
   */
  splice(msg) {
    const offset = msg.offset;
    const text = typeof msg.text === "string" ? msg.text : "";
    if (offset > this.len) return false;
    const length = cpLength(text);
    if (offset + length > this.len) {
      this.append(offset === this.len ? text : cpSlice(text, this.len - offset));
    }
    return true;
  }

  /** Apply the waiting messages that now join up with the text (all are dropped once finished). */
  drain() {
    if (!this.pending.length) return;
    if (this.finished) {
      this.pending = [];
      return;
    }
    this.pending.sort((x, y) => x.offset - y.offset);
    while (this.pending.length && this.pending[0].offset <= this.len) this.splice(this.pending.shift());
  }

  /**
   * A "tokens" message. Returns "ignored" (the side is finished, or the offset is not a
   * non-negative integer), "gap" (kept for later: the caller should fetch the state) or "applied".
   */
  tokens(msg) {
    if (this.finished) return "ignored"; // the full text is already here
    if (!Number.isInteger(msg.offset) || msg.offset < 0) return "ignored";
    let result = "applied";
    if (!this.splice(msg)) {
      if (this.pending.length < MAX_PENDING) this.pending.push(msg);
      result = "gap";
    } else {
      this.drain();
    }
    this.status = "running";
    if (num(msg.output_tokens) !== null && msg.output_tokens >= (num(this.output_tokens) || 0)) {
      this.output_tokens = msg.output_tokens;
      if (num(msg.tokens_per_s) !== null) this.tokens_per_s = msg.tokens_per_s;
    }
    return result;
  }

  /**
   * The side's state from the server (a snapshot, a "state" message or an HTTP answer). Returns
   * false when `s` is not a state object (nothing changed).
   */
  applyState(s) {
    if (!s || typeof s !== "object") return false;
    const status = typeof s.status === "string" ? s.status : this.status;
    const serverText = typeof s.text === "string" ? s.text : "";
    // While a side is still streaming the stored text may lag behind what the websocket
    // already delivered: keep the longer local text when it extends the server's.
    const keepLocal = !FINISHED.has(status) && this.text.length > serverText.length && this.text.startsWith(serverText);
    if (!keepLocal && serverText !== this.text) this.setText(serverText);
    this.status = status;
    this.drain();
    if (!keepLocal || (num(s.output_tokens) || 0) >= (num(this.output_tokens) || 0)) {
      if (num(s.output_tokens) !== null) this.output_tokens = s.output_tokens;
      if (num(s.tokens_per_s) !== null) this.tokens_per_s = s.tokens_per_s;
    }
    this.time_to_first_token_s = num(s.time_to_first_token_s);
    this.duration_s = num(s.duration_s);
    this.error = typeof s.error === "string" ? s.error : "";
    this.cut_off = s.cut_off === true;
    if (typeof s.waiting === "string") this.waiting = s.waiting;
    return true;
  }

  /** A "side_done" message: the full text and the final figures. */
  done(msg) {
    return this.applyState({
      status: msg.status,
      text: typeof msg.text === "string" ? msg.text : this.text,
      output_tokens: msg.output_tokens,
      tokens_per_s: msg.tokens_per_s,
      time_to_first_token_s: msg.time_to_first_token_s,
      duration_s: msg.duration_s,
      error: msg.error,
      cut_off: msg.cut_off,
    });
  }
}
