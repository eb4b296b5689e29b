// The page's stream splicing (static/arena/stream.js) under Node's test runner:
// `node --test tests/arena/js/`, run by tests/arena/test_stream_js.py.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// static/arena/ has no package.json (it is served as it is), so a Node older than 20.19 would read
// stream.js as CommonJS: import its text as a module instead. A data: module cannot import files
// either, so this also checks that stream.js stands alone (pure: no DOM, no other module).
const source = readFileSync(new URL("../../../static/arena/stream.js", import.meta.url), "utf8");
const { SideStream, MAX_PENDING, cpLength, cpSlice } = await import(
  "data:text/javascript;base64," + Buffer.from(source).toString("base64")
);

/** A sink that rebuilds the text from what it is told, as the page's answer box does. */
function recordingSink() {
  const sink = {
    shown: "",
    calls: [],
    replace(text) {
      sink.calls.push(["replace", text]);
      sink.shown = text;
    },
    append(part, text) {
      sink.calls.push(["append", part]);
      sink.shown += part;
      assert.equal(sink.shown, text, "append() gets the whole text after the part");
    },
  };
  return sink;
}

const tokens = (offset, text, extra = {}) => ({ type: "tokens", side: "a", offset, text, ...extra });

test("stream.js touches neither the DOM nor the network", () => {
  for (const use of [/\bdocument\./, /\bwindow\./, /\bfetch\(/, /\bWebSocket\b/, /\blocation\./, /^\s*import\b/m]) {
    assert.doesNotMatch(source, use);
  }
});

test("code points count as Python's len() does", () => {
  assert.equal(cpLength("héllo"), 5);
  assert.equal(cpLength("a😀b"), 3); // one code point, two UTF-16 units
  assert.equal("a😀b".length, 4);
  assert.equal(cpSlice("a😀bc", 2), "bc");
  assert.equal(cpSlice("a😀bc", 1), "😀bc");
});

test("a new stream is empty and queued", () => {
  const s = new SideStream();
  assert.equal(s.text, "");
  assert.equal(s.len, 0);
  assert.equal(s.status, "queued");
  assert.equal(s.output_tokens, 0);
  assert.equal(s.tokens_per_s, null);
  assert.deepEqual(s.pending, []);
  assert.equal(s.hasGap, false);
  assert.equal(s.finished, false);
});

test("in-order deltas are appended and the side is running", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  assert.equal(s.tokens(tokens(0, "Hel", { output_tokens: 1, tokens_per_s: 5 })), "applied");
  assert.equal(s.status, "running");
  assert.equal(s.tokens(tokens(3, "lo", { output_tokens: 2, tokens_per_s: 6.5 })), "applied");
  assert.equal(s.text, "Hello");
  assert.equal(s.len, 5);
  assert.equal(s.output_tokens, 2);
  assert.equal(s.tokens_per_s, 6.5);
  assert.deepEqual(sink.calls, [["append", "Hel"], ["append", "lo"]]);
  assert.equal(sink.shown, "Hello");
});

test("offsets are code points: text after an emoji lands right after it", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(0, "Hi 😀"));
  assert.equal(s.len, 4);
  assert.equal(s.tokens(tokens(4, "!")), "applied");
  assert.equal(s.text, "Hi 😀!");
  // An overlapping message that starts before the emoji: only what is past the end is added.
  s.tokens(tokens(3, "😀! ok"));
  assert.equal(s.text, "Hi 😀! ok");
  assert.equal(s.len, 8);
});

test("duplicates and overlaps add only what is new", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "Hello"));
  assert.equal(s.tokens(tokens(0, "Hello")), "applied"); // the same message again
  assert.equal(s.tokens(tokens(2, "ll")), "applied"); // inside what is here
  assert.equal(s.text, "Hello");
  assert.deepEqual(sink.calls, [["append", "Hello"]]);
  assert.equal(s.tokens(tokens(3, "lo wor")), "applied"); // overlaps the end
  assert.equal(s.text, "Hello wor");
  assert.deepEqual(sink.calls.at(-1), ["append", " wor"]);
  assert.equal(s.tokens(tokens(5, "")), "applied"); // empty text at the end: nothing to add
  assert.equal(sink.calls.length, 2);
});

