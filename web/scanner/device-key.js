// The scanner's device key: made on sign-in (WebCrypto ECDSA P-256, private key non-extractable,
// kept in IndexedDB as a CryptoKey), registered for the staff token with the edge
// (`POST /v1/devices`, once per token), and used to sign each offline queue batch sent to
// `POST /v1/sync`: `{batch, signature}` where `batch` is the JSON text of
// `{device_id, sequence, event_id, scans}` and `signature` the base64url r‖s over
// "karcis-sync.v1\n" + batch (edge-worker/src/devices.rs). A stolen token without this device's
// key cannot sync on its behalf; sign-out deletes the key with the rest of the state.
import { call } from "/shared/api.js";
import * as tf from "/shared/ticket-format.js";

const LABEL = "karcis-sync.v1\n";
const ECDSA = { name: "ECDSA", namedCurve: "P-256" };

async function tokenHash(token) {
  return tf.bytesToHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
}

/** The device key of `token` (made when the token changes), registered with the edge once.
 * Throws what `call` throws (a TypeError when offline): the caller retries later. */
export async function ensureDevice(db, edgeBase, token) {
  const forToken = await tokenHash(token);
  let dev = await db.get("state", "device");
  if (!dev || dev.forToken !== forToken) {
    const pair = await crypto.subtle.generateKey(ECDSA, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    dev = { forToken, deviceId: crypto.randomUUID(), privateKey: pair.privateKey, publicKeyHex: tf.bytesToHex(raw), registered: false, sequence: 0 };
    await db.put("state", "device", dev);
  }
  if (!dev.registered) {
    await call(edgeBase, "/v1/devices", { method: "POST", body: { device_id: dev.deviceId, public_key: dev.publicKeyHex }, token });
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
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, dev.privateKey, new TextEncoder().encode(LABEL + batch)),
  );
  return { batch, signature: tf.bytesToB64url(signature) };
}
