// The offline verifier's re-issue line (policy.notIssuedBefore, from the offline bundle's
// `not_issued_before`): a ticket's credential issued before its re-issue (the printed code of a
// ticket since bound to a phone) is refused as `superseded`, shown as REVOKED; the same line
// leaves the re-issued credential and other tickets alone. On ticket/test-vectors.json's
// `static_ok` (issued_at 1789000000).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";
import { webcrypto } from "node:crypto";
import * as tf from "../../shared/ticket-format.js";

const vectorsPath = new URL("../../../ticket/test-vectors.json", import.meta.url);
const { vectors } = JSON.parse(readFileSync(vectorsPath, "utf8"));
const v = vectors.find((x) => x.name === "static_ok");
const hex = tf.hexToBytes;
const ring = new Map([[v.issuer_kid, { eventId: v.issuer_event_id, issuerPublicKey: hex(v.issuer_public_key_sec1), qrKey: hex(v.aead.key) }]]);
const policy = (lines) => ({
  eventId: v.verifier.event_id, gate: v.verifier.gate, acceptStatic: true, freshnessSecs: 30,
  revoked: new Set(), notIssuedBefore: new Map(Object.entries(lines)),
});
const verify = (lines) => tf.verifyQr(v.qr, v.verifier.now, ring, policy(lines), webcrypto.subtle);

test("a credential issued before its ticket's re-issue is superseded, shown as revoked", async () => {
  const issued = v.claims.issued_at;
  await assert.rejects(verify({ [v.claims.ticket_id]: issued + 1 }), (e) => e instanceof tf.Rejection && e.code === "superseded");
  assert.equal(tf.resultForRejection("superseded"), "revoked");
});

test("the line itself, another ticket's line, and no line admit", async () => {
  const issued = v.claims.issued_at;
  assert.equal((await verify({ [v.claims.ticket_id]: issued })).claims.ticketId, v.claims.ticket_id);
  assert.ok(await verify({ ["00".repeat(16)]: issued + 1 }));
  assert.ok(await verify({}));
  // A policy without the field (an older bundle) changes nothing.
  const { notIssuedBefore, ...old } = policy({});
  assert.equal(notIssuedBefore.size, 0);
  assert.ok(await tf.verifyQr(v.qr, v.verifier.now, ring, old, webcrypto.subtle));
});
