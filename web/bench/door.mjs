// Benchmark of the door as staff use it (not a test: it asserts nothing about time).
//
//   make bench-door     (or: cd web && EDGE_TESTGEN=.../edge-testgen node bench/door.mjs)
//
// 1. Time to admit through the scanner's camera path: the real scanner in headless chromium, its
//    camera chromium's fake device playing a video (../test/lib/camera.mjs) of 1 s without a
//    code, then a phone's fresh rotating code; the real edge in workerd on loopback, reached
//    through the dev server's /edge proxy. From the first frame with the code painted in the
//    <video> (requestVideoFrameCallback, a quiet-zone pixel turning white) to the verdict painted
//    (the frame after #result is shown), split into: waiting for the scanner's next look (it looks
//    every TICK_MS), the jsQR decode of that frame, the round trip of POST /v1/scan (Resource
//    Timing; the edge's verification included) and the rest (IndexedDB, drawing the verdict).
// 2. The edge's verification alone, per scan, inside workerd (its test route /v1/_bench/verify,
//    as bench-edge measures it).
// 3. jsQR decode time per 640x480 frame (Node, the same jsqr package the scanner vendors), for
//    the static code, the rotating code, a smaller rotating code and a frame with no code; and
//    how often jsQR reads a code by pixels a module, today's codes against one 20 bytes shorter.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import jsQR from "jsqr";
import qrcode from "qrcode-generator";
import { startServer } from "../scripts/serve.mjs";
import * as tf from "../shared/ticket-format.js";
import { launch } from "../test/lib/browser.mjs";
import { toGateSetup } from "../test/lib/pin.mjs";
import { FRAME, fakeCameraArgs, renderFrame, writeY4m } from "../test/lib/camera.mjs";
import { rotating } from "../test/lib/codes.mjs";
import { startEdge } from "../test/lib/edge.mjs";

