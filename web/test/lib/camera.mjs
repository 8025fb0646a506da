// A fake camera for chromium: frames of a phone's code drawn by the site's own renderer
// (/js/qr.js drawQr, in a page of the web server) on a 640x480 picture, made smaller, blurred,
// darker or flatter as a door camera sees them, written as a Y4M video (I420) that chromium plays
// in a loop through --use-file-for-fake-video-capture.
import { writeFileSync } from "node:fs";

export const FRAME = { width: 640, height: 480 };

/** The switches that make getUserMedia answer with `file` (no permission prompt). */
export function fakeCameraArgs(file) {
  return ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", `--use-file-for-fake-video-capture=${file}`];
}

/**
 * One frame (RGBA) of `text` rendered by the site: the code `size` pixels wide (quiet zone
 * included) in the middle of a dark picture, then `blur` (px), `contrast` and `brightness`
 * (CSS filter factors, 1 = unchanged) as a phone screen in a dark venue looks to a camera.
 */
export async function renderFrame(page, { text, size = 400, blur = 0, contrast = 1, brightness = 1 }) {
  const b64 = await page.evaluate(async ({ text, size, blur, contrast, brightness, width, height }) => {
    const { drawQr } = await import("/js/qr.js");
    const code = document.createElement("canvas");
    drawQr(code, text);
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = "#2b2b2b";
    ctx.fillRect(0, 0, width, height);
    ctx.filter = `blur(${blur}px) contrast(${contrast}) brightness(${brightness})`;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(code, Math.round((width - size) / 2), Math.round((height - size) / 2), size, size);
    const data = ctx.getImageData(0, 0, width, height).data;
    let s = "";
    for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return btoa(s);
  }, { text, size, blur, contrast, brightness, ...FRAME });
  return new Uint8Array(Buffer.from(b64, "base64"));
}

/** RGBA to I420 (BT.601, full range), averaging each 2x2 block for the chroma planes. */
export function rgbaToI420(rgba, width, height) {
  const out = new Uint8Array(width * height * 3 / 2);
  const u0 = width * height;
  const v0 = u0 + (width / 2) * (height / 2);
  const clamp = (x) => Math.max(0, Math.min(255, Math.round(x)));
  for (let i = 0, p = 0; i < width * height; i++, p += 4) {
    out[i] = clamp(0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2]);
  }
  for (let y = 0; y < height; y += 2) {
    for (let x = 0; x < width; x += 2) {
      let r = 0, g = 0, b = 0;
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = ((y + dy) * width + x + dx) * 4;
        r += rgba[p] / 4;
        g += rgba[p + 1] / 4;
        b += rgba[p + 2] / 4;
      }
      const k = (y / 2) * (width / 2) + x / 2;
      out[u0 + k] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      out[v0 + k] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  return out;
}

/**
 * Writes a Y4M video of `segments` ({ frame: RGBA from renderFrame, count: frames }) at `fps`:
 * chromium plays it from the start when the page opens the camera, and loops.
 */
export function writeY4m(file, segments, fps = 10) {
  const { width, height } = FRAME;
  const parts = [Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`)];
  const header = Buffer.from("FRAME\n");
  for (const { frame, count } of segments) {
    const yuv = Buffer.from(rgbaToI420(frame, width, height));
    for (let i = 0; i < count; i++) parts.push(header, yuv);
  }
  writeFileSync(file, Buffer.concat(parts));
}
