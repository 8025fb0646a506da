// Device-bound door tokens (issue 13; edge-worker/src/dpop.rs, proofs.rs): a copied token is
// useless without the scanner's key. Against the release .wasm in workerd (Miniflare API) on
// 127.0.0.1, with ALLOW_UNBOUND_DOOR_TOKENS "false" as wrangler.toml ships.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";
import { deviceKey, mintDoorToken, nowSecs, proof } from "./dpop-lib.mjs";

/** The deny-list window the README states (STAFF_REVOCATION_CACHE_MS, at most 5 s). */
const REVOCATION_WINDOW_MS = 5000;

let fx;
let worker;
let counter = 0;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx, { ALLOW_UNBOUND_DOOR_TOKENS: "false", ALLOW_UNSIGNED_SYNC: "false" });
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const url = (path) => new URL(path, worker.url).toString();
const scanBody = () => ({ qr: fx.present("main"), gate_id: "A", scan_id: `dp-${++counter}`, event_id: "evt-a" });

/** A bound scan: token + a proof made by `key` (or the given proof, or none). */
function scan(token, dpop, body = scanBody()) {
  return request(worker.url, "POST", "/v1/scan", { bearer: token, body, headers: dpop === undefined ? {} : { dpop } });
}

const scanProof = (key, token, extra = {}) => proof(key, { htm: "POST", htu: url("/v1/scan"), token, ...extra });

function refusedWith(r, type, detail) {
  assert.equal(r.status, 401, r.text);
  assert.match(r.type ?? "", /problem\+json/);
  assert.equal(r.json.type, `urn:karcis:problem:${type}`, r.text);
  if (detail) assert.match(r.json.detail, detail);
}

