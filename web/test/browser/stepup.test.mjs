// The step-up of a high-value order in the site, in both languages: checkout of Rp1.250.000
// answers `verification_required` with no payment; the return page shows the code form (texts
// from the catalogue), a wrong code is shown by its problem type and field, "send a new code"
// calls the resend route, and the right code hands the buyer to the payment page the API
// returned. The API answers are routed in the shapes of checkout/request.rs and sale/routes.rs
// (OrderView, problem+json); tests/stepup.rs checks the real functions' side.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { EVENT_START } from "../lib/api-answers.mjs";
import { launch, shot, watchErrors } from "../lib/browser.mjs";
import { CATALOGUES } from "../lib/i18n.mjs";

const LOCALES = { id: "id-ID", en: "en-US" };
const CODE = "482913";

function event() {
  return {
    event_id: "jkt-fest-2026", name: "Jakarta Fest 2026", starts_at: EVENT_START, ends_at: EVENT_START + 5 * 3600,
    on_sale: true, max_per_order: 4, time_zone: "Asia/Jakarta",
    tiers: [{ tier_id: "vip", name: "VIP", price: { amount_minor: 1250000, currency: "IDR" }, available: 10, sold_out: false }],
  };
}

/** Routes the API: one high-value order that waits for CODE. Returns what was posted. */
async function answerStepUp(page, webUrl) {
  const posted = { orders: [], verifies: [], resends: 0 };
  const order = { order_id: "ord_9a8b7c6d5e4f", status: "verification_required", event_id: "jkt-fest-2026", tier_id: "vip",
    quantity: 1, unit_price: { amount_minor: 1250000, currency: "IDR" }, total: { amount_minor: 1250000, currency: "IDR" },
    created_at: EVENT_START - 86400, expires_at: EVENT_START - 86400 + 900, payment: null };
  const json = (route, status, body) => route.fulfill({ status, contentType: status < 400 ? "application/json" : "application/problem+json", body: JSON.stringify(body) });
  await page.route(/\/api\/v1\//, async (route) => {
    const req = route.request();
    const p = new URL(req.url()).pathname.replace(/^\/api/, "");
    const authorised = req.headers().authorization === "Bearer tok_high";
    if (req.method() === "GET" && p === "/v1/events/jkt-fest-2026") return json(route, 200, event());
    if (req.method() === "POST" && p === "/v1/orders") {
      posted.orders.push(req.postDataJSON());
      return json(route, 201, { order, access_token: "tok_high" });
    }
    if (req.method() === "GET" && p === `/v1/orders/${order.order_id}` && authorised) return json(route, 200, order);
    if (req.method() === "POST" && p === `/v1/orders/${order.order_id}/verify/resend` && authorised) {
      posted.resends += 1;
      return json(route, 202, { expires_at: order.expires_at });
    }
    if (req.method() === "POST" && p === `/v1/orders/${order.order_id}/verify` && authorised) {
      const { code } = req.postDataJSON();
      posted.verifies.push(code);
      if (code !== CODE) {
        return json(route, 400, { type: "urn:karcis:problem:invalid-field", title: "Invalid field", status: 400,
          detail: "invalid field `code`: wrong code", field: "code" });
      }
      order.status = "reserved";
      order.payment = { provider: "midtrans", reference: "snap-9", redirect_url: `${webUrl}/index.html?paid=snap-9`, expires_at: order.expires_at };
      return json(route, 200, order);
    }
    return json(route, 404, { type: "urn:karcis:problem:not-found", title: "Not found", status: 404, detail: "no such resource" });
  });
  return posted;
}

for (const lang of ["id", "en"]) {
  const tr = (key) => CATALOGUES[lang][key];

  describe(`step-up of a high-value order in ${lang}`, () => {
    let web, browser, page, posted;
    const errors = [];
    before(async () => {
      web = await startServer({ env: {}, config: { eventId: "jkt-fest-2026" } });
      browser = await launch({ locale: LOCALES[lang] });
      page = await browser.context.newPage();
      page.setDefaultTimeout(10000);
      // The wrong code is answered 400 on purpose (shown by its field).
      watchErrors(page, errors, { expected: [{ status: 400, url: /\/api\/v1\/orders\/[^/]+\/verify$/ }] });
      posted = await answerStepUp(page, web.url);
    });
    after(async () => {
      await browser?.close();
      await web?.close();
    });

    test("checkout of Rp1.250.000 leads to the code form, not to a payment page", async () => {
      await page.goto(`${web.url}/`);
      await page.waitForSelector(".tier");
      await page.selectOption("#tier", "vip");
      await page.fill("#quantity", "1");
      await page.fill("#name", "Siti Rahma");
      await page.fill("#email", "siti@example.com");
      await page.fill("#phone", "081234567890");
      await page.check("#consent");
      await page.click("#pay");
      await page.waitForURL(/\/return\.html\?order=ord_9a8b7c6d5e4f/);
      await page.waitForSelector("#verify:not([hidden])");
      assert.equal(posted.orders.length, 1);
      assert.equal(posted.orders[0].lang, lang, "the code comes in the page's language");
      assert.equal(await page.textContent("#order-status"), tr("order.status.verification_required"));
      assert.equal(await page.textContent("#status"), tr("return.msg.verification_required"));
      assert.equal(await page.textContent("label[for=code]"), tr("return.verify.code"));
      assert.equal(await page.textContent("#verify-submit"), tr("return.verify.submit"));
      await shot(page, `site-${lang}-stepup-form`);
    });

    test("a wrong code is shown by its field; a resend is asked for; the right code goes to payment", async () => {
      await page.fill("#code", "000000");
      await page.click("#verify-submit");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error p"), tr("problem.invalid-field.field.code"));
      await page.click("#resend");
      await page.waitForFunction((text) => document.getElementById("status").textContent === text, tr("return.verify.resent"));
      assert.equal(posted.resends, 1);
      await page.fill("#code", CODE);
      await page.click("#verify-submit");
      await page.waitForURL(/\/index\.html\?paid=snap-9/);
      assert.deepEqual(posted.verifies, ["000000", CODE]);
    });

    test("no page errors", () => {
      assert.deepEqual(errors, []);
    });
  });
}
