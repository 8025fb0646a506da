// The back end's machine credential (`KarcisRevoker`, edge-worker/src/revoker.rs) against the
// release .wasm in workerd on 127.0.0.1: it revokes whole tickets and retires re-issued
// tickets' older credentials, and nothing else.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";

const KEY = randomBytes(32).toString("hex");
let fx;
let worker;
let counter = 0;

before(async () => {
  fx = makeFixture();
  worker = await startWorker(fx, { REVOKER_KEY: KEY });
});

after(async () => {
  await worker?.mf.dispose();
  fx?.cleanup();
});

const now = () => Math.floor(Date.now() / 1000);

/** The header the revoke function sends: HMAC-SHA256 of label, time and raw body. */
function credential(rawBody, { key = KEY, t = now() } = {}) {
  const mac = createHmac("sha256", Buffer.from(key, "hex"))
    .update(`karcis-revoke.v1\n${t}\n`)
    .update(rawBody)
    .digest("hex");
  return `KarcisRevoker t=${t},v1=${mac}`;
}

const machine = (method, path, rawBody, options) =>
  request(worker.url, method, path, {
    rawBody,
    headers: { authorization: credential(rawBody ?? "", options) },
  });

/** As `machine`, sent again (at most 3 times) when the connection drops: the worker answers
 *  401 before reading a body, and workerd may then close the connection under the client. */
async function machineAnswer(method, path, rawBody) {
  let lastError;
  for (let i = 0; i < 3; i++) {
    try {
      return await machine(method, path, rawBody);
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

async function scan(name) {
  const body = { qr: fx.present(name), gate_id: "A", scan_id: `revoker-${++counter}` };
  return request(worker.url, "POST", "/v1/scan", { bearer: fx.data.tokens.staff, body });
}

const revocation = (name, extra = {}) =>
  JSON.stringify({ event_id: "evt-a", ticket_id: fx.data.tickets[name].ticket_id, reason: "refund", ...extra });

describe("the revoker credential", () => {
  test("a wrong key, a stale or future time, an edited body: 401 and nothing revoked", async () => {
    const body = revocation("retry");
    const attempts = [
      machine("POST", "/v1/revocations", body, { key: randomBytes(32).toString("hex") }),
      machine("POST", "/v1/revocations", body, { t: now() - 301 }),
      // A minute beyond the 300 s window: the worker reads its clock later than this line, so a
      // time only 1 s ahead fell inside the window once the machine was loaded (seen: 200).
      machine("POST", "/v1/revocations", body, { t: now() + 360 }),
      // Signed for one ticket, sent naming another.
      request(worker.url, "POST", "/v1/revocations", {
        rawBody: revocation("retry"),
        headers: { authorization: credential(revocation("main")) },
      }),
    ];
    for (const r of await Promise.all(attempts)) assert.equal(r.status, 401, r.text);
    assert.equal((await scan("retry")).json.result, "admitted");
  });

  test("revokes a whole ticket: the door then refuses it as revoked", async () => {
    const r = await machine("POST", "/v1/revocations", revocation("main"));
    assert.equal(r.status, 200, r.text);
    const refused = await scan("main");
    assert.equal(refused.json.result, "revoked", refused.text);
  });

  test("retires a re-issued ticket's older credentials, never with a line in the future", async () => {
    const t = fx.data.tickets.audit;
    const future = await machine("POST", "/v1/revocations", revocation("audit", { not_issued_before: now() + 3600 }));
    assert.equal(future.status, 400, future.text);
    // A line at the credential's own issued_at leaves it valid (only older ones are retired).
    const r = await machine("POST", "/v1/revocations", revocation("audit", { not_issued_before: t.issued_at }));
    assert.equal(r.status, 200, r.text);
    assert.equal((await scan("audit")).json.result, "admitted");
  });

  test("cannot scan, sync, download an offline bundle or read the audit", async () => {
    const scanBody = JSON.stringify({ qr: fx.present("gps"), gate_id: "A", scan_id: `revoker-${++counter}` });
    const syncBody = JSON.stringify({ event_id: "evt-a", scans: [] });
    const answers = [];
    for (const [method, path, body] of [
      ["POST", "/v1/scan", scanBody],
      ["POST", "/v1/sync", syncBody],
      ["GET", "/v1/offline-bundle?event_id=evt-a&gate_id=A"],
      ["GET", "/v1/audit?event_id=evt-a"],
    ]) {
      answers.push(await machineAnswer(method, path, body));
    }
    for (const r of answers) assert.equal(r.status, 401, `${r.status} ${r.text}`);
    // The code it tried to scan was not admitted by that attempt.
    assert.equal((await scan("gps")).json.result, "admitted");
  });
});

describe("without REVOKER_KEY the scheme is off", () => {
  test("a well-formed credential is refused and nothing is revoked", async () => {
    const off = await startWorker(fx, { REVOKER_KEY: undefined });
    try {
      const body = revocation("offline_1");
      const r = await request(off.url, "POST", "/v1/revocations", { rawBody: body, headers: { authorization: credential(body) } });
      assert.equal(r.status, 401, r.text);
      const s = await request(off.url, "POST", "/v1/scan", {
        bearer: fx.data.tokens.staff,
        body: { qr: fx.present("offline_1"), gate_id: "A", scan_id: `revoker-${++counter}` },
      });
      assert.equal(s.json.result, "admitted", s.text);
    } finally {
      await off.mf.dispose();
    }
  });
});
