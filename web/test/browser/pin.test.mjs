// The scanner's PIN and WebAuthn unlock in headless chromium against the real edge worker: the
// PIN set on first sign-in, the storage (as a script reads it, and the profile's files on disk)
// holding no token and nothing scanned, the lock after idle time (Playwright's clock, no real
// waiting) and at each start, wrong PINs refused and then the wipe, the right PIN back at the gate
// scanning; the fingerprint unlock with Chromium's virtual authenticator (CDP WebAuthn domain),
// and its refusal when the authenticator does not verify the user.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { rotating } from "../lib/codes.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";
import { CATALOGUES } from "../lib/i18n.mjs";
import { setPin, TEST_PIN, unlock } from "../lib/pin.mjs";

const skip = requirements("the scanner PIN tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");
const IDLE_SECONDS = 120; // config.json's pinIdleSeconds for these tests (the default is 180)

/** Every record of the scanner's IndexedDB, as text: byte arrays as latin1 (so plaintext in them
 * would show), CryptoKeys by their type only (a script cannot read their bytes). */
function dumpStorage(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.open("karcis-scanner");
    req.onerror = () => reject(req.error);
    req.onsuccess = async () => {
      const db = req.result;
      const out = {};
      const text = (v) => JSON.stringify(v, (_, x) => {
        if (x instanceof Uint8Array) return String.fromCharCode(...x);
        if (x instanceof CryptoKey) return `CryptoKey(${x.type}, extractable=${x.extractable})`;
        return x;
      });
      for (const name of db.objectStoreNames) {
        out[name] = await new Promise((res) => {
          const tx = db.transaction(name).objectStore(name);
          const keys = tx.getAllKeys();
          const values = tx.getAll();
          values.onsuccess = () => res(keys.result.map((k, i) => [k, text(values.result[i])]));
        });
      }
      db.close();
      resolve({ idb: out, local: JSON.stringify({ ...localStorage }) });
    };
  }));
}

/** Enters `code` by hand; returns the verdict's result code and closes it. */
async function scanOnce(page, code) {
  await page.fill("#manual", code);
  await page.click("#manual-form button[type=submit]");
  await page.waitForSelector("#result:not([hidden])");
  const result = await page.getAttribute("#result", "data-result");
  await page.click("#result-next");
  await page.waitForSelector("#result", { state: "hidden" });
  return result;
}

/** The bytes of every file under `dir` (the browser profile), bounded. */
function filesUnder(dir, out = [], budget = { files: 5000 }) {
  for (const name of readdirSync(dir)) {
    if (--budget.files < 0) break;
    const p = path.join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) filesUnder(p, out, budget);
    else if (st.isFile() && st.size < 64 * 1024 * 1024) out.push(readFileSync(p));
  }
  return out;
}

