// The edge worker's behaviour, end to end: the release .wasm in workerd (Miniflare API) on
// 127.0.0.1, a real SQLite Durable Object and KV, tickets and staff tokens minted with the
// ticket crate (edge-testgen). Tests in this file run in order and share one worker.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker, verifyChainLocally } from "./harness.mjs";

let fx;
let worker;
let base;
let scanCounter = 0;
/** Every scan attempt this file made that should be in evt-a's audit trail. */
const attempts = [];
/** Scan ids of attempts that must not be in it (no valid staff token). */
const unaudited = [];

const GPS = { lat: -6.175392, lon: 106.827153, accuracy_m: 8 };

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx);
  base = worker.url;
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

function token(name) {
  const t = fx.data.tokens[name];
  assert.ok(t, `no token ${name}`);
  return t;
}

function call(method, path, { tokenName, rawToken, body, rawBody, headers } = {}) {
  const bearer = rawToken || (tokenName ? token(tokenName) : undefined);
  return request(base, method, path, { bearer, body, rawBody, headers });
}

/** One scan; records the attempt for the audit checks unless told otherwise. */
async function scan({ qr, gate = "A", tokenName = "staff", scanId, gps = GPS, eventId, audited = true, staffId }) {
  const scan_id = scanId ?? `scan-${++scanCounter}`;
  const body = { qr, gate_id: gate, scan_id };
  if (gps) body.gps = gps;
  if (eventId) body.event_id = eventId;
  const res = await call("POST", "/v1/scan", { tokenName, body });
  if (audited) attempts.push({ scan_id, gate, staffId: staffId ?? null, result: res.json?.result });
  return res;
}

describe("admission", () => {
  test("a valid device-bound code is admitted once, then already_admitted with when/where/who", async () => {
    const first = await scan({ qr: fx.present("main"), staffId: "staff-7" });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.type, "application/json");
    assert.equal(first.json.result, "admitted");
    assert.equal(first.json.ticket_id, fx.data.tickets.main.ticket_id);
    assert.equal(first.json.event_id, "evt-a");
    assert.equal(first.json.message, "Admitted");

    const again = await scan({ qr: fx.present("main"), gate: "B", tokenName: "staff2", staffId: "staff-9" });
    assert.equal(again.status, 200);
    assert.equal(again.json.result, "already_admitted");
    assert.equal(again.json.admitted.gate_id, "A");
    assert.equal(again.json.admitted.staff_id, "staff-7");
    assert.equal(again.json.admitted.at_ms, first.json.at_ms);
    assert.deepEqual(again.json.admitted.gps, { lat: -6.175392, lon: 106.827153, accuracy_m: 8 });
    assert.match(again.json.message, /^Already admitted at \d\d:\d\d UTC, gate A, by staff-7$/);
  });

  test("a retry with the same scan_id gets the first answer back and changes nothing", async () => {
    const qr = fx.present("retry");
    const first = await scan({ qr, scanId: "retry-1", staffId: "staff-7" });
    assert.equal(first.json.result, "admitted");
    const retry = await scan({ qr, scanId: "retry-1", audited: false });
    assert.equal(retry.status, 200);
    assert.equal(retry.json.result, "admitted");
    assert.equal(retry.json.replayed, true);
    assert.equal(retry.json.audit_seq, first.json.audit_seq);
    // The same scan id for a different code is a client bug, not a retry.
    const reused = await scan({ qr: fx.present("gps"), scanId: "retry-1", audited: false });
    assert.equal(reused.status, 409);
    assert.equal(reused.type, "application/problem+json");
    assert.equal(reused.json.type, "urn:karcis:problem:scan_id_reused");
  });

  test("50 concurrent scans of one ticket admit exactly one", async () => {
    const codes = fx.presentMany(Array(50).fill("concurrent"));
    const results = await Promise.all(
      codes.map((qr, i) => scan({ qr, gate: i % 2 ? "A" : "B", tokenName: i % 2 ? "staff" : "staff2", staffId: i % 2 ? "staff-7" : "staff-9" })),
    );
    const counts = {};
    for (const r of results) {
      assert.equal(r.status, 200, r.text);
      counts[r.json.result] = (counts[r.json.result] ?? 0) + 1;
    }
    assert.deepEqual(counts, { admitted: 1, already_admitted: 49 });
  });
});

