// The operators' console: sign-in (username, password, authenticator code -> a console token
// from the staff function), then the views of the member's role. Finance: reports only (sales
// and revenue per tier, day and provider, refunds, reconciliation CSVs). Admins: the same, plus
// the on-sale switch, door revocations, the verified scan audit, staff (the staff function's
// own routes), event creation, flagged orders and the blocklist (fraud.js). The server
// authorises every call; hiding a view is only convenience. The token lives in sessionStorage
// (gone with the tab), never in localStorage.
import { ApiError, call, config, showError } from "/shared/api.js";
import { formatMoney } from "/shared/format.js";
import { I18nError, initI18n, onLanguageChange, t } from "/shared/i18n.js";
import { initFraud } from "/console/fraud.js";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "karcis.console.token";
const PROVIDERS = ["stripe", "midtrans", "xendit", "doku"];
let cfg;
let session = null; // { staff_id, role, events }
const view = { event: null, sales: null, refunds: null, audit: null, notice: null };

const token = () => sessionStorage.getItem(TOKEN_KEY);
const api = (path, opts = {}) => call(cfg.apiBase, path, { token: token(), ...opts });

function clearError() {
  $("error").hidden = true;
}

function fail(err) {
  showError($("error"), err);
}

function notice(key, params) {
  view.notice = { key, params };
  render();
}

function cell(tag, text) {
  const c = document.createElement(tag);
  c.textContent = text;
  return c;
}

/** A report table: a header row of catalogue keys, then rows of texts. */
function table(el, headKeys, rows) {
  const head = document.createElement("tr");
  head.append(...headKeys.map((k) => cell("th", t(k))));
  el.replaceChildren(head, ...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.append(...r.map((v) => cell("td", v)));
    return tr;
  }));
}

const money = (amount, currency) => formatMoney({ amount_minor: amount, currency });
const TOTALS = ["console.col.orders", "console.col.tickets", "console.col.gross", "console.col.refunded", "console.col.net"];
const totals = (x) => [String(x.orders), String(x.tickets), money(x.gross_minor, x.currency), money(x.refunded_minor + x.disputed_minor, x.currency), money(x.net_minor, x.currency)];
const grouped = (el, keyCol, map) => table(el, [keyCol, ...TOTALS], Object.entries(map).map(([k, x]) => [k, ...totals(x)]));

function render() {
  if (session) {
    $("who").hidden = false;
    $("who").textContent = t("console.who", { id: session.staff_id, role: t(`console.role.${session.role}`) });
  }
  if (view.event) {
    $("event-name").textContent = view.event.name;
    $("on-sale-state").textContent = t(view.event.on_sale ? "console.event.open.yes" : "console.event.open.no");
    $("on-sale-toggle").textContent = t(view.event.on_sale ? "console.event.stop" : "console.event.start");
  }
  if (view.sales) {
    const s = view.sales;
    table($("sales-total"), TOTALS, [totals(s.total)]);
    grouped($("sales-tier"), "console.col.tier", s.by_tier);
    grouped($("sales-day"), "console.col.day", s.by_day);
    grouped($("sales-provider"), "console.col.provider", s.by_provider);
  }
  if (view.refunds) {
    const r = view.refunds;
    table($("refunds"), ["console.col.order", "console.col.kind", "console.col.provider", "console.col.reference", "console.col.amount"],
      r.refunds.map((x) => [x.order_id, t(`console.kind.${x.kind}`), x.provider, x.provider_ref, money(x.amount_minor, x.currency)]));
    table($("refunds-due"), ["console.col.order", "console.col.provider", "console.col.reference", "console.col.amount"],
      r.refunds_due.map((x) => [x.order_id, x.provider, x.provider_ref, money(x.amount_minor, x.currency)]));
  }
  if (view.audit) {
    const c = view.audit.chain;
    $("audit-state").textContent = c.valid
      ? t("console.audit.valid", { count: c.checked })
      : t("console.audit.broken", { seq: c.first_bad_seq });
    $("audit-state").className = c.valid ? "ok" : "error";
  }
  if (view.notice) {
    $("notice").hidden = false;
    $("notice").textContent = t(view.notice.key, view.notice.params);
  }
}

function showWorkspace() {
  $("signin").hidden = true;
  $("workspace").hidden = false;
  $("sign-out").hidden = false;
  for (const el of document.querySelectorAll("[data-role=admin]")) el.hidden = session.role !== "admin";
  const pick = $("event-id");
  const listed = session.events.filter((e) => e !== "*");
  pick.replaceChildren(...listed.map((e) => { const o = document.createElement("option"); o.value = e; o.textContent = e; return o; }));
  // An admin of every event types the event id.
  pick.hidden = listed.length === 0;
  $("event-id-typed").hidden = listed.length !== 0;
  render();
}

async function startSession() {
  session = await api("/v1/console/session");
  showWorkspace();
}

async function signIn(e) {
  e.preventDefault();
  clearError();
  const username = $("username").value.trim();
  const password = $("password").value;
  const code = $("totp").value.trim();
  if (!username || !password) return fail(new I18nError("console.signin.missing"));
  if (code && !/^[0-9]{6}$/.test(code)) return fail(new I18nError("console.signin.badCode"));
  try {
    const body = { username, password, purpose: "console" };
    if (code) body.totp = code;
    const issued = await call(cfg.apiBase, "/v1/staff/sign-in", { method: "POST", body });
    sessionStorage.setItem(TOKEN_KEY, issued.token);
    $("password").value = "";
    $("totp").value = "";
    await startSession();
  } catch (err) {
    sessionStorage.removeItem(TOKEN_KEY);
    fail(err);
  }
}

