// Device-signed offline queues and late entries ("The door" issue, item 2). The scanner makes a
// P-256 key on sign-in and registers it for its staff token (`POST /v1/devices`); each batch sent
// to `/v1/sync` is signed by it (edge-worker/src/devices.rs). Attacks: a stolen token without the
// device key syncs a forged "already admitted" (a provisional admission of someone else's
// ticket); a signed batch edited in transit; a signed batch replayed; a device that never
// registered. A scan synced later than SYNC_LATENESS_SECS after its claimed time is decided as
// any other but flagged `late: true` in the audit trail. Against the release .wasm in workerd
// (Miniflare API) on 127.0.0.1, with ALLOW_UNSIGNED_SYNC "false" as wrangler.toml ships.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker, verifyChainLocally } from "./harness.mjs";

const subtle = webcrypto.subtle;
let fx;
let worker;

let scanner;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx, { ALLOW_UNSIGNED_SYNC: "false", SYNC_LATENESS_SECS: "10" });
  scanner = await newDevice("scanner-1");
  // Both staff members hold a bundle now, so the synced scans below fall inside one.
  for (const name of ["staff", "staff2"]) {
    const b = await call("GET", "/v1/offline-bundle?event_id=evt-a", { token: tok(name) });
    assert.equal(b.status, 200, b.text);
  }
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const call = (method, path, { token, body, rawBody } = {}) => request(worker.url, method, path, { bearer: token, body, rawBody });
const tok = (name) => fx.data.tokens[name];
const hex = (bytes) => Buffer.from(bytes).toString("hex");

/** A device as the scanner makes one (web/scanner/device-key.js). */
async function newDevice(id) {
  const pair = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  return { id, pair, publicKey: hex(new Uint8Array(await subtle.exportKey("raw", pair.publicKey))) };
}

let sequence = 0;
async function sign(device, text) {
  const sig = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, device.pair.privateKey, new TextEncoder().encode(`karcis-sync.v1\n${text}`));
  return Buffer.from(sig).toString("base64url");
}
async function signedBody(device, scans, { deviceId = device.id, seq = ++sequence } = {}) {
  const batch = JSON.stringify({ device_id: deviceId, sequence: seq, event_id: "evt-a", scans });
  return { batch, signature: await sign(device, batch) };
}

/** One queued offline admission of `ticket`, scanned `age` seconds ago. */
const queued = (ticket, age, scanId) => ({ scan_id: scanId, qr: fx.present(ticket, age), gate_id: "A", scanned_at_ms: Date.now() - age * 1000, local_result: "admitted" });
const problemCode = (r) => r.json?.type?.split(":").pop();

describe("device keys are registered once per token", () => {
  test("register, again (same key: 200), another key for the same token: 409; bad input 400; finance 403", async () => {
    const body = { device_id: scanner.id, public_key: scanner.publicKey };
    assert.equal((await call("POST", "/v1/devices", { token: tok("staff"), body })).status, 200);
    assert.equal((await call("POST", "/v1/devices", { token: tok("staff"), body })).status, 200);
    const thief = await newDevice("thief-1");
    const swap = await call("POST", "/v1/devices", { token: tok("staff"), body: { device_id: thief.id, public_key: thief.publicKey } });
    assert.equal(swap.status, 409, swap.text);
    assert.equal((await call("POST", "/v1/devices", { token: tok("staff"), body: { device_id: "x", public_key: "04" + "00".repeat(64) } })).status, 400);
    assert.equal((await call("POST", "/v1/devices", { token: tok("finance"), body })).status, 403);
    assert.equal((await call("POST", "/v1/devices", { body })).status, 401);
  });
});

