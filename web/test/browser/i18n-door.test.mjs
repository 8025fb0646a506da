// The door in Indonesian and in English, against the real edge worker: the verdicts MASUK /
// SUDAH MASUK / DITOLAK (ADMITTED / ALREADY ADMITTED / REFUSED) with the reason, large enough to
// read at arm's length on a phone, the offline and sync screens, and no text outside the
// language's catalogue on any of them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { launch, shot, watchErrors } from "../lib/browser.mjs";
import { rotating } from "../lib/codes.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";
import { CATALOGUES, foreignTexts } from "../lib/i18n.mjs";
import { setPin } from "../lib/pin.mjs";

const missing = edgeAvailable();
if (missing.length && process.env.KARCIS_REQUIRE_EDGE === "1") throw new Error(`door tests need: ${missing.join(", ")}`);
const LOCALES = { id: "id-ID", en: "en-US" };

for (const lang of ["id", "en"]) {
  const tr = (key, params = {}) => CATALOGUES[lang][key].replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));

  describe(`the door in ${lang}`, { skip: missing.length ? `needs ${missing.join(", ")}` : false }, () => {
    let edge, web, browser, page, data;
    const errors = [];
    // Staff ids, event ids, gates and the scanner's own example are data, not text.
    const DATA = ["evt-a", "A", "B", /^staff-7 \((staff|petugas)\)$/];

    before(async () => {
      edge = await startEdge();
      data = edge.fixture.data;
      web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: data.bundle_public_key } });
      browser = await launch({ locale: LOCALES[lang] });
      page = await browser.context.newPage();
      page.setDefaultTimeout(10000);
      watchErrors(page, errors);
    });
    after(async () => {
      await browser?.close();
      await web?.close();
      await edge?.close();
    });

    async function scan(code) {
      await page.fill("#manual", code);
      await page.click("#manual-form button[type=submit]");
      await page.waitForSelector("#result:not([hidden])");
      return {
        result: await page.getAttribute("#result", "data-result"),
        big: await page.textContent("#result-big"),
        why: await page.textContent("#result-why"),
      };
    }
    async function next() {
      await page.click("#result-next");
      await page.waitForSelector("#result", { state: "hidden" });
    }

    test("sign-in and gate screens", async () => {
      await page.goto(`${web.url}/scanner/`);
      await page.waitForSelector("[data-lang-choice]");
      assert.equal(await page.getAttribute("html", "lang"), lang);
      await page.fill("#token", "not-a-token");
      await page.click("#signin-form button[type=submit]");
      await page.waitForSelector("#signin-error:not([hidden])");
      assert.equal(await page.textContent("#signin-error p"), tr("scan.token.notToken"));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-1-signin`);
      await page.fill("#token", data.tokens.staff);
      await page.click("#signin-form button[type=submit]");
      // The PIN screen, with a too simple PIN refused, in the language.
      await page.waitForSelector("#pin-set:not([hidden])");
      await page.fill("#pin-new", "111111");
      await page.fill("#pin-confirm", "111111");
      await page.click("#pin-set-form button[type=submit]");
      await page.waitForSelector("#pin-set-error:not([hidden])");
      assert.equal(await page.textContent("#pin-set-error p"), tr("pin.set.simple"));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-1b-pin`);
      await setPin(page);
      await page.waitForSelector("#setup:not([hidden])");
      await page.fill("#gate", "A");
      await page.click("#setup-form button[type=submit]");
      await page.waitForSelector("#scan:not([hidden])");
      await page.waitForFunction(() => document.getElementById("bundle").dataset.state === "ok");
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
    });

    test("verdicts: admitted, already admitted with when and where, refused with the reason", async () => {
      const ticket = data.tickets.main;
      const first = await scan(await rotating(ticket));
      assert.deepEqual([first.result, first.big, first.why], ["admitted", tr("scan.verdict.admitted"), tr("scan.reason.admitted")]);
      // Arm's length: the verdict fills the width of a 390 px phone without overflowing it.
      const size = await page.evaluate(() => {
        const el = document.getElementById("result-big");
        return { px: parseFloat(getComputedStyle(el).fontSize), weight: Number(getComputedStyle(el).fontWeight), overflow: el.scrollWidth > el.clientWidth };
      });
      assert.ok(size.px >= 48 && size.weight >= 800 && !size.overflow, JSON.stringify(size));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-2-admitted`);
      await next();

      const again = await scan(await rotating(ticket));
      assert.equal(again.result, "already_admitted");
      assert.equal(again.big, tr("scan.verdict.already"));
      assert.match(again.why, lang === "id" ? /^Pertama masuk pukul \d\d\.\d\d\.\d\d .+, gerbang A, oleh staff-7$/ : /^First admitted at \d\d:\d\d:\d\d .+, gate A, by staff-7$/);
      assert.deepEqual(await foreignTexts(page, lang, [...DATA, /^staff-7$/]), []);
      await shot(page, `scanner-${lang}-3-already-admitted`);
      await next();

      const stale = await scan(await rotating(data.tickets.stale, Math.floor(Date.now() / 1000) - 45));
      assert.deepEqual([stale.result, stale.big, stale.why], ["stale", tr("scan.verdict.refused"), tr("scan.reason.stale")]);
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-4-refused`);
      await next();
    });

    test("offline: provisional admission, then the sync conflict", async () => {
      const t = data.tickets;
      await page.context().setOffline(true);
      await page.waitForFunction(() => document.getElementById("net").dataset.online === "false");
      assert.equal(await page.textContent("#net"), tr("scan.net.offline"));
      const r1 = await scan(await rotating(t.offline_1));
      assert.deepEqual([r1.result, r1.big, r1.why], ["admitted", tr("scan.verdict.admitted"), tr("scan.reason.admittedOffline")]);
      assert.equal(await page.textContent("#result-tag"), tr("scan.provisional"));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-5-offline-provisional`);
      await next();
      const r2 = await scan(await rotating(t.offline_conflict));
      assert.equal(r2.result, "admitted");
      await next();
      assert.equal(await page.textContent("#queue"), tr("scan.queue", { n: 2 }));
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-6-offline-queue`);

      const res = await fetch(`${edge.url}/v1/scan`, { method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${data.tokens.staff2}` },
        body: JSON.stringify({ qr: await rotating(t.offline_conflict), gate_id: "B", scan_id: `other-gate-${lang}`, event_id: "evt-a" }) });
      assert.equal((await res.json()).result, "admitted");
      await page.context().setOffline(false);
      await page.waitForFunction(() => document.getElementById("queue").dataset.count === "0", null, { timeout: 15000 });
      await page.waitForSelector("#conflicts-box:not([hidden])");
      const items = await page.$$eval("#conflicts li", (els) => els.map((e) => e.textContent));
      assert.equal(items.length, 1);
      assert.ok(items[0].startsWith(`${tr("scan.verdict.already")}: ${tr("scan.reason.already_admitted")} (`), items[0]);
      assert.deepEqual(await foreignTexts(page, lang, DATA), []);
      await shot(page, `scanner-${lang}-7-sync-conflict`);
    });

    test("no page errors", () => assert.deepEqual(errors, []));
  });
}
