// The ops command for revocation (scripts/revoke.sh, through wrangler) against wrangler's local
// state, read by the worker in workerd: a ticket revoked by the script is refused at once.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createECDH } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

test("audit forwarding is on as wrangler.toml ships it: an unconfigured door refuses to work", async () => {
  const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
  assert.match(toml, /^AUDIT_FORWARDING = "on"$/m);
  const headers = { authorization: `Bearer ${fx.data.tokens.staff}`, "content-type": "application/json" };
  // As shipped (no URL, no credential), then with a URL but no credential, then plain http to
  // a host that is not loopback: each answers 503 and admits nobody.
  const cases = [
    { AUDIT_FORWARDING: "on", AUDIT_INGEST_URL: undefined },
    { AUDIT_FORWARDING: "on", AUDIT_INGEST_URL: "https://ingest.example/v1/audit/batches" },
    { AUDIT_FORWARDING: "on", AUDIT_INGEST_URL: "http://ingest.example/v1/audit/batches", AUDIT_INGEST_TOKEN: "t" },
    { AUDIT_FORWARDING: "maybe", AUDIT_INGEST_URL: undefined },
  ];
  const qr = fx.present("main");
  for (const vars of cases) {
    const w = await startWorker(fx, vars);
    try {
      const res = await fetch(new URL("/v1/scan", w.url), { method: "POST", headers, body: scanBody(qr, "s-refused") });
      const body = await res.json();
      assert.equal(res.status, 503, JSON.stringify({ vars, body }));
      assert.equal(body.type, "urn:karcis:problem:audit_forwarding_unconfigured");
      const bundle = await fetch(new URL("/v1/offline-bundle?event_id=evt-a", w.url), { headers });
      assert.equal(bundle.status, 503);
      await bundle.body?.cancel();
      const health = await (await fetch(new URL("/v1/health", w.url))).json();
      assert.equal(health.audit_forwarding, "unconfigured");
    } finally {
      await w.mf.dispose();
    }
  }
  // Configured (loopback ingest, a credential): the same code is admitted.
  const w = await startWorker(fx, {
    AUDIT_FORWARDING: "on",
    AUDIT_INGEST_URL: "http://127.0.0.1:9/unused",
    AUDIT_INGEST_TOKEN: "t",
    AUDIT_FORWARD_RETRY_SECS: "3600",
  });
  try {
    const res = await fetch(new URL("/v1/scan", w.url), { method: "POST", headers, body: scanBody(qr, "s-admitted") });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.result, "admitted");
    assert.equal((await (await fetch(new URL("/v1/health", w.url))).json()).audit_forwarding, "on");
  } finally {
    await w.mf.dispose();
  }
});

test("scripts/connect-audit.sh turns forwarding on: a fresh key as a secret, the URL, the head key", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "karcis-connect-"));
  try {
    const toml = path.join(dir, "wrangler.toml");
    writeFileSync(toml, readFileSync(path.join(root, "wrangler.toml")));
    // A stand-in for `wrangler secret put NAME`: records the name and what came on stdin.
    const recorder = path.join(dir, "wrangler");
    const recorded = path.join(dir, "secret.json");
    writeFileSync(
      recorder,
      `#!/usr/bin/env node\nconst input = require("fs").readFileSync(0, "utf8");\n` +
        `require("fs").writeFileSync(${JSON.stringify(recorded)}, JSON.stringify({ argv: process.argv.slice(2), input }));\n`,
      { mode: 0o755 },
    );
    const script = path.join(root, "scripts/connect-audit.sh");
    const env = { ...process.env, KARCIS_WRANGLER: recorder, KARCIS_WRANGLER_TOML: toml };
    for (const bad of ["http://api.example/v1/audit/batches", "https://api.example/x\"; rm -rf /", ""]) {
      assert.throws(() => execFileSync(script, [bad], { env, stdio: "pipe" }), /status 2|code 2|Command failed/);
    }
    assert.ok(!existsSync(recorded), "a refused URL uploaded nothing");
    const url = "https://abc.execute-api.ap-southeast-3.amazonaws.com/v1/audit/batches";
    const out = execFileSync(script, [url], { env, stdio: ["ignore", "pipe", "pipe"] }).toString();
    const publicKey = out.match(/^AuditHeadPublicKey=(04[0-9a-f]{128})$/m)?.[1];
    assert.ok(publicKey, out);
    const { argv, input } = JSON.parse(readFileSync(recorded, "utf8"));
    assert.deepEqual(argv, ["secret", "put", "AUDIT_SIGNING_KEY"]);
    assert.match(input, /^[0-9a-f]{64}$/);
    assert.ok(!out.includes(input), "the private key is not printed");
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(input, "hex");
    assert.equal(ecdh.getPublicKey("hex", "uncompressed"), publicKey);
    const written = readFileSync(toml, "utf8");
    assert.match(written, new RegExp(`^AUDIT_INGEST_URL = "${url.replaceAll(".", "\\.")}"$`, "m"));
    assert.match(written, /^AUDIT_FORWARDING = "on"$/m);
    // The door with what the script set is configured (forwarding on, not 503).
    const w = await startWorker(fx, { AUDIT_FORWARDING: "on", AUDIT_INGEST_URL: url, AUDIT_SIGNING_KEY: input });
    try {
      assert.equal((await (await fetch(new URL("/v1/health", w.url))).json()).audit_forwarding, "on");
    } finally {
      await w.mf.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
