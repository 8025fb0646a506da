// The buyers' pages in chromium, served by scripts/serve.mjs, with no back end configured:
// structure, accessibility basics, client-side checks (consent is unticked and required), and
// that a problem+json from the server is shown with its title and detail. The full purchase runs
// in stack.test.mjs against the local stack.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { launch, shot, watchErrors } from "../lib/browser.mjs";

describe("buyers' site (static)", () => {
  let web, browser, page, http;
  const errors = [];
  const requests = [];
  before(async () => {
    web = await startServer({ env: {} });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(10000);
    http = watchErrors(page, errors);
    page.on("request", (r) => requests.push(r.url()));
  });
  after(async () => {
    await browser?.close();
    await web?.close();
  });

  test("event page: a server problem is shown with its title and detail", async () => {
    http.expectStatus(502, /\/api\/v1\/events\/[^/]+$/);
    await page.goto(`${web.url}/`);
    await page.waitForSelector("#load-error:not([hidden])");
    assert.match(await page.textContent("#load-error"), /Back end not configured/);
    assert.match(await page.textContent("#load-error"), /no upstream/);
    assert.equal(await page.textContent("#event-name"), "Event unavailable");
  });

  test("checkout: consent starts unticked, links the policy and its version", async () => {
    assert.equal(await page.isChecked("#consent"), false);
    assert.equal(await page.isChecked("#marketing"), false);
    assert.equal(await page.textContent("#policy-version"), "2026-01");
    assert.equal(await page.getAttribute("label.check a", "href"), "/privacy-policy.html");
    assert.match(await page.textContent("#turnstile"), /test placeholder/);
    // Every form control has a label.
    const unlabelled = await page.$$eval("input, select, textarea", (els) =>
      els.filter((e) => e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).map((e) => e.id));
    assert.deepEqual(unlabelled, []);
    await shot(page, "site-1-event-error");
  });

  test("privacy centre: a bad address is refused before anything is sent", async () => {
    await page.goto(`${web.url}/privacy.html`);
    const before = requests.length;
    await page.fill("#email", "not-an-email");
    await page.click("#challenge-form button");
    await page.waitForSelector("#error:not([hidden])");
    assert.match(await page.textContent("#error"), /valid email/);
    assert.equal(requests.slice(before).filter((u) => u.includes("/api/")).length, 0);
    await page.fill("#email", "ana@example.com");
    http.expectStatus(502, /\/api\/v1\/privacy\/challenge$/);
    await page.click("#challenge-form button");
    await page.waitForFunction(() => /Back end not configured/.test(document.getElementById("error").textContent));
    await shot(page, "site-2-privacy");
  });

  test("privacy centre: the code request carries the bot-check token and a kept device id", async () => {
    await page.goto(`${web.url}/privacy.html`);
    assert.match(await page.textContent("#turnstile"), /test placeholder/);
    const ids = [];
    for (let i = 0; i < 2; i++) {
      await page.fill("#email", "ana@example.com");
      const [req] = await Promise.all([
        page.waitForRequest((r) => r.url().includes("/v1/privacy/challenge")),
        page.click("#challenge-form button"),
      ]);
      const h = req.headers();
      assert.equal(h["cf-turnstile-response"], "dev-placeholder");
      assert.match(h["x-karcis-device"], /^d-[0-9a-f-]{36}$/);
      ids.push(h["x-karcis-device"]);
      await page.reload();
    }
    assert.equal(ids[0], ids[1], "the same browser keeps its device id");
  });

  test("my tickets and return pages without an order on this device", async () => {
    await page.goto(`${web.url}/tickets.html`);
    await page.waitForSelector("#empty:not([hidden])");
    await page.goto(`${web.url}/return.html?order=ord_unknown`);
    await page.waitForFunction(() => /could not find this order/.test(document.getElementById("status").textContent));
    await page.goto(`${web.url}/privacy-policy.html`);
    assert.equal(await page.textContent("#version"), "2026-01");
  });

  test("keyboard: the skip link comes first and shows when focused", async () => {
    await page.goto(`${web.url}/privacy-policy.html`);
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    assert.ok(await page.evaluate(() => document.activeElement.getBoundingClientRect().width > 20));
  });

  test("nothing is fetched from another origin, and no page errors", () => {
    const foreign = requests.filter((u) => !u.startsWith(web.url));
    assert.deepEqual(foreign, []);
    assert.deepEqual(errors, []);
  });

  test("the server never serves node_modules, tests or scripts", async () => {
    for (const p of ["/node_modules/jsqr/package.json", "/../package.json", "/test/lib/browser.mjs", "/scripts/serve.mjs", "/%2e%2e/package.json"]) {
      const r = await fetch(`${web.url}${p}`);
      assert.equal(r.status, 404, p);
    }
    const r = await fetch(`${web.url}/`);
    assert.match(r.headers.get("content-security-policy"), /default-src 'self'/);
  });
});
