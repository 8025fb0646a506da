// "My tickets": each ticket bound to this phone's own P-256 key (created non-extractable on
// first view, kept in IndexedDB) and shown as a rotating QR code signed afresh every few
// seconds (ticket/FORMAT.md). A screenshot stops working after the door's freshness window.
import { drawQr } from "/js/qr.js";
import { ApiError, call, config, showError } from "/shared/api.js";
import { DEFAULT_TIME_ZONE, formatClock, formatEventTime } from "/shared/format.js";
import { I18nError, initI18n, onLanguageChange, t } from "/shared/i18n.js";
import * as tf from "/shared/ticket-format.js";
import { deviceKey, orders } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
// The order id lets the API read the ticket strongly consistently (just minted, the ticket
// index may not list it yet).
async function bound(cfg, ticket, token, orderId) {
  const pair = await deviceKey(ticket.ticket_id, () => tf.generateDeviceKey());
  const pub = tf.bytesToB64url(await tf.exportPublicSec1(pair.publicKey));
  if (ticket.device_public_key === pub) return { ticket, pair };
  // The back end re-issues the credential for this key in its mint function and answers 503
  // while that is still under way: ask again (the claim for this phone holds), a bounded number
  // of times.
  for (let attempt = 1; ; attempt++) {
    try {
      const view = await call(cfg.apiBase, `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/device`, {
        method: "POST", token, body: { device_public_key: pub, order_id: orderId } });
      return { ticket: view, pair };
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 503 || attempt >= 5) throw e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

// The public view of each ticket's event (its name, tier names and time zone), once per event.
const events = new Map();
function eventView(cfg, eventId) {
  if (!events.has(eventId)) events.set(eventId, call(cfg.apiBase, `/v1/events/${encodeURIComponent(eventId)}`).catch(() => null));
  return events.get(eventId);
}

function card(ticket) {
  const box = document.createElement("article");
  box.className = "ticket";
  box.dataset.ticket = ticket.ticket_id;
  const h = document.createElement("h2");
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  const meta = document.createElement("p");
  meta.className = "meta";
  const live = document.createElement("p");
  live.className = "meta";
  live.dataset.role = "updated";
  box.append(h, canvas, meta, live);
  return { box, canvas, live, h, meta };
}

/** The card's text in the current language; times in the event's zone (WIB/WITA/WIT). */
function renderCard(s) {
  const { ticket, event } = s;
  const zone = event?.time_zone || DEFAULT_TIME_ZONE;
  const tier = event?.tiers?.find((x) => x.tier_id === ticket.tier_id);
  s.h.textContent = `${event?.name ?? ticket.event_id} · ${tier?.name ?? ticket.tier_id}`;
  s.canvas.setAttribute("aria-label", t("tickets.qrLabel"));
  const gates = ticket.gates.map((g) => (g === "*" ? t("tickets.anyGate") : g)).join(", ");
  s.meta.textContent = t("tickets.meta", { gates, from: formatEventTime(ticket.not_before, zone), to: formatEventTime(ticket.not_after, zone) });
  if (s.box.dataset.timestamp) s.live.textContent = t("tickets.live", { time: formatClock(Number(s.box.dataset.timestamp) * 1000) });
}

async function main() {
  initI18n();
  const cfg = await config();
  const only = new URLSearchParams(location.search).get("order");
  const saved = orders();
  const ids = Object.keys(saved).filter((id) => !only || id === only);
  if (ids.length === 0) {
    $("empty").hidden = false;
    return;
  }
  const shown = [];
  for (const orderId of ids) {
    try {
      const res = await call(cfg.apiBase, `/v1/orders/${encodeURIComponent(orderId)}/tickets`, { token: saved[orderId].token });
      for (const t of res.tickets) {
        try {
          const b = await bound(cfg, t, saved[orderId].token, orderId);
          const ui = card(b.ticket);
          $("tickets").append(ui.box);
          const s = { ...b, ...ui, event: await eventView(cfg, b.ticket.event_id), sealed: tf.b64urlToBytes(b.ticket.credential) };
          renderCard(s);
          shown.push(s);
        } catch (x) {
          if (x instanceof ApiError && x.status === 409) {
            showError($("error"), new I18nError("tickets.otherPhone", {}, "tickets.otherPhoneTitle"));
          } else throw x;
        }
      }
    } catch (x) {
      showError($("error"), x);
    }
  }
  if (shown.length === 0 && $("error").hidden) $("empty").hidden = false;
  onLanguageChange(() => shown.forEach(renderCard));
  const refresh = async () => {
    const ts = Math.floor(Date.now() / 1000);
    for (const s of shown) {
      const text = await tf.presentRotating({ sealed: s.sealed, ticketId: s.ticket.ticket_id, eventId: s.ticket.event_id, privateKey: s.pair.privateKey, timestamp: ts });
      drawQr(s.canvas, text);
      s.box.dataset.timestamp = String(ts);
      renderCard(s);
    }
  };
  await refresh();
  setInterval(refresh, (cfg.rotateSeconds || 5) * 1000);
}
main();