function currentEvent() {
  return ($("event-id").hidden ? $("event-id-typed").value : $("event-id").value).trim();
}

async function openEvent(e) {
  e?.preventDefault();
  clearError();
  const id = currentEvent();
  if (!id) return fail(new I18nError("console.event.missing"));
  const enc = encodeURIComponent(id);
  try {
    view.event = await api(`/v1/console/events/${enc}`);
    view.sales = await api(`/v1/console/events/${enc}/sales`);
    view.refunds = await api(`/v1/console/events/${enc}/refunds`);
    $("event-view").hidden = false;
    $("reports").hidden = false;
    $("recon-links").replaceChildren(...PROVIDERS.map((p) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.dataset.provider = p;
      b.textContent = t("console.recon.download", { provider: p });
      b.addEventListener("click", () => downloadCsv(id, p));
      return b;
    }));
    render();
  } catch (err) {
    fail(err);
  }
}

/** Fetches a CSV with the token (a plain link could not carry it) and saves it. */
async function downloadCsv(eventId, provider) {
  clearError();
  try {
    const res = await fetch(`${cfg.apiBase}/v1/console/events/${encodeURIComponent(eventId)}/reconciliation/${provider}`,
      { headers: { authorization: `Bearer ${token()}` }, cache: "no-store" });
    if (!res.ok) {
      const problem = await res.json().catch(() => ({ status: res.status }));
      throw new ApiError(res.status, problem);
    }
    const text = await res.text();
    const rows = text.split("\r\n").filter((l) => l).length - 1;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = `reconciliation-${eventId}-${provider}.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    notice("console.recon.done", { provider, rows });
  } catch (err) {
    fail(err);
  }
}

async function toggleOnSale() {
  clearError();
  try {
    const r = await api(`/v1/console/events/${encodeURIComponent(view.event.event_id)}/on-sale`, { method: "PUT", body: { on_sale: !view.event.on_sale } });
    view.event.on_sale = r.on_sale;
    notice(r.on_sale ? "console.event.started" : "console.event.stopped");
  } catch (err) {
    fail(err);
  }
}

async function revoke(e) {
  e.preventDefault();
  clearError();
  const order = $("revoke-order").value.trim();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(order)) return fail(new I18nError("console.revoke.badOrder"));
  try {
    await api(`/v1/console/events/${encodeURIComponent(currentEvent())}/orders/${encodeURIComponent(order)}/revocation`, { method: "POST", body: {} });
    notice("console.revoke.sent", { order });
  } catch (err) {
    fail(err);
  }
}

async function loadAudit() {
  clearError();
  try {
    view.audit = await api(`/v1/console/events/${encodeURIComponent(currentEvent())}/scan-audit?after=0&limit=100`);
    render();
  } catch (err) {
    fail(err);
  }
}

function staffSpec() {
  const gates = $("staff-gates").value.split(",").map((g) => g.trim()).filter(Boolean);
  return { role: $("staff-role").value, events: [currentEvent()], gates, active: $("staff-active").checked };
}

async function saveStaff(e) {
  e.preventDefault();
  clearError();
  const id = $("staff-id").value.trim();
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(id)) return fail(new I18nError("console.staff.badId"));
  try {
    const m = await api(`/v1/staff/members/${encodeURIComponent(id)}`, { method: "PUT", body: staffSpec() });
    notice(m.active ? "console.staff.saved" : "console.staff.deactivated", { id });
  } catch (err) {
    fail(err);
  }
}

async function resetStaff() {
  clearError();
  const id = $("staff-id").value.trim();
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(id)) return fail(new I18nError("console.staff.badId"));
  try {
    const r = await api(`/v1/staff/members/${encodeURIComponent(id)}/password-setup`, { method: "POST", body: {} });
    $("staff-result").textContent = r.setup_code;
    notice("console.staff.codeIssued", { id });
  } catch (err) {
    fail(err);
  }
}

async function createEvent(e) {
  e.preventDefault();
  clearError();
  let spec;
  try {
    spec = JSON.parse($("create-spec").value);
  } catch {
    return fail(new I18nError("console.create.badJson"));
  }
  try {
    const r = await api("/v1/console/events", { method: "POST", body: spec });
    notice("console.create.done", { id: r.event_id });
  } catch (err) {
    fail(err);
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
}

async function main() {
  initI18n();
  onLanguageChange(() => {
    if (view.event) openEventButtons();
    render();
  });
  cfg = await config();
  $("signin-form").addEventListener("submit", signIn);
  $("event-form").addEventListener("submit", openEvent);
  $("on-sale-toggle").addEventListener("click", toggleOnSale);
  $("revoke-form").addEventListener("submit", revoke);
  $("audit-load").addEventListener("click", loadAudit);
  $("staff-form").addEventListener("submit", saveStaff);
  $("staff-reset").addEventListener("click", resetStaff);
  $("create-form").addEventListener("submit", createEvent);
  $("sign-out").addEventListener("click", signOut);
  initFraud({ api, notice, fail, clearError });
  if (token()) {
    try {
      await startSession();
    } catch {
      sessionStorage.removeItem(TOKEN_KEY); // expired or revoked: sign in again
    }
  }
}

/** The CSV buttons' labels in the current language. */
function openEventButtons() {
  for (const b of document.querySelectorAll("#recon-links button")) b.textContent = t("console.recon.download", { provider: b.dataset.provider });
}

main();
