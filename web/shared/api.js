// fetch helpers shared by both apps: JSON in, JSON out, problem+json errors as ApiError.
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

/** Shows an error (problem title + detail) in an element with role=alert. */
export function showError(el, err) {
  el.hidden = false;
  el.replaceChildren();
  const strong = document.createElement("strong");
  const p = document.createElement("p");
  if (err instanceof ApiError) {
    strong.textContent = err.title;
    p.textContent = err.detail;
  } else if (err instanceof TypeError) {
    strong.textContent = "Network unavailable";
    p.textContent = "Check your connection and try again.";
  } else {
    strong.textContent = "Something went wrong";
    p.textContent = String(err && err.message ? err.message : err);
  }
  el.append(strong, p);
  el.focus?.();
}

export function formatMoney({ amount_minor, currency }) {
  const digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount_minor / 10 ** digits);
}

export function formatTime(unixSeconds) {
  return new Date(unixSeconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
