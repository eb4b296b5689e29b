/*
 * Energy Arena — retrieval page: while no corpus can be searched yet (its vectors are still being
 * computed by the encoders), the corpus field says why and shows the progress. This fetches the
 * page again every few seconds and puts the fresh field in place, until a corpus is ready.
 *
 * The field carries data-poll-ms only while some corpus is being embedded and none is ready.
 */

import { pageElement } from "./api.js";

/** Copies of the children of `source` (from another document) for this one. */
function imported(source) {
  return Array.from(source.childNodes, (node) => document.importNode(node, true));
}

/** Put the server's fresh field in place; returns the field now in the page. */
function update(field, fresh) {
  const status = field.querySelector("#corpus-status");
  const freshStatus = fresh.querySelector("#corpus-status");
  const select = field.querySelector("select");
  const freshSelect = fresh.querySelector("select");
  if (status && freshStatus && select && freshSelect) {
    // Still waiting: update in place, so that the status region is announced, not replaced.
    select.replaceChildren(...imported(freshSelect));
    status.replaceChildren(...imported(freshStatus));
    if (fresh.dataset.pollMs) field.dataset.pollMs = fresh.dataset.pollMs;
    else delete field.dataset.pollMs; // nothing is being embedded any more: stop asking
    return field;
  }
  // A corpus is ready (or the page changed): the whole field, with the options to pick from.
  const node = document.importNode(fresh, true);
  field.replaceWith(node);
  return node;
}

export function watchCorpusField(field) {
  const every = field ? parseInt(field.dataset.pollMs || "0", 10) : 0;
  if (!every) return;
  const poll = async () => {
    const fresh = await pageElement(field.id);
    if (fresh) field = update(field, fresh);
    if (!fresh || field.dataset.pollMs) setTimeout(poll, every);
  };
  setTimeout(poll, every);
}
