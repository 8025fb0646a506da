// Renders QR text as crisp black modules on white (alphanumeric mode, error correction M).
import qrcode from "/vendor/qrcode.mjs";

const SCALE = 4;
const QUIET = 4;

/** Draws the QR text (alphanumeric mode, level M) onto a canvas. */
export function drawQr(canvas, text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Alphanumeric");
  qr.make();
  const n = qr.getModuleCount();
  const size = (n + 2 * QUIET) * SCALE;
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = "#000";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) if (qr.isDark(r, c)) ctx.fillRect((c + QUIET) * SCALE, (r + QUIET) * SCALE, SCALE, SCALE);
  }
}

