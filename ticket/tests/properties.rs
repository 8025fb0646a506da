//! Property tests: round trips, and that no alteration of a code is ever accepted.
//! (Also the crate's fuzzing of the decoder on stable Rust; `fuzz/` has a libFuzzer target.)

mod common;

use common::*;
use proptest::prelude::*;
use ticket::{
    base45, issue, open, present_with_device, verify, Claims, Policy, Rejection, TicketId,
};

fn any_gate() -> impl Strategy<Value = String> {
    prop_oneof![Just("*".to_string()), "[A-Za-z0-9._-]{1,64}"]
}

prop_compose! {
    fn any_claims()(
        ticket_id in any::<[u8; 16]>(),
        event_id in "[A-Za-z0-9._-]{1,64}",
        gates in prop::collection::vec(any_gate(), 1..=16),
        not_before in 0u64..=u64::MAX / 2,
        span in 0u64..=10_000_000,
        issued_at in any::<u64>(),
        bound in any::<bool>(),
    ) -> Claims {
        Claims {
            kid: KID,
            ticket_id: TicketId(ticket_id),
            event_id,
            gates,
            not_before,
            not_after: not_before + span,
            issued_at,
            device_key: bound.then(|| device_public(&device())),
        }
    }
}

fn present(claims: &Claims, nonce: [u8; 12], now: u64) -> String {
    let sealed = issue(claims, &issuer(), &qr_key(), nonce).expect("valid claims issue");
    if claims.device_key.is_some() {
        present_with_device(&sealed, &claims.ticket_id, &claims.event_id, now, &device())
    } else {
        sealed.to_static_qr()
    }
}

fn policy_for(claims: &Claims) -> Policy {
    Policy {
        accept_static: true,
        gate: Some(claims.gates[0].clone()),
        ..Policy::new(claims.event_id.clone())
    }
}

fn flip(qr: &str, index: usize, mask: u8) -> String {
    let mut payload = base45::decode(&qr[4..]).expect("own encoding");
    let at = index % payload.len();
    payload[at] ^= mask;
    format!("KC1:{}", base45::encode(&payload))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn claims_encoding_round_trips(claims in any_claims()) {
        let bytes = claims.encode().expect("valid");
        prop_assert_eq!(Claims::decode(&bytes), Ok(claims));
    }

    #[test]
    fn issued_codes_verify_to_their_claims(claims in any_claims(), nonce in any::<[u8; 12]>()) {
        let now = claims.not_before + (claims.not_after - claims.not_before) / 2;
        let qr = present(&claims, nonce, now);
        prop_assert!(qr.len() <= 2048);
        let verified = verify(&qr, now, &ring_of(&claims.event_id), &policy_for(&claims)).expect("verifies");
        prop_assert_eq!(verified.claims, claims);
    }

    #[test]
    fn any_flipped_bit_of_the_payload_is_refused(
        claims in any_claims(), nonce in any::<[u8; 12]>(), index in any::<usize>(), bit in 0u8..8,
    ) {
        let now = claims.not_before;
        let qr = present(&claims, nonce, now);
        let altered = flip(&qr, index, 1 << bit);
        prop_assert!(verify(&altered, now, &ring_of(&claims.event_id), &policy_for(&claims)).is_err());
    }

    #[test]
    fn any_replaced_character_of_the_text_is_refused(
        index in 0usize..409, replacement in "[0-9A-Z $%*+\\-./:a-z]",
    ) {
        let claims = claims(Some(device_public(&device())));
        let qr = present(&claims, [9; 12], NOW);
        let index = index % qr.len();
        let original = &qr[index..=index];
        prop_assume!(original != replacement);
        let altered = format!("{}{}{}", &qr[..index], replacement, &qr[index + 1..]);
        prop_assert!(verify(&altered, NOW, &ring(), &Policy::new(EVENT)).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics_and_never_admits(text in ".{0,600}") {
        prop_assert!(verify(&text, NOW, &ring(), &Policy::new(EVENT)).is_err());
        let prefixed = format!("KC1:{text}");
        prop_assert!(verify(&prefixed, NOW, &ring(), &Policy::new(EVENT)).is_err());
    }

    #[test]
    fn arbitrary_payload_bytes_never_panic_and_never_admit(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let qr = format!("KC1:{}", base45::encode(&bytes));
        prop_assert!(verify(&qr, NOW, &ring(), &Policy::new(EVENT)).is_err());
        // Random bytes do not even decrypt: nothing gets as far as a signature check.
        prop_assert!(open(&qr, &ring()).is_err());
    }

    #[test]
    fn base45_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert_eq!(base45::decode(&base45::encode(&bytes)), Ok(bytes));
    }
}

/// Exhaustive, not sampled: every bit of one device-bound code, and every truncation.
#[test]
fn every_single_bit_flip_and_every_truncation_is_refused() {
    let claims = claims(Some(device_public(&device())));
    let qr = present(&claims, [3; 12], NOW);
    let policy = Policy::new(EVENT);
    assert!(verify(&qr, NOW, &ring(), &policy).is_ok());
    let payload_len = base45::decode(&qr[4..]).expect("own").len();
    for index in 0..payload_len {
        for bit in 0..8 {
            let altered = flip(&qr, index, 1 << bit);
            assert!(
                verify(&altered, NOW, &ring(), &policy).is_err(),
                "bit {bit} of byte {index} flipped was accepted"
            );
        }
    }
    for len in 0..qr.len() {
        let result = verify(&qr[..len], NOW, &ring(), &policy);
        assert!(result.is_err(), "truncated to {len} accepted");
    }
    // Truncating the payload (re-encoded, so the text itself stays valid base45).
    let payload = base45::decode(&qr[4..]).expect("own");
    for len in 0..payload.len() {
        let truncated = format!("KC1:{}", base45::encode(&payload[..len]));
        assert_ne!(
            verify(&truncated, NOW, &ring(), &policy).err(),
            None,
            "payload cut to {len}"
        );
    }
    assert_eq!(
        verify(&format!("{qr}00"), NOW, &ring(), &policy).err(),
        Some(Rejection::Undecryptable)
    );
}
