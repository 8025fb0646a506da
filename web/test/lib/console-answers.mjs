// Answers of the console back end (functions/src/console: Done<Session>, Done<Event>,
// Done<SalesReport>, Done<RefundsReport>, the reconciliation CSV, Done<ScanAudit>) and of the
// staff routes the console uses (sign-in, members), served through playwright's routing, for
// one event. Role rules are the server's (functions/tests/console.rs); here, door staff's
// console sign-in answers 403 as the staff function does. The fraud routes (checkout function:
// functions/src/fraud/routes.rs, holds.rs; moto tests functions/tests/fraud*.rs) answer admins
// only, with rule codes, counts and blind-index ids, never personal data.
const EVENT = "jkt-fest-2026";
const totals = (orders, gross, refunded) => ({ currency: "IDR", orders, tickets: orders * 2, gross_minor: gross,
  refunded_minor: refunded, disputed_minor: 0, net_minor: gross - refunded });

export async function answerConsole(page, role) {
  const api = { signIns: [], calls: [], onSale: [], members: [], holds: [], blacklistAdds: [], tampered: false, tamper() { this.tampered = true; } };
  const fraud = fraudState();
  const event = { event_id: EVENT, name: "Jakarta Fest 2026", currency: "IDR", starts_at: 1796475600, ends_at: 1796493600,
    time_zone: "Asia/Jakarta", max_per_order: 4, max_per_buyer: 6, kid: 7, on_sale: true,
    tiers: [{ tier_id: "reguler", name: "Festival", price_minor: 300000, capacity: 100, available: 96, gates: ["*"] }] };
  const session = role === "admin" ? { staff_id: "ops-1", role, events: ["*"] } : { staff_id: "fin-1", role, events: [EVENT] };
  const json = (route, status, body) => route.fulfill({ status, contentType: status < 400 ? "application/json" : "application/problem+json", body: JSON.stringify(body) });
  const problem = (route, status, code, title) => json(route, status, { type: `urn:karcis:problem:${code}`, title, status, detail: title });
  let seq = 10;
  const done = (v) => ({ ...v, audit_seq: ++seq });
  await page.route(/\/api\/v1\//, async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    const p = url.pathname.replace(/^\/api/, "");
    const m = req.method();
    api.calls.push(`${m} ${p}`);
    if (m === "POST" && p === "/v1/staff/sign-in") {
      api.signIns.push(req.postDataJSON());
      if (role === "staff") return problem(route, 403, "forbidden", "Forbidden");
      return json(route, 200, { token: `console-token-${role}`, token_type: "Bearer", role, aud: "karcis-console", events: session.events, gates: [], expires_at: 1796500000 });
    }
    if (req.headers().authorization !== `Bearer console-token-${role}`) return problem(route, 401, "unauthorized", "Unauthorized");
    if (m === "GET" && p === "/v1/console/session") return json(route, 200, done(session));
    const base = `/v1/console/events/${EVENT}`;
    if (m === "GET" && p === base) return json(route, 200, done(event));
    if (m === "GET" && p === `${base}/sales`) {
      return json(route, 200, done({ event_id: EVENT, currency: "IDR", time_zone: "Asia/Jakarta", total: totals(2, 600000, 300000),
        by_tier: { reguler: totals(2, 600000, 300000) }, by_day: { "2026-11-30": totals(1, 300000, 300000), "2026-12-01": totals(1, 300000, 0) },
        by_provider: { stripe: totals(1, 300000, 0), xendit: totals(1, 300000, 300000) } }));
    }
    if (m === "GET" && p === `${base}/refunds`) {
      return json(route, 200, done({ event_id: EVENT,
        refunds: [{ order_id: "ord-2", kind: "refunded", provider: "xendit", provider_ref: "inv-2", amount_minor: 300000, currency: "IDR", at: 1796480000 }],
        refunds_due: [{ order_id: "ord-3", provider: "midtrans", provider_ref: "mt-3", amount_minor: 300000, currency: "IDR", paid_at: 1796481000 }],
        due_minor: { IDR: 300000 } }));
    }
    const csv = p.match(new RegExp(`^${base}/reconciliation/(\\w+)$`));
    if (m === "GET" && csv) {
      const body = `order_id,tier_id,quantity,provider,provider_ref,payment_id,paid_at_utc,paid_day_local,amount_minor,currency,status,reversal_kind,reversed_minor,refund_due_minor\r\nord-2,reguler,2,${csv[1]},inv-2,,2026-11-30T15:30:00Z,2026-11-30,300000,IDR,REFUNDED,refunded,300000,0\r\n`;
      return route.fulfill({ status: 200, contentType: "text/csv; charset=utf-8", body });
    }
    if (role !== "admin") return problem(route, 403, "forbidden", "Forbidden");
    if (m === "PUT" && p === `${base}/on-sale`) {
      const body = req.postDataJSON();
      api.onSale.push(body);
      return json(route, 200, done({ event_id: EVENT, on_sale: body.on_sale }));
    }
    if (m === "POST" && p === `${base}/orders/ord-2/revocation`) return json(route, 202, done({ order_id: "ord-2", event_id: EVENT, reason: "refunded" }));
    if (m === "POST" && p === `${base}/orders/ord-1/revocation`) return problem(route, 409, "conflict", "Conflict");
    if (m === "GET" && p === `${base}/scan-audit`) {
      const chain = api.tampered ? { valid: false, checked: 1, head: "aa", first_bad_seq: 2 } : { valid: true, checked: 3, head: "bb" };
      return json(route, 200, done({ page: { stream: `AUDIT#${EVENT}`, entries: [], chain, results: {}, next_after: null }, chain }));
    }
    if (p.startsWith("/v1/fraud/")) return answerFraud(route, req, m, p, api, fraud, { json, problem, done });
    const member = p.match(/^\/v1\/staff\/members\/([^/]+)$/);
    if (m === "PUT" && member) {
      const body = req.postDataJSON();
      api.members.push({ id: member[1], body });
      return json(route, 200, { staff_id: member[1], ...body, version: 1, updated_at: 1796480000, updated_by: "ops-1" });
    }
    return problem(route, 404, "not-found", "Not found");
  });
  return api;
}

