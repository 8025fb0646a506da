// Waiting-room benchmark in workerd (Miniflare API, 127.0.0.1), with the loopback siteverify stub:
// 1. the admission rate: QUEUE_BENCH_PLACES buyers join a line set to QUEUE_BENCH_RATE a second
//    and poll every QUEUE_BENCH_POLL_MS; the line's admitted counter is sampled each round, and
//    the rate while people still wait is compared with the configured one (bounded: it gives up
//    after places/rate + 20 s);
// 2. the edge's CPU per queue request: workerd's own CPU time (utime + stime of the workerd
//    process, from /proc) over a phase of joins, of polls while waiting, and of polls once
//    admitted (each signs the ES256 admission), divided by the requests of that phase. It counts
//    everything workerd does for a request (HTTP, the worker, the Durable Object, the siteverify
//    sub-request), so it is an upper bound of the worker's CPU.
// A phase of GET /v1/health first gives the baseline every request pays (HTTP, routing).
// Prints a JSON report. `make bench-queue`.
import { readFileSync, readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { makeFixture, request, startWorker } from "../test/harness.mjs";
import { startSiteverify } from "../test/siteverify-stub.mjs";

const PLACES = Number(process.env.QUEUE_BENCH_PLACES ?? 300);
const RATE = Number(process.env.QUEUE_BENCH_RATE ?? 20);
const POLL_MS = Number(process.env.QUEUE_BENCH_POLL_MS ?? 200);
const CONCURRENCY = Number(process.env.QUEUE_BENCH_CONCURRENCY ?? 16);
const SECRET = "bench-secret";

/** Pids of workerd processes descended from this one. */
function workerdPids() {
  const parent = new Map();
  const names = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      names.set(Number(entry), stat.slice(stat.indexOf("(") + 1, close));
      parent.set(Number(entry), Number(stat.slice(close + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 32; p = parent.get(p) ?? 0, hops += 1) if (p === process.pid) return true;
    return false;
  };
  return [...names].filter(([pid, name]) => name.startsWith("workerd") && ours(pid)).map(([pid]) => pid);
}

/** CPU milliseconds used so far by `pids`. */
function cpuMs(pids) {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total += Number(fields[11]) + Number(fields[12]);
  }
  return (total * 1000) / tick;
}

/** Runs `fn(i)` for i < n, `CONCURRENCY` at a time. */
async function pool(n, fn) {
  const out = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, n) }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const fx = makeFixture();
const stub = await startSiteverify(SECRET);
const w = await startWorker(fx, {
  WAITING_ROOM_SIGNING_KEY: "5a".repeat(32),
  TURNSTILE_SECRET: SECRET,
  TURNSTILE_HOSTNAMES: "tickets.example",
  TURNSTILE_SITEVERIFY_URL: stub.url,
  QUEUE_JOINS_PER_IP_PER_MIN: "1000000",
});
try {
  const pids = workerdPids();
  if (pids.length === 0) throw new Error("no workerd process found under this one");
  const event = "bench-line";
  const opened = await request(w.url, "PUT", `/v1/queue/${event}/config`, {
    bearer: fx.data.tokens.admin_all,
    body: { rate_per_sec: RATE, abandon_after_secs: 60 },
  });
  if (opened.status !== 200) throw new Error(opened.text);

  // Phase 0, the baseline: what workerd spends on any request (GET /v1/health, no storage).
  let cpu0 = cpuMs(pids);
  let t0 = performance.now();
  await pool(PLACES, async () => {
    const r = await request(w.url, "GET", "/v1/health");
    if (r.status !== 200) throw new Error(`health: ${r.status}`);
  });
  const health = { requests: PLACES, wall_ms: performance.now() - t0, workerd_cpu_ms: cpuMs(pids) - cpu0 };

  // Phase 1: joins.
  cpu0 = cpuMs(pids);
  t0 = performance.now();
  const places = await pool(PLACES, async (i) => {
    const r = await request(w.url, "POST", `/v1/queue/${event}/join`, {
      body: { turnstile_token: stub.issue(), device_id: `dev-${i}` },
      headers: { "cf-connecting-ip": `10.0.${i >> 8}.${i & 255}` },
    });
    if (r.status !== 200) throw new Error(`join ${i}: ${r.status} ${r.text}`);
    return { place: r.json.place, admittedAt: null };
  });
  const joins = { requests: PLACES, wall_ms: performance.now() - t0, workerd_cpu_ms: cpuMs(pids) - cpu0 };

  // Phase 2: everyone polls until admitted (bounded).
  const deadline = performance.now() + (PLACES / RATE) * 1000 + 20_000;
  let waitingPolls = 0;
  const samples = [];
  cpu0 = cpuMs(pids);
  t0 = performance.now();
  while (places.some((p) => p.admittedAt === null) && performance.now() < deadline) {
    const round = performance.now();
    await pool(places.length, async (i) => {
      const p = places[i];
      if (p.admittedAt !== null) return;
      const r = await request(w.url, "GET", `/v1/queue/${event}/status`, { bearer: p.place });
      waitingPolls += 1;
      if (r.status === 200 && r.json.state === "admitted") p.admittedAt = performance.now();
      else if (r.status !== 200) throw new Error(`status: ${r.status} ${r.text}`);
    });
    const line = (await request(w.url, "GET", `/v1/queue/${event}/stats`)).json;
    samples.push({ t: performance.now(), admitted: line.admitted, waiting: line.waiting });
    await sleep(Math.max(0, POLL_MS - (performance.now() - round)));
  }
  const polling = { requests: waitingPolls, wall_ms: performance.now() - t0, workerd_cpu_ms: cpuMs(pids) - cpu0 };
  const times = places.map((p) => p.admittedAt).filter((t) => t !== null).sort((a, b) => a - b);

  // Phase 3: polls of admitted places (each signs the admission).
  cpu0 = cpuMs(pids);
  t0 = performance.now();
  await pool(places.length, async (i) => {
    const r = await request(w.url, "GET", `/v1/queue/${event}/status`, { bearer: places[i].place });
    if (r.json?.state !== "admitted") throw new Error(`not admitted: ${r.text}`);
  });
  const admittedPolls = { requests: places.length, wall_ms: performance.now() - t0, workerd_cpu_ms: cpuMs(pids) - cpu0 };

  const stats = (await request(w.url, "GET", `/v1/queue/${event}/stats`)).json;
  // The rate while people still waited: between the first and the last sample with a line.
  const busy = samples.filter((x) => x.waiting > 0);
  const steady = busy.length > 1 ? ((busy.at(-1).admitted - busy[0].admitted) * 1000) / (busy.at(-1).t - busy[0].t) : null;
  const per = (phase) => ({ ...phase, cpu_ms_per_request: phase.workerd_cpu_ms / phase.requests, wall_ms_per_request: phase.wall_ms / phase.requests });
  console.log(
    JSON.stringify(
      {
        node: process.version,
        places: PLACES,
        configured_rate_per_sec: RATE,
        poll_ms: POLL_MS,
        concurrency: CONCURRENCY,
        admitted: times.length,
        measured_rate_per_sec: steady,
        line: stats,
        baseline_health: per(health),
        joins: per(joins),
        polls_waiting: per(polling),
        polls_admitted: per(admittedPolls),
      },
      null,
      2,
    ),
  );
  if (times.length !== PLACES) process.exitCode = 1;
} finally {
  await w.mf.dispose();
  await stub.close();
  fx.cleanup();
}
