// karcis ticket QR format, version 1, in JavaScript (see ticket/FORMAT.md, the normative text).
//
// Used by the buyer's phone (build the rotating code: device-proof message, signature with the
// phone's own non-extractable P-256 key, `KC1:` + base45) and by the door scanner while offline
// (open and verify a code with the signed offline bundle's keys). Only WebCrypto
// (`crypto.subtle`), so it runs unchanged in browsers and in Node >= 20 (the unit tests check it
// against ticket/test-vectors.json). No I/O; the clock is an argument.

const te = new TextEncoder();

export const QR_PREFIX = "KC1:";
export const MAX_QR_LEN = 2048;
export const PAYLOAD_VERSION = 1;
export const KIND_STATIC = 0;
export const KIND_ROTATING = 1;
const CLAIMS_VERSION = 1;
const CREDENTIAL_DOMAIN = te.encode("karcis/credential/v1");
const QR_AAD_DOMAIN = te.encode("karcis/qr/v1");
const DEVICE_PROOF_DOMAIN = te.encode("karcis/device-proof/v1");
const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** A refusal with the stable code of FORMAT.md (`malformed`, `stale_proof`, ...). */
export class Rejection extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}
const reject = (code) => {
  throw new Rejection(code);
};

// ---------------------------------------------------------------------------------------------
// bytes

export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError("not hex");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function b64urlToBytes(text) {
  const s = text.trim().replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new TypeError("not base64url");
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

export function bytesToB64url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function u64be(n) {
  const v = BigInt(n);
  if (v < 0n || v >= 1n << 64n) throw new RangeError("u64 out of range");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, v);
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// ---------------------------------------------------------------------------------------------
// base45 (RFC 9285)

const B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

export function base45Encode(bytes) {
  let out = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const n = bytes[i] * 256 + bytes[i + 1];
    out += B45[n % 45] + B45[Math.floor(n / 45) % 45] + B45[Math.floor(n / 2025)];
  }
  if (bytes.length % 2 === 1) {
    const n = bytes[bytes.length - 1];
    out += B45[n % 45] + B45[Math.floor(n / 45)];
  }
  return out;
}

