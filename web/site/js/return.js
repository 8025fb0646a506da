// Back from the payment page: poll the order until it is paid and its tickets are minted. A
// high-value order first waits for the buyer's one-time code (the step-up): the form sends it,
// and the right code hands the buyer to the payment page.
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

// The step-up: the code form, shown while the order is `verification_required`.
function stepUp(cfg, orderId, token) {
  const form = $("verify");
  form.hidden = false;
  $("code").focus();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("error").hidden = true;
    const code = $("code").value.trim();
    if (!/^[0-9]{6}$/.test(code)) {
      $("code").setAttribute("aria-invalid", "true");
      return;
    }
    $("verify-submit").disabled = true;
    try {
      const o = await call(cfg.apiBase, `/v1/orders/${encodeURIComponent(orderId)}/verify`, { method: "POST", body: { code }, token });
      const redirect = o.payment?.redirect_url;
      if (redirect) location.assign(redirect);
      else location.reload();
    } catch (x) {
      showError($("error"), x);
      $("verify-submit").disabled = false;
    }
  });
  $("resend").addEventListener("click", async () => {
    $("error").hidden = true;
    try {
      await call(cfg.apiBase, `/v1/orders/${encodeURIComponent(orderId)}/verify/resend`, { method: "POST", token });
      say("return.verify.resent");
    } catch (x) {
      showError($("error"), x);
    }
  });
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
      if (o.status === "verification_required") {
        stepUp(cfg, orderId, saved.token);
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
