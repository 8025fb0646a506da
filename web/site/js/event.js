// Event page and checkout: tiers with availability, the buyer's details, explicit consent
// (unticked; the policy version goes with the order), the bot check, then the gateway's page.
import { ApiError, call, config, formatMoney, formatTime, showError } from "/shared/api.js";
import { deviceId } from "/js/guard.js";
import { saveOrder } from "/js/wallet.js";

const $ = (id) => document.getElementById(id);
let cfg;
let event;

function renderEvent() {
  $("event-name").textContent = event.name;
  $("event-when").textContent = `${formatTime(event.starts_at)} – ${formatTime(event.ends_at)}${event.on_sale ? "" : " · not on sale"}`;
  $("tiers").replaceChildren(...event.tiers.map((t) => {
    const li = document.createElement("li");
    li.className = "tier";
    li.dataset.tier = t.tier_id;
    const left = document.createElement("div");
    left.className = "left";
    const name = document.createElement("strong");
    name.textContent = t.name;
    const avail = document.createElement("span");
    avail.className = t.sold_out ? "soldout" : "hint";
    avail.textContent = t.sold_out ? "Sold out" : `${t.available} left`;
    left.append(name, avail);
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = formatMoney(t.price);
    li.append(left, price);
    return li;
  }));
  $("tier").replaceChildren(...event.tiers.map((t) => {
    const o = new Option(`${t.name} – ${formatMoney(t.price)}`, t.tier_id);
    o.disabled = t.sold_out;
    return o;
  }));
  $("quantity").max = String(event.max_per_order);
  $("event").setAttribute("aria-busy", "false");
  $("pay").disabled = !event.on_sale;
  updateTotal();
}

function updateTotal() {
  const t = event?.tiers.find((x) => x.tier_id === $("tier").value);
  const q = Number($("quantity").value);
  $("total").textContent = t && q > 0 ? `Total: ${formatMoney({ amount_minor: t.price.amount_minor * q, currency: t.price.currency })}` : "";
}

function turnstileSlot() {
  const slot = $("turnstile");
  if (!cfg.turnstileSiteKey) {
    slot.dataset.token = "dev-placeholder";
    slot.textContent = "Bot check (Cloudflare Turnstile) appears here. Development mode: test placeholder, always passes.";
    return;
  }
  slot.classList.remove("turnstile");
  const div = document.createElement("div");
  div.className = "cf-turnstile";
  div.dataset.sitekey = cfg.turnstileSiteKey;
  div.dataset.action = "checkout";
  div.dataset.callback = "karcisTurnstile";
  window.karcisTurnstile = (token) => (slot.dataset.token = token);
  slot.replaceChildren(div);
  const s = document.createElement("script");
  s.src = "https://challenges.cloudflare.com/turnstile/v0/api.js";
  s.async = true;
  document.head.append(s);
}

/** Field checks before anything is sent; returns the first problem or null. */
function localProblem() {
  const checks = [
    ["tier", () => $("tier").value, "Choose a ticket type."],
    ["quantity", () => Number.isInteger(Number($("quantity").value)) && Number($("quantity").value) >= 1 && Number($("quantity").value) <= event.max_per_order, `Choose between 1 and ${event.max_per_order} tickets.`],
    ["name", () => $("name").value.trim().length > 0, "Enter your name."],
    ["email", () => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test($("email").value.trim()), "Enter a valid email address."],
    ["phone", () => /^\+?[0-9 ()-]{6,20}$/.test($("phone").value.trim()), "Enter a phone number with country code, e.g. +62 812 3456 7890."],
    ["consent", () => $("consent").checked, "Please accept the privacy policy to continue."],
    ["turnstile", () => Boolean($("turnstile").dataset.token), "Please complete the bot check."],
  ];
  for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const [id, ok, message] of checks) {
    if (!ok()) return { id, message };
  }
  return null;
}

async function submit(e) {
  e.preventDefault();
  const err = $("checkout-error");
  err.hidden = true;
  const p = localProblem();
  if (p) {
    $(p.id).setAttribute("aria-invalid", "true");
    showError(err, new ApiError(400, { title: "Please check the form", detail: p.message }));
    return;
  }
  const tier = event.tiers.find((t) => t.tier_id === $("tier").value);
  const quantity = Number($("quantity").value);
  const body = {
    event_id: event.event_id,
    tier_id: tier.tier_id,
    quantity,
    buyer: { name: $("name").value.trim(), email: $("email").value.trim(), phone: $("phone").value.replace(/[\s()-]/g, "") },
    consent: { privacy_policy_version: cfg.privacyPolicyVersion, accepted: true, marketing: $("marketing").checked },
    expected_total: { amount_minor: tier.price.amount_minor * quantity, currency: tier.price.currency },
  };
  if (cfg.paymentProvider) body.payment_provider = cfg.paymentProvider;
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
    renderEvent();
  } catch (x) {
    $("event-name").textContent = "Event unavailable";
    showError($("load-error"), x);
  }
}

async function main() {
  cfg = await config();
  $("policy-version").textContent = cfg.privacyPolicyVersion;
  turnstileSlot();
  $("tier").addEventListener("change", updateTotal);
  $("quantity").addEventListener("input", updateTotal);
  $("checkout").addEventListener("submit", submit);
  await load();
}
main();
