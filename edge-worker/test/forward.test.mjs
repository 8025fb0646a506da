// Audit forwarding: with AUDIT_INGEST_URL set, each event's door forwards its audit entries in
// batches (Durable Object alarm) to the backend's ingest. Here the ingest is a local stub on
// 127.0.0.1 that refuses the first delivery: the door retries, nothing is lost or reordered,
// and the forwarded chain verifies.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { makeFixture, startWorker } from "./harness.mjs";

const INGEST_TOKEN = "ingest-test-token";
let fx;
let server;
let worker;
const deliveries = [];

before(async () => {
  fx = makeFixture();
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const ok = req.headers.authorization === `Bearer ${INGEST_TOKEN}` && req.url === "/ingest";
      deliveries.push({ ok, key: req.headers["idempotency-key"], body: JSON.parse(body) });
      // The first delivery fails, as a backend outage would.
      const status = !ok ? 401 : deliveries.length === 1 ? 503 : 200;
      res.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  worker = await startWorker(fx, {
    AUDIT_INGEST_URL: `http://127.0.0.1:${port}/ingest`,
    AUDIT_INGEST_TOKEN: INGEST_TOKEN,
    AUDIT_FORWARD_RETRY_SECS: "1",
  });
});

after(async () => {
  await worker?.mf.dispose();
  server?.close();
  fx?.cleanup();
});

test("audit entries reach the ingest in order, after a failed delivery, with a valid chain", async () => {
  const names = ["main", "main", "stale", "other_event", "retry"];
  for (const [i, name] of names.entries()) {
    const res = await fetch(new URL("/v1/scan", worker.url), {
      method: "POST",
      headers: { authorization: `Bearer ${fx.data.tokens.staff}`, "content-type": "application/json" },
      body: JSON.stringify({ qr: fx.present(name, name === "stale" ? 120 : 0), gate_id: "A", scan_id: `fwd-${i}` }),
    });
    assert.equal(res.status, 200);
  }
  // The alarm fires after ~1 s, fails, retries after ~1 s: wait for the condition, bounded by a
  // deadline generous enough for a loaded machine (the wait ends as soon as all have arrived).
  const forwarded = new Map();
  const deadline = Date.now() + 120_000;
  while (forwarded.size < names.length && Date.now() < deadline) {
    await sleep(100);
    for (const d of deliveries.slice(1)) for (const e of d.body.entries) forwarded.set(e.seq, e);
  }
  assert.ok(deliveries.length >= 2, `deliveries: ${deliveries.length}`);
  assert.ok(deliveries.every((d) => d.ok), "every delivery authenticated");
  assert.equal(deliveries[0].key, "audit:evt-a:1");
  assert.equal(deliveries[1].key, "audit:evt-a:1", "the failed batch is sent again");
  assert.equal(deliveries[1].body.event_id, "evt-a");
  assert.deepEqual([...forwarded.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  let previous = Buffer.alloc(32);
  const results = [];
  for (let seq = 1; seq <= 5; seq++) {
    const e = forwarded.get(seq);
    const hash = createHash("sha256").update(previous).update(e.canonical, "utf8").digest();
    assert.equal(hash.toString("hex"), e.hash, `chain at ${seq}`);
    previous = hash;
    results.push(JSON.parse(e.canonical).result);
  }
  assert.deepEqual(results, ["admitted", "already_admitted", "stale", "wrong_event", "admitted"]);
});