describe("refusals", () => {
  test("a device proof 2 minutes old is stale", async () => {
    const r = await scan({ qr: fx.present("stale", 120), staffId: "staff-7" });
    assert.equal(r.json.result, "stale");
    assert.equal(r.json.detail, "stale_proof");
    // The same ticket with a fresh proof is fine: the screenshot, not the ticket, is refused.
    assert.equal((await scan({ qr: fx.present("stale"), staffId: "staff-7" })).json.result, "admitted");
  });

  test("any byte flipped is invalid", async () => {
    const flips = fx.flips("flip");
    assert.ok(flips.length > 100, `payload of ${flips.length} bytes`);
    const results = await Promise.all(flips.map((qr) => scan({ qr, staffId: "staff-7" })));
    const bad = results.filter((r) => r.json?.result !== "invalid");
    assert.deepEqual(bad.map((r) => r.text), []);
    // Nothing was admitted: the unflipped code still admits.
    assert.equal((await scan({ qr: fx.present("flip"), staffId: "staff-7" })).json.result, "admitted");
    // And text that is not a karcis code at all.
    for (const qr of ["hello", "KC1:", "KC2:ABC", "KC1:%%%%"]) {
      assert.equal((await scan({ qr, staffId: "staff-7" })).json.result, "invalid");
    }
  });

  test("another event's ticket is wrong_event", async () => {
    const r = await scan({ qr: fx.present("other_event"), staffId: "staff-7" });
    assert.equal(r.json.result, "wrong_event");
  });

  test("validity window, gate entitlement and printed codes", async () => {
    assert.equal((await scan({ qr: fx.present("not_yet_valid"), staffId: "staff-7" })).json.result, "not_yet_valid");
    assert.equal((await scan({ qr: fx.present("expired"), staffId: "staff-7" })).json.result, "expired");
    assert.equal((await scan({ qr: fx.present("gate_b_only"), gate: "A", staffId: "staff-7" })).json.result, "wrong_gate");
    assert.equal((await scan({ qr: fx.present("static"), staffId: "staff-7" })).json.result, "static_not_allowed");
  });

  test("a ticket revoked in KV is refused at once", async () => {
    const t = fx.data.tickets.revoked_kv;
    const kv = await worker.mf.getKVNamespace("REVOKED");
    await kv.put(`evt-a/${t.ticket_id}`, JSON.stringify({ reason: "refunded" }));
    const r = await scan({ qr: fx.present("revoked_kv"), staffId: "staff-7" });
    assert.equal(r.json.result, "revoked");
  });

  test("a ticket revoked through the admin route is refused, even after admission elsewhere", async () => {
    const t = fx.data.tickets.revoked_admin;
    // Admitted at gate B first; the revocation then refuses it at every gate.
    const first = await scan({ qr: fx.present("revoked_admin"), gate: "B", staffId: "staff-7" });
    assert.equal(first.json.result, "admitted", first.text);
    const body = { event_id: "evt-a", ticket_id: t.ticket_id, reason: "chargeback" };
    const denied = await call("POST", "/v1/revocations", { tokenName: "staff", body });
    assert.equal(denied.status, 403);
    const ok = await call("POST", "/v1/revocations", { tokenName: "admin", body });
    assert.equal(ok.status, 200, ok.text);
    const r = await scan({ qr: fx.present("revoked_admin"), staffId: "staff-7" });
    assert.equal(r.json.result, "revoked");
  });
});

