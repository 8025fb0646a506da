// The two things the API's guard reads (functions/src/guard.rs): a device identifier this browser
// keeps (X-Karcis-Device: with the source address it names a client for the rate limit), and the
// Cloudflare Turnstile widget whose token goes in cf-turnstile-response (checked server side for
// this site's host name and the form's action).

/** This browser's device identifier (random, kept in localStorage; a new one if storage is off). */
export function deviceId() {
  let id = null;
  try {
    id = localStorage.getItem("karcis.device");
    if (!/^d-[0-9a-f-]{36}$/.test(id || "")) {
      id = `d-${crypto.randomUUID()}`;
      localStorage.setItem("karcis.device", id);
    }
  } catch {
    id ??= `d-${crypto.randomUUID()}`;
  }
  return id;
}

/** Mounts the widget in `slot` for `action`; the token lands in slot.dataset.token. Without a
 * site key (development) the slot holds the placeholder that any configured API refuses. */
export function mountTurnstile(slot, siteKey, action, devText) {
  if (!siteKey) {
    slot.dataset.token = "dev-placeholder";
    slot.textContent = devText;
    return;
  }
  slot.classList.remove("turnstile");
  const div = document.createElement("div");
  div.className = "cf-turnstile";
  div.dataset.sitekey = siteKey;
  div.dataset.action = action;
  const callback = `karcisTurnstile_${action}`;
  div.dataset.callback = callback;
  window[callback] = (token) => (slot.dataset.token = token);
  slot.replaceChildren(div);
  if (!document.querySelector("script[data-turnstile]")) {
    const s = document.createElement("script");
    s.src = "https://challenges.cloudflare.com/turnstile/v0/api.js";
    s.async = true;
    s.dataset.turnstile = "1";
    document.head.append(s);
  }
}
