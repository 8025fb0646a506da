// An event's key rotation at the door (admin rotate-event-keys writes EVENT_KEYS with the old kid's
// "not_after"): a code of a key set past its not_after is refused as an unknown key and the
// offline bundle leaves the key set out; before it (the grace period) the code still admits.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";

let fx;

before(() => {
  fx = makeFixture();
});

after(() => fx?.cleanup());

/** The fixture's EVENT_KEYS with evt-a's key sets ending at `notAfter`. */
function keysEnding(notAfter) {
  const doc = JSON.parse(fx.data.secrets.EVENT_KEYS);
  for (const e of doc.events) if (e.event_id === "evt-a") e.not_after = notAfter;
  return JSON.stringify(doc);
}

async function withWorker(eventKeys, f) {
  const w = await startWorker(fx, { EVENT_KEYS: eventKeys });
  try {
    return await f(w.url);
  } finally {
    await w.mf.dispose();
  }
}

async function scanAndBundle(base, scanId) {
  const bearer = fx.data.tokens.staff;
  const scan = await request(base, "POST", "/v1/scan", {
    bearer,
    body: { qr: fx.present("main"), gate_id: "A", scan_id: scanId },
  });
  assert.equal(scan.status, 200, scan.text);
  const bundle = await request(base, "GET", "/v1/offline-bundle?event_id=evt-a", { bearer });
  return { scan: scan.json, bundle };
}

test("a rotated-out key set admits during its grace period", async () => {
  const future = Math.floor(Date.now() / 1000) + 3600;
  const { scan, bundle } = await withWorker(keysEnding(future), (base) => scanAndBundle(base, "rot-1"));
  assert.equal(scan.result, "admitted", JSON.stringify(scan));
  assert.equal(bundle.status, 200, bundle.text);
});

test("after its not_after the door refuses the key set's codes and bundles leave it out", async () => {
  const past = Math.floor(Date.now() / 1000) - 1;
  const { scan, bundle } = await withWorker(keysEnding(past), (base) => scanAndBundle(base, "rot-2"));
  assert.equal(scan.result, "invalid", JSON.stringify(scan));
  assert.equal(scan.detail, "unknown_key", JSON.stringify(scan));
  // evt-a has no other key set: no bundle at all.
  assert.equal(bundle.status, 404, bundle.text);
});