export function base45Decode(text) {
  if (text.length % 3 === 1) throw new TypeError("base45 length");
  const vals = Array.from(text, (ch) => {
    const v = B45.indexOf(ch);
    if (v < 0) throw new TypeError("base45 character");
    return v;
  });
  const out = [];
  for (let i = 0; i < vals.length; i += 3) {
    if (i + 2 < vals.length) {
      const n = vals[i] + vals[i + 1] * 45 + vals[i + 2] * 2025;
      if (n > 0xffff) throw new TypeError("base45 value");
      out.push(n >> 8, n & 0xff);
    } else {
      const n = vals[i] + vals[i + 1] * 45;
      if (n > 0xff) throw new TypeError("base45 value");
      out.push(n);
    }
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// building codes (the phone)

/** `"karcis/device-proof/v1" || ticket id (16) || L || event id || timestamp (u64)`. */
export function deviceProofMessage(ticketId, eventId, timestamp) {
  const tid = typeof ticketId === "string" ? hexToBytes(ticketId) : ticketId;
  if (tid.length !== 16) throw new TypeError("ticket id is 16 bytes");
  if (!ID_RE.test(eventId)) throw new TypeError("event id");
  const ev = te.encode(eventId);
  return concat(DEVICE_PROOF_DOMAIN, tid, Uint8Array.of(ev.length), ev, u64be(timestamp));
}

/** The QR text of a rotating code: payload version, kind 1, timestamp, device r||s, sealed. */
export function rotatingQr(sealed, timestamp, deviceSignature) {
  if (deviceSignature.length !== 64) throw new TypeError("device signature is r||s, 64 bytes");
  const payload = concat(
    Uint8Array.of(PAYLOAD_VERSION, KIND_ROTATING),
    u64be(timestamp),
    deviceSignature,
    sealed,
  );
  return QR_PREFIX + base45Encode(payload);
}

/** The QR text of a static (printable) code. */
export function staticQr(sealed) {
  return QR_PREFIX + base45Encode(concat(Uint8Array.of(PAYLOAD_VERSION, KIND_STATIC), sealed));
}

const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };

// P-256's group order. Of the two valid signatures (r, s) and (r, n - s) only the low-S one
// (s <= n / 2) counts (FORMAT.md), so a code has one encoding. WebCrypto signs either.
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const P256_HALF_N = P256_N >> 1n;
const scalarOf = (bytes) => BigInt("0x" + bytesToHex(bytes));

/** True when `r || s` (64 bytes) has s <= n / 2. */
export function isLowS(signature) {
  return signature.length === 64 && scalarOf(signature.subarray(32)) <= P256_HALF_N;
}

/** The low-S form of `r || s`: s, or n - s when s is in the upper half. */
export function toLowS(signature) {
  if (signature.length !== 64) throw new TypeError("signature is r||s, 64 bytes");
  const s = scalarOf(signature.subarray(32));
  if (s <= P256_HALF_N) return signature;
  const out = Uint8Array.from(signature);
  out.set(hexToBytes((P256_N - s).toString(16).padStart(64, "0")), 32);
  return out;
}

/** A new device key pair; the private key cannot be exported (it stays in this browser). */
export function generateDeviceKey(subtle = globalThis.crypto.subtle) {
  return subtle.generateKey(ECDSA, false, ["sign", "verify"]);
}

/** Uncompressed SEC1 (65 bytes) of a public CryptoKey. */
export async function exportPublicSec1(publicKey, subtle = globalThis.crypto.subtle) {
  return new Uint8Array(await subtle.exportKey("raw", publicKey));
}

/** Signs the device-proof message and returns the rotating QR text for `timestamp`. */
export async function presentRotating(
  { sealed, ticketId, eventId, privateKey, timestamp },
  subtle = globalThis.crypto.subtle,
) {
  const message = deviceProofMessage(ticketId, eventId, timestamp);
  const sig = toLowS(new Uint8Array(await subtle.sign(ECDSA_SHA256, privateKey, message)));
  return rotatingQr(sealed, timestamp, sig);
}

// ---------------------------------------------------------------------------------------------
// opening codes (the scanner, offline)

/** Step 1: the text to its parts, or `malformed` / `unsupported_version`. */
export function parseQr(text) {
  if (typeof text !== "string" || text.length > MAX_QR_LEN) reject("malformed");
  if (!text.startsWith(QR_PREFIX)) {
    // "KC", one digit, ":" and at least one character more: another format version.
    if (text.length > QR_PREFIX.length && /^KC[0-9]:/.test(text)) reject("unsupported_version");
    reject("malformed");
  }
  let payload;
  try {
    payload = base45Decode(text.slice(QR_PREFIX.length));
  } catch {
    reject("malformed");
  }
  // The version byte is read first: a payload of the single byte 0x02 is unsupported_version.
  if (payload.length < 1) reject("malformed");
  if (payload[0] !== PAYLOAD_VERSION) reject("unsupported_version");
  if (payload.length < 2) reject("malformed");
  const kind = payload[1];
  let at = 2;
  let timestamp = null;
  let deviceSignature = null;
  if (kind === KIND_ROTATING) {
    if (payload.length < at + 72) reject("malformed");
    timestamp = Number(new DataView(payload.buffer, payload.byteOffset + at, 8).getBigUint64(0));
    deviceSignature = payload.slice(at + 8, at + 72);
    at += 72;
  } else if (kind !== KIND_STATIC) {
    reject("malformed");
  }
  const sealed = payload.slice(at);
  // kid, nonce, and a tag with at least one byte of plaintext before it.
  if (sealed.length < 4 + 12 + 16 + 1) reject("malformed");
  const kid = new DataView(sealed.buffer, sealed.byteOffset, 4).getUint32(0);
  return { kind, timestamp, deviceSignature, sealed, kid };
}

function decompressP256(point) {
  const p = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
  const b = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
  const modpow = (base, exp) => {
    let r = 1n;
    let x = base % p;
    let e = exp;
    while (e > 0n) {
      if (e & 1n) r = (r * x) % p;
      x = (x * x) % p;
      e >>= 1n;
    }
    return r;
  };
  if (point.length !== 33 || (point[0] !== 2 && point[0] !== 3)) reject("malformed");
  const x = BigInt("0x" + bytesToHex(point.slice(1)));
  if (x >= p) reject("malformed");
  const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
  let y = modpow(rhs, (p + 1n) / 4n);
  if ((y * y) % p !== rhs) reject("malformed"); // not on the curve
  if ((y & 1n) !== BigInt(point[0] & 1)) y = p - y;
  return concat(Uint8Array.of(4), point.slice(1), hexToBytes(y.toString(16).padStart(64, "0")));
}

/** Step 4: claims bytes to an object, refusing anything non-canonical. */
export function decodeClaims(c) {
  let at = 0;
  const need = (n) => {
    if (at + n > c.length) reject("malformed");
    const s = c.subarray(at, at + n);
    at += n;
    return s;
  };
  const dv = (n) => new DataView(c.buffer, c.byteOffset + at - n, n);
  const ascii = (bytes) => {
    const s = String.fromCharCode(...bytes);
    if (!ID_RE.test(s)) reject("malformed");
    return s;
  };
  if (need(1)[0] !== CLAIMS_VERSION) reject("unsupported_version");
  need(4);
  const kid = dv(4).getUint32(0);
  const ticketId = bytesToHex(need(16));
  const l = need(1)[0];
  if (l < 1 || l > 64) reject("malformed");
  const eventId = ascii(need(l));
  const g = need(1)[0];
  if (g < 1 || g > 16) reject("malformed");
  const gates = [];
  for (let i = 0; i < g; i++) {
    const n = need(1)[0];
    if (n < 1 || n > 64) reject("malformed");
    const raw = need(n);
    const s = String.fromCharCode(...raw);
    if (s === "*") {
      // "*" may stand with other gates (and twice); it admits at any gate.
      gates.push(s);
    } else {
      gates.push(ascii(raw));
    }
  }
  const u64 = () => {
    need(8);
    return Number(dv(8).getBigUint64(0));
  };
  const notBefore = u64();
  const notAfter = u64();
  const issuedAt = u64();
  const flag = need(1)[0];
  let devicePublicKey = null;
  if (flag === 1) {
    devicePublicKey = need(33).slice();
    decompressP256(devicePublicKey); // a point on the curve, or malformed (step 4)
  }
  else if (flag !== 0) reject("malformed");
  if (at !== c.length || notBefore > notAfter) reject("malformed");
  return { kid, ticketId, eventId, gates, notBefore, notAfter, issuedAt, devicePublicKey };
}

/** A ticket signature check: low S only (refused before WebCrypto, which accepts both). */
async function ecdsaVerify(subtle, publicSec1, message, signature) {
  if (!isLowS(signature)) return false;
  try {
    const key = await subtle.importKey("raw", publicSec1, ECDSA, false, ["verify"]);
    return await subtle.verify(ECDSA_SHA256, key, signature, message);
  } catch {
    return false;
  }
}

/**
 * Verifies a code offline, in the order of FORMAT.md.
 * `ring`: Map kid -> { eventId, issuerPublicKey: Uint8Array(65), qrKey: Uint8Array(32) }: a key set
 *   admits to its own event only;
 * `policy`: { eventId, gate (or null), acceptStatic, freshnessSecs, revoked: Set of hex ids,
 *   notIssuedBefore (optional): Map hex id -> unix seconds, the ticket's re-issue: an older
 *   credential is `superseded` }.
 * Returns `{ claims, proofTimestamp }` or throws a `Rejection`.
 */
export async function verifyQr(text, now, ring, policy, subtle = globalThis.crypto.subtle) {
  const q = parseQr(text);
  const set = ring.get(q.kid);
  if (!set) reject("unknown_key");
  const nonce = q.sealed.slice(4, 16);
  const ciphertext = q.sealed.slice(16);
  const aad = concat(QR_AAD_DOMAIN, Uint8Array.of(1), q.sealed.slice(0, 4));
  let credential;
  try {
    const key = await subtle.importKey("raw", set.qrKey, { name: "AES-GCM" }, false, ["decrypt"]);
    credential = new Uint8Array(
      await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, key, ciphertext),
    );
  } catch {
    reject("undecryptable");
  }
  if (credential.length < 64) reject("malformed");
  const claimsBytes = credential.subarray(0, credential.length - 64);
  const issuerSig = credential.subarray(credential.length - 64);
  const claims = decodeClaims(claimsBytes);
  if (claims.kid !== q.kid) reject("malformed");
  if (!(await ecdsaVerify(subtle, set.issuerPublicKey, concat(CREDENTIAL_DOMAIN, claimsBytes), issuerSig))) {
    reject("bad_issuer_signature");
  }
  if (q.kind === KIND_STATIC) {
    if (claims.devicePublicKey) reject("device_proof_required");
    if (!policy.acceptStatic) reject("static_not_allowed");
  } else {
    if (!claims.devicePublicKey) reject("bad_device_proof");
    const msg = deviceProofMessage(claims.ticketId, claims.eventId, q.timestamp);
    if (!(await ecdsaVerify(subtle, decompressP256(claims.devicePublicKey), msg, q.deviceSignature))) {
      reject("bad_device_proof");
    }
    if (Math.abs(now - q.timestamp) > (policy.freshnessSecs ?? 30)) reject("stale_proof");
  }
  if (claims.eventId !== policy.eventId || set.eventId !== policy.eventId) reject("wrong_event");
  if (policy.revoked && policy.revoked.has(claims.ticketId)) reject("revoked");
  // Beyond FORMAT.md's steps, with step 8: a credential older than its ticket's re-issue (the
  // printed code of a ticket since bound to a phone) is refused, as the door does online.
  if (policy.notIssuedBefore && claims.issuedAt < (policy.notIssuedBefore.get(claims.ticketId) ?? 0)) reject("superseded");
  if (now < claims.notBefore) reject("not_yet_valid");
  if (now > claims.notAfter) reject("expired");
  if (policy.gate != null && !claims.gates.includes("*") && !claims.gates.includes(policy.gate)) {
    reject("gate_not_allowed");
  }
  return { claims, proofTimestamp: q.timestamp };
}

/** The edge's `result` for a ticket-crate rejection code (so offline screens read the same). */
export function resultForRejection(code) {
  return (
    {
      stale_proof: "stale",
      revoked: "revoked",
      superseded: "revoked",
      wrong_event: "wrong_event",
      not_yet_valid: "not_yet_valid",
      expired: "expired",
      gate_not_allowed: "wrong_gate",
      static_not_allowed: "static_not_allowed",
    }[code] ?? "invalid"
  );
}

export { equalBytes };
