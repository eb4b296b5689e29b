/*
 * Energy Arena — the server calls of the page (docs/arena-protocol.md, "Endpoints").
 *
 * Every POST carries Django's CSRF token in the X-CSRFToken header. Errors come back as an
 * ApiError whose message is meant for a person (the server's `error`, or a sentence of ours).
 */

export class ApiError extends Error {
  /** `retryAfterS`: the server's Retry-After in seconds (a 503 while the arena warms up), else null. */
  constructor(message, status, retryAfterS = null) {
    super(message);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

export function getCookie(name) {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return "";
}

/** The token of the form's hidden input, else of the csrftoken cookie. */
export function csrfToken(form) {
  const input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
  return (input && input.value) || getCookie("csrftoken");
}

/** One call; resolves to the `battle` of the answer. `token()` gives the CSRF token for a POST. */
export async function request(method, url, body, token) {
  const options = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-Requested-With": "XMLHttpRequest" },
  };
  if (method !== "GET") {
    options.headers["X-CSRFToken"] = token();
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
    const retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
    const retryAfterS = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter : null;
    if (data && typeof data.error === "string" && data.error) throw new ApiError(data.error, response.status, retryAfterS);
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

/** The battle endpoints under `battlesUrl` ("/arena/battles/"); `form` holds the CSRF input. */
export function battleApi(battlesUrl, form) {
  const token = () => csrfToken(form);
  const battleUrl = (id) => battlesUrl + encodeURIComponent(id) + "/";
  return {
    /** POST the prompt form (FormData): the new battle. */
    create: (body) => request("POST", battlesUrl, body, token),
    /** GET the state of a battle of this session. */
    detail: (id) => request("GET", battleUrl(id), undefined, token),
    /** POST a vote (FormData with `stage` and `choice`). */
    vote: (id, body) => request("POST", battleUrl(id) + "vote/", body, token),
  };
}

/** The example prompts the page was rendered with (json_script "arena-examples"). */
export function pageExamples(node) {
  let examples;
  try {
    examples = node ? JSON.parse(node.textContent) : [];
  } catch (_) {
    examples = [];
  }
  if (!Array.isArray(examples)) examples = [];
  return examples.filter((e) => typeof e === "string" && e.trim());
}

/** The element `id` of this page as the server renders it now (null when it cannot be fetched). */
export async function pageElement(id) {
  try {
    const response = await fetch(window.location.pathname, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      cache: "no-store",
    });
    if (!response.ok) return null;
    // DOMParser's document runs no scripts and loads nothing.
    return new DOMParser().parseFromString(await response.text(), "text/html").getElementById(id);
  } catch (_) {
    return null;
  }
}
