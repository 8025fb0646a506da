// The real edge worker (edge-worker/build, in workerd via Miniflare) with a fresh fixture from
// edge-testgen (keys, device-bound tickets, staff tokens), reusing the edge's own test harness.
// KARCIS_EDGE_URL may point at an already running edge instead (then a fixture is still needed
// for tokens and tickets: set EDGE_TESTGEN and use the same keys).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function edgeAvailable() {
  const bin = process.env.EDGE_TESTGEN ?? path.join(repo, "target/debug/edge-testgen");
  const missing = [];
  if (!existsSync(path.join(repo, "edge-worker/build/index.js"))) missing.push("edge-worker/build (make build-edge)");
  if (!existsSync(bin)) missing.push(`edge-testgen at ${bin} (cargo build -p edge-testgen, or set EDGE_TESTGEN)`);
  if (!existsSync(path.join(repo, "edge-worker/node_modules/miniflare"))) missing.push("edge-worker/node_modules (make edge-setup)");
  return missing;
}

export async function startEdge(vars = {}) {
  const harness = await import(path.join(repo, "edge-worker/test/harness.mjs"));
  // Miniflare resolves module paths against the working directory and refuses "..".
  process.chdir(path.join(repo, "edge-worker"));
  const fixture = harness.makeFixture();
  const { mf, url } = await harness.startWorker(fixture, vars);
  return {
    fixture,
    url: url.origin,
    close: async () => {
      await mf.dispose();
      fixture.cleanup();
    },
  };
}
