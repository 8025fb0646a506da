// The phone's rotating QR, rendered in chromium by the site's own modules (WebCrypto signature
// with a non-extractable key, qrcode-generator), read back from a screenshot's pixels and sent
// to the real edge: admitted while fresh; a screenshot of it is refused once the freshness
// window has passed. The page's clock is injected (the code is signed for a given time), so the
// stale case needs no wait and neither outcome depends on how fast this machine renders.
import assert from "node:assert/strict";
import { createECDH } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { startServer } from "../../scripts/serve.mjs";
import * as tf from "../../shared/ticket-format.js";
import { launch, requirements, shot, watchErrors } from "../lib/browser.mjs";
import { decodePng } from "../lib/decode.mjs";
import { edgeAvailable, startEdge } from "../lib/edge.mjs";

const skip = requirements("the QR tests", edgeAvailable(), "KARCIS_SKIP_EDGE_TESTS");
// The edge's window (its default). A fresh code has all of it to be rendered, read and scanned.
const FRESHNESS = 30;

function jwkOf(privateHex) {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateHex, "hex"));
  const pub = ecdh.getPublicKey(null, "uncompressed");
  return { kty: "EC", crv: "P-256", d: tf.bytesToB64url(Buffer.from(privateHex, "hex")),
    x: tf.bytesToB64url(pub.subarray(1, 33)), y: tf.bytesToB64url(pub.subarray(33)) };
}

describe("rotating QR from pixels to the door", { skip }, () => {
  let edge, web, browser, page;
  const errors = [];
  before(async () => {
    edge = await startEdge({ FRESHNESS_SECS: String(FRESHNESS) });
    web = await startServer({ env: { KARCIS_EDGE_URL: edge.url } });
    browser = await launch();
    page = await browser.context.newPage();
    page.setDefaultTimeout(30000);
    watchErrors(page, errors);
    await page.goto(`${web.url}/tickets.html`);
    await page.waitForSelector("#empty:not([hidden])");
  });
  after(async () => {
    await browser?.close();
    await web?.close();
    await edge?.close();
  });

  /** Renders the ticket's code as the page would at `timestamp`; returns the canvas screenshot (PNG). */
  async function render(ticket, timestamp = Math.floor(Date.now() / 1000)) {
    await page.evaluate(async ({ t, jwk, timestamp }) => {
      const tf = await import("/shared/ticket-format.js");
      const { drawQr } = await import("/js/qr.js");
      const key = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      if (key.extractable) throw new Error("key must not be extractable");
      const text = await tf.presentRotating({ sealed: tf.hexToBytes(t.sealed_hex), ticketId: t.ticket_id, eventId: t.event_id,
        privateKey: key, timestamp });
      let c = document.getElementById("qr");
      if (!c) {
        // Laid out as the page lays out a ticket (the fixture ticket has no order on this device).
        document.getElementById("empty").hidden = true;
        const box = document.createElement("article");
        box.className = "ticket";
        const h = document.createElement("h2");
        h.textContent = `${t.event_id} · fixture ticket`;
        c = document.createElement("canvas");
        c.id = "qr";
        box.append(h, c);
        document.getElementById("tickets").append(box);
      }
      drawQr(c, text);
    }, { t: ticket, jwk: jwkOf(ticket.device_key_hex), timestamp });
    return page.locator("#qr").screenshot();
  }

  async function scan(qr, scanId) {
    const res = await fetch(`${edge.url}/v1/scan`, { method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${edge.fixture.data.tokens.staff}` },
      body: JSON.stringify({ qr, gate_id: "A", scan_id: scanId, event_id: "evt-a" }) });
    return res.json();
  }

  test("the decoded image is a rotating code the edge admits", async () => {
    const png = await render(edge.fixture.data.tickets.main);
    await shot(page, "ticket-qr-render");
    const text = decodePng(png);
    assert.ok(text, "jsQR found a code in the screenshot");
    assert.match(text, /^KC1:/);
    assert.equal(tf.parseQr(text).kind, tf.KIND_ROTATING);
    const r = await scan(text, "qr-test-1");
    assert.equal(r.result, "admitted", JSON.stringify(r));
    assert.equal(r.ticket_id, edge.fixture.data.tickets.main.ticket_id);
  });

  test("a screenshot of the code is refused after the freshness window", async () => {
    // Shown on the phone FRESHNESS + 2 s ago (the phone's clock), scanned now.
    const shownAt = Math.floor(Date.now() / 1000) - (FRESHNESS + 2);
    const text = decodePng(await render(edge.fixture.data.tickets.gps, shownAt));
    assert.ok(text);
    assert.equal(tf.parseQr(text).timestamp, shownAt);
    const r = await scan(text, "qr-test-2");
    assert.equal(r.result, "stale", JSON.stringify(r));
    assert.equal(r.detail, "stale_proof");
  });

  test("the code rotates: two renders a second apart differ", async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = decodePng(await render(edge.fixture.data.tickets.retry, now));
    const b = decodePng(await render(edge.fixture.data.tickets.retry, now + 1));
    assert.ok(a && b);
    assert.notEqual(a, b);
    assert.ok(tf.parseQr(b).timestamp > tf.parseQr(a).timestamp, "a newer timestamp is signed");
  });

  test("no page errors", () => assert.deepEqual(errors, []));
});
