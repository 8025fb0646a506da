// Benchmark of the built worker inside workerd (not a test: it asserts nothing about time).
//
//   make bench-edge        (or: EDGE_TESTGEN=.../edge-testgen node bench/bench.mjs)
//
// 1. Scan latency over loopback: sequential POST /v1/scan of device-bound codes, p50/p99,
//    once with each signature backend (SIG_BACKEND=webcrypto, then p256).
// 2. CPU cost of verification inside workerd: the test-only /v1/_bench/verify route runs the
//    whole ticket verification N times in one request (decrypt, both signatures, decide); the
//    time of that request minus the same loop without signature checks, divided by N, is the
//    signature cost per scan. workerd does not advance its clock during computation, so the
//    timing is taken from outside, best of several rounds.
import { performance } from "node:perf_hooks";
import { makeFixture, startWorker } from "../test/harness.mjs";

const SCANS = Number(process.env.BENCH_SCANS ?? 400);
const WARMUP = 40;
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 300);
const ROUNDS = 5;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function post(base, path, token, body) {
  const res = await fetch(new URL(path, base), {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function scanLatency(fx, base) {
  const token = fx.data.tokens.staff;
  const times = [];
  const results = {};
  let n = 0;
  // Codes are minted in batches so that every device proof is fresh when scanned.
  while (n < WARMUP + SCANS) {
    const batch = fx.presentMany(Array(100).fill("bench"));
    for (const qr of batch) {
      if (n >= WARMUP + SCANS) break;
      const t0 = performance.now();
      const r = await post(base, "/v1/scan", token, { qr, gate_id: "A", scan_id: `bench-${process.hrtime.bigint()}-${n}` });
      const dt = performance.now() - t0;
      if (n >= WARMUP) {
        times.push(dt);
        results[r.result] = (results[r.result] ?? 0) + 1;
      }
      n += 1;
    }
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), results };
}

async function verifyLoop(base, body) {
  let best = Infinity;
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const r = await post(base, "/v1/_bench/verify", null, body);
    best = Math.min(best, performance.now() - t0);
    if (body.backend !== "none" && r.admitted !== body.iterations) throw new Error(`verification failed: ${JSON.stringify(r)}`);
  }
  return best;
}

async function cpuCost(fx, base) {
  const out = {};
  for (const withToken of [false, true]) {
    const qr = fx.present("bench");
    const common = { qr, event_id: "evt-a", gate_id: "A", iterations: ITERATIONS, ...(withToken ? { token: fx.data.tokens.staff } : {}) };
    const empty = await verifyLoop(base, { ...common, iterations: 0, backend: "none" });
    const none = await verifyLoop(base, { ...common, backend: "none" });
    const p256 = await verifyLoop(base, { ...common, backend: "p256" });
    const webcrypto = await verifyLoop(base, { ...common, backend: "webcrypto" });
    const per = (t) => (t - empty) / ITERATIONS;
    out[withToken ? "ticket+token" : "ticket"] = {
      decrypt_and_decide_ms: per(none),
      p256_total_ms: per(p256),
      p256_signatures_ms: per(p256) - per(none),
      webcrypto_total_ms: per(webcrypto),
      webcrypto_signatures_ms: per(webcrypto) - per(none),
    };
  }
  return out;
}

const fx = makeFixture();
const report = { node: process.version, scans: SCANS, iterations: ITERATIONS, latency: {}, cpu: null };
try {
  for (const backend of ["webcrypto", "p256"]) {
    const w = await startWorker(fx, { SIG_BACKEND: backend });
    try {
      report.latency[backend] = await scanLatency(fx, w.url);
      if (backend === "webcrypto") report.cpu = await cpuCost(fx, w.url);
    } finally {
      await w.mf.dispose();
    }
  }
} finally {
  fx.cleanup();
}

const f = (x) => x.toFixed(3);
console.log("\nScan latency over loopback (sequential POST /v1/scan, device-bound code, token cached):");
console.log("| signature backend | p50 ms | p99 ms | results |");
console.log("|---|---|---|---|");
for (const [b, l] of Object.entries(report.latency)) console.log(`| ${b} | ${f(l.p50)} | ${f(l.p99)} | ${JSON.stringify(l.results)} |`);
console.log(`\nVerification cost inside workerd, per scan (best of ${ROUNDS} rounds of ${ITERATIONS}):`);
console.log("| what | decrypt+decide ms | p256 sigs ms | p256 total ms | WebCrypto sigs ms | WebCrypto total ms |");
console.log("|---|---|---|---|---|---|");
for (const [what, c] of Object.entries(report.cpu)) {
  console.log(`| ${what} | ${f(c.decrypt_and_decide_ms)} | ${f(c.p256_signatures_ms)} | ${f(c.p256_total_ms)} | ${f(c.webcrypto_signatures_ms)} | ${f(c.webcrypto_total_ms)} |`);
}
console.log(`\n${JSON.stringify(report)}`);
