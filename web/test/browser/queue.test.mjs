// The waiting room in the buyers' site, in Indonesian, against the real edge worker in workerd
// (edge-worker/src/waiting_room.rs) with a loopback siteverify stub: an event in queue mode shows
// the line instead of a usable "pay" button; the buyer solves the bot check (the Turnstile script
// is answered by a stand-in that hands the widget a token the stub issued for action `queue`),
// joins, sees their number, the people ahead and the estimated wait, is admitted when the line
// reaches them, and the checkout call carries the admission, which verifies with the edge's
// public key. The functions' API is routed in checkout/request.rs's shapes (functions/tests/
// queue_admission.rs checks the back end's side).
import assert from "node:assert/strict";
import { createECDH, createPublicKey, verify } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { EVENT_START } from "../lib/api-answers.mjs";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";
import { CATALOGUES } from "../lib/i18n.mjs";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const skip = requirements("the waiting-room tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");
const SIGNING_KEY = "6b".repeat(32);
const SECRET = "queue-browser-secret";
const EVENT = "jkt-fest-2026";
const tr = (key, params = {}) => CATALOGUES.id[key].replace(/\{(\w+)\}/g, (_, k) => String(params[k]));

function publicKey() {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(SIGNING_KEY, "hex"));
  const p = ecdh.getPublicKey();
  return createPublicKey({ key: { kty: "EC", crv: "P-256", x: p.subarray(1, 33).toString("base64url"), y: p.subarray(33).toString("base64url") }, format: "jwk" });
}

