/*
 * Energy Arena — a model's answer as Markdown, rendered safely.
 *
 * Invariant: nothing a model writes reaches the DOM except through DOMPurify, with the allowlist
 * below (no raw HTML, no images, no scripts or handlers, no javascript:/data: links). marked turns
 * Markdown into HTML with raw HTML blocks escaped first, so "<b>" in an answer shows as "<b>";
 * DOMPurify then keeps only the listed tags and attributes. Both are vendored, unmodified
 * (static/vendor/README.md: versions and sha256).
 */

import DOMPurify from "../vendor/dompurify/purify.es.js";
import { Marked } from "../vendor/marked/marked.esm.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const markdown = new Marked({
  gfm: true,
  breaks: true, // a model's single line break is meant as one
  async: false,
  renderer: {
    // Raw HTML in an answer is shown as the text it is, never as markup.
    html({ text }) {
      return escapeHtml(text);
    },
    // Images are not fetched (no requests to addresses a model chose): the alt text and the address.
    image({ href, text }) {
      return escapeHtml(text ? `${text} (${href})` : href);
    },
  },
});

export const ALLOWED_TAGS = Object.freeze([
  "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li", "pre", "code",
  "em", "strong", "del", "a", "table", "thead", "tbody", "tr", "th", "td",
]);
const ALLOWED_ATTR = ["href", "title", "start", "align", "class"];

const purifier = DOMPurify();
purifier.addHook("uponSanitizeAttribute", (node, data) => {
  // Only code blocks keep a class (marked's "language-x").
  if (data.attrName === "class" && !(node.nodeName === "CODE" && /^language-[\w+#-]+$/.test(data.attrValue))) {
    data.keepAttr = false;
  }
});
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    node.setAttribute("rel", "nofollow noopener noreferrer");
    node.setAttribute("target", "_blank");
  }
});

/** `text` (Markdown written by a model) as a sanitized DocumentFragment. */
export function renderMarkdown(text) {
  const html = markdown.parse(String(text || ""));
  return purifier.sanitize(html, {
    ALLOWED_TAGS: [...ALLOWED_TAGS],
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
}

/**
 * A "Copy" button on each code block under `root` (the code's text to the clipboard). Its label is
 * drawn by CSS from data-label, so the answer's text stays the model's text.
 */
function addCopyButtons(root) {
  for (const pre of root.querySelectorAll("pre")) {
    const code = pre.querySelector("code") || pre;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-code";
    const label = (text) => {
      button.dataset.label = text;
      button.setAttribute("aria-label", text === "Copy" ? "Copy this code" : text);
    };
    label("Copy");
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(code.textContent);
        label("Copied");
      } catch {
        label("Copy failed");
      }
      setTimeout(() => label("Copy"), 2000);
    });
    pre.prepend(button);
  }
}

/** Replace what `el` shows by `text` rendered as Markdown. */
export function renderAnswerInto(el, text) {
  const fragment = renderMarkdown(text);
  addCopyButtons(fragment);
  el.replaceChildren(fragment);
}
