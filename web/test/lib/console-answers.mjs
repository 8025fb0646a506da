// Answers of the console back end (functions/src/console: Done<Session>, Done<Event>,
// Done<SalesReport>, Done<RefundsReport>, the reconciliation CSV, Done<ScanAudit>) and of the
// staff routes the console uses (sign-in, members), served through playwright's routing, for
// one event. Role rules are the server's (functions/tests/console.rs); here, door staff's
// console sign-in answers 403 as the staff function does.
const EVENT = "jkt-fest-2026";
const totals = (orders, gross, refunded) => ({ currency: "IDR", orders, tickets: orders * 2, gross_minor: gross,
  refunded_minor: refunded, disputed_minor: 0, net_minor: gross - refunded });

export async function answerConsole(page, role) {
  const api = { signIns: [], calls: [], onSale: [], members: [], tampered: false, tamper() { this.tampered = true; } };
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
