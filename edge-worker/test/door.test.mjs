// Attacks on the door ("The door" issue), against the release .wasm in workerd (Miniflare API)
// on 127.0.0.1: floods of unauthenticated scans, the audit listing's paging, revocations
// across events, and a key set of one event minting for another. One worker for the file.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker, verifyChainLocally } from "./harness.mjs";

let fx;
let worker;
let counter = 0;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx);
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const call = (method, path, { token, body } = {}) => request(worker.url, method, path, { bearer: token, body });

const tok = (name) => fx.data.tokens[name];

async function scan(name, tokenName, { gate = "A", eventId } = {}) {
  const body = { qr: fx.present(name), gate_id: gate, scan_id: `door-${++counter}` };
  if (eventId) body.event_id = eventId;
  return call("POST", "/v1/scan", { token: tok(tokenName), body });
}

/** Every page of an event's audit listing, `limit` entries a page (bounded walk). */
async function auditPages(eventId, limit = 1000) {
  const pages = [];
  let after = 0;
  for (let i = 0; i < 200; i++) {
    const r = await call("GET", `/v1/audit?event_id=${eventId}&after=${after}&limit=${limit}`, { token: tok("admin") });
    assert.equal(r.status, 200, r.text);
    pages.push(r);
    if (r.json.next_after == null) return pages;
    after = r.json.next_after;
  }
  throw new Error("audit listing did not end");
}

describe("floods: unauthenticated scans cost no Durable Object write", () => {
  test("N token-less and bad-token scans leave both events' audit listings byte-identical", async () => {
    // Some history first, so the listings are not trivially empty.
    assert.equal((await scan("flood_a", "staff")).json.result, "admitted");
    const listing = async () => (await Promise.all(["evt-a", "evt-b"].map((e) => auditPages(e)))).map((pages) => pages.map((p) => p.text));
    const before = await listing();
    const health0 = (await call("GET", "/v1/health")).json;

    const bad = [undefined, "", "x.y.z", tok("forged"), tok("expired"), tok("alg_none"), tok("hs256_public_key"), tok("unknown_kid")];
    const N = 64;
    const codes = fx.presentMany(Array.from({ length: N }, (_, i) => (i % 2 ? "flood" : "flood_a")));
    const results = await Promise.all(
      codes.map((qr, i) => {
        const token = bad[i % bad.length];
        const body = {
          qr,
          gate_id: `attacker-gate-${i}`,
          scan_id: `flood-${i}`,
          gps: { lat: 1 + i / 1000, lon: 2, accuracy_m: 1 },
          ...(i % 3 === 0 ? { event_id: i % 2 ? "evt-b" : "evt-a" } : {}),
        };
        return call("POST", "/v1/scan", { token, body });
      }),
    );
    for (const r of results) {
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.result, "unauthorised");
    }
    assert.deepEqual(await listing(), before);

    // The door state too: the flooded evt-b ticket was never admitted, the evt-a one once.
    assert.equal((await scan("flood", "other_event_staff")).json.result, "admitted");
    assert.equal((await scan("flood_a", "staff")).json.result, "already_admitted");

    // The refusals are counted in the isolate instead.
    const health1 = (await call("GET", "/v1/health")).json;
    assert.ok(health1.unauthenticated_refusals - health0.unauthenticated_refusals >= N, JSON.stringify(health1));
  });
});

describe("the audit listing is paged and each page verifies against the previous link", () => {
  test("pages of 7 chain to each other and to an independent recomputation", async () => {
    for (let i = 0; i < 12; i++) await scan(i % 2 ? "flood_a" : "main", "staff");
    const pages = await auditPages("evt-a", 7);
    assert.ok(pages.length >= 2, `${pages.length} pages`);
    const entries = [];
    let previous = "00".repeat(32);
    for (const p of pages) {
      assert.ok(p.json.entries.length <= 7);
      assert.equal(p.json.chain.valid, true, p.text);
      assert.equal(p.json.chain.previous, previous);
      assert.equal(p.json.chain.checked, p.json.entries.length);
      if (p.json.entries.length) {
        previous = p.json.entries.at(-1).hash;
        assert.equal(p.json.chain.head, previous);
      }
      entries.push(...p.json.entries);
    }
    assert.equal(verifyChainLocally(entries), null);
    // One page of everything says the same.
    const whole = await auditPages("evt-a", 1000);
    assert.deepEqual(whole.flatMap((p) => p.json.entries), entries);
    // Out-of-range limits are clamped, not refused.
    const one = await call("GET", "/v1/audit?event_id=evt-a&after=0&limit=0", { token: tok("admin") });
    assert.equal(one.json.entries.length, 1);
  });
});

describe("revocations are per event", () => {
  test("an admin of event A cannot revoke event B's ticket, by naming B or by naming A", async () => {
    const victim = fx.data.tickets.revoke_b_victim;
    const named = await call("POST", "/v1/revocations", { token: tok("admin_a"), body: { event_id: "evt-b", ticket_id: victim.ticket_id } });
    assert.equal(named.status, 403, named.text);
    // Under their own event: accepted (it is A's list), but it does not touch B.
    const own = await call("POST", "/v1/revocations", { token: tok("admin_a"), body: { event_id: "evt-a", ticket_id: victim.ticket_id } });
    assert.equal(own.status, 200, own.text);
    const r = await scan("revoke_b_victim", "other_event_staff");
    assert.equal(r.json.result, "admitted", r.text);
  });

  test("revoking event A's ticket does not revoke event B's ticket with the same id", async () => {
    const a = fx.data.tickets.twin_a;
    assert.equal(a.ticket_id, fx.data.tickets.twin_b.ticket_id);
    const ok = await call("POST", "/v1/revocations", { token: tok("admin"), body: { event_id: "evt-a", ticket_id: a.ticket_id } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await scan("twin_a", "staff")).json.result, "revoked");
    assert.equal((await scan("twin_b", "other_event_staff")).json.result, "admitted");
  });
});

describe("a key set belongs to its event", () => {
  test("a code signed and sealed with event A's keys but claiming event B is wrong_event at B's door", async () => {
    const r = await scan("cross_event", "other_event_staff");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.result, "wrong_event", r.text);
    assert.equal(r.json.detail, "wrong_event");
  });
});

describe("a re-issued credential retires the old one", () => {
  test("after not_issued_before, the older credential of the ticket is refused and the new one admits", async () => {
    const [old, fresh] = [fx.data.tickets.reissue_old, fx.data.tickets.reissue_new];
    assert.equal(old.ticket_id, fresh.ticket_id);
    assert.ok(old.issued_at < fresh.issued_at);
    const body = { event_id: "evt-a", ticket_id: fresh.ticket_id, reason: "reissued", not_issued_before: fresh.issued_at };
    assert.equal((await call("POST", "/v1/revocations", { token: tok("staff"), body })).status, 403);
    assert.equal((await call("POST", "/v1/revocations", { token: tok("admin_b"), body })).status, 403);
    const r = await call("POST", "/v1/revocations", { token: tok("admin_a"), body });
    assert.equal(r.status, 200, r.text);
    const refused = await scan("reissue_old", "staff");
    assert.equal(refused.json.result, "revoked", refused.text);
    assert.equal(refused.json.detail, "superseded");
    assert.equal((await scan("reissue_new", "staff")).json.result, "admitted");
    // An older retirement sent later does not move the line back.
    const older = await call("POST", "/v1/revocations", { token: tok("admin_a"), body: { ...body, not_issued_before: old.issued_at } });
    assert.equal(older.status, 200, older.text);
    assert.equal((await scan("reissue_old", "staff")).json.result, "revoked");
  });
});
