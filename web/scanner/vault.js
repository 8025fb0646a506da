// The scanner's vault: what the device keeps at rest (the door token, the offline bundles with the
// events' QR keys, queued and remembered scans, conflicts) is sealed with a random 256-bit master
// secret that is itself only stored wrapped:
//   - by the PIN: PBKDF2-HMAC-SHA256 (random 16-byte salt, PBKDF2_ITERATIONS) over the PIN mixed
//     with a device pepper (a non-extractable HMAC key kept in IndexedDB: a script-level copy of
//     the storage holds a CryptoKey it cannot export, not its bytes), giving an AES-GCM key;
//   - optionally by WebAuthn: an AES-GCM key derived (HKDF) from the PRF extension's output, which
//     the platform authenticator computes from a secret that never leaves it, after user
//     verification.
// From the master come (HKDF) an AES-GCM key that seals each record (random IV; the record's slot
// as associated data, so records cannot be swapped) and an HMAC key that turns record names
// (ticket ids, scan ids, event ids) into opaque index keys. Both are non-extractable and live in
// memory only while the scanner is unlocked. Runs in the browser and in Node (WebCrypto).
import { MIN_ITERATIONS, PBKDF2_ITERATIONS } from "./pin-policy.js";

const subtle = () => globalThis.crypto.subtle;
const enc = new TextEncoder();
const GCM = { name: "AES-GCM", length: 256 };
const WRAP_AAD = enc.encode("karcis-scanner-master.v1");

/** A wrong PIN, a refused WebAuthn secret or a tampered record: nothing opens. */
export class VaultRefused extends Error {}

function hkdf(master, info) {
  return subtle().deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode(info) }, master, GCM, false, ["encrypt", "decrypt"]);
}

async function gcmKey(bytes) {
  const base = await subtle().importKey("raw", bytes, "HKDF", false, ["deriveKey"]);
  return hkdf(base, "karcis-scanner-wrap.v1");
}

async function wrap(key, master, random) {
  const iv = random(12);
  const wrapped = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv, additionalData: WRAP_AAD }, key, master));
  return { iv, wrapped };
}

async function unwrap(key, { iv, wrapped }) {
  try {
    return new Uint8Array(await subtle().decrypt({ name: "AES-GCM", iv, additionalData: WRAP_AAD }, key, wrapped));
  } catch {
    throw new VaultRefused("refused");
  }
}

/** The AES-GCM key a PIN gives, with the device pepper (an HMAC CryptoKey) and the record's salt. */
async function pinKey(pin, pepper, salt, iterations) {
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS) throw new VaultRefused("weak record");
  const peppered = new Uint8Array(await subtle().sign("HMAC", pepper, enc.encode(`karcis-pin.v1\n${pin}`)));
  const base = await subtle().importKey("raw", peppered, "PBKDF2", false, ["deriveKey"]);
  return subtle().deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, GCM, false, ["encrypt", "decrypt"]);
}

/** A new device pepper: kept in storage as a non-extractable CryptoKey. */
export function newPepper() {
  return subtle().generateKey({ name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]);
}

export const defaultRandom = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

/** A new master secret and its PIN-wrapped record. The caller keeps the master only as long as
 * it needs it (to add a WebAuthn wrap), then `erase`s it. */
export async function createVault(pin, pepper, { random = defaultRandom, iterations = PBKDF2_ITERATIONS } = {}) {
  const master = random(32);
  const salt = random(16);
  const pinWrap = { kdf: "PBKDF2-SHA256", iterations, salt, ...(await wrap(await pinKey(pin, pepper, salt, iterations), master, random)) };
  return { master, record: { v: 1, pin: pinWrap, failures: 0 } };
}

/** The master of `record` for `pin`, or VaultRefused. */
export async function masterFromPin(record, pin, pepper) {
  const w = record?.pin;
  if (!w) throw new VaultRefused("no PIN");
  return unwrap(await pinKey(pin, pepper, w.salt, w.iterations), w);
}

/** The WebAuthn wrap of `master` under a PRF output (32 bytes from the authenticator). */
export async function prfWrap(master, prfOutput, credentialId, prfSalt, random = defaultRandom) {
  return { credentialId, prfSalt, ...(await wrap(await gcmKey(prfOutput), master, random)) };
}

export async function masterFromPrf(webauthnWrap, prfOutput) {
  return unwrap(await gcmKey(prfOutput), webauthnWrap);
}

/** Best effort: overwrites a secret's bytes once they are no longer needed. */
export function erase(bytes) {
  bytes?.fill?.(0);
}

/** The working keys of an opened vault (non-extractable; the master is erased). */
export async function openVault(master) {
  const base = await subtle().importKey("raw", master, "HKDF", false, ["deriveKey", "deriveBits"]);
  const seal = await hkdf(base, "karcis-scanner-seal.v1");
  const indexBits = await subtle().deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode("karcis-scanner-index.v1") }, base, 256);
  const index = await subtle().importKey("raw", indexBits, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  erase(new Uint8Array(indexBits));
  erase(master);
  return { seal, index };
}

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** The opaque name under which record `key` of `store` is kept. */
export async function indexKey(keys, store, key) {
  return hex(new Uint8Array(await subtle().sign("HMAC", keys.index, enc.encode(`${store}\n${key}`)))).slice(0, 40);
}

/** A sealed record: `{ sealed: 1, iv, ct }`, the value as JSON, bound to its slot. */
export async function sealValue(keys, slot, value, random = defaultRandom) {
  const iv = random(12);
  const ct = new Uint8Array(await subtle().encrypt({ name: "AES-GCM", iv, additionalData: enc.encode(slot) }, keys.seal, enc.encode(JSON.stringify(value))));
  return { sealed: 1, iv, ct };
}

export async function openValue(keys, slot, record) {
  let plain;
  try {
    plain = await subtle().decrypt({ name: "AES-GCM", iv: record.iv, additionalData: enc.encode(slot) }, keys.seal, record.ct);
  } catch {
    throw new VaultRefused("record does not open");
  }
  return JSON.parse(new TextDecoder().decode(plain));
}

export const isSealed = (v) => v != null && typeof v === "object" && v.sealed === 1 && v.ct instanceof Uint8Array;
