// Rotating codes of fixture tickets, built by web/shared/ticket-format.js (the phone's code)
// with the fixture's device key: what a bound phone would show at `timestamp`.
import { createECDH, webcrypto } from "node:crypto";
import * as tf from "../../shared/ticket-format.js";

export async function deviceKey(privateHex) {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(privateHex, "hex"));
  const pub = ecdh.getPublicKey(null, "uncompressed");
  const jwk = { kty: "EC", crv: "P-256", d: tf.bytesToB64url(Buffer.from(privateHex, "hex")),
    x: tf.bytesToB64url(pub.subarray(1, 33)), y: tf.bytesToB64url(pub.subarray(33)) };
  return webcrypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
}

export async function rotating(ticket, timestamp = Math.floor(Date.now() / 1000)) {
  return tf.presentRotating({ sealed: tf.hexToBytes(ticket.sealed_hex), ticketId: ticket.ticket_id, eventId: ticket.event_id,
    privateKey: await deviceKey(ticket.device_key_hex), timestamp }, webcrypto.subtle);
}
