// The door scanner's camera path in headless chromium against the real edge in workerd: the
// camera is chromium's fake capture device playing a Y4M video of phones' codes (the site's
// rotating code, rendered by the site's own drawQr; see ../lib/camera.mjs), and the scanner,
// decoding frames with jsQR (this chromium has no BarcodeDetector: a stand-in checks that path),
// must reach the verdict of the catalogue (MASUK / SUDAH MASUK / DITOLAK), with one scan request
// per code held in view. The videos are made after sign-in, so their device proofs are fresh
// when the camera starts.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import id from "../../shared/i18n/id.js";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { toGateSetup } from "../lib/pin.mjs";
import { fakeCameraArgs, renderFrame, writeY4m } from "../lib/camera.mjs";
import { rotating } from "../lib/codes.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";

const skip = requirements("the camera tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");
const FPS = 5;
const now = () => Math.floor(Date.now() / 1000);

// Records what the page makes the device do: vibrations and the tones started.
function recordSignals() {
  window.__signals = { vibrate: [], tones: [] };
  Object.defineProperty(navigator, "vibrate", { configurable: true, value: (p) => (window.__signals.vibrate.push(p), true) });
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function createOscillator() {
    const o = create.call(this);
    const start = o.start.bind(o);
    o.start = (...a) => (window.__signals.tones.push(o.frequency.value), start(...a));
    return o;
  };
}

// A BarcodeDetector for a chromium without one (Linux): detect() reads the video's frame with
// the page's jsQR, so that the scanner's detector branch runs as it would with the real one.
function standInDetector() {
  window.__detectCalls = 0;
  window.BarcodeDetector = class {
    constructor({ formats }) {
      if (!formats.includes("qr_code")) throw new Error("asked for no QR codes");
    }
    async detect(source) {
      window.__detectCalls += 1;
      const c = document.createElement("canvas");
      c.width = source.videoWidth;
      c.height = source.videoHeight;
      const ctx = c.getContext("2d", { willReadFrequently: true });
      ctx.drawImage(source, 0, 0);
      const img = ctx.getImageData(0, 0, c.width, c.height);
      const found = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
      return found ? [{ rawValue: found.data, format: "qr_code" }] : [];
    }
  };
}