describe("staff tokens", () => {
  const unauthorised = ["expired", "alg_none", "hs256_public_key", "forged", "wrong_audience", "unknown_kid", "too_long"];

  test("no token is 401 unauthorised", async () => {
    const r = await call("POST", "/v1/scan", { body: { qr: fx.present("unauth"), gate_id: "A", scan_id: "no-token-1" } });
    // Not in the audit trail: an unauthenticated request writes nothing (see door.test.mjs).
    unaudited.push("no-token-1");
    assert.equal(r.status, 401);
    assert.equal(r.type, "application/problem+json");
    assert.equal(r.json.result, "unauthorised");
    assert.equal(r.json.type, "urn:karcis:problem:unauthorised");
  });

  for (const name of unauthorised) {
    test(`a token that is ${name} is 401`, async () => {
      const r = await scan({ qr: fx.present("unauth"), tokenName: name, scanId: `bad-token-${name}`, audited: false });
      unaudited.push(`bad-token-${name}`);
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.result, "unauthorised");
    });
  }

  test("a malformed authorization header is 401", async () => {
    for (const raw of ["", "x", "a.b", "a.b.c"]) {
      const r = await call("POST", "/v1/scan", { rawToken: raw, body: { qr: "x", gate_id: "A", scan_id: "m" } });
      assert.equal(r.status, 401, `token ${JSON.stringify(raw)}`);
    }
  });

  test("finance may not scan (403); nor staff outside their event or gates", async () => {
    const finance = await scan({ qr: fx.present("forbidden"), tokenName: "finance", staffId: "fin-1" });
    assert.equal(finance.status, 403);
    assert.equal(finance.json.result, "forbidden");
    assert.equal(finance.json.detail, "role_may_not_scan");
    const otherEvent = await scan({ qr: fx.present("forbidden"), tokenName: "other_event_staff", eventId: "evt-a", staffId: "staff-b" });
    assert.equal(otherEvent.status, 403);
    const otherGate = await scan({ qr: fx.present("forbidden"), gate: "C", staffId: "staff-7" });
    assert.equal(otherGate.status, 403);
    assert.equal(otherGate.json.detail, "gate_not_in_token");
    // None of them admitted the ticket.
    assert.equal((await scan({ qr: fx.present("forbidden"), staffId: "staff-7" })).json.result, "admitted");
  });
});

describe("bad input changes nothing", () => {
  /** Every page of evt-a's audit listing, as text (bounded walk). */
  async function auditListing() {
    const pages = [];
    let after = 0;
    for (let i = 0; i < 100; i++) {
      const r = await call("GET", `/v1/audit?event_id=evt-a&after=${after}&limit=1000`, { tokenName: "admin" });
      assert.equal(r.status, 200, r.text);
      pages.push(r.text);
      if (r.json.next_after == null) return pages;
      after = r.json.next_after;
    }
    throw new Error("audit listing did not end");
  }

  test("bodies that are not a scan get a 400 problem, and neither the audit nor the door changes", async () => {
    const before = await auditListing();
    for (const rawBody of ["not json", "{}", '{"qr":"x","gate_id":"A","scan_id":"s","x":1}', '{"qr":"x","gate_id":"A B","scan_id":"s"}']) {
      const r = await call("POST", "/v1/scan", { tokenName: "staff", rawBody });
      assert.equal(r.status, 400, rawBody);
      assert.equal(r.type, "application/problem+json");
      assert.equal(r.json.type, "urn:karcis:problem:invalid_request");
    }
    const gps = await call("POST", "/v1/scan", { tokenName: "staff", body: { qr: "x", gate_id: "A", scan_id: "s", gps: { lat: 95, lon: 0 } } });
    assert.equal(gps.status, 400);
    const big = await call("POST", "/v1/scan", { tokenName: "staff", rawBody: JSON.stringify({ qr: "x".repeat(20000), gate_id: "A", scan_id: "s" }) });
    assert.equal(big.status, 413);
    const unknownEvent = await call("POST", "/v1/scan", { tokenName: "admin", body: { qr: "x", gate_id: "A", scan_id: "s", event_id: "evt-zzz" } });
    assert.equal(unknownEvent.status, 404);
    const route = await call("GET", "/v1/nope");
    assert.equal(route.status, 404);
    const method = await call("GET", "/v1/scan");
    assert.equal(method.status, 405);
    // A well-formed scan of a real code with a bad field (the gate) is refused before the door:
    // nothing in the audit, and the ticket still admits once.
    const badGate = await call("POST", "/v1/scan", { tokenName: "staff", body: { qr: fx.present("bench"), gate_id: "A B", scan_id: "bad-gate-1" } });
    assert.equal(badGate.status, 400);
    assert.deepEqual(await auditListing(), before);
    const ok = await scan({ qr: fx.present("bench"), staffId: "staff-7" });
    assert.equal(ok.json.result, "admitted", ok.text);
  });
});

