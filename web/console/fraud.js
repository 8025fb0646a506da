// The console's fraud views (admins only; the server refuses anyone else): flagged risk
// decisions with their reasons and, for an order held for review, release or cancel; the
// blocklist (list, add with reason and expiry, remove). Through the checkout function's admin
// routes (functions/src/fraud/routes.rs, holds.rs): what they return carries no personal data,
// only rule codes, counts and blind-index ids, and that is all shown here.
import { I18nError, onLanguageChange, t } from "/shared/i18n.js";
import { formatEventTime } from "/shared/format.js";

const $ = (id) => document.getElementById(id);
const state = { flagged: null, blacklist: null };
let ctx; // { api, notice, fail, clearError }

const when = (unix) => formatEventTime(unix, "Asia/Jakarta");

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function button(key, data, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = t(key);
  Object.assign(b.dataset, data);
  b.addEventListener("click", onClick);
  return b;
}

function header(keys) {
  const tr = document.createElement("tr");
  for (const k of keys) {
    const th = document.createElement("th");
    th.textContent = t(k);
    tr.append(th);
  }
  return tr;
}

const reasons = (d) => d.reasons.map((r) => t(`console.fraud.reason.${r.code}`, { observed: r.observed, limit: r.limit })).join(" · ");

function holdCell(d) {
  const td = document.createElement("td");
  if (!d.hold) {
    td.textContent = "–";
  } else if (d.hold.resolution) {
    td.textContent = t(`console.fraud.hold.${d.hold.resolution}`, { by: d.hold.resolved_by });
  } else {
    td.append(
      button("console.fraud.release", { order: d.order_id, action: "release" }, () => decide(d.order_id, "release")),
      button("console.fraud.cancel", { order: d.order_id, action: "cancel" }, () => decide(d.order_id, "cancel")));
  }
  return td;
}

function render() {
  if (state.flagged) {
    $("flagged-empty").hidden = state.flagged.length > 0;
    $("flagged").replaceChildren(header(["console.fraud.col.at", "console.fraud.col.event", "console.col.order", "console.fraud.col.stage",
      "console.fraud.col.outcome", "console.fraud.col.score", "console.fraud.col.reasons", "console.fraud.col.hold"]),
    ...state.flagged.map((d) => {
      const tr = document.createElement("tr");
      tr.dataset.decision = d.decision_id;
      tr.append(cell(when(d.at)), cell(d.event_id), cell(d.order_id ?? "–"), cell(t(`console.fraud.stage.${d.stage}`)),
        cell(t(`console.fraud.outcome.${d.outcome}`)), cell(String(d.score)), cell(reasons(d)), holdCell(d));
      return tr;
    }));
  }
  if (state.blacklist) {
    $("blacklist-empty").hidden = state.blacklist.length > 0;
    $("blacklist").replaceChildren(header(["console.blacklist.col.kind", "console.blacklist.col.provider", "console.blacklist.col.reason",
      "console.blacklist.col.by", "console.blacklist.col.added", "console.blacklist.col.expires", "console.blacklist.remove"]),
    ...state.blacklist.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.entry = e.id;
      const remove = document.createElement("td");
      remove.append(button("console.blacklist.remove", { entry: e.id }, () => removeEntry(e.id)));
      tr.append(cell(t(`console.blacklist.kind.${e.kind}`)), cell(e.provider ?? "–"), cell(e.reason), cell(e.added_by),
        cell(when(e.added_at)), cell(when(e.expires_at)), remove);
      return tr;
    }));
  }
}

async function run(work) {
  ctx.clearError();
  try {
    await work();
  } catch (err) {
    ctx.fail(err);
  }
}

const loadFlagged = () => run(async () => {
  state.flagged = (await ctx.api("/v1/fraud/flagged?limit=100")).decisions;
  render();
});

const loadBlacklist = () => run(async () => {
  state.blacklist = (await ctx.api("/v1/fraud/blacklist?limit=100")).entries;
  render();
});

const decide = (order, action) => run(async () => {
  await ctx.api(`/v1/fraud/holds/${encodeURIComponent(order)}/${action}`, { method: "POST" });
  state.flagged = (await ctx.api("/v1/fraud/flagged?limit=100")).decisions;
  ctx.notice(action === "release" ? "console.fraud.released" : "console.fraud.cancelled", { order });
  render();
});

const removeEntry = (id) => run(async () => {
  await ctx.api(`/v1/fraud/blacklist/${encodeURIComponent(id)}`, { method: "DELETE" });
  state.blacklist = (await ctx.api("/v1/fraud/blacklist?limit=100")).entries;
  ctx.notice("console.blacklist.removed");
  render();
});

function addEntry(e) {
  e.preventDefault();
  const kind = $("bl-kind").value;
  const value = $("bl-value").value.trim();
  const reason = $("bl-reason").value.trim();
  const days = Number($("bl-days").value);
  ctx.clearError();
  if (!value || !reason) return ctx.fail(new I18nError("console.blacklist.missing"));
  if (!Number.isInteger(days) || days < 1 || days > 730) return ctx.fail(new I18nError("console.blacklist.badDays"));
  const body = { kind, value, reason, ttl_secs: days * 86400 };
  if (kind === "card" && $("bl-provider").value) body.provider = $("bl-provider").value;
  return run(async () => {
    await ctx.api("/v1/fraud/blacklist", { method: "POST", body });
    $("bl-value").value = ""; // the listed value is not kept on screen
    state.blacklist = (await ctx.api("/v1/fraud/blacklist?limit=100")).entries;
    ctx.notice("console.blacklist.added", { kind: t(`console.blacklist.kind.${kind}`) });
    render();
  });
}

/** Wires the views; `c` gives the console's API call and its notice and error areas. */
export function initFraud(c) {
  ctx = c;
  $("flagged-load").addEventListener("click", loadFlagged);
  $("blacklist-load").addEventListener("click", loadBlacklist);
  $("blacklist-form").addEventListener("submit", addEntry);
  onLanguageChange(render);
}
