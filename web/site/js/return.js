// Back from the payment page: poll the order until it is paid and its tickets are minted.
import { call, config, showError } from "/shared/api.js";
import { formatMoney } from "/shared/format.js";
import { has, initI18n, onLanguageChange, t } from "/shared/i18n.js";
import { orders } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
// What the page says now: a catalogue key (and the order, once read), re-rendered on a switch.
const view = { message: "return.checking", order: null };

function render() {
  const o = view.order;
  if (o) {
    $("order").hidden = false;
    $("order-id").textContent = o.order_id;
    $("order-status").textContent = has(`order.status.${o.status}`) ? t(`order.status.${o.status}`) : o.status;
    $("order-status").dataset.status = o.status;
    $("order-total").textContent = formatMoney(o.total);
  }
  $("status").textContent = t(view.message);
}

function say(message, order = view.order) {
  view.message = message;
  view.order = order;
  render();
}

async function main() {
  initI18n();
  onLanguageChange(render);
  const cfg = await config();
  const orderId = new URLSearchParams(location.search).get("order") || new URLSearchParams(location.search).get("order_id");
  const saved = orderId && orders()[orderId];
  if (!saved) {
    say("return.notFound");
    return;
  }
  const deadline = Date.now() + 10 * 60 * 1000;
  let delay = 1000;
  for (;;) {
    try {
      const o = await call(cfg.apiBase, `/v1/orders/${encodeURIComponent(orderId)}`, { token: saved.token });
      say(has(`return.msg.${o.status}`) ? `return.msg.${o.status}` : "return.checking", o);
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
      say("return.slow");
      return;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 1.5, 5000);
  }
}
main();
