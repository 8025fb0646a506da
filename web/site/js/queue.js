// The waiting room of an on-sale in queue mode (edge-worker/src/waiting_room.rs): the buyer
// solves the bot check, joins the line at the edge, and the page polls its place (position,
// people ahead, estimated wait) until the line admits it; the admission (a signed, short-lived,
// single-use token) then goes with the order. Polling keeps the place: a page closed when its
// turn comes is skipped.
import { ApiError, call, showError } from "/shared/api.js";
import { onLanguageChange, t } from "/shared/i18n.js";
import { deviceId, mountTurnstile } from "/js/guard.js";

const $ = (id) => document.getElementById(id);
const key = (eventId) => `karcis.queue.${eventId}`;
let last = null;

function render() {
  if (!last) return;
  $("queue-status").hidden = false;
  $("queue-position").textContent = last.state === "admitted" ? t("queue.admitted") : t("queue.position", { position: last.position });
  $("queue-ahead").textContent = last.state === "admitted" ? "" : t("queue.ahead", { ahead: last.ahead });
  $("queue-wait").textContent = last.state === "admitted" ? "" : t("queue.wait", { secs: last.estimated_wait_secs });
}

/** Shows the line for `event` and resolves with the admission once the line admits the buyer. */
export function waitInLine(cfg, event) {
  const base = `${cfg.edgeBase}/v1/queue/${encodeURIComponent(event.event_id)}`;
  const pollMs = cfg.queuePollMs || 3000;
  $("queue").hidden = false;
  onLanguageChange(render);
  mountTurnstile($("queue-turnstile"), cfg.turnstileSiteKey, "queue", t("checkout.botPlaceholder"));
  return new Promise((resolve) => {
    const poll = async (place) => {
      try {
        last = await call(base, "/status", { token: place });
        render();
        if (last.state === "admitted") {
          resolve(last.admission);
          return;
        }
      } catch (x) {
        showError($("queue-error"), x);
        if (x instanceof ApiError && x.status >= 400 && x.status < 500) {
          // Skipped, expired or unknown: join again.
          sessionStorage.removeItem(key(event.event_id));
          $("queue-join").disabled = false;
          return;
        }
      }
      setTimeout(() => poll(place), pollMs);
    };
    const saved = sessionStorage.getItem(key(event.event_id));
    if (saved) {
      $("queue-join").disabled = true;
      poll(saved);
    }
    $("queue-join").addEventListener("click", async () => {
      $("queue-error").hidden = true;
      $("queue-join").disabled = true;
      try {
        const joined = await call(base, "/join", { method: "POST",
          body: { turnstile_token: $("queue-turnstile").dataset.token || "", device_id: deviceId() },
          headers: { "idempotency-key": `q-${crypto.randomUUID()}` } });
        sessionStorage.setItem(key(event.event_id), joined.place);
        last = { state: "waiting", ...joined };
        render();
        setTimeout(() => poll(joined.place), pollMs);
      } catch (x) {
        showError($("queue-error"), x);
        $("queue-join").disabled = false;
      }
    });
  });
}
