// A re-issued credential retires the old one ("The door" issue, item 7), the path the back end
// takes: after a printed ticket is bound to a phone, the revoke function sends the re-issue time
// with its machine credential (`KarcisRevoker`, `not_issued_before`). Attack: the old printed
// static code, scanned online and offline after the binding, must be refused with a stable
// reason (`revoked`, detail `superseded` online; `superseded` from the offline verifier, shown as
// revoked). Against the release .wasm in workerd (Miniflare API) on 127.0.0.1, with static codes
// allowed (the events where a printed code exists).
import assert from "node:assert/strict";
import { createHmac, randomBytes, webcrypto } from "node:crypto";
import { after, before, describe, test } from "node:test";
import * as tf from "../../web/shared/ticket-format.js";
import { makeFixture, request, startWorker } from "./harness.mjs";

const KEY = randomBytes(32).toString("hex");
let fx;
let worker;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx, { REVOKER_KEY: KEY, ACCEPT_STATIC: "true" });
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);
const call = (method, path, { token, body } = {}) => request(worker.url, method, path, { bearer: token, body });
const tok = (name) => fx.data.tokens[name];

/** What the revoke function sends (functions/src/edge_client.rs `retire`). */
function retire(ticket, line) {
  const rawBody = JSON.stringify({ event_id: "evt-a", ticket_id: ticket.ticket_id, reason: "reissued", not_issued_before: line });
  const t = now();
  const mac = createHmac("sha256", Buffer.from(KEY, "hex")).update(`karcis-revoke.v1\n${t}\n`).update(rawBody).digest("hex");
  return request(worker.url, "POST", "/v1/revocations", { rawBody, headers: { authorization: `KarcisRevoker t=${t},v1=${mac}` } });
}

/** The scanner's offline check (web/scanner/scanner.js openBundle + checkOffline) on a bundle. */
async function checkOffline(bundleText, qr) {
  const b = JSON.parse(bundleText);
  const ring = new Map(b.keys.map((k) => [k.kid, { eventId: b.event_id, issuerPublicKey: tf.hexToBytes(k.issuer_public_key), qrKey: tf.hexToBytes(k.qr_key) }]));
  const policy = { eventId: b.event_id, gate: "A", acceptStatic: b.accept_static, freshnessSecs: b.freshness_secs,
    revoked: new Set(b.revoked), notIssuedBefore: new Map(Object.entries(b.not_issued_before ?? {})) };
  try {
    await tf.verifyQr(qr, now(), ring, policy, webcrypto.subtle);
    return "ok";
  } catch (e) {
    if (!(e instanceof tf.Rejection)) throw e;
    return e.code;
  }
}

describe("after a device binding, the old printed code is retired", () => {
  test("the machine credential may not set a line in the future", async () => {
    const r = await retire(fx.data.tickets.reprint_new, now() + 3600);
    assert.equal(r.status, 400, r.text);
  });

  test("the revoke function's retirement: the old static code is refused online, offline and at sync; the phone's code admits", async () => {
    const [old, bound] = [fx.data.tickets.reprint_old, fx.data.tickets.reprint_new];
    assert.equal(old.ticket_id, bound.ticket_id);
    assert.equal(old.device_key_hex, null, "the old credential is a printed (static) one");
    const oldQr = fx.present("reprint_old");
    assert.ok(oldQr.startsWith("KC1:"));

    const r = await retire(bound, bound.issued_at);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.not_issued_before, bound.issued_at);
    assert.equal(r.json.revoked, false, "a retirement, not a revocation of the ticket");

    // Offline: the bundle carries the line, and the scanner's verifier refuses the old code.
    const b = await call("GET", "/v1/offline-bundle?event_id=evt-a", { token: tok("staff") });
    assert.equal(b.status, 200, b.text);
    const bundle = JSON.parse(b.json.bundle);
    assert.equal(bundle.accept_static, true);
    assert.deepEqual(bundle.not_issued_before, { [bound.ticket_id]: bound.issued_at });
    assert.ok(!bundle.revoked.includes(bound.ticket_id));
    assert.equal(await checkOffline(b.json.bundle, oldQr), "superseded");
    assert.equal(tf.resultForRejection("superseded"), "revoked");
    assert.equal(await checkOffline(b.json.bundle, fx.present("reprint_new")), "ok");

    // Online: refused with the stable reason, recorded, and nothing admitted.
    const online = await call("POST", "/v1/scan", { token: tok("staff"), body: { qr: oldQr, gate_id: "A", scan_id: "reprint-1" } });
    assert.equal(online.status, 200, online.text);
    assert.equal(online.json.result, "revoked", online.text);
    assert.equal(online.json.detail, "superseded");

    // A scanner that admitted it offline before it had the line: the sync refuses it.
    const synced = await call("POST", "/v1/sync", { token: tok("staff"), body: { event_id: "evt-a", scans: [
      { scan_id: "reprint-2", qr: oldQr, gate_id: "A", scanned_at_ms: Date.now() - 5000, local_result: "admitted" },
    ] } });
    assert.equal(synced.status, 200, synced.text);
    assert.equal(synced.json.results[0].result, "revoked", synced.text);
    assert.equal(synced.json.results[0].detail, "superseded");
    assert.equal(synced.json.conflicts.length, 1);

    // The same retirement again (a redelivered message) changes nothing; the phone's code admits.
    assert.equal((await retire(bound, bound.issued_at)).status, 200);
    const phone = await call("POST", "/v1/scan", { token: tok("staff"), body: { qr: fx.present("reprint_new"), gate_id: "A", scan_id: "reprint-3" } });
    assert.equal(phone.json.result, "admitted", phone.text);
  });
});
