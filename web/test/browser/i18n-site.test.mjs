// The buyer's journey in Indonesian and in English (event, checkout, payment return, my tickets,
// privacy centre and policy): every text on screen comes from that language's catalogue, prices
// read Rp350.000, event times are in the event's zone with WIB/WITA/WIT (also in a browser set
// to New York), phone numbers typed as 08… reach the API as E.164, problem+json is shown by its
// type, and the language switch is visible and remembered. The API answers come from
// test/lib/api-answers.mjs (the functions' response shapes); stack.test.mjs runs the real one.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { answerApi, sampleEvent } from "../lib/api-answers.mjs";
import { launch, shot, watchErrors } from "../lib/browser.mjs";
import { CATALOGUES, foreignTexts } from "../lib/i18n.mjs";

const LOCALES = { id: "id-ID", en: "en-US" };
const DATA = ["Jakarta Fest 2026", "Festival", "VIP", "ord_4f1c2a9b7d3e", "2026-01", /^Jakarta Fest 2026 · Festival$/];

for (const lang of ["id", "en"]) {
  const tr = (key, params = {}) => CATALOGUES[lang][key].replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));

  describe(`buyer's journey in ${lang}`, () => {
    let web, browser, page, posted;
    const errors = [];
    before(async () => {
      web = await startServer({ env: {}, config: { eventId: "jkt-fest-2026" } });
      browser = await launch({ locale: LOCALES[lang] });
      page = await browser.context.newPage();
      page.setDefaultTimeout(10000);
      // The privacy step answers its one 404 on purpose (a problem shown by its type).
      watchErrors(page, errors, { expected: [{ status: 404, url: /\/api\/v1\/privacy\/challenge$/ }] });
      posted = await answerApi(page);
    });
    after(async () => {
      await browser?.close();
      await web?.close();
    });

    test("event page: the catalogue's language, Rp350.000, the event's time in WIB", async () => {
      await page.goto(`${web.url}/`);
      await page.waitForSelector(".tier");
      assert.equal(await page.getAttribute("html", "lang"), lang);
      assert.equal(await page.textContent("#event-name"), "Jakarta Fest 2026");
      assert.equal(await page.textContent(".tier[data-tier=reguler] .price"), "Rp350.000");
      assert.equal(await page.textContent(".tier[data-tier=vip] .price"), "Rp1.250.000");
      assert.equal(await page.textContent(".tier[data-tier=vip] .soldout"), tr("event.soldOut"));
      assert.match(await page.textContent("#event-when"), lang === "id" ? /^Sab, 5 Des 2026, 19\.00 WIB – Min, 6 Des 2026, 00\.00 WIB$/ : /^Sat, 5 Dec 2026, 19:00 WIB – Sun, 6 Dec 2026, 00:00 WIB$/);
      assert.equal(await page.getAttribute(`[data-lang-choice=${lang}]`, "aria-pressed"), "true");
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `site-${lang}-1-event`);
    });

    test("checkout: the form's messages in the language; 0812-… is sent as +62812…", async () => {
      await page.selectOption("#tier", "reguler");
      await page.fill("#quantity", "2");
      assert.equal(await page.textContent("#total"), tr("checkout.total", { amount: "Rp700.000" }));
      await page.fill("#name", "Siti Rahma");
      await page.fill("#email", "siti@example.com");
      await page.fill("#phone", "12");
      await page.click("#pay");
      await page.waitForSelector("#checkout-error:not([hidden])");
      assert.equal(await page.textContent("#checkout-error strong"), tr("form.checkTitle"));
      assert.equal(await page.textContent("#checkout-error p"), tr("form.phone"));
      await page.fill("#phone", "0812-3456-7890");
      await page.click("#pay");
      await page.waitForFunction((text) => document.querySelector("#checkout-error p").textContent === text, tr("form.consent"));
      assert.deepEqual(await foreignTexts(page, lang, [...DATA, "Siti Rahma"]), []);
      await shot(page, `site-${lang}-2-checkout-consent`);
      assert.equal(posted.orders.length, 0, "nothing sent before the form is valid");
      await page.check("#consent");
      await page.click("#pay");
      await page.waitForURL(/\/return\.html\?order=/);
      assert.equal(posted.orders.length, 1);
      assert.equal(posted.orders[0].buyer.phone, "+6281234567890");
      assert.deepEqual(posted.orders[0].expected_total, { amount_minor: 700000, currency: "IDR" });
    });

    test("payment return: the order's status and total in the language", async () => {
      await page.waitForSelector("#done:not([hidden])");
      assert.equal(await page.textContent("#order-status"), tr("order.status.minted"));
      assert.equal(await page.textContent("#order-total"), "Rp700.000");
      assert.equal(await page.textContent("#status"), tr("return.msg.minted"));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `site-${lang}-3-return`);
    });

    test("my tickets: the rotating code, validity in the event's zone", async () => {
      await page.click("#tickets-link");
      await page.waitForSelector(".ticket[data-timestamp] canvas");
      assert.equal(posted.devices.length, 1, "the ticket was bound to this browser's key");
      const meta = await page.textContent(".ticket .meta");
      assert.match(meta, lang === "id" ? /^Gerbang: semua · berlaku .+ 17\.00 WIB – .+ WIB$/ : /^Gates: any · valid .+ 17:00 WIB – .+ WIB$/);
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `site-${lang}-4-tickets`);
    });

    test("privacy centre: local and server problems shown in the language, by type", async () => {
      await page.goto(`${web.url}/privacy.html`);
      await page.fill("#email", "not-an-email");
      await page.click("#challenge-form button");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error p"), tr("form.email"));
      // The API answers 404 problem+json (English title "Not found", detail "no such resource"):
      // the page shows the catalogue's text for its type, not the server's words.
      await page.fill("#email", "siti@example.com");
      await page.click("#challenge-form button");
      await page.waitForFunction((text) => document.querySelector("#error strong").textContent === text, tr("problem.not-found.title"));
      assert.equal(await page.textContent("#error p"), tr("problem.not-found.detail"));
      assert.doesNotMatch(await page.textContent("#error"), /no such resource/);
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `site-${lang}-5-privacy`);
    });

    test("privacy policy: translated, the same version in both languages", async () => {
      await page.goto(`${web.url}/privacy-policy.html`);
      await page.waitForFunction((h) => document.querySelector("h1").textContent === h, tr("policy.heading"));
      assert.equal(await page.textContent("#version"), "2026-01");
      assert.equal(await page.title(), tr("title.policy"));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `site-${lang}-6-policy`);
    });

    test("no page errors", () => assert.deepEqual(errors, []));
  });
}