describe("waiting room in the site (Indonesian)", { skip }, () => {
  let edge, web, browser, page, siteverify;
  const errors = [];
  const posted = [];
  before(async () => {
    const { startSiteverify } = await import(path.join(repo, "edge-worker/test/siteverify-stub.mjs"));
    siteverify = await startSiteverify(SECRET);
    edge = await startEdge({
      WAITING_ROOM_SIGNING_KEY: SIGNING_KEY, TURNSTILE_SECRET: SECRET, TURNSTILE_HOSTNAMES: "tickets.example",
      TURNSTILE_SITEVERIFY_URL: siteverify.url,
    });
    const harness = await import(path.join(repo, "edge-worker/test/harness.mjs"));
    const opened = await harness.request(edge.url, "PUT", `/v1/queue/${EVENT}/config`, {
      bearer: edge.fixture.data.tokens.admin_all, body: { rate_per_sec: 1, abandon_after_secs: 60 } });
    assert.equal(opened.status, 200, opened.text);
    // Three buyers already in line: this one waits a few seconds.
    for (let i = 0; i < 3; i += 1) {
      const r = await harness.request(edge.url, "POST", `/v1/queue/${EVENT}/join`, {
        body: { turnstile_token: siteverify.issue(), device_id: `early-${i}` }, headers: { "cf-connecting-ip": `192.0.2.${i + 1}` } });
      assert.equal(r.status, 200, r.text);
    }
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { eventId: EVENT, turnstileSiteKey: "1x-test-site-key", queuePollMs: 500 } });
    browser = await launch({ locale: "id-ID" });
    page = await browser.context.newPage();
    page.setDefaultTimeout(20000);
    watchErrors(page, errors);
    // Turnstile's script: a stand-in widget that "solves" at once with a token of the stub's.
    const tokens = { queue: siteverify.issue("tickets.example", "queue"), checkout: "checkout-token-for-the-routed-api" };
    await page.route("https://challenges.cloudflare.com/turnstile/v0/api.js", (route) => route.fulfill({
      contentType: "text/javascript",
      // The page may load the script twice (checkout's widget and the line's): no globals.
      body: `(() => { const tokens = ${JSON.stringify(tokens)};
        const solve = () => document.querySelectorAll(".cf-turnstile").forEach((d) => window[d.dataset.callback]?.(tokens[d.dataset.action]));
        solve(); new MutationObserver(solve).observe(document.body, { childList: true, subtree: true }); })();`,
    }));
    const json = (route, status, body) => route.fulfill({ status, contentType: "application/json", body: JSON.stringify(body) });
    await page.route(/\/api\/v1\//, async (route) => {
      const req = route.request();
      const p = new URL(req.url()).pathname.replace(/^\/api/, "");
      if (req.method() === "GET" && p === `/v1/events/${EVENT}`) {
        return json(route, 200, { event_id: EVENT, name: "Jakarta Fest 2026", starts_at: EVENT_START, ends_at: EVENT_START + 5 * 3600,
          on_sale: true, queue_mode: true, max_per_order: 4, time_zone: "Asia/Jakarta",
          tiers: [{ tier_id: "ga", name: "Festival", price: { amount_minor: 350000, currency: "IDR" }, available: 100, sold_out: false }] });
      }
      if (req.method() === "POST" && p === "/v1/orders") {
        posted.push(req.postDataJSON());
        const order = { order_id: "ord_q1", status: "reserved", event_id: EVENT, tier_id: "ga", quantity: 1,
          unit_price: { amount_minor: 350000, currency: "IDR" }, total: { amount_minor: 350000, currency: "IDR" },
          created_at: EVENT_START - 86400, expires_at: EVENT_START - 86400 + 900,
          payment: { provider: "midtrans", reference: "snap-q1", redirect_url: `${web.url}/index.html?paid=snap-q1`, expires_at: EVENT_START - 86400 + 900 } };
        return json(route, 201, { order, access_token: "tok_q1" });
      }
      return route.fulfill({ status: 404, contentType: "application/problem+json", body: JSON.stringify({ type: "urn:karcis:problem:not-found", status: 404 }) });
    });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await edge?.close();
    await siteverify?.close();
  });

  test("join, wait with a position and an estimate, admitted, and the order carries the admission", async () => {
    await page.goto(`${web.url}/`);
    await page.waitForSelector("#queue:not([hidden])");
    assert.equal(await page.textContent("#queue-h"), tr("queue.title"));
    assert.equal(await page.isDisabled("#pay"), true, "no checkout before the line admits");
    await page.waitForFunction(() => document.getElementById("queue-turnstile").dataset.token);
    await page.click("#queue-join");
    await page.waitForSelector("#queue-status:not([hidden])");
    const position = await page.textContent("#queue-position");
    assert.equal(position, tr("queue.position", { position: 4 }));
    assert.match(await page.textContent("#queue-ahead"), new RegExp(tr("queue.ahead", { ahead: "\\d+" })));
    assert.match(await page.textContent("#queue-wait"), new RegExp(tr("queue.wait", { secs: "\\d+" })));
    assert.equal(await page.isDisabled("#pay"), true);
    await shot(page, "site-id-queue-waiting");
    await page.waitForFunction((text) => document.getElementById("queue-position").textContent === text, tr("queue.admitted"));
    await page.waitForFunction(() => !document.getElementById("pay").disabled);
    await shot(page, "site-id-queue-admitted");
    await page.fill("#quantity", "1");
    await page.fill("#name", "Siti Rahma");
    await page.fill("#email", "siti@example.com");
    await page.fill("#phone", "081234567890");
    await page.check("#consent");
    await page.click("#pay");
    await page.waitForURL(/paid=snap-q1/);
    assert.equal(posted.length, 1);
    const [header, claims, sig] = posted[0].admission.split(".");
    const ok = verify("sha256", Buffer.from(`${header}.${claims}`), { key: publicKey(), dsaEncoding: "ieee-p1363" }, Buffer.from(sig, "base64url"));
    assert.ok(ok, "the admission is the edge's");
    const c = JSON.parse(Buffer.from(claims, "base64url"));
    assert.deepEqual({ event: c.event_id, place: c.place, aud: c.aud }, { event: EVENT, place: 4, aud: "karcis-checkout" });
    assert.deepEqual(errors, []);
  });
});
