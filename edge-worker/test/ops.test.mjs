// The ops command for revocation (scripts/revoke.sh, through wrangler) against wrangler's local
// state, read by the worker in workerd: a ticket revoked by the script is refused at once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { makeFixture, root, startWorker } from "./harness.mjs";

let fx;
let persist;

before(() => {
  fx = makeFixture();
  persist = mkdtempSync(path.join(tmpdir(), "karcis-kv-"));
});

after(() => {
  fx?.cleanup();
  if (persist) rmSync(persist, { recursive: true, force: true });
});

function scanBody(qr, scanId) {
  return JSON.stringify({ qr, gate_id: "A", scan_id: scanId });
}

test("scripts/revoke.sh revokes through wrangler; the worker refuses the ticket", async () => {
  const t = fx.data.tickets.revoked_kv;
  const env = { ...process.env, KARCIS_KV_TARGET: `--local --persist-to ${persist}` };
  execFileSync(path.join(root, "scripts/revoke.sh"), ["evt-a", t.ticket_id, "refund"], { env, stdio: "pipe" });
  // Bad arguments change nothing.
  assert.throws(() => execFileSync(path.join(root, "scripts/revoke.sh"), ["evt-a", "not-hex"], { env, stdio: "pipe" }));

  const w = await startWorker(fx, {}, { kvPersist: path.join(persist, "v3", "kv") });
  try {
    const scan = async (name, scanId) => {
      const res = await fetch(new URL("/v1/scan", w.url), {
        method: "POST",
        headers: { authorization: `Bearer ${fx.data.tokens.staff}`, "content-type": "application/json" },
        body: scanBody(fx.present(name), scanId),
      });
      return (await res.json()).result;
    };
    assert.equal(await scan("revoked_kv", "ops-1"), "revoked");
    assert.equal(await scan("main", "ops-2"), "admitted");
    const bundle = await fetch(new URL("/v1/offline-bundle?event_id=evt-a", w.url), {
      headers: { authorization: `Bearer ${fx.data.tokens.staff}` },
    });
    assert.ok(JSON.parse((await bundle.json()).bundle).revoked.includes(t.ticket_id));
  } finally {
    await w.mf.dispose();
  }
});

test("test-only routes are off unless ALLOW_TEST_ROUTES is set, and wrangler.toml never sets it", async () => {
  const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
  assert.doesNotMatch(toml, /^\s*ALLOW_TEST_ROUTES\s*=/m);
  const w = await startWorker(fx, { ALLOW_TEST_ROUTES: undefined });
  try {
    const admin = { authorization: `Bearer ${fx.data.tokens.admin}`, "content-type": "application/json" };
    const tamper = await fetch(new URL("/v1/_test/tamper", w.url), {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ event_id: "evt-a", seq: 1, result: "admitted" }),
    });
    assert.equal(tamper.status, 404, await tamper.text());
    const bench = await fetch(new URL("/v1/_bench/verify", w.url), {
      method: "POST",
      headers: admin,
      body: JSON.stringify({ qr: fx.present("main"), event_id: "evt-a", gate_id: "A", iterations: 1, backend: "none" }),
    });
    assert.equal(bench.status, 404, await bench.text());
    assert.equal((await fetch(new URL("/v1/health", w.url))).status, 200);
  } finally {
    await w.mf.dispose();
  }
});