describe("the language switch and the browser's languages", () => {
  let web, browser;
  before(async () => {
    web = await startServer({ env: {}, config: { eventId: "jkt-fest-2026" } });
    browser = await launch({ locale: "fr-FR" });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
  });

  test("a browser in neither language gets Indonesian; the switch changes the page and is remembered", async () => {
    const page = await browser.context.newPage();
    const errors = [];
    watchErrors(page, errors);
    await answerApi(page);
    await page.goto(`${web.url}/`);
    await page.waitForSelector(".tier");
    assert.equal(await page.getAttribute("html", "lang"), "id");
    assert.equal(await page.textContent(".tier[data-tier=reguler] .hint"), "Sisa 120");
    // Typed details survive the switch (no reload).
    await page.fill("#name", "Budi");
    await page.getByRole("button", { name: "English" }).click();
    assert.equal(await page.getAttribute("html", "lang"), "en");
    assert.equal(await page.textContent(".tier[data-tier=reguler] .hint"), "120 left");
    assert.equal(await page.textContent("#checkout-h"), "Checkout");
    assert.match(await page.textContent("#event-when"), /19:00 WIB/);
    assert.equal(await page.inputValue("#name"), "Budi");
    assert.deepEqual(await foreignTexts(page, "en", [...DATA, "Budi"]), []);
    // The check bites: this English page is full of texts the Indonesian catalogue lacks.
    const english = await foreignTexts(page, "id", [...DATA, "Budi"]);
    assert.ok(english.includes("120 left") && english.includes("Continue to payment"), english.join(" | "));
    await page.reload();
    await page.waitForSelector(".tier");
    assert.equal(await page.getAttribute("html", "lang"), "en", "the choice is remembered");
    await page.goto(`${web.url}/privacy-policy.html`);
    assert.equal(await page.textContent("h1"), "Privacy policy");
    await page.getByRole("button", { name: "Bahasa Indonesia" }).click();
    assert.equal(await page.textContent("h1"), "Kebijakan privasi");
    assert.equal(await page.evaluate(() => localStorage.getItem("karcis.lang")), "id");
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe("event times in the event's zone, in a browser set to New York", () => {
  let web, browser;
  before(async () => {
    web = await startServer({ env: {}, config: { eventId: "jkt-fest-2026" } });
    browser = await launch({ locale: "en-US", timezoneId: "America/New_York" });
  });
  after(async () => {
    await browser?.close();
    await web?.close();
  });

  for (const [zone, shown] of [["Asia/Jakarta", "19:00 WIB"], ["Asia/Makassar", "20:00 WITA"], ["Asia/Jayapura", "21:00 WIT"]]) {
    test(`${zone}: ${shown}, not New York's 07:00`, async () => {
      const page = await browser.context.newPage();
      await answerApi(page, sampleEvent({ timeZone: zone }));
      await page.goto(`${web.url}/`);
      await page.waitForSelector(".tier");
      const browserZone = await page.evaluate((s) => [Intl.DateTimeFormat().resolvedOptions().timeZone, new Date(s * 1000).getHours()], sampleEvent().starts_at);
      assert.deepEqual(browserZone, ["America/New_York", 7], "the browser itself is in New York");
      const when = await page.textContent("#event-when");
      assert.ok(when.startsWith(`Sat, 5 Dec 2026, ${shown} – `), when);
      assert.equal(await page.getAttribute("#event-when", "data-time-zone"), zone);
      if (zone === "Asia/Jakarta") await shot(page, "site-en-new-york-browser-wib");
      await page.close();
    });
  }
});
