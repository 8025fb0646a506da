// What this browser keeps for the buyer: the order access tokens (localStorage; they open the
// buyer's own orders only) and one non-extractable P-256 device key per ticket (IndexedDB).
import { openDb } from "/shared/idb.js";

const ORDERS = "karcis.orders";

export function orders() {
  try {
    return JSON.parse(localStorage.getItem(ORDERS) || "{}");
  } catch {
    return {};
  }
}
export function saveOrder(orderId, accessToken, eventId) {
  const all = orders();
  all[orderId] = { token: accessToken, event_id: eventId, saved_at: Date.now() };
  localStorage.setItem(ORDERS, JSON.stringify(all));
}
export function forgetAll() {
  localStorage.removeItem(ORDERS);
  return openDb("karcis-wallet", ["keys"]).then((db) => db.clear("keys"));
}

let dbp;
function db() {
  dbp ??= openDb("karcis-wallet", ["keys"]);
  return dbp;
}
/** The ticket's device key pair, created (non-extractable) on first use. */
export async function deviceKey(ticketId, generate) {
  const d = await db();
  let pair = await d.get("keys", ticketId);
  if (!pair) {
    pair = await generate();
    await d.put("keys", ticketId, { privateKey: pair.privateKey, publicKey: pair.publicKey });
  }
  return pair;
}
