// Backdated offline scans ("The door" issue, item 2): `/v1/sync` judges a code at the time the
// scanner claims it was scanned. Without a bound, a signed-in staff member (or a stolen token)
// replays a screenshot's code with a claimed time from the screenshot's minute, hours ago. A
// synced scan must fall inside an offline bundle the edge handed to that staff member for that
// event (its issued_at..expires_at, 60 s of clock leeway): otherwise it is refused, recorded in
// the audit trail with its reason, and reported as a conflict. Against the release .wasm in
// workerd (Miniflare API) on 127.0.0.1.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { makeFixture, request, startWorker } from "./harness.mjs";

let fx;
let worker;

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

/** A sync of one scan of `ticket` whose device proof (and claimed scan time) is `age` s old. */
function syncOne(tokenName, ticket, age, scanId) {
  const qr = fx.present(ticket, age);
  const body = { event_id: "evt-a", scans: [{ scan_id: scanId, qr, gate_id: "A", scanned_at_ms: Date.now() - age * 1000, local_result: "admitted" }] };
  return call("POST", "/v1/sync", { token: tok(tokenName), body });
}

describe("a synced scan is bounded by the offline bundles its scanner held", () => {
  test("without any bundle, a scan claimed 50 min ago is refused, audited and reported, not admitted", async () => {
    const r = await syncOne("staff2", "main", 3000, "back-1");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results[0].result, "invalid", r.text);
    assert.equal(r.json.results[0].detail, "no_offline_bundle_at_scan_time");
    assert.equal(r.json.conflicts.length, 1);
    const audit = await call("GET", "/v1/audit?event_id=evt-a", { token: tok("admin") });
    const entry = audit.json.entries.find((e) => e.entry.scan_id === "back-1").entry;
    assert.equal(entry.offline, true);
    assert.equal(entry.detail, "no_offline_bundle_at_scan_time");
    assert.equal(entry.result, "invalid");
    // The ticket itself was not admitted: scanned online now, it admits.
    const online = await call("POST", "/v1/scan", { token: tok("staff"), body: { qr: fx.present("main"), gate_id: "A", scan_id: "back-online-1" } });
    assert.equal(online.json.result, "admitted", online.text);
  });

  test("a bundle fetched now covers scans from now on, not ones claimed before it", async () => {
    const b = await call("GET", "/v1/offline-bundle?event_id=evt-a", { token: tok("staff2") });
    assert.equal(b.status, 200, b.text);
    const early = await syncOne("staff2", "concurrent", 3000, "back-2");
    assert.equal(early.json.results[0].result, "invalid", early.text);
    assert.equal(early.json.results[0].detail, "no_offline_bundle_at_scan_time");
    const recent = await syncOne("staff2", "stale", 5, "back-3");
    assert.equal(recent.json.results[0].result, "admitted", recent.text);
    // Another staff member's bundle covers nobody else.
    const other = await syncOne("staff", "flip", 5, "back-4");
    assert.equal(other.json.results[0].detail, "no_offline_bundle_at_scan_time", other.text);
  });

  test("a refusal made offline is synced into the audit trail as that refusal, and admits nothing", async () => {
    const qr = fx.present("gps", 5);
    const body = { event_id: "evt-a", scans: [{ scan_id: "back-5", qr, gate_id: "A", scanned_at_ms: Date.now() - 5000, local_result: "stale" }] };
    const r = await call("POST", "/v1/sync", { token: tok("staff2"), body });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results[0].result, "stale", r.text);
    assert.equal(r.json.results[0].detail, "refused_offline");
    assert.equal(r.json.conflicts.length, 0);
    const audit = await call("GET", "/v1/audit?event_id=evt-a", { token: tok("admin") });
    const entry = audit.json.entries.find((e) => e.entry.scan_id === "back-5").entry;
    assert.deepEqual([entry.result, entry.detail, entry.offline, entry.staff_id], ["stale", "refused_offline", true, "staff-9"]);
    // Whoever was turned away at the door was not let in by the sync: online the ticket admits.
    const online = await call("POST", "/v1/scan", { token: tok("staff"), body: { qr: fx.present("gps"), gate_id: "A", scan_id: "back-online-5" } });
    assert.equal(online.json.result, "admitted", online.text);
  });
});