describe("a synced batch must be signed by the token's device", () => {
  test("a signed batch from the registered device is applied", async () => {
    const r = await call("POST", "/v1/sync", { token: tok("staff"), body: await signedBody(scanner, [queued("offline_1", 2, "dev-1")]) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results[0].result, "admitted", r.text);
  });

  test("a stolen token without the device key cannot plant an admission (unsigned, own key, own device id)", async () => {
    const forged = [queued("main", 20, "forged-1")];
    const unsigned = await call("POST", "/v1/sync", { token: tok("staff"), body: { event_id: "evt-a", scans: forged } });
    assert.equal(unsigned.status, 401, unsigned.text);
    assert.equal(problemCode(unsigned), "batch_signature_required");
    const thief = await newDevice("thief-2");
    const ownDevice = await call("POST", "/v1/sync", { token: tok("staff"), body: await signedBody(thief, forged) });
    assert.equal(ownDevice.status, 401, ownDevice.text);
    assert.equal(problemCode(ownDevice), "device_not_registered");
    const posing = await call("POST", "/v1/sync", { token: tok("staff"), body: await signedBody(thief, forged, { deviceId: scanner.id }) });
    assert.equal(posing.status, 401, posing.text);
    assert.equal(problemCode(posing), "bad_batch_signature");
    // Nothing was admitted: the holder's own scan admits, not "already admitted".
    const online = await call("POST", "/v1/scan", { token: tok("staff2"), body: { qr: fx.present("main"), gate_id: "A", scan_id: "dev-online-1" } });
    assert.equal(online.json.result, "admitted", online.text);
  });

  test("an edited signed batch and a replayed one are refused", async () => {
    const good = await signedBody(scanner, [{ ...queued("offline_2", 3, "dev-2"), local_result: "stale" }]);
    const edited = { ...good, batch: good.batch.replace('"local_result":"stale"', '"local_result":"admitted"') };
    assert.notEqual(edited.batch, good.batch);
    const r = await call("POST", "/v1/sync", { token: tok("staff"), body: edited });
    assert.equal(r.status, 401, r.text);
    assert.equal(problemCode(r), "bad_batch_signature");
    const ok = await call("POST", "/v1/sync", { token: tok("staff"), body: good });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.results[0].result, "stale");
    const replay = await call("POST", "/v1/sync", { token: tok("staff"), body: good });
    assert.equal(replay.status, 401, replay.text);
    assert.equal(problemCode(replay), "batch_replayed");
  });

  test("a token that registered no device: unsigned refused (migration off), signed refused", async () => {
    const scans = [queued("concurrent", 2, "dev-3")];
    const unsigned = await call("POST", "/v1/sync", { token: tok("staff2"), body: { event_id: "evt-a", scans } });
    assert.equal(unsigned.status, 401, unsigned.text);
    assert.equal(problemCode(unsigned), "device_not_registered");
    const signed = await call("POST", "/v1/sync", { token: tok("staff2"), body: await signedBody(scanner, scans) });
    assert.equal(signed.status, 401, signed.text);
    assert.equal(problemCode(signed), "device_not_registered");
  });
});

describe("late synced scans are flagged in the audit trail", () => {
  test("a scan synced 30 s after its claimed time (lateness 10 s) is admitted and flagged late; a prompt one is not", async () => {
    const r = await call("POST", "/v1/sync", { token: tok("staff"), body: await signedBody(scanner, [queued("offline_conflict", 30, "dev-late"), queued("stale", 1, "dev-prompt")]) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results.map((x) => x.result), ["admitted", "admitted"]);
    const audit = await call("GET", "/v1/audit?event_id=evt-a", { token: tok("admin") });
    const entry = (id) => audit.json.entries.find((e) => e.entry.scan_id === id);
    assert.equal(entry("dev-late").entry.late, true);
    assert.match(entry("dev-late").canonical, /"late":true,"offline":true/);
    assert.equal(entry("dev-prompt").entry.late, undefined);
    assert.doesNotMatch(entry("dev-prompt").canonical, /late/);
    assert.equal(audit.json.chain.valid, true);
    assert.equal(verifyChainLocally(audit.json.entries), null);
  });
});
