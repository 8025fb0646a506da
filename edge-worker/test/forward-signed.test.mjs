// Audit forwarding with AUDIT_SIGNING_KEY ("The door" issue, item 9): each event's door sends
// its own ingest token (a signature over the event id, so event A's token does not verify for
// event B) and signs its batch's head (the last entry's seq and hash), which the ingest checks
// with the public key, so a holder of an ingest token alone cannot plant a chain. The ingest is
// a stub on 127.0.0.1 checking both with Node's crypto (the ingest function's own check is
// functions/src/audit_heads.rs).
import assert from "node:assert/strict";
import { generateKeyPairSync, verify } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { makeFixture, startWorker } from "./harness.mjs";

let fx;
let server;
let worker;
const deliveries = [];
const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const scalarHex = Buffer.from(privateKey.export({ format: "jwk" }).d, "base64url").toString("hex");

const checks = (message, b64) => verify("sha256", Buffer.from(message), { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(b64, "base64url"));
const tokenValidFor = (token, eventId) => token.startsWith("ev1.") && checks(`karcis-audit-token.v1\n${eventId}`, token.slice(4));

before(async () => {
  fx = makeFixture();
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      deliveries.push({ auth: req.headers.authorization ?? "", body: JSON.parse(body) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  worker = await startWorker(fx, {
    AUDIT_INGEST_URL: `http://127.0.0.1:${server.address().port}/ingest`,
    AUDIT_SIGNING_KEY: scalarHex,
    AUDIT_INGEST_TOKEN: "the-old-shared-token",
    AUDIT_FORWARD_RETRY_SECS: "1",
  });
});

after(async () => {
  await worker?.mf.dispose();
  server?.close();
  fx?.cleanup();
});

test("each event's door forwards with its own token and a signed head", async () => {
  for (const [i, [name, token]] of [["main", "staff"], ["other_event", "other_event_staff"]].entries()) {
    const res = await fetch(new URL("/v1/scan", worker.url), {
      method: "POST",
      headers: { authorization: `Bearer ${fx.data.tokens[token]}`, "content-type": "application/json" },
      body: JSON.stringify({ qr: fx.present(name), gate_id: "A", scan_id: `sfwd-${i}` }),
    });
    assert.equal(res.status, 200);
  }
  // Bounded wait for both doors' alarms.
  for (let i = 0; i < 100 && new Set(deliveries.map((d) => d.body.event_id)).size < 2; i++) await sleep(100);
  const byEvent = new Map(deliveries.map((d) => [d.body.event_id, d]));
  assert.deepEqual([...byEvent.keys()].sort(), ["evt-a", "evt-b"]);
  const tokens = {};
  for (const [eventId, d] of byEvent) {
    const token = d.auth.replace(/^Bearer /, "");
    assert.notEqual(token, "the-old-shared-token");
    assert.ok(tokenValidFor(token, eventId), `${eventId}: its token verifies`);
    tokens[eventId] = token;
    const last = d.body.entries.at(-1);
    assert.deepEqual([d.body.head.seq, d.body.head.hash], [last.seq, last.hash]);
    assert.ok(checks(`karcis-audit-head.v1\n${eventId}\n${last.seq}\n${last.hash}`, d.body.head.signature), "head signature");
    // The head's signature is over this event, this position and this hash only.
    assert.ok(!checks(`karcis-audit-head.v1\n${eventId}\n${last.seq + 1}\n${last.hash}`, d.body.head.signature));
  }
  assert.notEqual(tokens["evt-a"], tokens["evt-b"]);
  assert.ok(!tokenValidFor(tokens["evt-a"], "evt-b"), "event A's token is worth nothing for event B");
});