describe("the scanner's camera against the edge", { skip }, () => {
  let edge, web, renderer, page, dir, camera, file;
  const open = [];

  before(async () => {
    edge = await startEdge({ ALLOW_UNSIGNED_SYNC: "false" });
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: edge.fixture.data.bundle_public_key } });
    dir = mkdtempSync(path.join(tmpdir(), "karcis-camera-"));
    // Renders the frames with the site's modules.
    renderer = await launch();
    page = await renderer.context.newPage();
    page.setDefaultTimeout(30000);
    await page.goto(`${web.url}/tickets.html`);
    await page.waitForSelector("#empty:not([hidden])");
    // One scanner device for the whole file (its staff token binds to one device key): chromium
    // reads the video file afresh each time a page opens the camera.
    file = path.join(dir, "camera.y4m");
    camera = await launch({ args: fakeCameraArgs(file), permissions: ["camera"], locale: "id-ID" });
  });
  after(async () => {
    await camera?.close();
    await renderer?.close();
    await web?.close();
    await edge?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The scanner (Indonesian) signed in at `gateId` (A) in a new page, its camera playing the video
   * that `segments()` gives ([{ text, count, ...renderFrame options }]), made once signed in; the
   * camera started. Returns the page, the `qr` of every POST /v1/scan, and the page errors.
   */
  async function atGate(segments, { init, gateId = "A" } = {}) {
    while (open.length) await open.pop().close(); // the previous page's camera stops with it
    const p = await camera.context.newPage();
    open.push(p);
    p.setDefaultTimeout(30000);
    const errors = [];
    watchErrors(p, errors);
    const scans = [];
    p.on("request", (r) => {
      if (r.method() === "POST" && new URL(r.url()).pathname === "/edge/v1/scan") scans.push(r.postDataJSON().qr);
    });
    await p.addInitScript(recordSignals);
    if (init) await p.addInitScript(init);
    await p.goto(`${web.url}/scanner/#token=${edge.fixture.data.tokens.staff}`);
    await toGateSetup(p);
    await p.fill("#gate", gateId);
    await p.click("#setup-form button[type=submit]");
    await p.waitForSelector("#scan:not([hidden])");
    await p.waitForFunction(() => document.getElementById("bundle").dataset.state === "ok");
    const segs = await segments();
    const frames = [];
    for (const s of segs) frames.push({ frame: await renderFrame(page, s), count: s.count });
    writeY4m(file, frames, FPS);
    await p.click("#camera");
    return { page: p, scans, errors, texts: segs.map((s) => s.text) };
  }

  async function verdict(p) {
    await p.waitForSelector("#result:not([hidden])");
    return p.evaluate(() => ({
      result: document.getElementById("result").dataset.result,
      cls: document.getElementById("result").className,
      big: document.getElementById("result-big").textContent,
      why: document.getElementById("result-why").textContent,
      counter: document.getElementById("counter").textContent,
      note: document.getElementById("camera-note").textContent,
      signals: window.__signals,
      colour: getComputedStyle(document.getElementById("result")).backgroundColor,
      // The stylesheet's --ok and --bad, as computed colours.
      palette: Object.fromEntries(["ok", "bad"].map((name) => {
        const probe = document.createElement("i");
        probe.style.backgroundColor = `var(--${name})`;
        document.body.append(probe);
        const c = getComputedStyle(probe).backgroundColor;
        probe.remove();
        return [name, c];
      })),
    }));
  }

  async function next(p) {
    await p.click("#result-next");
    await p.waitForSelector("#result", { state: "hidden" });
  }

  /** Waits until the scanner has looked at `n` more frames (decoded or not). */
  async function looks(p, n) {
    const from = Number(await p.getAttribute("#video", "data-looks"));
    await p.waitForFunction((target) => Number(document.getElementById("video").dataset.looks) >= target, from + n);
  }

  test("a phone's rotating code held in the camera: MASUK with sound and buzz, one scan request however many frames", async () => {
    const ticket = edge.fixture.data.tickets.main;
    const gate = await atGate(async () => [{ text: await rotating(ticket), count: 3 * FPS }]);
    const v = await verdict(gate.page);
    assert.equal(v.result, "admitted");
    assert.equal(v.big, id["scan.verdict.admitted"]);
    assert.equal(v.why, id["scan.reason.admitted"]);
    assert.match(v.cls, /\bok\b/);
    assert.equal(v.note, id["scan.camera.jsqr"]);
    assert.deepEqual(v.signals.vibrate, [[120]]);
    assert.deepEqual(v.signals.tones, [880, 1320]);
    assert.equal(v.counter, id["scan.counter"].replace("{n}", "1"));
    // Full screen, in the stylesheet's green: readable at arm's length.
    const box = await gate.page.locator("#result").boundingBox();
    assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844]);
    assert.equal(v.colour, v.palette.ok);
    assert.notEqual(v.palette.ok, v.palette.bad);
    await shot(gate.page, "camera-id-1-admitted");
    await next(gate.page);
    // The phone stays in view: 20 more frames looked at, still the one request.
    await looks(gate.page, 20);
    await shot(gate.page, "camera-id-0-scanning");
    assert.equal(await gate.page.isHidden("#result"), true);
    assert.deepEqual(gate.scans, gate.texts);
    assert.deepEqual(gate.errors, []);
  });

  test("the code changes mid-stream: the phone's next rotation fires nothing, the next person's code is admitted", async () => {
    const t = edge.fixture.data.tickets;
    const gate = await atGate(async () => {
      const at = now();
      return [
        { text: await rotating(t.retry, at), count: 1 * FPS },
        // The same phone a second later: a new timestamp and signature, the same ticket.
        { text: await rotating(t.retry, at + 1), count: 3 * FPS },
        { text: await rotating(t.gps, at), count: 6 * FPS },
      ];
    });
    const first = await verdict(gate.page);
    assert.equal(first.result, "admitted");
    await next(gate.page);
    const second = await verdict(gate.page);
    assert.equal(second.result, "admitted", JSON.stringify(second));
    assert.equal(second.big, id["scan.verdict.admitted"]);
    assert.equal(second.counter, id["scan.counter"].replace("{n}", "3"), "this device admitted 3 at gate A");
    // One request per ticket: the first of the two renders seen (a slow start may miss the first),
    // none for the other, then the next person's.
    assert.equal(gate.scans.length, 2, JSON.stringify(gate.scans.map((q) => q.slice(0, 24))));
    assert.ok(gate.texts.slice(0, 2).includes(gate.scans[0]));
    assert.equal(gate.scans[1], gate.texts[2]);
    assert.deepEqual(gate.errors, []);
  });

  test("scaled down to 2 pixels a module: the code read again is SUDAH MASUK", async () => {
    const gate = await atGate(async () => [{ text: await rotating(edge.fixture.data.tickets.main), size: 146, count: 3 * FPS }]);
    const v = await verdict(gate.page);
    assert.equal(v.result, "already_admitted");
    assert.equal(v.big, id["scan.verdict.already"]);
    assert.match(v.cls, /\bbad\b/);
    assert.match(v.why, /gerbang A/);
    assert.equal(v.colour, v.palette.bad);
    assert.deepEqual(v.signals.vibrate, [[250, 120, 250]]);
    assert.deepEqual(v.signals.tones, [330, 330]);
    assert.equal(v.counter, id["scan.counter"].replace("{n}", "3"), "a refusal counts nothing");
    await shot(gate.page, "camera-id-2-already-admitted");
    assert.deepEqual(gate.scans, gate.texts);
    assert.deepEqual(gate.errors, []);
  });

  test("blurred, dark and low-contrast: a screenshot's old code is read and DITOLAK as too old", async () => {
    const gate = await atGate(async () => [{ text: await rotating(edge.fixture.data.tickets.stale, now() - 45),
      size: 300, blur: 1.5, contrast: 0.35, brightness: 0.6, count: 3 * FPS }]);
    const v = await verdict(gate.page);
    assert.equal(v.result, "stale");
    assert.equal(v.big, id["scan.verdict.refused"]);
    assert.equal(v.why, id["scan.reason.stale"]);
    assert.match(v.cls, /\bbad\b/);
    assert.equal(v.colour, v.palette.bad);
    assert.deepEqual(v.signals.vibrate, [[500, 150, 500]]);
    assert.deepEqual(v.signals.tones, [196]);
    await shot(gate.page, "camera-id-3-refused-blurred");
    assert.deepEqual(gate.scans, gate.texts);
    assert.deepEqual(gate.errors, []);
  });

  test("the BarcodeDetector path (the browser's own, else a stand-in on jsQR) admits, at another gate with its own count", async (t) => {
    const real = await page.evaluate(() => "BarcodeDetector" in window);
    t.diagnostic(`this chromium has BarcodeDetector: ${real}`);
    const gate = await atGate(async () => [{ text: await rotating(edge.fixture.data.tickets.concurrent), count: 3 * FPS }],
      { init: real ? undefined : standInDetector, gateId: "B" });
    const v = await verdict(gate.page);
    assert.equal(v.result, "admitted");
    assert.equal(v.counter, id["scan.counter"].replace("{n}", "1"), "gate B counts its own admissions, not gate A's");
    assert.equal(v.note, id["scan.camera.builtin"]);
    if (!real) assert.ok(await gate.page.evaluate(() => window.__detectCalls) > 0);
    assert.deepEqual(gate.scans, gate.texts);
    assert.deepEqual(gate.errors, []);
  });
});
