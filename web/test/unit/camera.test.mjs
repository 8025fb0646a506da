// The scanner's rule for codes held in the camera (scanner/camera.js HoldFilter): one scan per
// ticket in view, whatever the phone re-renders, and again only once it has left the view.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { codeIdentity, HoldFilter } from "../../scanner/camera.js";
import * as tf from "../../shared/ticket-format.js";

// Codes in the karcis layout (parse only: nothing here is verified).
const sealedA = new Uint8Array(randomBytes(120));
const sealedB = new Uint8Array(randomBytes(120));
const code = (sealed, ts) => tf.rotatingQr(sealed, ts, new Uint8Array(randomBytes(64)));

/** Feeds `frames` ([text|null|"pause", ms]) to a filter; returns the texts that fired. */
function run(frames, forgetMs = 3000) {
  const f = new HoldFilter(forgetMs);
  const fired = [];
  for (const [text, at] of frames) {
    if (text === "pause") f.hold(at);
    else {
      const out = f.frame(text, at);
      if (out) fired.push(out);
    }
  }
  return fired;
}

test("the same ticket's rotations share an identity; another ticket's and a foreign text differ", () => {
  assert.equal(codeIdentity(code(sealedA, 100)), codeIdentity(code(sealedA, 105)));
  assert.equal(codeIdentity(tf.staticQr(sealedA)), codeIdentity(code(sealedA, 100)));
  assert.notEqual(codeIdentity(code(sealedA, 100)), codeIdentity(code(sealedB, 100)));
  assert.equal(codeIdentity("https://example.com/"), "https://example.com/");
});

test("a code held in view fires once, across the phone's rotations and frames that fail to decode", () => {
  const a1 = code(sealedA, 100);
  const a2 = code(sealedA, 105);
  const frames = [];
  for (let i = 0; i < 40; i++) frames.push([i % 3 === 2 ? null : i < 20 ? a1 : a2, i * 150]);
  assert.deepEqual(run(frames), [a1]);
});

test("the next code fires, and the first fires again when shown after another", () => {
  const a = code(sealedA, 100);
  const b = code(sealedB, 100);
  assert.deepEqual(run([[a, 0], [a, 150], [b, 300], [b, 450], [a, 600]]), [a, b, a]);
});

test("a code fires again after it has been out of view for longer than the window", () => {
  const a = code(sealedA, 100);
  assert.deepEqual(run([[a, 0], [null, 1000], [a, 2900]], 3000), [a]);
  assert.deepEqual(run([[a, 0], [null, 1000], [a, 3100]], 3000), [a, a]);
});

test("time spent showing a verdict does not count as out of view", () => {
  const a = code(sealedA, 100);
  assert.deepEqual(run([[a, 0], ["pause", 2000], ["pause", 9000], [a, 9150]], 3000), [a]);
  // With nothing seen before the pause, the first code fires.
  assert.deepEqual(run([["pause", 0], [a, 150]]), [a]);
});
