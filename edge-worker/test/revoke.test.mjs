// Stolen staff tokens ("The door" issue, item 3): a door token is a bearer credential of up to
// 12 h. Revoking it (by its `jti`) or its holder (by staff id, as deactivation does) must shut
// scan, sync, offline bundle, audit and the revocation routes within the stated window
// (REVOCATION_WINDOW_MS: the per-isolate cache of the deny-list), while other tokens keep
// working and a token issued after a staff id's revocation (a re-activated member) works.
// Against the release .wasm in workerd (Miniflare API) on 127.0.0.1.
import assert from "node:assert/strict";
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";

/** The guarantee stated in the README: a revocation reaches every isolate within 5 s. */
const REVOCATION_WINDOW_MS = 5000;

let fx;
let worker;
let signer;
let counter = 0;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx);
  signer = createPrivateKey({ key: fx.data.staff_signer_jwk, format: "jwk" });
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const nowSecs = () => Math.floor(Date.now() / 1000);

/** A door token signed by the fixture's staff signer (ES256, JOSE r || s). */
function mint({ sub, role = "staff", events = ["evt-a"], gates = ["*"], iat = nowSecs() - 60, jti = randomBytes(16).toString("hex"), iss }) {
  const claims = { sub, role, events, gates, aud: fx.data.audience, iss: iss ?? fx.data.issuer, jti, iat, exp: iat + 3600 };
  const input = `${b64({ alg: "ES256", typ: "JWT", kid: "staff-2026-1" })}.${b64(claims)}`;
  const signature = sign("sha256", Buffer.from(input), { key: signer, dsaEncoding: "ieee-p1363" });
  return { token: `${input}.${signature.toString("base64url")}`, jti, sub };
}

const call = (method, path, { token, body } = {}) => request(worker.url, method, path, { bearer: token, body });

/** The statuses of scan, sync and bundle for a door token; audit too for an admin token. */
async function statuses(token, { admin = false } = {}) {
  const qr = fx.present("main");
  const scan = await call("POST", "/v1/scan", { token, body: { qr, gate_id: "A", scan_id: `rv-${++counter}`, event_id: "evt-a" } });
  const sync = await call("POST", "/v1/sync", {
    token,
    body: { event_id: "evt-a", scans: [{ qr, gate_id: "A", scan_id: `rv-${++counter}`, scanned_at_ms: Date.now() - 1000, local_result: "admitted" }] },
  });
  const bundle = await call("GET", "/v1/offline-bundle?event_id=evt-a", { token });
  const out = { scan: scan.status, sync: sync.status, bundle: bundle.status };
  if (admin) out.audit = (await call("GET", "/v1/audit?event_id=evt-a&limit=1", { token })).status;
  return out;
}

const allOk = (admin) => ({ scan: 200, sync: 200, bundle: 200, ...(admin ? { audit: 200 } : {}) });
const all401 = (admin) => ({ scan: 401, sync: 401, bundle: 401, ...(admin ? { audit: 401 } : {}) });

const revoke = (body, token = fx.data.tokens.admin_all) => call("POST", "/v1/staff-revocations", { token, body });