const HEX = (c) => c.repeat(64);

/** The fraud store of one test: flagged decisions (two holds, a block, a step-up), one entry. */
function fraudState() {
  const reason = (code, points, observed = 0, limit = 0) => ({ code, points, observed, limit });
  const hold = (order) => ({ order_id: order, decision_id: `rsk_pay_${order}` });
  return {
    decisions: [
      { decision_id: "rsk_pay_ord_held1", order_id: "ord_held1", event_id: EVENT, stage: "payment", at: 1796480000, score: 100,
        outcome: "hold", reasons: [reason("blacklist_card", 100)], hold: hold("ord_held1") },
      { decision_id: "rsk_blk3", event_id: EVENT, stage: "checkout", at: 1796479000, score: 85, outcome: "block",
        reasons: [reason("emails_per_device", 30, 7, 3), reason("orders_per_device", 30, 12, 5), reason("disposable_email", 25)] },
      { decision_id: "rsk_pay_ord_held2", order_id: "ord_held2", event_id: EVENT, stage: "payment", at: 1796478000, score: 100,
        outcome: "hold", reasons: [reason("blacklist_card", 100)], hold: hold("ord_held2") },
      { decision_id: "rsk_step4", order_id: "ord_step4", event_id: EVENT, stage: "checkout", at: 1796477000, score: 30,
        outcome: "step_up", reasons: [reason("cards_per_email", 30, 4, 3), reason("high_risk_country", 30)] },
    ],
    entries: [{ id: HEX("a"), kind: "card", provider: "midtrans", reason: "stolen card (bank report)", added_by: "ops-1",
      added_at: 1796400000, expires_at: 1804176000 }],
  };
}

function answerFraud(route, req, m, p, api, fraud, { json, problem, done }) {
  const url = new URL(req.url());
  if (m === "GET" && p === "/v1/fraud/flagged" && url.searchParams.get("limit") === "100") return json(route, 200, { decisions: fraud.decisions });
  if (m === "GET" && p === "/v1/fraud/blacklist" && url.searchParams.get("limit") === "100") return json(route, 200, { entries: fraud.entries });
  const decide = p.match(/^\/v1\/fraud\/holds\/([^/]+)\/(release|cancel)$/);
  if (m === "POST" && decide) {
    const d = fraud.decisions.find((x) => x.order_id === decide[1] && x.hold);
    if (!d) return problem(route, 404, "not-found", "Not found");
    const resolution = decide[2] === "release" ? "released" : "cancelled";
    if (d.hold.resolution && d.hold.resolution !== resolution) return problem(route, 409, "conflict", "Conflict");
    api.holds.push({ order: decide[1], action: decide[2] });
    d.hold = { ...d.hold, resolution, resolved_by: "ops-1", resolved_at: 1796490000 };
    return json(route, 200, done({ hold: d.hold, order_status: resolution === "released" ? "PAID" : "CANCELLED" }));
  }
  if (m === "POST" && p === "/v1/fraud/blacklist") {
    const body = req.postDataJSON();
    api.blacklistAdds.push(body);
    const entry = { id: HEX(String(fraud.entries.length + 1)), kind: body.kind, provider: body.provider, reason: body.reason,
      added_by: "ops-1", added_at: 1796490000, expires_at: 1796490000 + body.ttl_secs };
    fraud.entries.unshift(entry);
    return json(route, 201, done({ entry }));
  }
  const del = p.match(/^\/v1\/fraud\/blacklist\/([0-9a-f]{64})$/);
  if (m === "DELETE" && del) {
    const i = fraud.entries.findIndex((e) => e.id === del[1]);
    if (i < 0) return problem(route, 404, "not-found", "Not found");
    const [removed] = fraud.entries.splice(i, 1);
    return json(route, 200, done({ removed }));
  }
  return problem(route, 404, "not-found", "Not found");
}
