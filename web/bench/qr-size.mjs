// What would shrink the rotating code (a measurement for a future payload version; the format is
// unchanged). For payloads laid out as ticket/FORMAT.md version 1 says, and for variants of it,
// the QR version qrcode-generator picks (the site's encoder) and its modules across: fewer
// modules are bigger modules on the same phone screen, which a camera reads from further away.
//
//   cd web && node bench/qr-size.mjs
import qrcode from "qrcode-generator";

/** Bytes of a version-1 rotating payload: version, kind, timestamp, device signature, sealed. */
function rotatingBytes({ eventId = 5, gates = [1], deviceKey = 33, times = 8, stamp = 8, claimsKid = 4 } = {}) {
  const claims = 1 + claimsKid + 16 + 1 + eventId + 1 + gates.reduce((n, g) => n + 1 + g, 0) + 3 * times + 1 + deviceKey;
  const credential = claims + 64; // issuer signature
  const sealed = 4 + 12 + credential + 16; // kid, nonce, ciphertext with its tag
  return 2 + stamp + 64 + sealed;
}

const base45Chars = (n) => Math.floor(n / 2) * 3 + (n % 2) * 2;

function version(chars, mode, ecl) {
  const qr = qrcode(0, ecl);
  // Only the length and the mode matter for the version: a filler of the right alphabet.
  qr.addData(mode === "Alphanumeric" ? "A".repeat(chars) : "a".repeat(chars), mode);
  qr.make();
  return (qr.getModuleCount() - 17) / 4;
}

const rows = [];
const add = (name, bytes, { mode = "Alphanumeric", ecl = "M" } = {}) => {
  // Text: "KC1:" then base45 (alphanumeric mode); binary: "KC1:" then the raw bytes (byte mode).
  const chars = mode === "Alphanumeric" ? 4 + base45Chars(bytes) : 4 + bytes;
  const v = version(chars, mode, ecl);
  rows.push({ name, bytes, chars, mode, ecl, v, modules: 17 + 4 * v });
};

const v1 = rotatingBytes();
add("version 1 today (event id 5 chars, gate *)", v1);
for (const ecl of ["L", "Q", "H"]) add(`version 1, error correction ${ecl}`, v1, { ecl });
add("version 1, raw bytes in byte mode (not text: jsQR/BarcodeDetector hand back strings)", v1, { mode: "Byte" });
add("version 1, event id 17 chars and 2 gates of 4", rotatingBytes({ eventId: 17, gates: [4, 4] }));
add("u32 times in the claims and the proof (−16 bytes)", rotatingBytes({ times: 4, stamp: 4 }));
add("no kid repeated inside the claims (−4 bytes)", rotatingBytes({ claimsKid: 0 }));
add("both of the above (−20 bytes)", rotatingBytes({ times: 4, stamp: 4, claimsKid: 0 }));
add("both, error correction L", rotatingBytes({ times: 4, stamp: 4, claimsKid: 0 }), { ecl: "L" });
add("static code of a ticket without device key, today", rotatingBytes({ stamp: 0, deviceKey: 0 }) - 64);

console.log("\nRotating code size by layout, mode and error correction (qrcode-generator's choice of version):");
console.log("| layout | payload bytes | QR characters | mode | EC | QR version | modules across |");
console.log("|---|---|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.name} | ${r.bytes} | ${r.chars} | ${r.mode} | ${r.ecl} | ${r.v} | ${r.modules} |`);
