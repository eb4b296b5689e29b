/*
 * Energy Arena — how numbers, energy, times and labels are written (pure: no DOM).
 */

export const CHOICE_LABELS = Object.freeze({ a: "A is better", b: "B is better", tie: "Tie", bothbad: "Both are bad" });
export const SOURCE_LABELS = Object.freeze({
  nvml: "measured on the GPU (NVML)",
  rapl: "measured on the CPU (RAPL)",
  estimate: "estimate",
  none: "not measured",
});

/** The value when it is a finite number, else null. */
export function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

export function fmtNumber(v) {
  const a = Math.abs(v);
  if (a >= 100) return Math.round(v).toLocaleString("en");
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return "0";
  return String(Number(v.toPrecision(3)));
}

export function fmtJoules(v) {
  v = num(v);
  return v === null ? "—" : fmtNumber(v) + " J";
}

export function fmtSeconds(v) {
  v = num(v);
  if (v === null) return "—";
  return (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " s";
}

export function fmtRate(v) {
  v = num(v);
  return v === null ? null : v.toFixed(1) + " tokens/s";
}

export function sideLabel(side) {
  return "Model " + side.toUpperCase();
}

export function choiceLabel(choice) {
  return CHOICE_LABELS[choice] || String(choice || "");
}

/**
 * The cards of a search's results (the battle state's `results`, best first) as text: rank, title
 * ("Document <id>" when it has none), similarity, and the server's cleaned snippet. Entries that are
 * not objects are skipped.
 */
export function resultCards(results) {
  if (!Array.isArray(results)) return [];
  return results
    .filter((r) => r && typeof r === "object" && !Array.isArray(r))
    .map((r, i) => ({
      rank: i + 1 + ".",
      title: typeof r.title === "string" && r.title.trim() ? r.title.trim() : "Document " + String(r.doc_id ?? "?"),
      score: num(r.score) === null ? "" : "similarity " + r.score.toFixed(2),
      snippet: typeof r.snippet === "string" ? r.snippet : "",
    }));
}