describe("device-bound door tokens", () => {
  test("the bound token with a proof by its key scans; each request needs a new proof", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d1", jkt: key.jkt });
    const ok = await scan(token, scanProof(key, token));
    assert.equal(ok.status, 200, ok.text);
    const again = await scan(token, scanProof(key, token));
    assert.equal(again.status, 200, again.text);
    // The bundle route and its method too (GET), with the proof's htu carrying no query.
    const bundle = await request(worker.url, "GET", "/v1/offline-bundle?event_id=evt-a", {
      bearer: token,
      headers: { dpop: proof(key, { htm: "GET", htu: url("/v1/offline-bundle"), token }) },
    });
    assert.equal(bundle.status, 200, bundle.text);
    // An offline shift outlives the 15-minute token: the bundle keeps OFFLINE_BUNDLE_TTL_SECS.
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
    const expiresAt = JSON.parse(bundle.json.bundle).expires_at;
    assert.ok(expiresAt > claims.exp + 3000, `bundle until ${expiresAt}, token until ${claims.exp}`);
  });

  test("a copied token: without the key, or with a proof made by another device's key, refused", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d2", jkt: key.jkt });
    refusedWith(await scan(token), "dpop_proof_required");
    const thief = deviceKey();
    refusedWith(await scan(token, scanProof(thief, token)), "invalid_dpop_proof", /dpop_key_mismatch/);
    // The victim's public key in the header, signed by the thief's key.
    refusedWith(await scan(token, scanProof(key, token, { signer: thief })), "invalid_dpop_proof", /invalid_dpop_proof/);
    // The thief cannot register its own key for the token either.
    const reg = await request(worker.url, "POST", "/v1/devices", {
      bearer: token,
      headers: { dpop: proof(key, { htm: "POST", htu: url("/v1/devices"), token }) },
      body: { device_id: "thief-1", public_key: Buffer.concat([Buffer.from([4]), Buffer.from(thief.jwk.x, "base64url"), Buffer.from(thief.jwk.y, "base64url")]).toString("hex") },
    });
    assert.equal(reg.status, 409, reg.text);
    // Garbage in the header: refused, nothing admitted.
    refusedWith(await scan(token, "not.a.proof"), "invalid_dpop_proof");
    assert.equal((await scan(token, scanProof(key, token))).status, 200);
  });

  test("a bound token living longer than an hour is refused, even signed", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d9", jkt: key.jkt, ttl: 3601 });
    const r = await scan(token, scanProof(key, token));
    assert.equal(r.status, 401, r.text);
    assert.match(r.json.detail, /token_lifetime_too_long/);
    const hour = mintDoorToken(fx, { sub: "staff-d9", jkt: key.jkt, ttl: 3600 });
    assert.equal((await scan(hour.token, scanProof(key, hour.token))).status, 200);
  });

  test("an unbound token is refused while ALLOW_UNBOUND_DOOR_TOKENS is false", async () => {
    refusedWith(await scan(fx.data.tokens.staff), "unbound_token");
    const { token } = mintDoorToken(fx, { sub: "staff-d3" });
    const key = deviceKey();
    refusedWith(await scan(token, scanProof(key, token)), "unbound_token");
  });

  test("a replayed proof is refused, and a burst of one proof passes exactly once", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d4", jkt: key.jkt });
    const p = scanProof(key, token);
    assert.equal((await scan(token, p)).status, 200);
    refusedWith(await scan(token, p), "invalid_dpop_proof", /dpop_proof_replayed/);
    const burst = scanProof(key, token);
    const answers = await Promise.all(Array.from({ length: 24 }, () => scan(token, burst)));
    const passed = answers.filter((r) => r.status === 200);
    assert.equal(passed.length, 1, answers.map((r) => r.status).join());
    for (const r of answers.filter((r) => r.status !== 200)) refusedWith(r, "invalid_dpop_proof", /dpop_proof_replayed/);
  });

  test("a proof for another route, method or token is refused", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d5", jkt: key.jkt });
    const other = mintDoorToken(fx, { sub: "staff-d5", jkt: key.jkt });
    refusedWith(await scan(token, proof(key, { htm: "POST", htu: url("/v1/sync"), token })), "invalid_dpop_proof", /dpop_wrong_request/);
    refusedWith(await scan(token, proof(key, { htm: "GET", htu: url("/v1/scan"), token })), "invalid_dpop_proof", /dpop_wrong_request/);
    refusedWith(await scan(token, scanProof(key, other.token)), "invalid_dpop_proof", /dpop_wrong_request/);
    // Another host name for the same route counts (the path is compared, see README).
    assert.equal((await scan(token, proof(key, { htm: "POST", htu: "https://door.example.id/v1/scan", token }))).status, 200);
  });

  test("an expired or future iat is refused", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d6", jkt: key.jkt });
    refusedWith(await scan(token, scanProof(key, token, { iat: nowSecs() - 120 })), "invalid_dpop_proof", /dpop_proof_stale/);
    refusedWith(await scan(token, scanProof(key, token, { iat: nowSecs() + 120 })), "invalid_dpop_proof", /dpop_proof_stale/);
    refusedWith(await scan(token, scanProof(key, token, { header: { typ: "JWT" } })), "invalid_dpop_proof");
    refusedWith(await scan(token, scanProof(key, token, { header: { alg: "none" } })), "invalid_dpop_proof");
  });

  test("deactivating the member refuses its next scan within the deny-list window", async () => {
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d7", jkt: key.jkt });
    assert.equal((await scan(token, scanProof(key, token))).status, 200);
    const warmEnd = Date.now();
    // The back end's deactivation as another isolate writes it: straight to the deny-list object.
    const ns = await worker.mf.getDurableObjectNamespace("STAFF_REVOCATIONS");
    const written = await ns.get(ns.idFromName("global")).fetch("https://staff/revoke", {
      method: "POST",
      body: JSON.stringify({ jti: null, sub: "staff-d7", not_before: nowSecs() + 1, reason: "deactivated", by: "test", at_ms: Date.now() }),
    });
    assert.equal(written.status, 200, await written.text());
    const polls = [];
    // Bounded: at most 60 polls, 250 ms apart, far beyond the window.
    for (let i = 0; i < 60; i++) {
      const sentAt = Date.now();
      const r = await scan(token, scanProof(key, token));
      polls.push({ sentAt, status: r.status, detail: r.json?.detail });
      if (r.status === 401) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.equal(polls.at(-1).status, 401, "the deactivation never reached this isolate");
    assert.match(polls.at(-1).detail, /revoked_token/);
    assert.deepEqual(polls.filter((p) => p.sentAt > warmEnd + REVOCATION_WINDOW_MS && p.status !== 401), []);
  });

  test("the back end's deactivation route takes a bound admin token with its proof", async () => {
    const adminKey = deviceKey();
    const admin = mintDoorToken(fx, { sub: "ops-d", role: "admin", events: ["*"], jkt: adminKey.jkt });
    const key = deviceKey();
    const { token } = mintDoorToken(fx, { sub: "staff-d8", jkt: key.jkt });
    assert.equal((await scan(token, scanProof(key, token))).status, 200);
    const body = { sub: "staff-d8", not_before: nowSecs() + 1, reason: "deactivated" };
    refusedWith(await request(worker.url, "POST", "/v1/staff-revocations", { bearer: admin.token, body }), "dpop_proof_required");
    const r = await request(worker.url, "POST", "/v1/staff-revocations", {
      bearer: admin.token,
      body,
      headers: { dpop: proof(adminKey, { htm: "POST", htu: url("/v1/staff-revocations"), token: admin.token }) },
    });
    assert.equal(r.status, 200, r.text);
    // Same isolate: at once.
    const next = await scan(token, scanProof(key, token));
    assert.equal(next.status, 401, next.text);
    assert.match(next.json.detail, /revoked_token/);
  });
});
