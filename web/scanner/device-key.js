// The scanner's device key: made once, before the first sign-in (WebCrypto ECDSA P-256, private
// key non-extractable, kept in the PIN-sealed IndexedDB as a CryptoKey). Its public key (a JWK)
// goes with the password sign-in, so the door token is bound to it (`cnf.jkt`, RFC 7638
// thumbprint); every request to the edge and to the refresh route then carries a DPoP proof
// (RFC 9449) signed by it: `typ: "dpop+jwt"`, ES256 (WebCrypto's r‖s is JWS's form), `jwk`,
// claims `htm`, `htu`, `iat`, `jti`, `ath` (edge-worker/src/dpop.rs). A copied token without this
// device's key is refused. The key is also registered per token with the edge
// (`POST /v1/devices`) and signs each offline queue batch sent to `POST /v1/sync`: `{batch,
// signature}` where `batch` is the JSON text of `{device_id, sequence, event_id, scans}` and
// `signature` the base64url r‖s over "karcis-sync.v1\n" + batch (edge-worker/src/devices.rs).
// Sign-out deletes the key with the rest of the state.
import { call } from "/shared/api.js";
import * as tf from "/shared/ticket-format.js";

const LABEL = "karcis-sync.v1\n";
const ECDSA = { name: "ECDSA", namedCurve: "P-256" };
const SIGN = { name: "ECDSA", hash: "SHA-256" };

async function sha256(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

const b64json = (value) => tf.bytesToB64url(new TextEncoder().encode(JSON.stringify(value)));

/** This device's key, made on first use (before the first sign-in) and kept until sign-out, in
 * the one record the sealed store keeps in clear ("state/device": WebCrypto cannot wrap a
 * non-extractable key), with the token it is registered for. */
export async function deviceKey(db) {
  let dev = await db.get("state", "device");
  if (!dev?.jwk) {
    const pair = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    dev = {
      deviceId: crypto.randomUUID(),
      privateKey: pair.privateKey,
      publicKeyHex: tf.bytesToHex(raw),
      // Exactly the public members: what the back end binds the token to.
      jwk: { kty: "EC", crv: "P-256", x: tf.bytesToB64url(raw.slice(1, 33)), y: tf.bytesToB64url(raw.slice(33)) },
      forToken: null,
      registered: false,
      sequence: 0,
    };
    await db.put("state", "device", dev);
  }
  return dev;
}

/** A DPoP proof by `key` for `method` on `url` (absolute or relative to the page) with `token`. */
export async function dpopProof(key, method, url, token) {
  const htu = new URL(url, location.href);
  htu.search = "";
  htu.hash = "";
  const claims = {
    htm: method,
    htu: htu.href,
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
    ath: tf.bytesToB64url(await sha256(token)),
  };
  const input = `${b64json({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk })}.${b64json(claims)}`;
  const signature = new Uint8Array(await crypto.subtle.sign(SIGN, key.privateKey, new TextEncoder().encode(input)));
  return `${input}.${tf.bytesToB64url(signature)}`;
}

/** `call` with the token and a fresh proof by this device's key (a new proof per request). */
export async function boundCall(db, base, path, { method = "GET", body, token } = {}) {
  const key = await deviceKey(db);
  const dpop = await dpopProof(key, method, base + path, token);
  return call(base, path, { method, body, token, headers: { dpop } });
}

async function tokenHash(token) {
  return tf.bytesToHex(await sha256(token));
}

/** This device's key registered for `token` (the same key for every token), with the edge once
 * per token. Throws what `call` throws (a TypeError when offline): retried later. */
export async function ensureDevice(db, edgeBase, token) {
  const dev = await deviceKey(db);
  const forToken = await tokenHash(token);
  if (dev.forToken !== forToken) {
    Object.assign(dev, { forToken, registered: false });
    await db.put("state", "device", dev);
  }
  if (!dev.registered) {
    await boundCall(db, edgeBase, "/v1/devices", { method: "POST", body: { device_id: dev.deviceId, public_key: dev.publicKeyHex }, token });
    dev.registered = true;
    await db.put("state", "device", dev);
  }
  return dev;
}

/** The signed `/v1/sync` body for `scans`, with a sequence above every earlier one. */
export async function signedBatch(db, dev, eventId, scans) {
  const sequence = Math.max(Date.now(), (dev.sequence ?? 0) + 1);
  dev.sequence = sequence;
  await db.put("state", "device", dev);
  const batch = JSON.stringify({ device_id: dev.deviceId, sequence, event_id: eventId, scans });
  const signature = new Uint8Array(await crypto.subtle.sign(SIGN, dev.privateKey, new TextEncoder().encode(LABEL + batch)));
  return { batch, signature: tf.bytesToB64url(signature) };
}
