// The scanner's camera: BarcodeDetector where the browser has it, else jsQR on canvas frames,
// and the rule that a code held in view fires one scan. A phone re-renders its rotating code
// every few seconds (a new timestamp and signature around the same sealed credential), so "the
// same code" is the same sealed credential, not the same text.
// Relative, so that the unit tests import it in Node too.
import * as tf from "../shared/ticket-format.js";

/** What stays the same while one ticket is held in view: its sealed credential (any kind), else
 * the text itself (not a karcis code: the door refuses it, once). */
export function codeIdentity(text) {
  try {
    return tf.bytesToHex(tf.parseQr(text.trim()).sealed);
  } catch {
    return text;
  }
}

/**
 * Decides which decoded frames become scans (pure: the caller passes the clock). A code fires
 * once; the same code fires again only after it has been out of view for `forgetMs` (a frame
 * that fails to decode does not count as "out of view" until then), or after another code
 * fired. While the scanner is busy or shows a verdict it does not look: `hold` keeps the code
 * counted as in view, so dismissing the verdict with the phone still there fires nothing.
 */
export class HoldFilter {
  constructor(forgetMs = 3000) {
    this.forgetMs = forgetMs;
    this.current = null;
    this.seenAt = -Infinity;
  }

  /** A frame at `nowMs` with `text` decoded (or null): the text to scan, or null. */
  frame(text, nowMs) {
    if (text == null) return null;
    const id = codeIdentity(text);
    const fire = id !== this.current || nowMs - this.seenAt > this.forgetMs;
    this.current = id;
    this.seenAt = nowMs;
    return fire ? text : null;
  }

  /** The scanner was not looking at `nowMs`: whatever was in view is assumed still there. */
  hold(nowMs) {
    if (this.current !== null) this.seenAt = nowMs;
  }
}

/** Frames between two looks: a phone camera gives ~30 a second; decoding every one would keep a
 * mid-range phone's CPU busy for nothing. */
export const TICK_MS = 150;

/**
 * Opens the back camera into `video` and calls `onCode(text)` for each code that fires (see
 * HoldFilter); `paused()` says the scanner is busy or shows a verdict. Returns "builtin" or
 * "jsqr" (the decoder used), or null when there is no camera. The latest look is the performance
 * measure "door.decode" (the bench reads it) and looks are counted in video.dataset.looks (the
 * tests wait on it).
 */
export async function startCamera(video, { onCode, paused, clock = () => performance.now() }) {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
  } catch {
    return null;
  }
  const detector = "BarcodeDetector" in window ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const filter = new HoldFilter();
  let looks = 0;
  const decode = async () => {
    if (detector) {
      const codes = await detector.detect(video).catch(() => []);
      return codes[0]?.rawValue ?? null;
    }
    if (!window.jsQR) return null;
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    ctx.drawImage(video, 0, 0);
    const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" })?.data ?? null;
  };
  const tick = async () => {
    if (video.hidden) return;
    if (paused() || video.readyState < 2) {
      filter.hold(clock());
    } else {
      const start = performance.now();
      const text = await decode();
      // Only the latest look is kept: a shift of looks would otherwise pile up in the timeline.
      performance.clearMeasures("door.decode");
      performance.measure("door.decode", { start, end: performance.now(), detail: { found: text != null } });
      video.dataset.looks = String(++looks);
      const fire = filter.frame(text, clock());
      if (fire) await onCode(fire);
    }
    setTimeout(tick, TICK_MS);
  };
  tick();
  return detector ? "builtin" : "jsqr";
}