test("out-of-order deltas wait until the gap is filled, then apply in offset order", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "The "));
  assert.equal(s.tokens(tokens(12, " fox")), "gap");
  assert.equal(s.tokens(tokens(8, "red")), "gap"); // "red" ends at 11: a hole stays before " fox"
  assert.equal(s.text, "The ");
  assert.equal(s.hasGap, true);
  assert.equal(s.status, "running");
  assert.deepEqual(s.pending.map((m) => m.offset), [12, 8]);

  assert.equal(s.tokens(tokens(4, "big ")), "applied"); // joins "red" but not yet " fox"
  assert.equal(s.text, "The big red");
  assert.deepEqual(s.pending.map((m) => m.offset), [12]);
  assert.equal(s.hasGap, true);

  assert.equal(s.tokens(tokens(11, "!")), "applied");
  assert.equal(s.text, "The big red! fox");
  assert.deepEqual(s.pending, []);
  assert.equal(s.hasGap, false);
  assert.equal(sink.shown, s.text);
});

test("a buffered duplicate of text already here is dropped when drained", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(3, "def"));
  s.tokens(tokens(3, "def"));
  assert.equal(s.pending.length, 2);
  s.tokens(tokens(0, "abc"));
  assert.equal(s.text, "abcdef");
  assert.deepEqual(s.pending, []);
});

test("a reconnect snapshot that overlaps buffered deltas joins them without doubling", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "Once "));
  // The socket dropped: "upon a " (5..12) was lost; later deltas arrived on the new socket first.
  assert.equal(s.tokens(tokens(12, "time")), "gap");
  assert.equal(s.tokens(tokens(16, " there")), "gap");
  // The snapshot holds more than the page, up to the middle of a buffered delta.
  assert.equal(s.applyState({ status: "running", text: "Once upon a ti", output_tokens: 4, tokens_per_s: 8 }), true);
  assert.equal(s.text, "Once upon a time there");
  assert.deepEqual(s.pending, []);
  assert.equal(s.hasGap, false);
  assert.deepEqual(sink.calls.slice(1), [
    ["replace", "Once upon a ti"],
    ["append", "me"],
    ["append", " there"],
  ]);
  assert.equal(s.output_tokens, 4);
  assert.equal(s.tokens_per_s, 8);
});

test("a snapshot that still lags behind leaves the gap and its deltas waiting", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(10, "later"));
  s.applyState({ status: "running", text: "early" });
  assert.equal(s.text, "early");
  assert.equal(s.hasGap, true);
  assert.deepEqual(s.pending.map((m) => m.offset), [10]);
  s.applyState({ status: "running", text: "early text" });
  assert.equal(s.text, "early textlater");
  assert.equal(s.hasGap, false);
});

test("while running, a stored text that lags behind the stream keeps the longer local text", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "Hello world", { output_tokens: 3, tokens_per_s: 9 }));
  assert.equal(s.applyState({ status: "running", text: "Hello", output_tokens: 1, tokens_per_s: 2 }), true);
  assert.equal(s.text, "Hello world");
  assert.equal(s.output_tokens, 3); // the stream's counters are newer
  assert.equal(s.tokens_per_s, 9);
  assert.equal(sink.calls.length, 1); // nothing replaced
  // The stored text caught up: the counters follow it again.
  s.applyState({ status: "running", text: "Hello", output_tokens: 5, tokens_per_s: 10 });
  assert.equal(s.output_tokens, 5);
  assert.equal(s.tokens_per_s, 10);
});

test("a stored text that does not extend the local one replaces it", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "Hello world"));
  s.applyState({ status: "running", text: "Goodbye" });
  assert.equal(s.text, "Goodbye");
  assert.equal(s.len, 7);
  assert.deepEqual(sink.calls.at(-1), ["replace", "Goodbye"]);
});

test("a finished side takes the server's full text, drops waiting deltas and ignores later ones", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "Hello world, and more"));
  s.tokens(tokens(40, "lost"));
  s.done({ type: "side_done", side: "a", status: "done", text: "Hello world", output_tokens: 3, tokens_per_s: 7,
    time_to_first_token_s: 0.4, duration_s: 2.5, error: "" });
  assert.equal(s.status, "done");
  assert.equal(s.finished, true);
  assert.equal(s.text, "Hello world"); // the full text wins, even when shorter
  assert.deepEqual(s.pending, []);
  assert.equal(s.hasGap, false);
  assert.equal(s.time_to_first_token_s, 0.4);
  assert.equal(s.duration_s, 2.5);
  assert.equal(s.tokens(tokens(11, "!!")), "ignored");
  assert.equal(s.text, "Hello world");
  assert.equal(sink.shown, "Hello world");
});

