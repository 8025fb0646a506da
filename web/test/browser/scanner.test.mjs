// The door scanner in headless chromium against the real edge worker in workerd: sign-in, gate,
// admitted then already admitted, a stale code, offline scans queued as provisional, sync on
// reconnect, and the conflict shown on screen.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { rotating } from "../lib/codes.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";
import { setPin } from "../lib/pin.mjs";

const skip = requirements("the scanner tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");

describe("scanner against the edge", { skip }, () => {
  let edge, web, browser, page;
  const errors = [];

  before(async () => {
    // Unsigned syncs refused, as deployed: the scanner signs its queue with its device key.
    edge = await startEdge({ ALLOW_UNSIGNED_SYNC: "false" });
    // The bundle key ships in the scanner's configuration (never trusted on first use).
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: edge.fixture.data.bundle_public_key } });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30000);
    watchErrors(page, errors);
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
    const out = {
      result: await page.getAttribute("#result", "data-result"),
      big: await page.textContent("#result-big"),
      why: await page.textContent("#result-why"),
      provisional: await page.isVisible("#result-tag"),
      cls: await page.getAttribute("#result", "class"),
    };
    return out;
  }
  async function next() {
    await page.click("#result-next");
    await page.waitForSelector("#result", { state: "hidden" });
  }

  test("sign-in refuses garbage and accepts the staff token", async () => {
    await page.goto(`${web.url}/scanner/`);
    await shot(page, "scanner-1-signin");
    await page.fill("#token", "not-a-token");
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#signin-error:not([hidden])");
    assert.match(await page.textContent("#signin-error"), /not a staff token/);
    await page.fill("#token", edge.fixture.data.tokens.staff);
    await page.click("#signin-form button[type=submit]");
    await setPin(page);
    await page.waitForSelector("#setup:not([hidden])");
    assert.match(await page.textContent("#who"), /staff-7 \(staff\)/);
    assert.equal(await page.inputValue("#event"), "evt-a");
    await page.fill("#gate", "A");
    await shot(page, "scanner-2-gate");
    await page.click("#setup-form button[type=submit]");
    await page.waitForSelector("#scan:not([hidden])");
    await page.waitForFunction(() => /until/.test(document.getElementById("bundle").textContent));
  });

  test("a phone's rotating code is admitted once, then refused as already admitted", async () => {
    const ticket = edge.fixture.data.tickets.main;
    const first = await scanManually(await rotating(ticket));
    assert.equal(first.result, "admitted");
    assert.equal(first.big, "ADMITTED");
    assert.match(first.cls, /\bok\b/);
    assert.equal(first.provisional, false);
    await shot(page, "scanner-3-admitted");
    await next();
    const second = await scanManually(await rotating(ticket));
    assert.equal(second.result, "already_admitted");
    assert.match(second.cls, /\bbad\b/);
    assert.match(second.why, /gate A/);
    await shot(page, "scanner-4-already-admitted");
    await next();
  });

  test("a code older than the freshness window (a screenshot) is refused as stale", async () => {
    const stale = await scanManually(await rotating(edge.fixture.data.tickets.stale, Math.floor(Date.now() / 1000) - 45));
    assert.equal(stale.result, "stale");
    assert.equal(stale.big, "REFUSED");
    assert.match(stale.why, /Code too old/);
    await next();
  });

  test("offline: checked with the signed bundle, queued as provisional, synced with a conflict", async () => {
    const t = edge.fixture.data.tickets;
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.getElementById("net").textContent === "OFFLINE");
    // Each code is made when it is shown (a phone shows a fresh one), however long the steps
    // before took.
    const r1 = await scanManually(await rotating(t.offline_1));
    assert.equal(r1.result, "admitted");
    assert.equal(r1.provisional, true);
    assert.match(r1.cls, /provisional/);
    await shot(page, "scanner-5-offline-provisional");
    await next();
    const again = await scanManually(await rotating(t.offline_1));
    assert.equal(again.result, "already_admitted", "the device remembers its own offline admissions");
    await next();
    const r2 = await scanManually(await rotating(t.offline_conflict));
    assert.equal(r2.result, "admitted");
    await next();
    const r3 = await scanManually(await rotating(t.offline_2, Math.floor(Date.now() / 1000) - 120));
    assert.equal(r3.result, "stale");
    await next();
    // Every decided offline scan is queued: two provisional admissions, the device's own
    // "already admitted" and the stale refusal (for the audit trail).
    assert.equal(await page.textContent("#queue"), "queue: 4");

    // Meanwhile another gate admits the conflicting ticket online.
    const res = await fetch(`${edge.url}/v1/scan`, { method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${edge.fixture.data.tokens.staff2}` },
      body: JSON.stringify({ qr: await rotating(t.offline_conflict), gate_id: "B", scan_id: "other-gate-1", event_id: "evt-a" }) });
    assert.equal((await res.json()).result, "admitted");

    await page.context().setOffline(false);
    await page.waitForFunction(() => document.getElementById("queue").textContent === "queue: 0", null, { timeout: 60000 });
    await page.waitForSelector("#conflicts-box:not([hidden])");
    const items = await page.$$eval("#conflicts li", (els) => els.map((e) => e.textContent));
    assert.equal(items.length, 1);
    assert.match(items[0], /ALREADY ADMITTED/);
    assert.match(items[0], new RegExp(t.offline_conflict.ticket_id.slice(0, 8)));
    await shot(page, "scanner-6-sync-conflict");

    // The synced provisional admission of offline_1 now stands at the door: online it is refused.
    const later = await scanManually(await rotating(t.offline_1));
    assert.equal(later.result, "already_admitted");
    await next();
  });

  test("sign-out deletes the offline bundle, the queued scans and the token from the device", async () => {
    const t = edge.fixture.data.tickets;
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.getElementById("net").textContent === "OFFLINE");
    const r = await scanManually(await rotating(t.offline_2));
    assert.equal(r.result, "admitted");
    await next();
    assert.equal(await page.textContent("#queue"), "queue: 1");
    await page.click("#change");
    await page.waitForSelector("#setup:not([hidden])");
    // An unsynced offline scan: the scanner says so before deleting it.
    let onDialog;
    let timer;
    const dialog = Promise.race([
      new Promise((resolve) => { onDialog = (d) => { resolve(d.message()); d.accept(); }; page.once("dialog", onDialog); }),
      new Promise((resolve) => { timer = setTimeout(() => resolve("no dialog within 60 s"), 60000); }),
    ]);
    await page.click("#signout");
    const message = await dialog;
    clearTimeout(timer);
    page.off("dialog", onDialog);
    assert.match(message, /1 scan made offline/);
    await page.waitForSelector("#signin:not([hidden])");
    const left = await page.evaluate(() => new Promise((resolve, reject) => {
      const req = indexedDB.open("karcis-scanner");
      req.onerror = () => reject(req.error);
      req.onsuccess = async () => {
        const db = req.result;
        const out = {};
        for (const name of db.objectStoreNames) {
          out[name] = await new Promise((res) => { const k = db.transaction(name).objectStore(name).getAllKeys(); k.onsuccess = () => res(k.result); });
        }
        resolve(out);
      };
    }));
    assert.deepEqual(left, { admitted: [], bundles: [], conflicts: [], queue: [], state: [] });
    await page.context().setOffline(false);
  });

  test("the bundle key comes from the configuration: none configured, or another key, means no offline mode", async () => {
    for (const bundleSigningKey of ["", "04" + "ab".repeat(64)]) {
      const other = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey } });
      const p = await browser.context.newPage();
      try {
        p.setDefaultTimeout(30000); // sign-in now sets a PIN (PBKDF2) too; the machine may be busy
        await p.goto(`${other.url}/scanner/`);
        await p.fill("#token", edge.fixture.data.tokens.staff);
        await p.click("#signin-form button[type=submit]");
        await setPin(p);
        await p.waitForSelector("#setup:not([hidden])");
        await p.fill("#gate", "A");
        await p.click("#setup-form button[type=submit]");
        await p.waitForSelector("#scan:not([hidden])");
        await p.waitForFunction(() => /offline bundle: (off|refused)/.test(document.getElementById("bundle").textContent));
        const stored = await p.evaluate(() => new Promise((resolve) => {
          const req = indexedDB.open("karcis-scanner");
          req.onsuccess = () => { const k = req.result.transaction("bundles").objectStore("bundles").getAllKeys(); k.onsuccess = () => resolve(k.result); };
        }));
        assert.deepEqual(stored, [], `key ${JSON.stringify(bundleSigningKey)}: no bundle kept`);
      } finally {
        await p.close();
        await other.close();
      }
    }
  });

  test("no page errors", () => {
    assert.deepEqual(errors, []);
  });
});