describe("revoking a door token", () => {
  test("by jti: that token gets 401 on every route at once; another token of the same member works", async () => {
    const lost = mint({ sub: "staff-r1" });
    const other = mint({ sub: "staff-r1" });
    const admin = mint({ sub: "admin-r1", role: "admin", events: ["evt-a"] });
    assert.deepEqual(await statuses(lost.token), allOk());
    assert.deepEqual(await statuses(admin.token, { admin: true }), allOk(true));

    for (const jti of [lost.jti, admin.jti]) {
      const r = await revoke({ jti, reason: "lost_phone" });
      assert.equal(r.status, 200, r.text);
    }
    assert.deepEqual(await statuses(lost.token), all401());
    assert.deepEqual(await statuses(admin.token, { admin: true }), all401(true));
    const refused = await call("POST", "/v1/scan", { token: lost.token, body: { qr: fx.present("main"), gate_id: "A", scan_id: `rv-${++counter}` } });
    assert.match(refused.json.detail, /revoked_token/);
    // A revoked admin cannot revoke (or un-revoke) anything either.
    assert.equal((await revoke({ jti: "abc" }, admin.token)).status, 401);
    assert.deepEqual(await statuses(other.token), allOk());
  });

  test("by staff id (deactivation): every earlier token of the member gets 401; one issued after works", async () => {
    const phone = mint({ sub: "staff-r2" });
    const forwarded = mint({ sub: "staff-r2", iat: nowSecs() - 3000 });
    const admin = mint({ sub: "admin-r2", role: "admin", events: ["evt-a"] });
    const bystander = mint({ sub: "staff-r3" });
    for (const t of [phone, forwarded]) assert.deepEqual(await statuses(t.token), allOk());
    assert.deepEqual(await statuses(admin.token, { admin: true }), allOk(true));

    const notBefore = nowSecs();
    for (const sub of ["staff-r2", "admin-r2"]) {
      const r = await revoke({ sub, not_before: notBefore, reason: "deactivated" });
      assert.equal(r.status, 200, r.text);
    }
    for (const t of [phone, forwarded]) assert.deepEqual(await statuses(t.token), all401());
    assert.deepEqual(await statuses(admin.token, { admin: true }), all401(true));
    assert.deepEqual(await statuses(bystander.token), allOk());

    // Re-activated: a token issued at or after the line works; the line never moves back.
    const fresh = mint({ sub: "staff-r2", iat: notBefore });
    assert.deepEqual(await statuses(fresh.token), allOk());
    assert.equal((await revoke({ sub: "staff-r2", not_before: notBefore - 600 })).status, 200);
    assert.deepEqual(await statuses(phone.token), all401());
    assert.deepEqual(await statuses(fresh.token), allOk());
  });

  test("a revocation written by another isolate is enforced here within the window", async () => {
    const t = mint({ sub: "staff-r4" });
    // Warm this isolate's deny-list cache with a list that does not name the token. The cache
    // was filled during this call, so it is stale at the latest WINDOW after it returned.
    assert.equal((await statuses(t.token)).scan, 200);
    const warmEnd = Date.now();
    // Another isolate's write: straight to the staff Durable Object, not through this isolate.
    const ns = await worker.mf.getDurableObjectNamespace("STAFF_REVOCATIONS");
    const stub = ns.get(ns.idFromName("global"));
    const written = await stub.fetch("https://staff/revoke", {
      method: "POST",
      body: JSON.stringify({ jti: t.jti, sub: null, not_before: null, reason: "lost_phone", by: "test", at_ms: Date.now() }),
    });
    assert.equal(written.status, 200, await written.text());
    // Poll; what is asserted does not depend on how fast the machine answers: every scan sent
    // after the window is refused (a slow answer only delays the polls).
    const polls = [];
    // Bounded: at most 60 polls, 250 ms apart (15 s and more), far beyond the window.
    for (let i = 0; i < 60; i++) {
      const sentAt = Date.now();
      const { status } = await call("POST", "/v1/scan", { token: t.token, body: { qr: fx.present("main"), gate_id: "A", scan_id: `rv-${++counter}` } });
      polls.push({ sentAt, status });
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(polls.at(-1).status, 401, "the revocation never reached this isolate");
    const lateAdmits = polls.filter((p) => p.sentAt > warmEnd + REVOCATION_WINDOW_MS && p.status !== 401);
    assert.deepEqual(lateAdmits, [], `accepted after the ${REVOCATION_WINDOW_MS} ms window`);
    assert.deepEqual(await statuses(t.token), all401());
  });

  test("only an admin of every event may revoke, with a valid body", async () => {
    const victim = mint({ sub: "staff-r5" });
    const body = { sub: "staff-r5", not_before: nowSecs() };
    assert.equal((await revoke(body, "x.y.z")).status, 401);
    assert.equal((await call("POST", "/v1/staff-revocations", { body })).status, 401);
    for (const name of ["staff", "admin_a", "admin", "finance"]) {
      const r = await revoke(body, fx.data.tokens[name]);
      assert.equal(r.status, 403, `${name}: ${r.text}`);
    }
    for (const bad of [{}, { jti: "a", sub: "b" }, { jti: "bad jti" }, { sub: "s", not_before: nowSecs() + 3600 }, { jti: "a", extra: 1 }]) {
      const r = await revoke(bad);
      assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
    }
    assert.deepEqual(await statuses(victim.token), allOk());
  });
});

describe("the token's issuer", () => {
  test("a token of another issuer, or of none, is refused though signed by a known key", async () => {
    for (const name of ["wrong_issuer", "no_issuer"]) {
      const r = await call("POST", "/v1/scan", { token: fx.data.tokens[name], body: { qr: fx.present("main"), gate_id: "A", scan_id: `rv-${++counter}` } });
      assert.equal(r.status, 401, `${name}: ${r.text}`);
    }
    const other = mint({ sub: "staff-r6", iss: "someone-else" });
    assert.equal((await statuses(other.token)).scan, 401);
    assert.equal((await statuses(mint({ sub: "staff-r6" }).token)).scan, 200);
  });
});
