// Copies the two small browser libraries from node_modules into web/vendor/ (served as static
// files; no CDN). Run by `make web-setup` after `npm ci`.
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(web, "vendor");
mkdirSync(out, { recursive: true });
for (const [from, to] of [
  ["node_modules/qrcode-generator/dist/qrcode.mjs", "qrcode.mjs"],
  ["node_modules/jsqr/dist/jsQR.js", "jsQR.js"],
]) {
  copyFileSync(path.join(web, from), path.join(out, to));
}
console.log("web/vendor: qrcode.mjs, jsQR.js");
