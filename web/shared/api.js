// fetch helpers shared by both apps: JSON in, JSON out, problem+json errors as ApiError, shown
// translated by their stable type.
import { has, I18nError, onLanguageChange, t } from "/shared/i18n.js";

let configPromise;
/** The deployment's /config.json (bases of the functions and the edge, site keys...). */
export function config() {
  configPromise ??= fetch("/config.json", { cache: "no-store" }).then((r) => {
    if (!r.ok) throw new Error("configuration missing");
    return r.json();
  });
  return configPromise;
}

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.title = problem.title || "Something went wrong";
    this.detail = problem.detail || "";
    this.type = problem.type || "";
  }
}

/** Calls `base + path`; returns the parsed body, or throws ApiError (or TypeError when offline). */
export async function call(base, path, { method = "GET", body, token, headers = {}, signal } = {}) {
  const h = { accept: "application/json, application/problem+json", ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: "no-store" });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const problem = data && typeof data === "object" ? data : { title: `HTTP ${res.status}`, detail: text.slice(0, 200) };
    throw new ApiError(res.status, problem);
  }
  return data;
}

/** The catalogue keys of a problem: by its stable `type` (`urn:karcis:problem:<code>`), and for
 * an invalid field by the field's name; never the server's English `title`/`detail`. */
export function problemKeys(err) {
  const code = (err.type || "").replace(/^urn:karcis:problem:/, "");
  const field = err.problem?.field;
  if (code && has(`problem.${code}.title`)) {
    const detail = field && has(`problem.${code}.field.${field}`) ? `problem.${code}.field.${field}` : `problem.${code}.detail`;
    return { title: `problem.${code}.title`, detail, params: { status: err.status } };
  }
  return { title: "problem.unknown.title", detail: "problem.unknown.detail", params: { status: err.status } };
}

function render(el) {
  const err = el.karcisError;
  const strong = document.createElement("strong");
  const p = document.createElement("p");
  if (err instanceof I18nError) {
    strong.textContent = t(err.title || "form.checkTitle");
    p.textContent = t(err.key, err.params);
  } else if (err instanceof ApiError) {
    const k = problemKeys(err);
    strong.textContent = t(k.title, k.params);
    p.textContent = t(k.detail, k.params);
  } else if (err instanceof TypeError) {
    strong.textContent = t("error.network.title");
    p.textContent = t("error.network.detail");
  } else {
    strong.textContent = t("problem.unknown.title");
    p.textContent = t("error.unexpected");
    console.warn(err);
  }
  el.replaceChildren(strong, p);
}

/** Shows an error in an element with role=alert, in the current language (again after a
 * language switch). A problem+json is shown by its `type`; an I18nError by its key (with
 * `title` = the key of its heading). */
export function showError(el, err) {
  el.hidden = false;
  el.karcisError = err;
  render(el);
  el.focus?.();
}

onLanguageChange(() => {
  for (const el of document.querySelectorAll("[role=alert]")) if (el.karcisError && !el.hidden) render(el);
});

export { formatMoney } from "/shared/format.js";
