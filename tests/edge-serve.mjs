// Serves the built edge worker (edge-worker/build) in workerd on 127.0.0.1 for the dev stack,
// through edge-worker/test/harness.mjs (Miniflare API: SQLite Durable Object, REVOKED KV,
// fixed request.cf, nothing fetched from outside).
//
// Protocol with the parent (karcis-demo / the e2e tests):
//   stdin, first line:  {"secrets": {EVENT_KEYS, STAFF_JWKS, BUNDLE_SIGNING_KEY}, "audience": "...", "vars": {...}}
//   stdout, one line:   {"url": "http://127.0.0.1:PORT/"} once the worker answers
//   stdin closed (the parent exited, however it died), SIGINT or SIGTERM: workerd is disposed
//   and this process exits, so nothing is left running.
import readline from "node:readline";
import { startWorker } from "../edge-worker/test/harness.mjs";

let mf = null;
let stopping = false;
let stdinClosed = false;

async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    if (mf) await mf.dispose();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

process.on("SIGINT", () => stop(130));
process.on("SIGTERM", () => stop(143));

const rl = readline.createInterface({ input: process.stdin });
rl.on("close", () => {
  stdinClosed = true;
  if (mf) stop(0);
});

const first = await new Promise((resolve) => {
  rl.once("line", resolve);
  rl.once("close", () => resolve(null));
});
if (first === null) process.exit(2);

try {
  const cfg = JSON.parse(first);
  const fixture = { data: { secrets: cfg.secrets, audience: cfg.audience } };
  const started = await startWorker(fixture, { ALLOW_TEST_ROUTES: "false", ...(cfg.vars ?? {}) });
  mf = started.mf;
  if (stdinClosed) await stop(0);
  process.stdout.write(JSON.stringify({ url: started.url.toString() }) + "\n");
} catch (e) {
  process.stderr.write(`edge-serve: ${e?.message ?? e}\n`);
  await stop(1);
}
