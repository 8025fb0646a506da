//! Attacks at the door ("The door" issue): a key set of one event minting for another, and
//! malleable ECDSA signatures (s -> n - s gives a second valid code).

mod common;

use common::*;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use proptest::prelude::*;
use ticket::{
    issue, open, rotating_qr, verify, Claims, IssuerKey, KeyRing, Policy, QrKey, Rejection,
    SignatureCheck,
};

/// The group order of P-256, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `r || s` -> `r || n - s`: the other valid ECDSA signature of the same message.
fn malleate(signature: &[u8; 64]) -> [u8; 64] {
    let mut out = *signature;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = u8::try_from(d.rem_euclid(256)).expect("byte");
    }
    out
}

const EVENT_A: &str = "evt-a";
const KID_A: u32 = 0x0a0a_0a0a;

fn issuer_a() -> IssuerKey {
    IssuerKey::from_secret_bytes(KID_A, &[0x66; 32]).expect("scalar")
}

fn qr_key_a() -> QrKey {
    QrKey::from_bytes(&[0x77; 32]).expect("32 bytes")
}

/// The door of EVENT holds its own key set and event A's (one worker serves both events).
fn two_event_ring() -> KeyRing {
    let mut ring = ring();
    ring.add_event_keys(KID_A, EVENT_A, &issuer_a().public_key_sec1(), qr_key_a())
        .expect("keys");
    ring
}

#[test]
fn a_key_set_of_another_event_cannot_mint_for_this_one() {
    // Event A's issuer key and QR key leaked: the thief mints a ticket claiming EVENT.
    let device = device();
    let mut forged = claims(Some(device_public(&device)));
    forged.kid = KID_A;
    let sealed = issue(&forged, &issuer_a(), &qr_key_a(), [9; 12]).expect("issue");
    let qr = ticket::present_with_device(&sealed, &forged.ticket_id, EVENT, NOW, &device);
    assert_eq!(
        verify(&qr, NOW, &two_event_ring(), &Policy::new(EVENT)),
        Err(Rejection::WrongEvent)
    );
    // Event A's own tickets still admit at A's door with the same ring.
    let mut own = forged.clone();
    own.event_id = EVENT_A.into();
    let sealed = issue(&own, &issuer_a(), &qr_key_a(), [10; 12]).expect("issue");
    let qr = ticket::present_with_device(&sealed, &own.ticket_id, EVENT_A, NOW, &device);
    assert!(verify(&qr, NOW, &two_event_ring(), &Policy::new(EVENT_A)).is_ok());
}

fn device_bound(claims: &Claims, nonce: [u8; 12]) -> ticket::SealedCredential {
    issue(claims, &issuer(), &qr_key(), nonce).expect("issue")
}

#[test]
fn issuer_and_device_signatures_are_low_s() {
    let device = device();
    let claims = claims(Some(device_public(&device)));
    for nonce in 0u8..32 {
        let sealed = device_bound(&claims, [nonce; 12]);
        // Different timestamps give different device signatures.
        let qr = ticket::present_with_device(
            &sealed,
            &claims.ticket_id,
            EVENT,
            NOW - u64::from(nonce),
            &device,
        );
        let opened = open(&qr, &ring()).expect("opens");
        for check in std::iter::once(&opened.issuer_check).chain(&opened.device_check) {
            let s = Signature::from_slice(&check.signature).expect("r||s");
            assert!(s.normalize_s().is_none(), "high-S signature minted");
        }
    }
}

#[test]
fn a_high_s_device_proof_is_refused() {
    let device = device();
    let claims = claims(Some(device_public(&device)));
    let sealed = device_bound(&claims, [3; 12]);
    let good = ticket::present_with_device(&sealed, &claims.ticket_id, EVENT, NOW, &device);
    assert!(verify(&good, NOW, &ring(), &Policy::new(EVENT)).is_ok());
    let opened = open(&good, &ring()).expect("opens");
    let proof = opened.device_check.expect("device check").signature;
    let twin = rotating_qr(&sealed, NOW, &malleate(&proof));
    assert_ne!(twin, good);
    assert_eq!(
        verify(&twin, NOW, &ring(), &Policy::new(EVENT)),
        Err(Rejection::BadDeviceProof)
    );
    // Also when the caller's own backend says the signature checks (WebCrypto accepts both).
    let opened = open(&twin, &ring()).expect("opens");
    assert_eq!(
        opened
            .decide(true, Some(true), NOW, &ring(), &Policy::new(EVENT))
            .map(|_| ()),
        Err(Rejection::BadDeviceProof)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any key and message: the signer's signature is low-S and checks; its twin
    /// `r || n - s` (mathematically valid too) is refused.
    #[test]
    fn the_high_s_twin_of_a_signature_is_refused(
        scalar in any::<[u8; 32]>(),
        message in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let Ok(key) = SigningKey::from_slice(&scalar) else { return Ok(()) };
        let signature: Signature = key.sign(&message);
        let low = signature.normalize_s().unwrap_or(signature);
        let public_key_sec1 = key.verifying_key().to_encoded_point(false).as_bytes().to_vec();
        let check = |signature: [u8; 64]| SignatureCheck {
            public_key_sec1: public_key_sec1.clone(),
            message: message.clone(),
            signature,
            low_s_only: true,
        };
        let low_bytes: [u8; 64] = low.to_bytes().into();
        prop_assert!(check(low_bytes).verify_with_p256());
        prop_assert!(!check(malleate(&low_bytes)).verify_with_p256());
        prop_assert!(!check(malleate(&low_bytes)).has_acceptable_form());
    }
}