describe("scanner PIN against the edge", { skip }, () => {
  let edge, web, browser, page, data;
  const errors = [];

  before(async () => {
    edge = await startEdge({ ALLOW_UNSIGNED_SYNC: "false" });
    data = edge.fixture.data;
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: data.bundle_public_key, pinIdleSeconds: IDLE_SECONDS } });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30000);
    watchErrors(page, errors);
    // The page's clock (Date, timers) is Playwright's: idle time passes with fastForward.
    await page.clock.install();
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await edge?.close();
  });

  const scan = (code) => scanOnce(page, code);

  test("the first sign-in asks for a PIN: simple and mismatched PINs are refused", async () => {
    await page.goto(`${web.url}/scanner/`);
    await page.fill("#token", data.tokens.staff);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#pin-set:not([hidden])");
    for (const [pin, again, why] of [["123456", "123456", /too easy/], ["2468", "2468", /6 to 12 digits/], ["246813", "246831", /differ/]]) {
      await page.fill("#pin-new", pin);
      await page.fill("#pin-confirm", again);
      await page.click("#pin-set-form button[type=submit]");
      await page.waitForSelector("#pin-set-error:not([hidden])");
      assert.match(await page.textContent("#pin-set-error"), why);
      assert.equal(await page.isVisible("#setup"), false, "no way past the PIN screen");
    }
    await shot(page, "scanner-pin-1-set");
    await setPin(page);
    await page.waitForSelector("#setup:not([hidden])");
    await page.fill("#gate", "A");
    await page.click("#setup-form button[type=submit]");
    await page.waitForSelector("#scan:not([hidden])");
    await page.waitForFunction(() => document.getElementById("bundle").dataset.state === "ok");
    assert.equal(await scan(await rotating(data.tickets.main)), "admitted");
    // One offline scan waits in the queue (sealed like the rest).
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.getElementById("net").dataset.online === "false");
    assert.equal(await scan(await rotating(data.tickets.offline_1)), "admitted");
    assert.equal(await page.getAttribute("#queue", "data-count"), "1");
  });

  test("a copy of the storage (script-level and the profile's files) holds no token and nothing scanned", async () => {
    const token = data.tokens.staff;
    const { idb, local } = await dumpStorage(page);
    const everything = JSON.stringify(idb) + local;
    // What a stolen phone's storage must not give away: the token (whole or its claims), the
    // offline bundle (its signature, the event's keys), what was admitted and queued.
    const secrets = { token, "token claims": token.split(".")[1], "token signature": token.split(".")[2], event: "evt-a",
      "admitted ticket": data.tickets.main.ticket_id, "queued ticket": data.tickets.offline_1.ticket_id, bundle: "signing_public_key", gate: "\"gate_id\"" };
    for (const [what, s] of Object.entries(secrets)) assert.ok(!everything.includes(s), `the ${what} is readable in storage`);
    // The stores are not empty: the records are there, sealed.
    assert.equal(idb.queue.length, 1);
    assert.equal(idb.admitted.length, 2);
    assert.equal(idb.bundles.length, 1);
    assert.deepEqual(idb.state.map(([k]) => k).filter((k) => ["device", "lock", "pepper"].includes(k)).sort(), ["device", "lock", "pepper"]);
    assert.ok(idb.state.every(([k]) => k !== "token"), "no record named token");
    // On disk: the control (the device's public key, kept in clear) is found, the token is not.
    const device = JSON.parse(idb.state.find(([k]) => k === "device")[1]);
    const files = filesUnder(browser.profile);
    const found = (s) => files.some((b) => b.includes(Buffer.from(s, "latin1")));
    assert.ok(found(device.publicKeyHex), "the file scan reads IndexedDB's files (control)");
    for (const [what, s] of Object.entries(secrets)) if (what !== "bundle" && what !== "gate") assert.ok(!found(s), `the ${what} is in the profile's files`);
  });

  test("idle: still scanning before the configured time, locked after it; the page forgets the token", async () => {
    await page.context().setOffline(false);
    await page.waitForFunction(() => document.getElementById("queue").dataset.count === "0");
    await page.clock.fastForward((IDLE_SECONDS - 30) * 1000);
    assert.equal(await scan(await rotating(data.tickets.offline_2)), "admitted", "unlocked before the idle time");
    // The scan above was use: the idle time counts from it.
    await page.clock.fastForward((IDLE_SECONDS - 10) * 1000);
    assert.equal(await page.isVisible("#scan"), true);
    await page.clock.fastForward(15_000);
    await page.waitForSelector("#lock:not([hidden])");
    assert.match(await page.textContent("#lock-why"), /unused/);
    assert.equal(await page.isVisible("#scan"), false);
    assert.equal(await page.textContent("#who"), "");
    await shot(page, "scanner-pin-2-locked");
    // In Indonesian too: every text of the lock screen from the catalogue.
    await page.click("[data-lang-choice=id]");
    assert.equal(await page.textContent("#lock-why"), CATALOGUES.id["pin.lock.idle"]);
    assert.equal(await page.textContent("#lock-h"), CATALOGUES.id["pin.lock.heading"]);
    const texts = await page.$$eval("#lock [data-i18n]", (els) => els.filter((e) => !e.hidden).map((e) => [e.dataset.i18n, e.textContent]));
    assert.ok(texts.length >= 5, JSON.stringify(texts));
    for (const [key, text] of texts) assert.equal(text, CATALOGUES.id[key], key);
    await shot(page, "scanner-pin-id-2-locked");
    await page.click("[data-lang-choice=en]");
    // Back to the real time (the codes and the edge use it); the unlock starts the idle time anew.
    await page.clock.setSystemTime(Date.now());
  });

  test("a wrong PIN is refused with the attempts left; the right one is back at the gate, scanning", async () => {
    await unlock(page, "975310");
    await page.waitForSelector("#lock-error:not([hidden])");
    assert.match(await page.textContent("#lock-error"), /Wrong PIN.*Attempts left: 4/s);
    assert.equal(await page.isVisible("#scan"), false);
    await unlock(page, TEST_PIN);
    await page.waitForSelector("#scan:not([hidden])");
    assert.equal(await page.textContent("#where"), "evt-a · gate A");
    assert.equal(await scan(await rotating(data.tickets.audit)), "admitted");
    assert.equal(await scan(await rotating(data.tickets.main)), "already_admitted");
  });

  test("each start (a new shift) asks for the PIN; N wrong PINs wipe the device and say what was lost", async () => {
    // One scan waiting offline, then the app is started again.
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.getElementById("net").dataset.online === "false");
    assert.equal(await scan(await rotating(data.tickets.offline_conflict)), "admitted");
    await page.reload();
    await page.waitForSelector("#lock:not([hidden])");
    assert.match(await page.textContent("#lock-why"), /start the shift/);
    assert.match(await page.textContent("#lock-queue"), /^1 offline scan is waiting to sync\. After 5 more wrong PINs it is deleted too\.$/);
    for (let left = 4; left >= 1; left--) {
      await unlock(page, "975310");
      await page.waitForFunction((n) => document.getElementById("lock-error").textContent.includes(`Attempts left: ${n}.`), left);
    }
    await unlock(page, "975310");
    await page.waitForSelector("#signin:not([hidden])");
    assert.match(await page.textContent("#signin-error"), /Scanner wiped.*with 1 offline scan not yet synced\. Tell your supervisor/s);
    await shot(page, "scanner-pin-3-wiped");
    const { idb } = await dumpStorage(page);
    assert.deepEqual(Object.fromEntries(Object.entries(idb).map(([k, v]) => [k, v.map(([key]) => key)])),
      { admitted: [], bundles: [], conflicts: [], queue: [], state: ["wiped"] });
    // The notice survives a restart; a new sign-in sets a new PIN and scans.
    await page.context().setOffline(false);
    await page.reload();
    await page.waitForSelector("#signin-error:not([hidden])");
    // Through a sign-in link this time, with another token (the edge binds one device key per
    // token, and the wiped key is gone). From another page: a fragment alone does not reload.
    await page.goto("about:blank");
    await page.goto(`${web.url}/scanner/#token=${data.tokens.staff2}`);
    await setPin(page, "802461");
    assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
    await page.waitForSelector("#setup:not([hidden])");
    await page.fill("#gate", "A");
    await page.click("#setup-form button[type=submit]");
    await page.waitForSelector("#scan:not([hidden])");
    assert.equal(await scan(await rotating(data.tickets.gps)), "admitted");
  });

  test("no page errors", () => assert.deepEqual(errors, []));
});

