// The page's result cards (static/arena/format.js resultCards) under Node's test runner, run by
// tests/arena/test_stream_js.py. format.js is pure: imported as text, like stream.js (stream.test.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const source = readFileSync(new URL("../../../static/arena/format.js", import.meta.url), "utf8");
const { resultCards } = await import("data:text/javascript;base64," + Buffer.from(source).toString("base64"));

test("format.js touches neither the DOM nor the network", () => {
  for (const use of [/\bdocument\./, /\bwindow\./, /\bfetch\(/, /\binnerHTML\b/, /^\s*import\b/m]) {
    assert.doesNotMatch(source, use);
  }
});

test("each result is a card: rank, title, similarity and snippet, best first", () => {
  const cards = resultCards([
    { doc_id: "4", title: "  Jupiter ", score: 0.7123, snippet: "Jupiter is the largest planet.", text: "raw ====" },
    { doc_id: 7, title: "", score: 0.4, snippet: "The Pacific is the largest ocean." },
  ]);
  assert.deepEqual(cards, [
    { rank: "1.", title: "Jupiter", score: "similarity 0.71", snippet: "Jupiter is the largest planet." },
    { rank: "2.", title: "Document 7", score: "similarity 0.40", snippet: "The Pacific is the largest ocean." },
  ]);
});

test("an untitled result is named by its id; missing or odd fields give empty parts, never 'undefined'", () => {
  const [card] = resultCards([{ doc_id: "a#2", title: null, score: "0.9", snippet: 42 }]);
  assert.deepEqual(card, { rank: "1.", title: "Document a#2", score: "", snippet: "" });
  assert.equal(resultCards([{ score: Number.NaN }])[0].title, "Document ?");
  assert.equal(resultCards([{ score: -0.051 }])[0].score, "similarity -0.05");
});

test("anything but a list of objects gives no cards", () => {
  for (const results of [undefined, null, "text", 3, {}, [null, 1, "x", []]]) {
    assert.deepEqual(resultCards(results), []);
  }
  assert.equal(resultCards([null, { title: "Kept" }])[0].rank, "1."); // ranks count the shown cards
});
