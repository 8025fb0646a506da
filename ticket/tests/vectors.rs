//! Test vectors: `ticket/test-vectors.json` is generated from fixed keys and nonces (ECDSA
//! nonces are deterministic, RFC 6979), so the file is reproducible byte for byte.
//!
//! * `every_vector_verifies_as_expected` reads only the JSON, checks every intermediate value
//!   it states (signed bytes, signature, AEAD, device proof, QR text) with independent
//!   primitives, and runs `ticket::verify`.
//! * `committed_vectors_are_current` regenerates the file and compares; run with
//!   `KARCIS_WRITE_VECTORS=1` to rewrite it after a deliberate format change.

#![allow(clippy::too_many_lines, clippy::struct_excessive_bools)]

mod common;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use common::*;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use ticket::{
    base45, credential_signing_message, device_proof_message, is_low_s, issue, low_s,
    qr_associated_data, rotating_qr, verify, Claims, DevicePublicKey, IssuerKey, KeyRing, Policy,
    QrKey, SealedCredential, TicketId,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-vectors.json");

struct Case {
    name: &'static str,
    description: &'static str,
    claims: Claims,
    /// Who signs the credential (normally the ring's issuer).
    signer: IssuerKey,
    nonce: [u8; 12],
    /// Device key and proof timestamp for a rotating code.
    device: Option<(SigningKey, u64)>,
    /// Present a device-bound credential as a static code anyway.
    force_static: bool,
    /// Flip the last byte of the QR payload.
    tamper: bool,
    now: u64,
    event_id: &'static str,
    gate: Option<&'static str>,
    accept_static: bool,
    revoked: bool,
    /// The ring holds the key set under this kid...
    ring_kid: u32,
    /// ... as a key set of this event.
    ring_event: &'static str,
    /// Replace s with n - s in the issuer's / the device's signature (both still valid ECDSA).
    high_s_issuer: bool,
    high_s_device: bool,
}

/// `(r, s)` -> `(r, n - s)`: the high-S twin of a low-S signature.
fn high_s(signature: Signature) -> Signature {
    let (r, s) = signature.split_scalars();
    Signature::from_scalars(r, -*s).expect("non-zero scalars")
}

/// Seals `encoded || signature` by hand (what `issue` does, with any signature).
fn seal_with_signature(
    claims: &Claims,
    signature: &Signature,
    nonce: [u8; 12],
) -> SealedCredential {
    let encoded = claims.encode().expect("valid claims");
    let plaintext = [encoded.as_slice(), &signature.to_bytes()].concat();
    let aad = qr_associated_data(claims.kid);
    let ciphertext = Aes256Gcm::new_from_slice(qr_key().expose_secret())
        .expect("key")
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .expect("seal");
    SealedCredential::from_bytes([&claims.kid.to_be_bytes()[..], &nonce, &ciphertext].concat())
        .expect("sealed")
}

fn base_case(name: &'static str, description: &'static str, nonce_byte: u8) -> Case {
    Case {
        name,
        description,
        claims: claims(Some(device_public(&device()))),
        signer: issuer(),
        nonce: [nonce_byte; 12],
        device: Some((device(), NOW - 5)),
        force_static: false,
        tamper: false,
        now: NOW,
        event_id: EVENT,
        gate: Some("A"),
        accept_static: false,
        revoked: false,
        ring_kid: KID,
        ring_event: EVENT,
        high_s_issuer: false,
        high_s_device: false,
    }
}

fn cases() -> Vec<Case> {
    let static_claims = claims(None);
    let mut any_gate = claims(None);
    any_gate.gates = vec!["*".into()];
    let thief = SigningKey::from_slice(&[0x44; 32]).expect("scalar");
    vec![
        Case {
            claims: static_claims.clone(),
            device: None,
            accept_static: true,
            ..base_case("static_ok", "Printable ticket, event accepts static tickets.", 0x01)
        },
        base_case("device_bound_ok", "Device-bound ticket, proof 5 s old.", 0x02),
        Case {
            device: Some((device(), NOW - 120)),
            ..base_case("device_bound_stale", "Proof 2 minutes old: a screenshot.", 0x03)
        },
        Case {
            device: Some((device(), NOW + 31)),
            ..base_case("device_bound_future", "Proof 31 s in the future.", 0x04)
        },
        Case {
            claims: static_claims.clone(),
            device: None,
            ..base_case("static_not_allowed", "Printable ticket at a device-only event.", 0x05)
        },
        Case {
            force_static: true,
            accept_static: true,
            ..base_case("device_proof_required", "Device-bound credential shown without a proof.", 0x06)
        },
        Case {
            device: Some((thief, NOW)),
            ..base_case("bad_device_proof", "Proof signed by another device key.", 0x07)
        },
        Case {
            signer: IssuerKey::from_secret_bytes(KID, &[0x55; 32]).expect("scalar"),
            ..base_case(
                "bad_issuer_signature",
                "Sealed with the right QR key but signed by a key other than the issuer's (a stolen scanner trying to mint).",
                0x08,
            )
        },
        Case {
            tamper: true,
            ..base_case("tampered", "Last byte of the QR payload (the GCM tag) flipped.", 0x09)
        },
        Case {
            ring_kid: KID + 1,
            ..base_case("unknown_key", "The verifier holds no key set with this kid.", 0x0a)
        },
        Case {
            event_id: "other-event",
            ..base_case("wrong_event", "Valid ticket for another event.", 0x0b)
        },
        Case {
            revoked: true,
            ..base_case("revoked", "Ticket id on the revocation list.", 0x0c)
        },
        Case {
            now: NOT_BEFORE - 60,
            device: Some((device(), NOT_BEFORE - 60)),
            ..base_case("not_yet_valid", "Scanned before the validity window.", 0x0d)
        },
        Case {
            now: NOT_AFTER + 60,
            device: Some((device(), NOT_AFTER + 60)),
            ..base_case("expired", "Scanned after the validity window.", 0x0e)
        },
        Case {
            gate: Some("B"),
            ..base_case("gate_not_allowed", "Ticket for gates A and VIP at gate B.", 0x0f)
        },
        Case {
            claims: any_gate,
            device: None,
            accept_static: true,
            gate: Some("Z"),
            ..base_case("any_gate_ok", "Gate \"*\" admits at any gate.", 0x10)
        },
        Case {
            ring_event: "other-event",
            ..base_case(
                "foreign_key_set",
                "Claims name this event, but the key set that signed and sealed them is another event's (a leaked key set minting for every event).",
                0x11,
            )
        },
        Case {
            high_s_device: true,
            ..base_case(
                "high_s_device_proof",
                "device_bound_ok with the device signature's s replaced by n - s: valid ECDSA, but not low-S.",
                0x02,
            )
        },
        Case {
            high_s_issuer: true,
            ..base_case(
                "high_s_issuer_signature",
                "The issuer signature's s replaced by n - s (valid ECDSA, not low-S), sealed with the right QR key.",
                0x12,
            )
        },
    ]
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn build_vectors() -> Value {
    let ring_issuer = issuer();
    let vectors: Vec<Value> = cases()
        .into_iter()
        .map(|case| {
            let encoded = case.claims.encode().expect("valid claims");
            let signed_bytes = credential_signing_message(&encoded);
            let signature: Signature = low_s(
                SigningKey::from_slice(case.signer.secret_bytes().as_ref())
                    .expect("scalar")
                    .sign(&signed_bytes),
            );
            let sealed = issue(&case.claims, &case.signer, &qr_key(), case.nonce).expect("issue");
            let (signature, sealed) = if case.high_s_issuer {
                let twin = high_s(signature);
                (twin, seal_with_signature(&case.claims, &twin, case.nonce))
            } else {
                (signature, sealed)
            };
            let aad = qr_associated_data(case.claims.kid);
            let plaintext = [encoded.as_slice(), &signature.to_bytes()].concat();
            let (device, mut qr) = match (&case.device, case.force_static) {
                (Some((key, ts)), false) => {
                    let proof = device_proof_message(&case.claims.ticket_id, &case.claims.event_id, *ts);
                    let sig: Signature = low_s(key.sign(&proof));
                    let sig = if case.high_s_device { high_s(sig) } else { sig };
                    let qr = rotating_qr(&sealed, *ts, &sig.to_bytes().into());
                    let device = json!({
                        "private_key": hex(&key.to_bytes()),
                        "public_key_sec1": hex(key.verifying_key().to_encoded_point(false).as_bytes()),
                        "timestamp": ts,
                        "signed_bytes": hex(&proof),
                        "signature": hex(&sig.to_bytes()),
                    });
                    (device, qr)
                }
                _ => (Value::Null, sealed.to_static_qr()),
            };
            let mut payload = base45::decode(&qr[4..]).expect("own encoding");
            if case.tamper {
                *payload.last_mut().expect("non-empty") ^= 0x01;
                qr = format!("KC1:{}", base45::encode(&payload));
            }
            let revoked: Vec<String> = if case.revoked {
                vec![case.claims.ticket_id.to_hex()]
            } else {
                vec![]
            };
            let sealed_bytes = sealed.as_bytes();
            // The stated expectation must be what the implementation does.
            let outcome = verify(
                &qr,
                case.now,
                &ring_for(case.ring_kid, case.ring_event, &revoked_ids(case.revoked)),
                &policy(case.event_id, case.gate, case.accept_static),
            )
            .map_or_else(ticket::Rejection::code, |_| "ok");
            assert_eq!(outcome, expected(case.name), "{}", case.name);
            json!({
                "name": case.name,
                "description": case.description,
                "issuer_kid": case.ring_kid,
                "issuer_event_id": case.ring_event,
                "issuer_private_key": hex(&ring_issuer.secret_bytes()[..]),
                "issuer_public_key_sec1": hex(&ring_issuer.public_key_sec1()),
                "signer_private_key": hex(&case.signer.secret_bytes()[..]),
                "claims": {
                    "kid": case.claims.kid,
                    "ticket_id": case.claims.ticket_id.to_hex(),
                    "event_id": case.claims.event_id,
                    "gates": case.claims.gates,
                    "not_before": case.claims.not_before,
                    "not_after": case.claims.not_after,
                    "issued_at": case.claims.issued_at,
                    "device_public_key_sec1": case.claims.device_key.map(|k| hex(&k.to_sec1_compressed())),
                },
                "encoded_claims": hex(&encoded),
                "signed_bytes": hex(&signed_bytes),
                "signature": hex(&signature.to_bytes()),
                "aead": {
                    "key": hex(qr_key().expose_secret()),
                    "nonce": hex(&case.nonce),
                    "aad": hex(&aad),
                    "plaintext": hex(&plaintext),
                    "ciphertext": hex(&sealed_bytes[16..]),
                },
                "sealed_credential": hex(sealed_bytes),
                "device": device,
                "qr_payload": hex(&payload),
                "qr": qr,
                "verifier": {
                    "now": case.now,
                    "event_id": case.event_id,
                    "gate": case.gate,
                    "accept_static": case.accept_static,
                    "freshness_secs": 30,
                    "revoked": revoked,
                },
                "expected": expected(case.name),
            })
        })
        .collect();
    json!({
        "format": "karcis ticket QR, payload version 1 (see FORMAT.md)",
        "note": "Test keys only. Times are unix seconds.",
        "vectors": vectors,
    })
}

/// What each vector must verify to, stated independently of the implementation.
fn expected(name: &str) -> &'static str {
    match name {
        "static_ok" | "device_bound_ok" | "any_gate_ok" => "ok",
        "device_bound_stale" | "device_bound_future" => "stale_proof",
        "tampered" => "undecryptable",
        "static_not_allowed" => "static_not_allowed",
        "device_proof_required" => "device_proof_required",
        "bad_device_proof" | "high_s_device_proof" => "bad_device_proof",
        "bad_issuer_signature" | "high_s_issuer_signature" => "bad_issuer_signature",
        "unknown_key" => "unknown_key",
        "wrong_event" | "foreign_key_set" => "wrong_event",
        "revoked" => "revoked",
        "not_yet_valid" => "not_yet_valid",
        "expired" => "expired",
        "gate_not_allowed" => "gate_not_allowed",
        other => panic!("no expectation stated for vector {other}"),
    }
}

fn revoked_ids(revoked: bool) -> Vec<TicketId> {
    if revoked {
        vec![claims(None).ticket_id]
    } else {
        vec![]
    }
}

fn ring_for(kid: u32, event_id: &str, revoked: &[TicketId]) -> KeyRing {
    let mut ring = KeyRing::new();
    ring.add_event_keys(kid, event_id, &issuer().public_key_sec1(), qr_key())
        .expect("keys");
    for id in revoked {
        ring.revoke(*id);
    }
    ring
}

fn policy(event_id: &str, gate: Option<&str>, accept_static: bool) -> Policy {
    Policy {
        gate: gate.map(str::to_owned),
        accept_static,
        ..Policy::new(event_id)
    }
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn committed_vectors_are_current() {
    let generated = serde_json::to_string_pretty(&build_vectors()).expect("json") + "\n";
    if std::env::var_os("KARCIS_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, &generated).expect("write vectors");
    }
    let committed = std::fs::read_to_string(PATH).expect("test-vectors.json exists");
    assert!(
        committed == generated,
        "ticket/test-vectors.json is stale: rerun with KARCIS_WRITE_VECTORS=1 and review the diff"
    );
}

#[test]
fn every_vector_verifies_as_expected() {
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH).expect("vectors file")).expect("json");
    let vectors = file["vectors"].as_array().expect("vectors array");
    assert!(vectors.len() >= 19, "too few vectors");
    let mut expectations = std::collections::BTreeSet::new();
    for v in vectors {
        let name = v["name"].as_str().expect("name");
        let expected = v["expected"].as_str().expect("expected");
        expectations.insert(expected.to_string());

        // The issuer signature over the stated bytes, with the p256 crate directly.
        let signed = unhex(&v["signed_bytes"]);
        let encoded = unhex(&v["encoded_claims"]);
        assert_eq!(
            signed,
            [b"karcis/credential/v1".as_slice(), &encoded].concat(),
            "{name}"
        );
        let signing_key = SigningKey::from_slice(&unhex(&v["signer_private_key"])).expect("scalar");
        let signature = Signature::from_slice(&unhex(&v["signature"])).expect("r||s");
        assert!(
            signing_key
                .verifying_key()
                .verify(&signed, &signature)
                .is_ok(),
            "{name}: signature"
        );
        let issuer_pub =
            VerifyingKey::from_sec1_bytes(&unhex(&v["issuer_public_key_sec1"])).expect("pub");
        assert_eq!(
            issuer_pub.verify(&signed, &signature).is_ok(),
            name != "bad_issuer_signature",
            "{name}: issuer key"
        );
        // Every signature is low-S, but in the vectors made to show that high S is refused.
        let sig_bytes: [u8; 64] = signature.to_bytes().into();
        assert_eq!(
            is_low_s(&sig_bytes),
            name != "high_s_issuer_signature",
            "{name}: issuer S"
        );

        // The AEAD, with aes-gcm directly.
        let aead = &v["aead"];
        let cipher = Aes256Gcm::new_from_slice(&unhex(&aead["key"])).expect("key");
        let nonce: [u8; 12] = unhex(&aead["nonce"]).try_into().expect("12-byte nonce");
        let kid = u32::try_from(v["claims"]["kid"].as_u64().expect("kid")).expect("u32");
        assert_eq!(unhex(&aead["aad"]), qr_associated_data(kid), "{name}: aad");
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &unhex(&aead["ciphertext"]),
                    aad: &unhex(&aead["aad"]),
                },
            )
            .expect("ciphertext opens");
        assert_eq!(plaintext, unhex(&aead["plaintext"]), "{name}: plaintext");
        assert_eq!(
            plaintext,
            [encoded.as_slice(), &signature.to_bytes()].concat()
        );
        let sealed = unhex(&v["sealed_credential"]);
        assert_eq!(sealed[..4], kid.to_be_bytes());
        assert_eq!(sealed[4..16], nonce);

        // The device proof, when there is one.
        if let Some(device) = v["device"].as_object() {
            let key =
                VerifyingKey::from_sec1_bytes(&unhex(&device["public_key_sec1"])).expect("pub");
            let ts = device["timestamp"].as_u64().expect("ts");
            let ticket_id =
                TicketId::from_hex(v["claims"]["ticket_id"].as_str().expect("id")).expect("id");
            let proof = unhex(&device["signed_bytes"]);
            assert_eq!(
                proof,
                device_proof_message(
                    &ticket_id,
                    v["claims"]["event_id"].as_str().expect("event"),
                    ts
                )
            );
            let sig = Signature::from_slice(&unhex(&device["signature"])).expect("r||s");
            assert!(key.verify(&proof, &sig).is_ok(), "{name}: device signature");
            let sig_bytes: [u8; 64] = sig.to_bytes().into();
            assert_eq!(
                is_low_s(&sig_bytes),
                name != "high_s_device_proof",
                "{name}: device S"
            );
            let bound = DevicePublicKey::from_sec1(&unhex(&v["claims"]["device_public_key_sec1"]))
                .expect("bound key");
            assert_eq!(
                bound.to_sec1_uncompressed() == unhex(&device["public_key_sec1"]),
                name != "bad_device_proof",
                "{name}: device key binding"
            );
        }

        // The QR text is the prefix and the base45 of the payload.
        let qr = v["qr"].as_str().expect("qr");
        assert_eq!(
            qr.strip_prefix("KC1:").map(base45::decode),
            Some(Ok(unhex(&v["qr_payload"])))
        );

        // Finally the verifier, configured only from the JSON.
        let verifier = &v["verifier"];
        let mut ring = KeyRing::new();
        ring.add_event_keys(
            u32::try_from(v["issuer_kid"].as_u64().expect("kid")).expect("u32"),
            v["issuer_event_id"].as_str().expect("issuer event"),
            &unhex(&v["issuer_public_key_sec1"]),
            QrKey::from_bytes(&unhex(&aead["key"])).expect("qr key"),
        )
        .expect("ring");
        for id in verifier["revoked"].as_array().expect("revoked") {
            ring.revoke(TicketId::from_hex(id.as_str().expect("hex")).expect("id"));
        }
        let policy = Policy {
            event_id: verifier["event_id"].as_str().expect("event").into(),
            gate: verifier["gate"].as_str().map(str::to_owned),
            accept_static: verifier["accept_static"].as_bool().expect("bool"),
            freshness_secs: verifier["freshness_secs"].as_u64().expect("secs"),
        };
        let now = verifier["now"].as_u64().expect("now");
        let got = match verify(qr, now, &ring, &policy) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.code().to_string(),
        };
        assert_eq!(got, expected, "{name}");
    }
    // The vectors cover acceptance and each claim-level rejection.
    for code in [
        "ok",
        "stale_proof",
        "static_not_allowed",
        "device_proof_required",
        "bad_device_proof",
        "bad_issuer_signature",
        "undecryptable",
        "unknown_key",
        "wrong_event",
        "revoked",
        "not_yet_valid",
        "expired",
        "gate_not_allowed",
    ] {
        assert!(expectations.contains(code), "no vector expects {code}");
    }
}