describe("offline scanning", () => {
  test("the offline bundle is signed, short-lived and holds no signing key", async () => {
    assert.equal((await call("GET", "/v1/offline-bundle?event_id=evt-a")).status, 401);
    assert.equal((await call("GET", "/v1/offline-bundle?event_id=evt-a", { tokenName: "finance" })).status, 403);
    const r = await call("GET", "/v1/offline-bundle?event_id=evt-a", { tokenName: "staff" });
    assert.equal(r.status, 200, r.text);
    const key = await webcrypto.subtle.importKey("raw", Buffer.from(r.json.signing_public_key, "hex"), { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const ok = await webcrypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, Buffer.from(r.json.signature, "base64url"), Buffer.from(r.json.bundle));
    assert.ok(ok, "bundle signature verifies");
    const altered = await webcrypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, Buffer.from(r.json.signature, "base64url"), Buffer.from(r.json.bundle.replace("evt-a", "evt-b")));
    assert.ok(!altered);
    const bundle = JSON.parse(r.json.bundle);
    assert.equal(bundle.event_id, "evt-a");
    assert.deepEqual(bundle.keys.map((k) => k.kid), [1]);
    assert.equal(bundle.keys[0].qr_key.length, 64);
    assert.equal(bundle.keys[0].issuer_public_key.length, 130);
    assert.ok(bundle.expires_at - bundle.issued_at <= 4 * 3600);
    assert.ok(bundle.revoked.includes(fx.data.tickets.revoked_kv.ticket_id));
    assert.ok(bundle.revoked.includes(fx.data.tickets.revoked_admin.ticket_id));
    assert.doesNotMatch(r.json.bundle, /secret|private|signing_key/i);
    assert.ok(!r.json.bundle.includes(fx.data.secrets.BUNDLE_SIGNING_KEY), "the bundle key's private scalar");
  });

  test("sync admits queued scans once and reports conflicts; a retried sync changes nothing", async () => {
    // Admitted online at gate B while the offline scanner admitted it provisionally too.
    const online = await scan({ qr: fx.present("offline_conflict"), gate: "B", tokenName: "staff2", staffId: "staff-9" });
    assert.equal(online.json.result, "admitted");
    // The scanner held a bundle when it scanned (a synced scan must fall inside one).
    assert.equal((await call("GET", "/v1/offline-bundle?event_id=evt-a", { tokenName: "staff" })).status, 200);
    const scannedAt = Date.now() - 20_000;
    const [c1, c2, c3] = fx.presentMany(["offline_1", "offline_2", "offline_conflict"], 20);
    const body = {
      event_id: "evt-a",
      scans: [
        { scan_id: "off-1", qr: c1, gate_id: "A", scanned_at_ms: scannedAt, local_result: "admitted", gps: GPS },
        { scan_id: "off-2", qr: c2, gate_id: "A", scanned_at_ms: scannedAt, local_result: "admitted" },
        { scan_id: "off-3", qr: c3, gate_id: "A", scanned_at_ms: scannedAt, local_result: "admitted" },
      ],
    };
    const r = await call("POST", "/v1/sync", { tokenName: "staff", body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x) => x.result), ["admitted", "admitted", "already_admitted"]);
    assert.equal(r.json.conflicts.length, 1);
    assert.equal(r.json.conflicts[0].scan_id, "off-3");
    assert.equal(r.json.conflicts[0].result, "already_admitted");
    body.scans.forEach((s, i) =>
      attempts.push({ scan_id: s.scan_id, gate: "A", staffId: "staff-7", offline: true, result: r.json.results[i].result }),
    );

    const again = await call("POST", "/v1/sync", { tokenName: "staff", body });
    assert.deepEqual(again.json.results.map((x) => [x.result, x.replayed]), [["admitted", true], ["admitted", true], ["already_admitted", true]]);
    assert.equal(again.json.conflicts.length, 1);

    const bad = await call("POST", "/v1/sync", { tokenName: "staff", body: { event_id: "evt-a", scans: [{ scan_id: "x", qr: c1, gate_id: "A" }] } });
    assert.equal(bad.status, 400);
  });
});

