// "My tickets": each ticket bound to this phone's own P-256 key (created non-extractable on
// first view, kept in IndexedDB) and shown as a rotating QR code signed afresh every few
// seconds (ticket/FORMAT.md). A screenshot stops working after the door's freshness window.
import { drawQr } from "/js/qr.js";
import { ApiError, call, config, formatTime, showError } from "/shared/api.js";
import * as tf from "/shared/ticket-format.js";
import { deviceKey, orders } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
// The order id lets the API read the ticket strongly consistently (just minted, the ticket
// index may not list it yet).
async function bound(cfg, ticket, token, orderId) {
  const pair = await deviceKey(ticket.ticket_id, () => tf.generateDeviceKey());
  const pub = tf.bytesToB64url(await tf.exportPublicSec1(pair.publicKey));
  if (ticket.device_public_key === pub) return { ticket, pair };
  const view = await call(cfg.apiBase, `/v1/tickets/${encodeURIComponent(ticket.ticket_id)}/device`, {
    method: "POST", token, body: { device_public_key: pub, order_id: orderId } });
  return { ticket: view, pair };
}

function card(ticket) {
  const box = document.createElement("article");
  box.className = "ticket";
  box.dataset.ticket = ticket.ticket_id;
  const h = document.createElement("h2");
  h.textContent = `${ticket.event_id} · ${ticket.tier_id}`;
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Ticket QR code. It refreshes by itself every few seconds.");
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = `Gates: ${ticket.gates.join(", ")} · valid ${formatTime(ticket.not_before)} – ${formatTime(ticket.not_after)}`;
  const live = document.createElement("p");
  live.className = "meta";
  live.dataset.role = "updated";
  box.append(h, canvas, meta, live);
  return { box, canvas, live };
}

async function main() {
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
          shown.push({ ...b, ...ui, sealed: tf.b64urlToBytes(b.ticket.credential) });
        } catch (x) {
          if (x instanceof ApiError && x.status === 409) {
            showError($("error"), new ApiError(409, { title: "Ticket is on another phone", detail: "This ticket was already bound to another device. Open it there, or contact the organiser." }));
          } else throw x;
        }
      }
    } catch (x) {
      showError($("error"), x);
    }
  }
  if (shown.length === 0 && $("error").hidden) $("empty").hidden = false;
  const refresh = async () => {
    const ts = Math.floor(Date.now() / 1000);
    for (const s of shown) {
      const text = await tf.presentRotating({ sealed: s.sealed, ticketId: s.ticket.ticket_id, eventId: s.ticket.event_id, privateKey: s.pair.privateKey, timestamp: ts });
      drawQr(s.canvas, text);
      s.live.textContent = `Live code · ${new Date(ts * 1000).toLocaleTimeString()}`;
      s.box.dataset.timestamp = String(ts);
    }
  };
  await refresh();
  setInterval(refresh, (cfg.rotateSeconds || 5) * 1000);
}
main();
