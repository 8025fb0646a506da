// Answers in the shapes of the functions' public API (checkout/request.rs EventView / OrderView /
// CheckoutResponse, tickets.rs TicketView), served to the pages through playwright's routing:
// the buyer's pages in both languages without AWS. The real functions answer the same pages in
// stack.test.mjs (the local stack).
import { randomBytes } from "node:crypto";
import * as tf from "../../shared/ticket-format.js";

export const EVENT_START = Date.UTC(2026, 11, 5, 12, 0) / 1000; // 19:00 WIB, 20:00 WITA

export function sampleEvent({ timeZone = "Asia/Jakarta" } = {}) {
  return {
    event_id: "jkt-fest-2026", name: "Jakarta Fest 2026", starts_at: EVENT_START, ends_at: EVENT_START + 5 * 3600,
    on_sale: true, max_per_order: 4, time_zone: timeZone,
    tiers: [
      { tier_id: "reguler", name: "Festival", price: { amount_minor: 350000, currency: "IDR" }, available: 120, sold_out: false },
      { tier_id: "vip", name: "VIP", price: { amount_minor: 1250000, currency: "IDR" }, available: 0, sold_out: true },
    ],
  };
}

/** Routes /api/v1/* of `page` to answers for one event and one order; returns what was posted. */
export async function answerApi(page, event = sampleEvent()) {
  const posted = { orders: [], devices: [] };
  const order = { order_id: "ord_4f1c2a9b7d3e", status: "reserved", event_id: event.event_id, tier_id: "reguler", quantity: 2,
    unit_price: event.tiers[0].price, total: { amount_minor: 700000, currency: "IDR" }, created_at: EVENT_START - 86400 * 20,
    expires_at: EVENT_START - 86400 * 20 + 900, payment: null };
  const ticket = { ticket_id: randomBytes(16).toString("hex"), event_id: event.event_id, tier_id: "reguler",
    gates: ["*"], not_before: EVENT_START - 7200, not_after: event.ends_at, credential: tf.bytesToB64url(randomBytes(96)),
    static_qr: "KC1:", device_public_key: null };
  const json = (route, status, body) => route.fulfill({ status, contentType: status < 400 ? "application/json" : "application/problem+json", body: JSON.stringify(body) });
  await page.route(/\/api\/v1\//, async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    const p = url.pathname.replace(/^\/api/, "");
    if (req.method() === "GET" && p === `/v1/events/${event.event_id}`) return json(route, 200, event);
    if (req.method() === "POST" && p === "/v1/orders") {
      const body = req.postDataJSON();
      posted.orders.push(body);
      order.status = "reserved";
      return json(route, 201, { order: { ...order, payment: { provider: "midtrans", reference: "snap-1", redirect_url: null, expires_at: null } }, access_token: "tok_sample" });
    }
    if (req.method() === "GET" && p === `/v1/orders/${order.order_id}`) {
      order.status = order.status === "reserved" ? "paid" : "minted"; // paid, then minted on the next poll
      return json(route, 200, order);
    }
    if (req.method() === "GET" && p === `/v1/orders/${order.order_id}/tickets`) return json(route, 200, { order_id: order.order_id, tickets: [ticket] });
    if (req.method() === "POST" && p === `/v1/tickets/${ticket.ticket_id}/device`) {
      ticket.device_public_key = req.postDataJSON().device_public_key;
      posted.devices.push(ticket.device_public_key);
      return json(route, 200, ticket);
    }
    return json(route, 404, { type: "urn:karcis:problem:not-found", title: "Not found", status: 404, detail: "no such resource" });
  });
  return posted;
}
