// Starts the built worker (build/index.js + its .wasm) in workerd through the Miniflare API,
// on 127.0.0.1 with a real SQLite-backed Durable Object and a KV namespace, and mints its
// inputs with edge-testgen (the ticket crate). Shared by the tests and the benchmark.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");
export const COMPATIBILITY_DATE = "2026-04-20";

function testgenBin() {
  const bin = process.env.EDGE_TESTGEN ?? path.resolve(root, "../target/debug/edge-testgen");
  if (!existsSync(bin)) throw new Error(`edge-testgen not found at ${bin}: run make test-edge (or set EDGE_TESTGEN)`);
  return bin;
}

/** Fresh keys, tickets and staff tokens for one run. */
export function makeFixture() {
  const dir = mkdtempSync(path.join(tmpdir(), "karcis-edge-"));
  const file = path.join(dir, "fixture.json");
  const bin = testgenBin();
  execFileSync(bin, ["fixture", file]);
  const data = JSON.parse(readFileSync(file, "utf8"));
  return {
    data,
    /** A rotating code of a ticket whose device proof is `age` seconds old. */
    present: (name, age = 0) => execFileSync(bin, ["present", file, name, String(age)]).toString().trim(),
    presentMany: (names, age = 0) =>
      execFileSync(bin, ["present", file, ...names, String(age)]).toString().trim().split("\n"),
    /** Every single-byte flip of a fresh code's payload. */
    flips: (name) => execFileSync(bin, ["flips", file, name]).toString().trim().split("\n"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The worker in workerd; `vars` override the defaults of wrangler.toml (`undefined` unbinds). */
export async function startWorker(fixture, vars = {}, { kvPersist } = {}) {
  if (!existsSync(path.join(root, "build/index.js"))) {
    throw new Error("edge-worker/build/index.js is missing: run make build-edge first");
  }
  const bindings = {
    ...fixture.data.secrets,
    STAFF_TOKEN_AUDIENCE: fixture.data.audience,
    SIG_BACKEND: process.env.EDGE_SIG_BACKEND ?? "webcrypto",
    ACCEPT_STATIC: "false",
    FRESHNESS_SECS: "30",
    OFFLINE_BUNDLE_TTL_SECS: "14400",
    // The tests written before device-signed queues sync unsigned batches (the migration rule);
    // device.test.mjs and the scanner test run with "false", as wrangler.toml ships.
    ALLOW_UNSIGNED_SYNC: "true",
    // Likewise the tests written before device-bound door tokens present unbound fixture tokens;
    // dpop.test.mjs and the scanner's bound-token test run with "false", as wrangler.toml ships.
    ALLOW_UNBOUND_DOOR_TOKENS: "true",
    ALLOW_TEST_ROUTES: "true",
    // wrangler.toml ships forwarding "on" (it then needs a URL and a credential); the tests that
    // are not about forwarding run a door without it, and the forwarding tests turn it on.
    AUDIT_FORWARDING: vars.AUDIT_INGEST_URL ? "on" : "off",
    ...vars,
  };
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    scriptPath: path.join(root, "build/index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: COMPATIBILITY_DATE,
    durableObjects: {
      EVENT_DOOR: { className: "EventDoor", useSQLite: true },
      STAFF_REVOCATIONS: { className: "StaffRevocations", useSQLite: true },
      STAFF_DEVICES: { className: "StaffDevices", useSQLite: true },
      WAITING_ROOM: { className: "WaitingRoom", useSQLite: true },
    },
    // The namespace id of wrangler.toml, so that wrangler's local state (kvPersist) matches.
    kvNamespaces: { REVOKED: "00000000000000000000000000000000" },
    ...(kvPersist ? { kvPersist } : {}),
    bindings: Object.fromEntries(Object.entries(bindings).filter(([, value]) => value !== undefined)),
    // Fixed request.cf: nothing is fetched from outside.
    cf: { colo: "LOCAL", country: "ID", asn: 0 },
  });
  const url = new URL(await mf.ready);
  if (!["127.0.0.1", "localhost"].includes(url.hostname)) throw new Error(`not loopback: ${url}`);
  return { mf, url };
}

/** One HTTP call to the worker: status, content type, text and (when it parses) JSON. */
export async function request(base, method, path, { bearer, body, rawBody, headers = {} } = {}) {
  const h = { ...headers };
  if (bearer !== undefined) h.authorization = `Bearer ${bearer}`;
  if (body !== undefined || rawBody !== undefined) h["content-type"] = "application/json";
  const res = await fetch(new URL(path, base), {
    method,
    headers: h,
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get("content-type"), json, text };
}

/** The hash chain, recomputed independently of the worker. Returns the first bad seq or null. */
export function verifyChainLocally(entries) {
  let previous = Buffer.alloc(32);
  let expected = 1;
  for (const item of entries) {
    const e = item.entry;
    const canonical = JSON.stringify({
      at_ms: e.at_ms,
      detail: e.detail,
      event_id: e.event_id,
      gate_id: e.gate_id,
      gps: e.gps && { acc_m: e.gps.acc_m, lat_e6: e.gps.lat_e6, lon_e6: e.gps.lon_e6 },
      late: e.late || undefined,
      offline: e.offline,
      result: e.result,
      role: e.role,
      scan_id: e.scan_id,
      seq: e.seq,
      staff_id: e.staff_id,
      ticket_id: e.ticket_id,
    });
    const hash = createHash("sha256").update(previous).update(item.canonical, "utf8").digest();
    if (item.seq !== expected || e.seq !== expected || canonical !== item.canonical || hash.toString("hex") !== item.hash) {
      return item.seq;
    }
    previous = hash;
    expected += 1;
  }
  return null;
}