describe("scanner fingerprint unlock (WebAuthn, virtual authenticator)", { skip }, () => {
  let edge, web, browser, page, cdp, authenticatorId, data;
  const errors = [];

  before(async () => {
    edge = await startEdge({ ALLOW_UNSIGNED_SYNC: "false" });
    data = edge.fixture.data;
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: data.bundle_public_key } });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30000);
    watchErrors(page, errors);
    cdp = await browser.context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", { options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      hasPrf: true, automaticPresenceSimulation: true } }));
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await edge?.close();
  });

  async function startScanning() {
    await page.fill("#gate", "A");
    await page.click("#setup-form button[type=submit]");
    await page.waitForSelector("#scan:not([hidden])");
  }
  const scan = (code) => scanOnce(page, code);

  test("after the PIN, the fingerprint is offered; it unlocks the scanner at the next start", async () => {
    // WebAuthn needs a domain for its relying party id (an IP address is refused): localhost.
    await page.goto(`${web.url.replace("127.0.0.1", "localhost")}/scanner/`);
    await page.fill("#token", data.tokens.staff);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#pin-set:not([hidden])");
    await page.fill("#pin-new", TEST_PIN);
    await page.fill("#pin-confirm", TEST_PIN);
    await page.click("#pin-set-form button[type=submit]");
    await page.waitForSelector("#pin-webauthn:not([hidden])");
    await shot(page, "scanner-pin-4-fingerprint-offer");
    await page.click("#pin-webauthn-on");
    await page.waitForSelector("#setup:not([hidden])");
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1, "one platform credential made");
    await startScanning();
    assert.equal(await scan(await rotating(data.tickets.main)), "admitted");

    await page.reload();
    await page.waitForSelector("#lock-webauthn:not([hidden])");
    await page.click("#lock-webauthn");
    await page.waitForSelector("#scan:not([hidden])");
    assert.equal(await page.textContent("#where"), "evt-a · gate A");
    assert.equal(await scan(await rotating(data.tickets.main)), "already_admitted");
    assert.equal(await scan(await rotating(data.tickets.audit)), "admitted");
  });

  test("an authenticator that does not verify the user opens nothing; the PIN still does", async () => {
    await cdp.send("WebAuthn.setUserVerified", { authenticatorId, isUserVerified: false });
    await page.reload();
    await page.waitForSelector("#lock-webauthn:not([hidden])");
    await page.click("#lock-webauthn");
    await page.waitForSelector("#lock-error:not([hidden])");
    assert.match(await page.textContent("#lock-error"), /did not confirm it is you/);
    assert.equal(await page.isVisible("#scan"), false);
    assert.equal(await page.isVisible("#lock"), true);
    await shot(page, "scanner-pin-5-fingerprint-refused");
    await unlock(page);
    await page.waitForSelector("#scan:not([hidden])");
    assert.equal(await scan(await rotating(data.tickets.gps)), "admitted");
  });

  test("no page errors", () => assert.deepEqual(errors, []));
});
