// The door scanner with device-bound door tokens (issue 13), in headless chromium against the
// real edge worker in workerd with ALLOW_UNBOUND_DOOR_TOKENS "false" (as wrangler.toml ships):
// the scanner makes its key before sign-in and sends its public JWK; every edge request carries
// a DPoP proof by it (scan, bundle, device registration, signed sync); it refreshes its token
// before the end; the same token copied to another device is refused. The staff API's sign-in
// and refresh are answered here (they are tested against moto in functions/tests/
// staff_refresh.rs): a token bound to the JWK sent, signed by the fixture's staff key.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { rotating } from "../lib/codes.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";
import { setPin } from "../lib/pin.mjs";

const skip = requirements("the bound-token scanner tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

describe("scanner with device-bound door tokens", { skip }, () => {
  let edge, web, browser, page, dpop;
  const errors = [];
  const issued = [];
  const refreshes = [];
  const edgeCalls = [];

  before(async () => {
    dpop = await import(path.join(repo, "edge-worker/test/dpop-lib.mjs"));
    edge = await startEdge({ ALLOW_UNSIGNED_SYNC: "false", ALLOW_UNBOUND_DOOR_TOKENS: "false" });
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: edge.fixture.data.bundle_public_key } });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30000);
    watchErrors(page, errors);
    page.on("request", (r) => {
      if (r.url().includes("/edge/v1/")) edgeCalls.push({ url: r.url(), method: r.method(), authorization: r.headers().authorization, dpop: r.headers().dpop });
    });
    const mint = (jkt, ttl) => {
      const t = dpop.mintDoorToken(edge.fixture, { sub: "staff-7", gates: ["A", "B"], jkt, ttl });
      issued.push(t.token);
      return { token: t.token, token_type: "Bearer", jti: t.jti, role: "staff", events: ["evt-a"], gates: ["A", "B"] };
    };
    // The staff API: sign-in binds to the JWK sent; the first token is short (170 s) so that the
    // scanner's refresh (3 minutes before the end) comes at its next check.
    await page.route("**/api/v1/staff/sign-in", async (route) => {
      const body = route.request().postDataJSON();
      assert.equal(body.purpose, "door");
      assert.deepEqual(Object.keys(body.jwk).sort(), ["crv", "kty", "x", "y"], "only the public members");
      await route.fulfill({ json: mint(dpop.thumbprint(body.jwk), 170) });
    });
    await page.route("**/api/v1/staff/refresh", async (route) => {
      const h = route.request().headers();
      const token = h.authorization.replace(/^Bearer /, "");
      const [head, claims] = h.dpop.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url")));
      const bound = JSON.parse(Buffer.from(token.split(".")[1], "base64url")).cnf.jkt;
      refreshes.push({ typ: head.typ, same_key: dpop.thumbprint(head.jwk) === bound, htm: claims.htm, htu: new URL(claims.htu).pathname,
        ath_ok: claims.ath === createHash("sha256").update(token).digest("base64url") });
      await route.fulfill({ json: mint(bound, 900) });
    });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await edge?.close();
  });

  async function scanManually(code) {
    await page.fill("#manual", code);
    await page.click("#manual-form button[type=submit]");
    await page.waitForSelector("#result:not([hidden])");
    const out = { result: await page.getAttribute("#result", "data-result"), provisional: await page.isVisible("#result-tag") };
    await page.click("#result-next");
    await page.waitForSelector("#result", { state: "hidden" });
    return out;
  }

  test("password sign-in sends the device's public key; every edge request proves it", async () => {
    await page.goto(`${web.url}/scanner/`);
    await page.fill("#username", "staff-7");
    await page.fill("#password", "plum kettle violet 42");
    await page.click("#signin-form button[type=submit]");
    await setPin(page);
    await page.waitForSelector("#setup:not([hidden])");
    assert.equal(issued.length, 1);
    await page.fill("#gate", "A");
    await page.click("#setup-form button[type=submit]");
    await page.waitForSelector("#scan:not([hidden])");
    await page.waitForFunction(() => /until/.test(document.getElementById("bundle").textContent));
    const first = await scanManually(await rotating(edge.fixture.data.tickets.main));
    assert.equal(first.result, "admitted");
    await shot(page, "scanner-bound-admitted");
    // Bundle, device registration and scan: each with a proof of its own.
    assert.ok(edgeCalls.length >= 3, JSON.stringify(edgeCalls.map((c) => c.url)));
    assert.ok(edgeCalls.every((c) => c.dpop && c.authorization === `Bearer ${issued[0]}`));
    assert.equal(new Set(edgeCalls.map((c) => c.dpop)).size, edgeCalls.length, "a new proof per request");
  });

  test("offline scans are still checked with the bundle and synced signed, with a proof", async () => {
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.getElementById("net").textContent === "OFFLINE");
    const r = await scanManually(await rotating(edge.fixture.data.tickets.offline_1));
    assert.equal(r.result, "admitted");
    assert.equal(r.provisional, true);
    await page.context().setOffline(false);
    await page.waitForFunction(() => document.getElementById("queue").textContent === "queue: 0", null, { timeout: 60000 });
    const sync = edgeCalls.filter((c) => c.url.endsWith("/v1/sync"));
    assert.ok(sync.length >= 1 && sync.every((c) => c.dpop));
  });

  test("the scanner refreshes its token before the end with a proof by the same key", async () => {
    // Bounded: the scanner checks every 30 s; give it up to two checks.
    for (let i = 0; i < 70 && refreshes.length === 0; i++) await new Promise((r) => setTimeout(r, 1000));
    assert.equal(refreshes.length, 1, "no refresh came");
    assert.deepEqual(refreshes[0], { typ: "dpop+jwt", same_key: true, htm: "POST", htu: "/api/v1/staff/refresh", ath_ok: true });
    const r = await scanManually(await rotating(edge.fixture.data.tickets.offline_2));
    assert.equal(r.result, "admitted");
    assert.equal(edgeCalls.at(-1).authorization, `Bearer ${issued[1]}`, "the refreshed token is used");
    assert.deepEqual(errors, []);
  });

  test("the token copied to another device is refused at the door", async () => {
    const token = issued.at(-1);
    const scan = (headers) => fetch(`${edge.url}/v1/scan`, { method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
      body: JSON.stringify({ qr: "x", gate_id: "A", scan_id: `copy-${Math.random()}`, event_id: "evt-a" }) });
    const bare = await scan({});
    assert.equal(bare.status, 401);
    assert.equal((await bare.json()).type, "urn:karcis:problem:dpop_proof_required");
    const thief = dpop.deviceKey();
    const other = await scan({ dpop: dpop.proof(thief, { htm: "POST", htu: `${edge.url}/v1/scan`, token }) });
    assert.equal(other.status, 401);
    assert.match((await other.json()).detail, /dpop_key_mismatch/);
  });
});
