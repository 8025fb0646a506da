// Back from the payment page: poll the order until it is paid and its tickets are minted.
import { call, config, formatMoney, showError } from "/shared/api.js";
import { orders } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
const MESSAGES = {
  reserved: "Waiting for the payment provider to confirm your payment…",
  paid: "Payment received. Issuing your tickets…",
  minted: "Your tickets are ready.",
  expired: "This reservation expired before the payment arrived. If you were charged, you will be refunded.",
  cancelled: "This order was cancelled.",
};

async function main() {
  const cfg = await config();
  const orderId = new URLSearchParams(location.search).get("order") || new URLSearchParams(location.search).get("order_id");
  const saved = orderId && orders()[orderId];
  if (!saved) {
    $("status").textContent = "We could not find this order on this device.";
    return;
  }
  const deadline = Date.now() + 10 * 60 * 1000;
  let delay = 1000;
  for (;;) {
    try {
      const o = await call(cfg.apiBase, `/v1/orders/${encodeURIComponent(orderId)}`, { token: saved.token });
      $("order").hidden = false;
      $("order-id").textContent = o.order_id;
      $("order-status").textContent = o.status;
      $("order-total").textContent = formatMoney(o.total);
      $("status").textContent = MESSAGES[o.status] || o.status;
      document.body.dataset.status = o.status;
      if (o.status === "minted") {
        $("tickets-link").href = `/tickets.html?order=${encodeURIComponent(orderId)}`;
        $("done").hidden = false;
        $("tickets-link").focus();
        return;
      }
      if (o.status === "expired" || o.status === "cancelled") return;
    } catch (x) {
      showError($("error"), x);
    }
    if (Date.now() > deadline) {
      $("status").textContent = "This is taking longer than usual. We will email you when your tickets are ready.";
      return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 5000);
  }
}
main();