test("side_done without a text keeps the text here; a failure keeps its error", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(0, "partial"));
  s.done({ status: "failed", error: "The worker stopped." });
  assert.equal(s.text, "partial");
  assert.equal(s.status, "failed");
  assert.equal(s.error, "The worker stopped.");
  assert.equal(s.time_to_first_token_s, null);
});

test("deltas with an offset that is not a non-negative integer are ignored", () => {
  const s = new SideStream(recordingSink());
  for (const offset of [-1, 1.5, "0", null, undefined, NaN]) {
    assert.equal(s.tokens(tokens(offset, "x")), "ignored", String(offset));
  }
  assert.equal(s.text, "");
  assert.equal(s.status, "queued"); // an ignored message does not mark the side running
  assert.deepEqual(s.pending, []);
});

test("a delta without a string text adds nothing", () => {
  const s = new SideStream(recordingSink());
  assert.equal(s.tokens({ offset: 0, text: 42 }), "applied");
  assert.equal(s.text, "");
  assert.equal(s.status, "running");
});

test("counters never go back with an older delta", () => {
  const s = new SideStream();
  s.tokens(tokens(0, "abc", { output_tokens: 3, tokens_per_s: 12 }));
  s.tokens(tokens(0, "ab", { output_tokens: 2, tokens_per_s: 99 }));
  assert.equal(s.output_tokens, 3);
  assert.equal(s.tokens_per_s, 12);
  s.tokens(tokens(3, "d", { output_tokens: 4 }));
  assert.equal(s.output_tokens, 4);
  assert.equal(s.tokens_per_s, 12); // no rate in the message: the last one stays
});

test("at most MAX_PENDING deltas wait after a gap", () => {
  const s = new SideStream();
  for (let i = 0; i < MAX_PENDING + 10; i++) assert.equal(s.tokens(tokens(100 + i, "x")), "gap");
  assert.equal(s.pending.length, MAX_PENDING);
});

test("a state that is not an object changes nothing", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(0, "kept"));
  for (const state of [null, undefined, "done", 3]) assert.equal(s.applyState(state), false);
  assert.equal(s.text, "kept");
  assert.equal(s.status, "running");
});

test("a state without a status keeps the current one", () => {
  const s = new SideStream(recordingSink());
  s.tokens(tokens(0, "abc"));
  s.applyState({ text: "abc" });
  assert.equal(s.status, "running");
});

test("reset() forgets everything but tells the sink nothing; setText() tells it", () => {
  const sink = recordingSink();
  const s = new SideStream(sink);
  s.tokens(tokens(0, "abc", { output_tokens: 1, tokens_per_s: 3 }));
  s.tokens(tokens(9, "z"));
  s.reset();
  assert.equal(s.text, "");
  assert.equal(s.status, "queued");
  assert.equal(s.output_tokens, 0);
  assert.equal(s.tokens_per_s, null);
  assert.deepEqual(s.pending, []);
  assert.equal(sink.shown, "abc");
  s.setText("");
  assert.equal(sink.shown, "");
});

const queue = (text, extra = {}) => ({ type: "queue", side: "a", position: 2, text, ...extra });

test("a queue message is shown until the first token, and marks the side as held by a worker", () => {
  const s = new SideStream(recordingSink());
  s.applyState({ status: "queued", text: "", waiting: "Waiting for a worker…" });
  assert.equal(s.waitingText, "Waiting for a worker…");
  assert.equal(s.queue(queue("Queued: 2 requests ahead")), true);
  assert.equal(s.status, "running");
  assert.equal(s.waitingText, "Queued: 2 requests ahead");
  s.tokens(tokens(0, "Hi"));
  assert.equal(s.waitingText, "");
  assert.equal(s.queue(queue("Queued: 1 request ahead")), false); // too late: text is here
  assert.equal(s.waitingText, "");
});

test("a reloaded page takes the waiting sentence from the state; a finished side shows none", () => {
  const s = new SideStream(recordingSink());
  s.applyState({ status: "running", text: "", waiting: "Queued: 3 requests ahead" });
  assert.equal(s.waitingText, "Queued: 3 requests ahead");
  assert.equal(s.queue(queue(42)), false); // no text: ignored
  assert.equal(s.waitingText, "Queued: 3 requests ahead");
  s.applyState({ status: "failed", text: "", error: "boom", waiting: "" });
  assert.equal(s.waitingText, "");
  assert.equal(s.queue(queue("Queued: 1 request ahead")), false);
  s.reset();
  assert.equal(s.waiting, "");
});