const ADMITS = Number(process.env.BENCH_ADMITS ?? 30);
const DECODES = Number(process.env.BENCH_DECODES ?? 40);
const VERIFY_ITERATIONS = 300;
const FPS = 15;
const CODE_SIZE = 400; // pixels across, quiet zone included: a phone held ~25 cm from a 640x480 camera
// A pixel of the code's quiet zone: white once the code is in view, dark before.
const PROBE = { x: (FRAME.width - CODE_SIZE) / 2 + 6, y: FRAME.height / 2 };

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// In the scanner page: when the code is first painted, and when the verdict is.
function probe({ x, y }) {
  window.__door = { inView: null, shown: null };
  addEventListener("DOMContentLoaded", () => {
    const v = document.getElementById("video");
    const c = document.createElement("canvas");
    c.width = c.height = 1;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    const onFrame = () => {
      if (window.__door.inView == null && v.videoWidth) {
        ctx.drawImage(v, x, y, 1, 1, 0, 0, 1, 1);
        if (ctx.getImageData(0, 0, 1, 1).data[0] > 200) window.__door.inView = performance.now();
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    const box = document.getElementById("result");
    new MutationObserver(() => {
      if (!box.hidden && window.__door.shown == null) requestAnimationFrame(() => (window.__door.shown = performance.now()));
    }).observe(box, { attributes: true, attributeFilter: ["hidden"] });
  });
}

/** `offline`: the page is offline once signed in, so the scanner decides with its signed bundle
 * (the same verification in WebCrypto, then IndexedDB). */
async function timeToAdmit(edge, web, renderer, dir, { offline = false, people = ADMITS } = {}) {
  const file = path.join(dir, "camera.y4m");
  const cam = await launch({ args: fakeCameraArgs(file), permissions: ["camera"] });
  const blank = await renderFrame(renderer, { text: "KC1:", size: 0 });
  const rows = [];
  const results = {};
  try {
    for (let i = 0; i < people; i++) {
      const p = await cam.context.newPage();
      p.setDefaultTimeout(30000);
      await p.addInitScript(probe, PROBE);
      await p.goto(`${web.url}/scanner/#token=${edge.fixture.data.tokens.staff}`);
      await toGateSetup(p);
      await p.fill("#gate", "A");
      await p.click("#setup-form button[type=submit]");
      await p.waitForFunction(() => document.getElementById("bundle").dataset.state === "ok");
      const code = await renderFrame(renderer, { text: await rotating(edge.fixture.data.tickets.bench), size: CODE_SIZE });
      writeY4m(file, [{ frame: blank, count: FPS }, { frame: code, count: 3 * FPS }], FPS);
      if (offline) {
        await p.context().setOffline(true);
        await p.waitForFunction(() => document.getElementById("net").dataset.online === "false");
      }
      await p.click("#camera");
      await p.waitForFunction(() => window.__door.shown != null);
      const r = await p.evaluate(() => {
        // The latest look (the scanner keeps no other), the one that found the code: it stops
        // looking while the verdict is shown.
        const decode = performance.getEntriesByName("door.decode").find((m) => m.detail.found);
        const scan = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/edge/v1/scan"));
        return { ...window.__door, decodeStart: decode.startTime, decode: decode.duration,
          fetchStart: scan?.startTime, responseEnd: scan?.responseEnd, result: document.getElementById("result").dataset.result };
      });
      results[r.result] = (results[r.result] ?? 0) + 1;
      rows.push({
        total: r.shown - r.inView,
        wait: r.decodeStart - r.inView,
        decode: r.decode,
        ...(offline
          ? { local: r.shown - r.decodeStart - r.decode }
          : { roundTrip: r.responseEnd - r.fetchStart, rest: r.shown - r.responseEnd }),
      });
      if (offline) await p.context().setOffline(false);
      await p.close();
    }
  } finally {
    await cam.close();
  }
  return { rows, results };
}

async function edgeVerification(edge) {
  const post = async (body) => {
    const t0 = performance.now();
    const res = await fetch(`${edge.url}/v1/_bench/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const json = await res.json();
    if (res.status !== 200) throw new Error(`bench route: ${res.status} ${JSON.stringify(json)}`);
    return performance.now() - t0;
  };
  const common = { qr: edge.fixture.present("bench"), event_id: "evt-a", gate_id: "A", token: edge.fixture.data.tokens.staff, backend: "webcrypto" };
  let empty = Infinity;
  let full = Infinity;
  for (let i = 0; i < 5; i++) {
    empty = Math.min(empty, await post({ ...common, iterations: 0 }));
    full = Math.min(full, await post({ ...common, iterations: VERIFY_ITERATIONS }));
  }
  return (full - empty) / VERIFY_ITERATIONS;
}

async function decodeTimes(edge, renderer) {
  const t = edge.fixture.data.tickets;
  const staticText = tf.staticQr(tf.hexToBytes(t.static.sealed_hex));
  const rotatingText = await rotating(t.bench);
  const cases = [
    ["static code, 400 px", staticText, CODE_SIZE],
    ["rotating code, 400 px", rotatingText, CODE_SIZE],
    ["static code, 146 px", staticText, 146],
    ["rotating code, 146 px", rotatingText, 146],
    ["no code in view", "KC1:", 0],
  ];
  const out = [];
  for (const [name, text, size] of cases) {
    const rgba = new Uint8ClampedArray((await renderFrame(renderer, { text, size })).buffer);
    jsQR(rgba, FRAME.width, FRAME.height, { inversionAttempts: "dontInvert" }); // warm-up (JIT)
    const times = [];
    let found = 0;
    for (let i = 0; i < DECODES; i++) {
      const t0 = performance.now();
      const r = jsQR(rgba, FRAME.width, FRAME.height, { inversionAttempts: "dontInvert" });
      times.push(performance.now() - t0);
      if (r?.data === text) found += 1;
    }
    out.push({ name, chars: size ? text.length : 0, p50: pct(times, 50), p99: pct(times, 99), found: `${found}/${DECODES}` });
  }
  return out;
}

const BANDS = [1.5, 2, 2.5, 3, 4, 5];

/** How often jsQR reads a code by its pixels a module (sizes of 100 to 400 px in steps of 3, in a
 * 640x480 frame): today's static and rotating codes, and a rotating code 20 bytes shorter (see
 * qr-size.mjs), rendered by the site's drawQr. Modules rarely land on whole pixels in a camera. */
async function readability(edge, renderer) {
  const t = edge.fixture.data.tickets;
  const cases = [
    ["static code", tf.staticQr(tf.hexToBytes(t.static.sealed_hex))],
    ["rotating code", await rotating(t.bench)],
    ["rotating code 20 bytes shorter", tf.QR_PREFIX + tf.base45Encode(new Uint8Array(randomBytes(238)))],
  ];
  const out = [];
  for (const [name, text] of cases) {
    const modules = qrModules(text);
    const bands = BANDS.slice(0, -1).map(() => ({ read: 0, of: 0 }));
    for (let size = 100; size <= 400; size += 3) {
      const band = BANDS.findIndex((lo, i) => i < BANDS.length - 1 && size / (modules + 8) >= lo && size / (modules + 8) < BANDS[i + 1]);
      if (band < 0) continue;
      const rgba = new Uint8ClampedArray((await renderFrame(renderer, { text, size })).buffer);
      bands[band].of += 1;
      if (jsQR(rgba, FRAME.width, FRAME.height, { inversionAttempts: "dontInvert" })?.data === text) bands[band].read += 1;
    }
    out.push({ name, chars: text.length, version: (modules - 17) / 4, bands });
  }
  return out;
}

function qrModules(text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Alphanumeric");
  qr.make();
  return qr.getModuleCount();
}

const dir = mkdtempSync(path.join(tmpdir(), "karcis-bench-door-"));
const edge = await startEdge();
const web = await startServer({ env: { KARCIS_EDGE_URL: edge.url }, config: { bundleSigningKey: edge.fixture.data.bundle_public_key } });
const renderer = await launch();
let admit, offline, verify, decodes, readable;
try {
  const page = await renderer.context.newPage();
  await page.goto(`${web.url}/tickets.html`);
  await page.waitForSelector("#empty:not([hidden])");
  decodes = await decodeTimes(edge, page);
  readable = await readability(edge, page);
  verify = await edgeVerification(edge);
  admit = await timeToAdmit(edge, web, page, dir);
  offline = await timeToAdmit(edge, web, page, dir, { offline: true, people: Math.ceil(ADMITS / 3) });
} finally {
  await renderer.close();
  await web.close();
  await edge.close();
  rmSync(dir, { recursive: true, force: true });
}

const f = (x) => x.toFixed(1);
console.log(`\nTime to admit through the camera (${ADMITS} people, ms; results ${JSON.stringify(admit.results)}):`);
console.log("| part | p50 | p99 |");
console.log("|---|---|---|");
for (const [k, label] of [["total", "frame in view → verdict on screen"], ["wait", "waiting for the next look"], ["decode", "jsQR decode of that frame"],
  ["roundTrip", "round trip POST /v1/scan (edge verification included)"], ["rest", "after the answer: storage, verdict painted"]]) {
  const xs = admit.rows.map((r) => r[k]);
  console.log(`| ${label} | ${f(pct(xs, 50))} | ${f(pct(xs, 99))} |`);
}
console.log(`| of the round trip: the edge's verification (workerd, WebCrypto, per scan) | ${verify.toFixed(2)} | |`);
console.log(`\nOffline (the signed bundle; ${offline.rows.length} people, ms; results ${JSON.stringify(offline.results)}):`);
console.log("| part | p50 | p99 |");
console.log("|---|---|---|");
for (const [k, label] of [["total", "frame in view → verdict on screen"], ["wait", "waiting for the next look"], ["decode", "jsQR decode of that frame"],
  ["local", "verification in the page (WebCrypto), IndexedDB, verdict painted"]]) {
  const xs = offline.rows.map((r) => r[k]);
  console.log(`| ${label} | ${f(pct(xs, 50))} | ${f(pct(xs, 99))} |`);
}
const p50 = pct(admit.rows.map((r) => r.total), 50);
console.log(`\nThe scanner's share of a gate: ${f(p50)} ms a person at p50, a ceiling of ${Math.floor(60000 / p50)} scans a minute per gate`);
console.log("(people presenting phones and staff reading the verdict are not in it: 500 people in 30 min is 16.7 a minute, 3.6 s each).");
console.log(`\njsQR decode per ${FRAME.width}x${FRAME.height} frame (Node ${process.version}, ${DECODES} runs each, ms):`);
console.log("| frame | characters | p50 | p99 | decoded |");
console.log("|---|---|---|---|---|");
for (const d of decodes) console.log(`| ${d.name} | ${d.chars || "-"} | ${f(d.p50)} | ${f(d.p99)} | ${d.found} |`);
console.log("\nSizes jsQR reads, by pixels a module (codes of 100 to 400 px in steps of 3 in a 640x480 frame):");
console.log(`| code | characters | QR version | ${BANDS.slice(0, -1).map((lo, i) => `${lo}-${BANDS[i + 1]} px`).join(" | ")} |`);
console.log(`|---|---|---|${BANDS.slice(0, -1).map(() => "---|").join("")}`);
for (const r of readable) console.log(`| ${r.name} | ${r.chars} | ${r.version} | ${r.bands.map((b) => (b.of ? `${b.read}/${b.of}` : "-")).join(" | ")} |`);
