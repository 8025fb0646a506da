// The operators' console in Chromium, per role and in both languages (Indonesian first): the
// sign-in posts to the staff sign-in route, then finance sees reports only (no admin views,
// no buyer data, no fraud views, no fraud route called), admins see events, revocations, the
// verified scan audit, staff, flagged orders (release or cancel a held one) and the blocklist
// (add, list, remove); a door staff member's sign-in for the console is refused. The API answers
// come from test/lib/console-answers.mjs, in the shapes of functions/src/console (whose moto
// tests, functions/tests/console.rs, check the server side of every rule shown here).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { answerConsole } from "../lib/console-answers.mjs";
import { launch, shot, watchErrors } from "../lib/browser.mjs";
import { CATALOGUES, foreignTexts } from "../lib/i18n.mjs";

const LOCALES = { id: "id-ID", en: "en-US" };
// Data the console shows outside the catalogue: ids, names, references, dates, providers.
const DATA = ["Jakarta Fest 2026", "jkt-fest-2026", "fin-1", "ops-1", "reguler", "vip", "stripe", "xendit", "midtrans",
  "doku", "cs_test_1", "inv-2", "mt-3", "ord-2", "ord-3", "2026-11-30", "2026-12-01", "karcis"];

for (const lang of ["id", "en"]) {
  const tr = (key, params = {}) => CATALOGUES[lang][key].replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));

  describe(`console in ${lang}`, () => {
    let web, browser;
    before(async () => {
      web = await startServer({ env: {}, config: {} });
      browser = await launch({ locale: LOCALES[lang], viewport: { width: 1100, height: 1400 } });
    });
    after(async () => {
      await browser?.close();
      await web?.close();
    });

    async function signIn(role) {
      const page = await browser.context.newPage();
      page.setDefaultTimeout(10000);
      const errors = [];
      const watch = watchErrors(page, errors);
      const api = await answerConsole(page, role);
      await page.goto(`${web.url}/console/`);
      await page.waitForSelector("#signin-form");
      assert.equal(await page.getAttribute("html", "lang"), lang);
      return { page, errors, watch, api };
    }

    test("finance: sign-in with the authenticator code, then reports only", async () => {
      const { page, errors, api } = await signIn("finance");
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `console-${lang}-finance-1-signin`);
      // A code of the wrong length is refused before anything is sent.
      await page.fill("#username", "fin-1");
      await page.fill("#password", "correct horse battery staple");
      await page.fill("#totp", "12");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error p"), tr("console.signin.badCode"));
      assert.equal(api.signIns.length, 0);
      await page.fill("#totp", "123456");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#workspace:not([hidden])");
      assert.deepEqual(api.signIns, [{ username: "fin-1", password: "correct horse battery staple", purpose: "console", totp: "123456" }]);
      // The password never leaves the form for storage.
      assert.equal(await page.evaluate(() => JSON.stringify(sessionStorage).includes("horse") || JSON.stringify(localStorage).includes("horse")), false);
      assert.equal(await page.evaluate(() => localStorage.getItem("karcis.console.token")), null);
      await page.click("#event-form button[type=submit]");
      await page.waitForSelector("#reports:not([hidden])");
      assert.equal(await page.textContent("#sales-total tr:nth-child(2) td:nth-child(3)"), "Rp600.000");
      assert.equal(await page.textContent("#sales-total tr:nth-child(2) td:nth-child(5)"), "Rp300.000");
      assert.equal(await page.textContent("#sales-provider tr:nth-child(3) td:first-child"), "xendit");
      assert.equal(await page.textContent("#refunds-due tr:nth-child(2) td:nth-child(3)"), "mt-3");
      assert.equal(await page.isVisible("#admin"), false, "finance sees no admin views");
      assert.equal(await page.isVisible("#on-sale-toggle"), false);
      assert.equal(await page.isVisible("#fraud"), false);
      const download = page.waitForEvent("download");
      await page.click("button[data-provider=xendit]");
      assert.equal((await download).suggestedFilename(), "reconciliation-jkt-fest-2026-xendit.csv");
      await page.waitForSelector("#notice:not([hidden])");
      assert.equal(await page.textContent("#notice"), tr("console.recon.done", { provider: "xendit", rows: 1 }));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `console-${lang}-finance-2-reports`);
      assert.ok(api.calls.every((c) => !c.includes("/v1/staff/members")), "finance never calls staff management");
      assert.ok(api.calls.every((c) => !c.includes("/v1/fraud/")), "finance never calls the fraud routes");
      assert.equal(await page.locator("#flagged-load, #blacklist-form").count(), 2);
      assert.equal(await page.isVisible("#flagged-load"), false, "no fraud view for finance");
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("admin: event, on-sale switch, revocation, verified scan audit, staff", async () => {
      const { page, errors, watch, api } = await signIn("admin");
      await page.fill("#username", "ops-1");
      await page.fill("#password", "correct horse battery staple");
      await page.fill("#totp", "654321");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#workspace:not([hidden])");
      // An admin of every event types the event id.
      await page.fill("#event-id-typed", "jkt-fest-2026");
      await page.click("#event-form button[type=submit]");
      await page.waitForSelector("#event-view:not([hidden])");
      assert.equal(await page.textContent("#on-sale-state"), tr("console.event.open.yes"));
      await page.click("#on-sale-toggle");
      await page.waitForFunction((t) => document.querySelector("#on-sale-state").textContent === t, tr("console.event.open.no"));
      assert.deepEqual(api.onSale, [{ on_sale: false }]);
      await page.fill("#revoke-order", "ord-2");
      await page.click("#revoke-form button[type=submit]");
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.revoke.sent", { order: "ord-2" }));
      // A minted order is refused by the server (409): shown by its problem type.
      watch.expectStatus(409, /\/orders\/ord-1\/revocation$/);
      await page.fill("#revoke-order", "ord-1");
      await page.click("#revoke-form button[type=submit]");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error strong"), tr("problem.conflict.title"));
      await page.click("#audit-load");
      await page.waitForFunction((t) => document.querySelector("#audit-state").textContent === t, tr("console.audit.valid", { count: 3 }));
      await page.fill("#staff-id", "door-7");
      await page.fill("#staff-gates", "A, B");
      await page.click("#staff-form button[type=submit]");
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.staff.saved", { id: "door-7" }));
      assert.deepEqual(api.members, [{ id: "door-7", body: { role: "staff", events: ["jkt-fest-2026"], gates: ["A", "B"], active: true } }]);
      assert.equal(await page.isVisible("#fraud"), true, "flagged orders and blocklists");
      assert.deepEqual(await foreignTexts(page, lang, [...DATA, "door-7", "A, B", "ord-1"]), []);
      await shot(page, `console-${lang}-admin-1-event`);
      // The tampered chain is shown as broken, with the first bad entry.
      api.tamper();
      await page.click("#audit-load");
      await page.waitForFunction((t) => document.querySelector("#audit-state").textContent === t, tr("console.audit.broken", { seq: 2 }));
      await page.locator("#audit-state").scrollIntoViewIfNeeded();
      await shot(page, `console-${lang}-admin-2-audit-broken`);
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("admin: flagged orders with their reasons, a hold released and one cancelled, the blocklist", async () => {
      const { page, errors, api } = await signIn("admin");
      await page.fill("#username", "ops-1");
      await page.fill("#password", "correct horse battery staple");
      await page.fill("#totp", "654321");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#workspace:not([hidden])");
      await page.click("#flagged-load");
      await page.waitForSelector("#flagged tr[data-decision]");
      assert.equal(await page.locator("#flagged tr[data-decision]").count(), 4);
      const row = (id) => `#flagged tr[data-decision=${id}]`;
      assert.equal(await page.textContent(`${row("rsk_blk3")} td:nth-child(7)`), [
        tr("console.fraud.reason.emails_per_device", { observed: 7, limit: 3 }),
        tr("console.fraud.reason.orders_per_device", { observed: 12, limit: 5 }),
        tr("console.fraud.reason.disposable_email")].join(" · "));
      assert.equal(await page.textContent(`${row("rsk_blk3")} td:nth-child(5)`), tr("console.fraud.outcome.block"));
      assert.equal(await page.locator(`${row("rsk_step4")} button`).count(), 0, "only holds are decided");
      assert.equal(await page.locator("#flagged button[data-action]").count(), 4, "two holds: release or cancel each");
      await page.evaluate(() => document.getElementById("fraud").scrollIntoView({ block: "start" }));
      await shot(page, `console-${lang}-admin-3-flagged`);
      // Release the card hold; cancel the other.
      await page.click(`${row("rsk_pay_ord_held1")} button[data-action=release]`);
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.fraud.released", { order: "ord_held1" }));
      assert.equal(await page.textContent(`${row("rsk_pay_ord_held1")} td:nth-child(8)`), tr("console.fraud.hold.released", { by: "ops-1" }));
      await page.click(`${row("rsk_pay_ord_held2")} button[data-action=cancel]`);
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.fraud.cancelled", { order: "ord_held2" }));
      assert.deepEqual(api.holds, [{ order: "ord_held1", action: "release" }, { order: "ord_held2", action: "cancel" }]);
      // The blocklist: listed, a bad lifetime refused before anything is sent, an entry added and one removed.
      await page.click("#blacklist-load");
      await page.waitForSelector("#blacklist tr[data-entry]");
      assert.equal(await page.textContent("#blacklist tr[data-entry] td:first-child"), tr("console.blacklist.kind.card"));
      await page.selectOption("#bl-kind", "email");
      await page.fill("#bl-value", "bot.farm+77@mailinator.com");
      await page.fill("#bl-reason", "bot farm");
      await page.fill("#bl-days", "0");
      await page.click("#blacklist-form button[type=submit]");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error p"), tr("console.blacklist.badDays"));
      assert.deepEqual(api.blacklistAdds, []);
      await page.fill("#bl-days", "30");
      await page.click("#blacklist-form button[type=submit]");
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.blacklist.added", { kind: tr("console.blacklist.kind.email") }));
      assert.deepEqual(api.blacklistAdds, [{ kind: "email", value: "bot.farm+77@mailinator.com", reason: "bot farm", ttl_secs: 30 * 86400 }]);
      assert.equal(await page.locator("#blacklist tr[data-entry]").count(), 2);
      assert.equal(await page.inputValue("#bl-value"), "", "the listed value is not kept on screen");
      assert.equal((await page.textContent("body")).includes("mailinator"), false, "the list shows no listed value");
      assert.deepEqual(await foreignTexts(page, lang, [...DATA, "ord_held1", "ord_held2", "ord_step4", "stolen card (bank report)", "bot farm", "Checkout"]), []);
      await page.locator("#blacklist-form").scrollIntoViewIfNeeded();
      await shot(page, `console-${lang}-admin-4-blocklist`);
      await page.click(`#blacklist tr[data-entry="${"a".repeat(64)}"] button`);
      await page.waitForFunction((t) => document.querySelector("#notice").textContent === t, tr("console.blacklist.removed"));
      assert.equal(await page.locator("#blacklist tr[data-entry]").count(), 1);
      assert.ok(api.calls.includes(`DELETE /v1/fraud/blacklist/${"a".repeat(64)}`));
      assert.deepEqual(errors, []);
      await page.close();
    });

    test("door staff: the console refuses a door member's sign-in", async () => {
      const { page, errors, watch } = await signIn("staff");
      watch.expectStatus(403, /\/v1\/staff\/sign-in$/);
      await page.fill("#username", "door-1");
      await page.fill("#password", "correct horse battery staple");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#error:not([hidden])");
      assert.equal(await page.textContent("#error strong"), tr("problem.forbidden.title"));
      assert.equal(await page.isVisible("#workspace"), false);
      assert.equal(await page.evaluate(() => sessionStorage.getItem("karcis.console.token")), null);
      await shot(page, `console-${lang}-staff-refused`);
      assert.deepEqual(errors, []);
      await page.close();
    });
  });
}
