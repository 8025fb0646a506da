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

/// Makes a vector's QR text from the honest one.
type Edit = fn(&str) -> String;

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
    /// An edit of the finished QR text (stated in the vector as `qr_mutation`).
    edit: Option<(&'static str, Edit)>,
    /// Encoded claims to sign and seal instead of `claims.encode()` (non-canonical on purpose).
    raw_claims: Option<Vec<u8>>,
    /// The sealed plaintext instead of `encoded claims || signature`.
    plaintext: Option<Vec<u8>>,
    /// The kid of the sealed credential (and its aad) when it differs from the claims' kid.
    sealed_kid: Option<u32>,
    /// The event id the device proof signs, when it is not the claims' one.
    proof_event: Option<&'static str>,
    freshness: u64,
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

/// Seals any plaintext under `kid` by hand (what `issue` does, with any bytes).
fn seal(kid: u32, nonce: [u8; 12], plaintext: &[u8]) -> Vec<u8> {
    let aad = qr_associated_data(kid);
    let ciphertext = Aes256Gcm::new_from_slice(qr_key().expose_secret())
        .expect("key")
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("seal");
    [&kid.to_be_bytes()[..], &nonce, &ciphertext].concat()
}

/// The binary payload of a `KC1:` text of ours.
fn payload_of(qr: &str) -> Vec<u8> {
    base45::decode(&qr[4..]).expect("own encoding")
}

fn text_of(payload: &[u8]) -> String {
    format!("KC1:{}", base45::encode(payload))
}

fn tamper(qr: &str) -> String {
    let mut payload = payload_of(qr);
    *payload.last_mut().expect("non-empty") ^= 0x01;
    text_of(&payload)
}

/// Claims bytes laid out by hand, so that they can break the rules `Claims::encode` keeps.
fn raw_claims(
    version: u8,
    event: &[u8],
    gates: &[&[u8]],
    not_before: u64,
    device: &[u8],
) -> Vec<u8> {
    let mut out = vec![version];
    out.extend_from_slice(&KID.to_be_bytes());
    out.extend_from_slice(&claims(None).ticket_id.0);
    out.push(u8::try_from(event.len()).expect("short"));
    out.extend_from_slice(event);
    out.push(u8::try_from(gates.len()).expect("few"));
    for gate in gates {
        out.push(u8::try_from(gate.len()).expect("short"));
        out.extend_from_slice(gate);
    }
    out.extend_from_slice(&not_before.to_be_bytes());
    out.extend_from_slice(&NOT_AFTER.to_be_bytes());
    out.extend_from_slice(&ISSUED_AT.to_be_bytes());
    out.extend_from_slice(device);
    out
}

const GATES: [&[u8]; 2] = [b"A", b"VIP"];

/// A compressed point whose x has no y on the curve.
fn off_curve_point() -> Vec<u8> {
    (1u8..=u8::MAX)
        .map(|x| {
            let mut p = vec![0x02];
            p.extend_from_slice(&[0; 31]);
            p.push(x);
            p
        })
        .find(|p| DevicePublicKey::from_sec1(p).is_err())
        .expect("some x is off the curve")
}

/// A 64-character event id: the longest allowed.
const LONG_EVENT: &str = "jkt-fest-2026-the-longest-event-id-the-format-allows-is-64-chars";

fn base_case(name: &'static str, description: &'static str, nonce_byte: u8) -> Case {
    Case {
        name,
        description,
        claims: claims(Some(device_public(&device()))),
        signer: issuer(),
        nonce: [nonce_byte; 12],
        device: Some((device(), NOW - 5)),
        force_static: false,
        edit: None,
        raw_claims: None,
        plaintext: None,
        sealed_kid: None,
        proof_event: None,
        freshness: 30,
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
    let mut cases = vec![
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
            edit: Some(("the last payload byte (the GCM tag) flipped", tamper)),
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
    ];
    cases.extend(text_cases());
    cases.extend(claims_cases());
    cases.extend(decision_cases());
    cases
}

/// A printable ticket at an event that takes them: only the case's own change can refuse it.
fn static_case(name: &'static str, description: &'static str, nonce_byte: u8) -> Case {
    Case {
        claims: claims(None),
        device: None,
        accept_static: true,
        ..base_case(name, description, nonce_byte)
    }
}

fn edited(mut case: Case, what: &'static str, edit: fn(&str) -> String) -> Case {
    case.edit = Some((what, edit));
    case
}

/// Step 1: the text and the payload envelope.
fn text_cases() -> Vec<Case> {
    vec![
        edited(
            static_case("text_too_long", "A static code padded with zero bytes to a 2,049-character text: refused on length before anything is decoded (it would be undecryptable).", 0x13),
            "payload padded with zero bytes to 1,363 bytes (2,049 characters)",
            |qr| {
                let mut payload = payload_of(qr);
                payload.resize(1363, 0);
                let text = text_of(&payload);
                assert_eq!(text.len(), 2049);
                text
            },
        ),
        edited(
            static_case("text_at_length_limit", "A 2,048-character text is not too long: \"KC2:\" and 2,044 characters is unsupported_version.", 0x13),
            "replaced by \"KC2:\" and 2,044 zeros",
            |_| format!("KC2:{}", "0".repeat(2044)),
        ),
        edited(
            static_case("prefix_other_version", "A \"KC2:\" code: another format version.", 0x13),
            "prefix KC1: replaced by KC2:",
            |qr| qr.replacen("KC1:", "KC2:", 1),
        ),
        edited(
            static_case("prefix_other_version_nothing_after", "\"KC2:\" alone: the other-version prefix needs at least one character after it.", 0x13),
            "replaced by \"KC2:\"",
            |_| "KC2:".to_owned(),
        ),
        edited(
            static_case("prefix_two_digit_version", "\"KC10:\": the version is one digit, so this is no karcis prefix.", 0x13),
            "prefix KC1: replaced by KC10:",
            |qr| qr.replacen("KC1:", "KC10:", 1),
        ),
        edited(
            static_case("prefix_lower_case", "\"kc1:\": the prefix is upper case only.", 0x13),
            "prefix KC1: replaced by kc1:",
            |qr| qr.replacen("KC1:", "kc1:", 1),
        ),
        edited(
            static_case("prefix_missing", "The base45 text without \"KC1:\".", 0x13),
            "prefix KC1: removed",
            |qr| qr[4..].to_owned(),
        ),
        edited(
            static_case("base45_invalid_character", "A lower-case letter in the base45 text.", 0x13),
            "last character replaced by \"a\"",
            |qr| format!("{}a", &qr[..qr.len() - 1]),
        ),
        edited(
            static_case("base45_dangling_character", "The base45 text's length is 1 mod 3.", 0x13),
            "zeros appended until the base45 text's length is 1 mod 3",
            |qr| {
                let mut text = qr.to_owned();
                while (text.len() - 4) % 3 != 1 {
                    text.push('0');
                }
                text
            },
        ),
        edited(
            static_case("base45_overflow", "A three-character group worth more than 65,535 (\"GGW\").", 0x13),
            "\"GGW\" inserted after the prefix",
            |qr| format!("KC1:GGW{}", &qr[4..]),
        ),
        edited(
            static_case("empty_payload", "\"KC1:\" and nothing else.", 0x13),
            "replaced by \"KC1:\"",
            |_| "KC1:".to_owned(),
        ),
        edited(
            static_case("payload_version_2", "Payload version byte 2 under the KC1: prefix: unsupported_version, decided before the kind byte.", 0x13),
            "payload byte 0 set to 2",
            |qr| {
                let mut payload = payload_of(qr);
                payload[0] = 2;
                text_of(&payload)
            },
        ),
        edited(
            static_case("payload_version_byte_only", "A one-byte payload, 0x02: the version is read first, so unsupported_version, not malformed.", 0x13),
            "payload replaced by the single byte 0x02",
            |_| text_of(&[2]),
        ),
        edited(
            static_case("payload_kind_2", "Kind byte 2: malformed (only the version byte says unsupported_version).", 0x13),
            "payload byte 1 set to 2",
            |qr| {
                let mut payload = payload_of(qr);
                payload[1] = 2;
                text_of(&payload)
            },
        ),
        edited(
            static_case("payload_kind_missing", "A one-byte payload, 0x01: no kind byte.", 0x13),
            "payload replaced by the single byte 0x01",
            |_| text_of(&[1]),
        ),
        edited(
            static_case("sealed_tag_only", "A static payload whose ciphertext is only 16 bytes (a tag, no plaintext): malformed, even though the kid is known.", 0x13),
            "payload cut to 2 + 4 + 12 + 16 bytes",
            |qr| text_of(&payload_of(qr)[..34]),
        ),
        edited(
            static_case("sealed_shortest", "A static payload with 17 bytes of ciphertext, the least step 1 lets through: it reaches the AEAD (undecryptable).", 0x13),
            "payload cut to 2 + 4 + 12 + 17 bytes",
            |qr| text_of(&payload_of(qr)[..35]),
        ),
        edited(
            base_case("rotating_header_truncated", "A rotating payload cut inside the device signature.", 0x14),
            "payload cut to 2 + 8 + 63 bytes",
            |qr| text_of(&payload_of(qr)[..73]),
        ),
        edited(
            base_case("rotating_too_short", "A rotating payload of 106 bytes (16 bytes of ciphertext): malformed.", 0x14),
            "payload cut to 2 + 8 + 64 + 4 + 12 + 16 bytes",
            |qr| text_of(&payload_of(qr)[..106]),
        ),
        edited(
            base_case("rotating_shortest", "A rotating payload of 107 bytes, the shortest step 1 lets through: it reaches the AEAD (undecryptable).", 0x14),
            "payload cut to 2 + 8 + 64 + 4 + 12 + 17 bytes",
            |qr| text_of(&payload_of(qr)[..107]),
        ),
    ]
}

fn raw_case(name: &'static str, description: &'static str, raw: Vec<u8>) -> Case {
    Case {
        raw_claims: Some(raw),
        ..static_case(name, description, 0x15)
    }
}

/// Step 4: credentials that open with the QR key but whose claims do not decode.
fn claims_cases() -> Vec<Case> {
    let device_none: &[u8] = &[0];
    let canonical = raw_claims(1, EVENT.as_bytes(), &GATES, NOT_BEFORE, device_none);
    assert_eq!(
        canonical,
        claims(None).encode().expect("valid"),
        "raw layout"
    );
    let long_id = [b'x'; 65];
    let seventeen: Vec<&[u8]> = vec![b"A"; 17];
    let mut bad_key = vec![1];
    bad_key.extend_from_slice(&off_curve_point());
    let thief = IssuerKey::from_secret_bytes(KID, &[0x55; 32]).expect("scalar");
    let mut kid_claims = claims(None);
    kid_claims.kid = KID ^ 0x0100_0000;
    vec![
        raw_case("claims_version_2", "Claims version byte 2: unsupported_version.", {
            let mut raw = canonical.clone();
            raw[0] = 2;
            raw
        }),
        raw_case("claims_truncated", "Claims without their last byte (the device flag).", canonical[..canonical.len() - 1].to_vec()),
        raw_case("claims_trailing_byte", "Claims followed by one more byte.", [canonical.as_slice(), &[0]].concat()),
        raw_case("claims_device_flag_2", "Device flag 2.", raw_claims(1, EVENT.as_bytes(), &GATES, NOT_BEFORE, &[2])),
        raw_case("claims_device_key_off_curve", "A device key whose x has no point on the curve.", raw_claims(1, EVENT.as_bytes(), &GATES, NOT_BEFORE, &bad_key)),
        raw_case("claims_event_id_empty", "Event id of length 0.", raw_claims(1, b"", &GATES, NOT_BEFORE, device_none)),
        raw_case("claims_event_id_too_long", "Event id of 65 characters.", raw_claims(1, &long_id, &GATES, NOT_BEFORE, device_none)),
        raw_case("claims_event_id_bad_character", "Event id with a space.", raw_claims(1, b"jkt fest", &GATES, NOT_BEFORE, device_none)),
        raw_case("claims_no_gates", "Gate count 0.", raw_claims(1, EVENT.as_bytes(), &[], NOT_BEFORE, device_none)),
        raw_case("claims_too_many_gates", "17 gates.", raw_claims(1, EVENT.as_bytes(), &seventeen, NOT_BEFORE, device_none)),
        raw_case("claims_gate_empty", "A gate of length 0.", raw_claims(1, EVENT.as_bytes(), &[b"A", b""], NOT_BEFORE, device_none)),
        raw_case("claims_gate_too_long", "A gate of 65 characters.", raw_claims(1, EVENT.as_bytes(), &[b"A", &long_id], NOT_BEFORE, device_none)),
        raw_case("claims_gate_bad_character", "Gate \"A/B\".", raw_claims(1, EVENT.as_bytes(), &[b"A/B"], NOT_BEFORE, device_none)),
        raw_case("claims_gate_star_and_more", "Gate \"*x\": only the one-character gate \"*\" is special.", raw_claims(1, EVENT.as_bytes(), &[b"*x"], NOT_BEFORE, device_none)),
        raw_case("claims_window_inverted", "not_before one second after not_after.", raw_claims(1, EVENT.as_bytes(), &GATES, NOT_AFTER + 1, device_none)),
        Case {
            signer: thief,
            ..raw_case("claims_malformed_and_forged", "Claims with a trailing byte, signed by a key other than the issuer's: step 4 (malformed) comes before step 5.", [canonical.as_slice(), &[0]].concat())
        },
        Case {
            claims: kid_claims,
            sealed_kid: Some(KID),
            ..static_case("claims_kid_mismatch", "Claims naming another kid, signed by the issuer and sealed under the outer kid with the right QR key: malformed at step 4, before the signature.", 0x16)
        },
        Case {
            plaintext: Some(vec![0x01; 63]),
            ..static_case("credential_too_short", "A sealed plaintext of 63 bytes: shorter than a signature.", 0x17)
        },
    ]
}

/// Steps 6 to 11: the edges of each decision.
fn decision_cases() -> Vec<Case> {
    let mut star_among = claims(None);
    star_among.gates = vec!["A".into(), "*".into()];
    let mut duplicates = claims(None);
    duplicates.gates = vec!["VIP".into(), "A".into(), "VIP".into()];
    let mut longest = claims(Some(device_public(&device())));
    longest.event_id = LONG_EVENT.into();
    longest.gates = (0..16).map(|i| format!("{i:0>64}")).collect();
    vec![
        Case {
            device: Some((device(), NOW - 30)),
            ..base_case("proof_age_30_ok", "Proof exactly 30 s old: inside the window.", 0x18)
        },
        Case {
            device: Some((device(), NOW - 31)),
            ..base_case("proof_age_31_stale", "Proof 31 s old.", 0x18)
        },
        Case {
            device: Some((device(), NOW + 30)),
            ..base_case("proof_future_30_ok", "Proof 30 s in the future: the window is symmetric, 61 s wide.", 0x18)
        },
        Case {
            device: Some((device(), 0)),
            ..base_case("proof_timestamp_zero", "Proof timestamp 0: |now - ts| is the true distance, no wrapping.", 0x18)
        },
        Case {
            device: Some((device(), NOW - 5)),
            freshness: 5,
            ..base_case("freshness_5_ok", "freshness_secs 5, proof 5 s old.", 0x18)
        },
        Case {
            device: Some((device(), NOW - 6)),
            freshness: 5,
            ..base_case("freshness_5_stale", "freshness_secs 5, proof 6 s old.", 0x18)
        },
        Case {
            now: NOT_BEFORE,
            device: Some((device(), NOT_BEFORE)),
            ..base_case("at_not_before_ok", "now = not_before: admits.", 0x19)
        },
        Case {
            now: NOT_BEFORE - 1,
            device: Some((device(), NOT_BEFORE - 1)),
            ..base_case("before_not_before", "now = not_before - 1.", 0x19)
        },
        Case {
            now: NOT_AFTER,
            device: Some((device(), NOT_AFTER)),
            ..base_case("at_not_after_ok", "now = not_after: admits (inclusive).", 0x19)
        },
        Case {
            now: NOT_AFTER + 1,
            device: Some((device(), NOT_AFTER + 1)),
            ..base_case("after_not_after", "now = not_after + 1.", 0x19)
        },
        Case {
            gate: None,
            ..base_case("no_gate_policy_ok", "A policy with no gate: gates are not checked.", 0x1a)
        },
        Case {
            gate: Some("vip"),
            ..base_case("gate_case_mismatch", "Ticket for gates A and VIP at gate \"vip\": gates compare byte for byte.", 0x1a)
        },
        Case {
            gate: Some("*"),
            ..base_case("policy_gate_star", "A policy gate \"*\" is an ordinary gate name: only the ticket's \"*\" is a wildcard.", 0x1a)
        },
        Case {
            gate: Some(""),
            ..base_case("policy_gate_empty", "A policy gate \"\" is a gate (checked, and matched by no gate but \"*\"); no gate is null.", 0x1a)
        },
        Case {
            claims: star_among,
            gate: Some("Z"),
            ..static_case("any_gate_among_others_ok", "Gates [\"A\", \"*\"]: \"*\" may stand with other gates and still admits at any gate.", 0x1a)
        },
        Case {
            claims: duplicates,
            ..static_case("duplicate_gates_ok", "Gates [\"VIP\", \"A\", \"VIP\"]: duplicates and any order are allowed; order is kept.", 0x1a)
        },
        Case {
            force_static: true,
            ..base_case("device_bound_static_refused", "Device-bound credential shown as static where static is refused: device_proof_required (6a before 6d).", 0x1b)
        },
        Case {
            proof_event: Some("other-event"),
            event_id: "other-event",
            ring_event: "other-event",
            ..base_case("device_proof_signs_policy_event", "The proof signs the policy's event id, not the claims': bad_device_proof (the claims' event id is the one signed).", 0x1b)
        },
        Case {
            claims: longest,
            event_id: LONG_EVENT,
            ring_event: LONG_EVENT,
            gate: None,
            ..base_case("longest_code_ok", "64-character event id, 16 gates of 64 characters, device-bound: the longest valid code, 2,037 characters.", 0x1c)
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
            let encoded = case
                .raw_claims
                .clone()
                .unwrap_or_else(|| case.claims.encode().expect("valid claims"));
            let signed_bytes = credential_signing_message(&encoded);
            let signature: Signature = low_s(
                SigningKey::from_slice(case.signer.secret_bytes().as_ref())
                    .expect("scalar")
                    .sign(&signed_bytes),
            );
            let signature = if case.high_s_issuer {
                high_s(signature)
            } else {
                signature
            };
            let plaintext = case
                .plaintext
                .clone()
                .unwrap_or_else(|| [encoded.as_slice(), &signature.to_bytes()].concat());
            let sealed_kid = case.sealed_kid.unwrap_or(case.claims.kid);
            let aad = qr_associated_data(sealed_kid);
            let sealed = SealedCredential::from_bytes(seal(sealed_kid, case.nonce, &plaintext))
                .expect("sealed");
            let honest = case.raw_claims.is_none()
                && case.plaintext.is_none()
                && case.sealed_kid.is_none()
                && !case.high_s_issuer;
            if honest {
                let issued =
                    issue(&case.claims, &case.signer, &qr_key(), case.nonce).expect("issue");
                assert_eq!(issued.as_bytes(), sealed.as_bytes(), "{}: issue", case.name);
            }
            let (device, qr) = match (&case.device, case.force_static) {
                (Some((key, ts)), false) => {
                    let proof_event = case.proof_event.unwrap_or(&case.claims.event_id);
                    let proof = device_proof_message(&case.claims.ticket_id, proof_event, *ts);
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
            let qr = case.edit.map_or(qr.clone(), |(_, edit)| edit(&qr));
            let payload = qr
                .strip_prefix("KC1:")
                .and_then(|text| base45::decode(text).ok())
                .map(|bytes| hex(&bytes));
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
                &Policy {
                    freshness_secs: case.freshness,
                    ..policy(case.event_id, case.gate, case.accept_static)
                },
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
                "qr_payload": payload,
                "qr": qr,
                "qr_mutation": case.edit.map(|(what, _)| what),
                "verifier": {
                    "now": case.now,
                    "event_id": case.event_id,
                    "gate": case.gate,
                    "accept_static": case.accept_static,
                    "freshness_secs": case.freshness,
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
        "static_ok"
        | "device_bound_ok"
        | "any_gate_ok"
        | "proof_age_30_ok"
        | "proof_future_30_ok"
        | "freshness_5_ok"
        | "at_not_before_ok"
        | "at_not_after_ok"
        | "no_gate_policy_ok"
        | "any_gate_among_others_ok"
        | "duplicate_gates_ok"
        | "longest_code_ok" => "ok",
        "device_bound_stale"
        | "device_bound_future"
        | "proof_age_31_stale"
        | "proof_timestamp_zero"
        | "freshness_5_stale" => "stale_proof",
        "tampered" | "sealed_shortest" | "rotating_shortest" => "undecryptable",
        "static_not_allowed" => "static_not_allowed",
        "device_proof_required" | "device_bound_static_refused" => "device_proof_required",
        "bad_device_proof" | "high_s_device_proof" | "device_proof_signs_policy_event" => {
            "bad_device_proof"
        }
        "bad_issuer_signature" | "high_s_issuer_signature" => "bad_issuer_signature",
        "unknown_key" => "unknown_key",
        "wrong_event" | "foreign_key_set" => "wrong_event",
        "revoked" => "revoked",
        "not_yet_valid" | "before_not_before" => "not_yet_valid",
        "expired" | "after_not_after" => "expired",
        "gate_not_allowed" | "gate_case_mismatch" | "policy_gate_star" | "policy_gate_empty" => {
            "gate_not_allowed"
        }
        "text_at_length_limit"
        | "prefix_other_version"
        | "payload_version_2"
        | "payload_version_byte_only"
        | "claims_version_2" => "unsupported_version",
        "text_too_long"
        | "prefix_other_version_nothing_after"
        | "prefix_two_digit_version"
        | "prefix_lower_case"
        | "prefix_missing"
        | "base45_invalid_character"
        | "base45_dangling_character"
        | "base45_overflow"
        | "empty_payload"
        | "payload_kind_2"
        | "payload_kind_missing"
        | "sealed_tag_only"
        | "rotating_header_truncated"
        | "rotating_too_short"
        | "claims_truncated"
        | "claims_trailing_byte"
        | "claims_device_flag_2"
        | "claims_device_key_off_curve"
        | "claims_event_id_empty"
        | "claims_event_id_too_long"
        | "claims_event_id_bad_character"
        | "claims_no_gates"
        | "claims_too_many_gates"
        | "claims_gate_empty"
        | "claims_gate_too_long"
        | "claims_gate_bad_character"
        | "claims_gate_star_and_more"
        | "claims_window_inverted"
        | "claims_malformed_and_forged"
        | "claims_kid_mismatch"
        | "credential_too_short" => "malformed",
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
            !matches!(name, "bad_issuer_signature" | "claims_malformed_and_forged"),
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
        // The outer kid, from the sealed credential (the claims' differs in claims_kid_mismatch).
        let sealed = unhex(&v["sealed_credential"]);
        let kid = u32::from_be_bytes(sealed[..4].try_into().expect("kid"));
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
            plaintext == [encoded.as_slice(), &signature.to_bytes()].concat(),
            name != "credential_too_short",
            "{name}: plaintext is the credential"
        );
        assert_eq!(sealed[4..16], nonce);

        // The device proof, when there is one.
        if let Some(device) = v["device"].as_object() {
            let key =
                VerifyingKey::from_sec1_bytes(&unhex(&device["public_key_sec1"])).expect("pub");
            let ts = device["timestamp"].as_u64().expect("ts");
            let ticket_id =
                TicketId::from_hex(v["claims"]["ticket_id"].as_str().expect("id")).expect("id");
            let proof = unhex(&device["signed_bytes"]);
            // The proof signs the claims' event id (the policy's in the one vector showing
            // that this is refused).
            let proof_event = if name == "device_proof_signs_policy_event" {
                &v["verifier"]["event_id"]
            } else {
                &v["claims"]["event_id"]
            };
            assert_eq!(
                proof,
                device_proof_message(&ticket_id, proof_event.as_str().expect("event"), ts)
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
        // (No payload when the text is not `KC1:` and valid base45.)
        let decoded = qr
            .strip_prefix("KC1:")
            .and_then(|text| base45::decode(text).ok());
        assert_eq!(
            decoded,
            v["qr_payload"].as_str().map(|_| unhex(&v["qr_payload"])),
            "{name}: payload"
        );
        assert_eq!(
            v["qr_mutation"].is_null(),
            v["device"].as_object().map_or_else(
                || qr == text_of(&[[1, 0].as_slice(), &sealed].concat()),
                |d| qr
                    == text_of(
                        &[
                            [1, 1].as_slice(),
                            &d["timestamp"].as_u64().expect("ts").to_be_bytes(),
                            &unhex(&d["signature"]),
                            &sealed
                        ]
                        .concat()
                    ),
            ),
            "{name}: the text is the honest encoding exactly when no mutation is stated"
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
        "malformed",
        "unsupported_version",
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
