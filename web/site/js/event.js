// Event page and checkout: tiers with availability, the buyer's details, explicit consent
// (unticked; the policy version goes with the order), the bot check, then the gateway's page.
import { ApiError, call, config, showError } from "/shared/api.js";
import { DEFAULT_TIME_ZONE, formatEventTime, formatMoney } from "/shared/format.js";
import { I18nError, initI18n, language, onLanguageChange, t } from "/shared/i18n.js";
import { toE164 } from "/shared/phone.js";
import { deviceId } from "/js/guard.js";
import { waitInLine } from "/js/queue.js";
import { saveOrder } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
let cfg;
let event;
let failed = false;
// In queue mode: null until the waiting room admits this buyer, then the admission token.
let admission = null;
let queueing = false;

function renderEvent() {
  if (!event) {
    $("event-name").textContent = t(failed ? "event.unavailable" : "event.loading");
    return;
  }
  const zone = event.time_zone || DEFAULT_TIME_ZONE;
  $("event-name").textContent = event.name;
  const when = t("event.when", { start: formatEventTime(event.starts_at, zone), end: formatEventTime(event.ends_at, zone) });
  $("event-when").textContent = event.on_sale ? when : t("event.whenNotOnSale", { when });
  $("event-when").dataset.timeZone = zone;
  $("tiers").replaceChildren(...event.tiers.map((tier) => {
    const li = document.createElement("li");
    li.className = "tier";
    li.dataset.tier = tier.tier_id;
    const left = document.createElement("div");
    left.className = "left";
    const name = document.createElement("strong");
    name.textContent = tier.name;
    const avail = document.createElement("span");
    avail.className = tier.sold_out ? "soldout" : "hint";
    avail.textContent = tier.sold_out ? t("event.soldOut") : t("event.left", { n: tier.available });
    left.append(name, avail);
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = formatMoney(tier.price);
    li.append(left, price);
    return li;
  }));
  const chosen = $("tier").value;
  $("tier").replaceChildren(...event.tiers.map((tier) => {
    const o = new Option(t("checkout.tierOption", { name: tier.name, price: formatMoney(tier.price) }), tier.tier_id);
    o.disabled = tier.sold_out;
    return o;
  }));
  if (chosen && event.tiers.some((x) => x.tier_id === chosen)) $("tier").value = chosen;
  $("quantity").max = String(event.max_per_order);
  $("event").setAttribute("aria-busy", "false");
  $("pay").disabled = !event.on_sale || (event.queue_mode && !admission);
  updateTotal();
}

function updateTotal() {
  const tier = event?.tiers.find((x) => x.tier_id === $("tier").value);
  const q = Number($("quantity").value);
  $("total").textContent = tier && q > 0
    ? t("checkout.total", { amount: formatMoney({ amount_minor: tier.price.amount_minor * q, currency: tier.price.currency }) })
    : "";
}

function turnstileSlot() {
  const slot = $("turnstile");
  if (!cfg.turnstileSiteKey) {
    slot.dataset.token = "dev-placeholder";
    slot.dataset.i18n = "checkout.botPlaceholder";
    slot.textContent = t("checkout.botPlaceholder");
    return;
  }
  slot.classList.remove("turnstile");
  const div = document.createElement("div");
  div.className = "cf-turnstile";
  div.dataset.sitekey = cfg.turnstileSiteKey;
  div.dataset.action = "checkout";
  div.dataset.callback = "karcisTurnstile";
  div.dataset.language = document.documentElement.lang;
  window.karcisTurnstile = (token) => (slot.dataset.token = token);
  slot.replaceChildren(div);
  const s = document.createElement("script");
  s.src = "https://challenges.cloudflare.com/turnstile/v0/api.js";
  s.async = true;
  document.head.append(s);
}

/** Field checks before anything is sent; returns the first problem (a catalogue key) or null. */
function localProblem() {
  const q = Number($("quantity").value);
  const checks = [
    ["tier", () => $("tier").value, "form.tier"],
    ["quantity", () => Number.isInteger(q) && q >= 1 && q <= event.max_per_order, "form.quantity"],
    ["name", () => $("name").value.trim().length > 0, "form.name"],
    ["email", () => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test($("email").value.trim()), "form.email"],
    ["phone", () => toE164($("phone").value) !== null, "form.phone"],
    ["consent", () => $("consent").checked, "form.consent"],
    ["turnstile", () => Boolean($("turnstile").dataset.token), "form.turnstile"],
  ];
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const [id, ok, key] of checks) {
    if (!ok()) return { id, key };
  }
  return null;
}

async function submit(e) {
  e.preventDefault();
  const err = $("checkout-error");
  err.hidden = true;
  if (!event) return;
  const p = localProblem();
  if (p) {
    $(p.id).setAttribute("aria-invalid", "true");
    showError(err, new I18nError(p.key, { max: event.max_per_order }));
    return;
  }
  const tier = event.tiers.find((x) => x.tier_id === $("tier").value);
  const quantity = Number($("quantity").value);
  const body = {
    event_id: event.event_id,
    tier_id: tier.tier_id,
    quantity,
    buyer: { name: $("name").value.trim(), email: $("email").value.trim(), phone: toE164($("phone").value) },
    consent: { privacy_policy_version: cfg.privacyPolicyVersion, accepted: true, marketing: $("marketing").checked },
    expected_total: { amount_minor: tier.price.amount_minor * quantity, currency: tier.price.currency },
  };
  if (cfg.paymentProvider) body.payment_provider = cfg.paymentProvider;
  if (admission) body.admission = admission;
  // A high-value order's one-time code comes in the page's language.
  body.lang = language() === "en" ? "en" : "id";
  // The same attempt keeps its key across retries (a double click or a timeout does not buy twice).
  const fingerprint = JSON.stringify(body);
  let attempt = JSON.parse(sessionStorage.getItem("karcis.attempt") || "null");
  if (!attempt || attempt.fingerprint !== fingerprint) attempt = { fingerprint, key: `web-${crypto.randomUUID()}` };
  sessionStorage.setItem("karcis.attempt", JSON.stringify(attempt));
  $("pay").disabled = true;
  try {
    const res = await call(cfg.apiBase, "/v1/orders", { method: "POST", body,
      headers: { "idempotency-key": attempt.key, "cf-turnstile-response": $("turnstile").dataset.token, "x-karcis-device": deviceId() } });
    saveOrder(res.order.order_id, res.access_token, res.order.event_id);
    sessionStorage.removeItem("karcis.attempt");
    const redirect = res.order.payment?.redirect_url;
    location.assign(redirect || `/return.html?order=${encodeURIComponent(res.order.order_id)}`);
  } catch (x) {
    showError(err, x);
    $("pay").disabled = false;
    if (x instanceof ApiError && x.status === 409) load(); // availability or price changed
  }
}

async function load() {
  try {
    event = await call(cfg.apiBase, `/v1/events/${encodeURIComponent(new URLSearchParams(location.search).get("event") || cfg.eventId)}`);
    failed = false;
    if (event.queue_mode && !queueing) {
      queueing = true;
      waitInLine(cfg, event).then((a) => {
        admission = a;
        renderEvent();
      });
    }
  } catch (x) {
    failed = !event;
    showError($("load-error"), x);
  }
  renderEvent();
}

async function main() {
  initI18n();
  cfg = await config();
  $("policy-version").textContent = cfg.privacyPolicyVersion;
  turnstileSlot();
  onLanguageChange(renderEvent);
  $("tier").addEventListener("change", updateTotal);
  $("quantity").addEventListener("input", updateTotal);
  $("checkout").addEventListener("submit", submit);
  await load();
}
main();