describe("audit trail", () => {
  /** Every page (of `limit`), and the verification of all of them: each page verifies
   *  against the previous page's last hash. */
  async function listAudit(limit = 1000) {
    const entries = [];
    let after = 0;
    let previous = "00".repeat(32);
    const chain = { valid: true, checked: 0, first_bad_seq: undefined };
    for (let page = 0; page < 1000; page++) {
      const r = await call("GET", `/v1/audit?event_id=evt-a&after=${after}&limit=${limit}`, { tokenName: "admin" });
      assert.equal(r.status, 200, r.text);
      entries.push(...r.json.entries);
      assert.equal(r.json.chain.previous, previous);
      chain.checked += r.json.chain.checked;
      if (!r.json.chain.valid && chain.valid) {
        chain.valid = false;
        chain.first_bad_seq = r.json.chain.first_bad_seq;
      }
      if (r.json.entries.length) previous = r.json.entries.at(-1).hash;
      if (r.json.next_after == null) break;
      after = r.json.next_after;
    }
    return { entries, chain };
  }

  test("only an admin of the event reads it", async () => {
    assert.equal((await call("GET", "/v1/audit?event_id=evt-a")).status, 401);
    assert.equal((await call("GET", "/v1/audit?event_id=evt-a", { tokenName: "staff" })).status, 403);
    assert.equal((await call("GET", "/v1/audit", { tokenName: "admin" })).status, 400);
  });

  test("every attempt has an entry with staff, gate, time, GPS and result, and the chain verifies", async () => {
    const { entries, chain } = await listAudit();
    assert.equal(chain.valid, true);
    assert.equal(chain.checked, entries.length);
    assert.equal(verifyChainLocally(entries), null);
    const byScan = new Map(entries.map((e) => [`${e.entry.staff_id}/${e.entry.scan_id}`, e.entry]));
    const missing = [];
    for (const a of attempts) {
      const e = byScan.get(`${a.staffId}/${a.scan_id}`);
      if (!e) {
        missing.push(a);
        continue;
      }
      assert.equal(e.gate_id, a.gate);
      assert.equal(e.event_id, "evt-a");
      assert.ok(a.result, `${a.scan_id}: the test recorded no expected result`);
      assert.equal(e.result, a.result, `${a.scan_id}`);
      assert.ok(Math.abs(e.at_ms - Date.now()) < 10 * 60_000);
      if (a.offline) assert.equal(e.offline, true);
    }
    assert.deepEqual(missing, []);
    assert.deepEqual(entries.filter((e) => unaudited.includes(e.entry.scan_id)), []);
    assert.ok(entries.every((e) => e.entry.staff_id !== null), "an entry without a staff member");
    const main = entries.find((e) => e.entry.ticket_id === fx.data.tickets.main.ticket_id && e.entry.result === "admitted").entry;
    assert.deepEqual(main.gps, { acc_m: 8, lat_e6: -6175392, lon_e6: 106827153 });
    assert.equal(main.staff_id, "staff-7");
    assert.equal(main.role, "staff");
    // Replays left no second entry.
    assert.equal(entries.filter((e) => e.entry.scan_id === "retry-1").length, 1);
  });

  test("altering one stored entry breaks verification at that entry", async () => {
    const before = await listAudit();
    const target = before.entries.find((e) => e.entry.result === "already_admitted");
    const t = await call("POST", "/v1/_test/tamper", { tokenName: "admin", body: { event_id: "evt-a", seq: target.seq, result: "admitted" } });
    assert.equal(t.status, 200, t.text);
    const after = await listAudit();
    assert.equal(after.chain.valid, false);
    // Paged finely, the page holding it is the one that fails, at that entry.
    const paged = await listAudit(5);
    assert.equal(paged.chain.first_bad_seq, target.seq);
    assert.equal(after.chain.first_bad_seq, target.seq);
    assert.equal(verifyChainLocally(after.entries), target.seq);
    // Entries before it still verify on their own.
    assert.equal(verifyChainLocally(after.entries.filter((e) => e.seq < target.seq)), null);
  });
});
