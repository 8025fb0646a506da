//! Every accept and reject path of `ticket::verify`, and the two-phase API.

mod common;

use common::*;
use ticket::{
    issue, open, present_with_device, verify, IssueError, IssuerKey, Policy, QrKey, Rejection,
};

fn static_policy() -> Policy {
    Policy {
        accept_static: true,
        ..Policy::new(EVENT)
    }
}

fn device_bound_qr(timestamp: u64) -> String {
    let device = device();
    let claims = claims(Some(device_public(&device)));
    let sealed = issue(&claims, &issuer(), &qr_key(), [7; 12]).expect("issue");
    present_with_device(&sealed, &claims.ticket_id, EVENT, timestamp, &device)
}

#[test]
fn static_ticket_admits_where_static_is_accepted() {
    let sealed = issue(&claims(None), &issuer(), &qr_key(), [1; 12]).expect("issue");
    let qr = sealed.to_static_qr();
    assert!(qr.starts_with("KC1:"));
    let verified = verify(&qr, NOW, &ring(), &static_policy()).expect("valid");
    assert_eq!(verified.claims, claims(None));
    assert_eq!(verified.proof_timestamp, None);
    assert_eq!(
        verify(&qr, NOW, &ring(), &Policy::new(EVENT)),
        Err(Rejection::StaticNotAllowed)
    );
}

#[test]
fn device_bound_code_admits_within_freshness_window_only() {
    for offset in [-30i64, -1, 0, 1, 30] {
        let ts = NOW.checked_add_signed(offset).expect("in range");
        let verified = verify(&device_bound_qr(ts), NOW, &ring(), &Policy::new(EVENT))
            .unwrap_or_else(|e| panic!("offset {offset}: {e}"));
        assert_eq!(verified.proof_timestamp, Some(ts));
    }
    for offset in [-120i64, -31, 31, 3600] {
        let ts = NOW.checked_add_signed(offset).expect("in range");
        assert_eq!(
            verify(&device_bound_qr(ts), NOW, &ring(), &Policy::new(EVENT)),
            Err(Rejection::StaleProof),
            "offset {offset}"
        );
    }
    let wide = Policy {
        freshness_secs: 300,
        ..Policy::new(EVENT)
    };
    assert!(verify(&device_bound_qr(NOW - 120), NOW, &ring(), &wide).is_ok());
}

#[test]
fn device_bound_credential_printed_as_static_is_refused() {
    let device = device();
    let sealed = issue(
        &claims(Some(device_public(&device))),
        &issuer(),
        &qr_key(),
        [2; 12],
    )
    .expect("issue");
    assert_eq!(
        verify(&sealed.to_static_qr(), NOW, &ring(), &static_policy()),
        Err(Rejection::DeviceProofRequired)
    );
}

#[test]
fn proof_from_another_device_is_refused() {
    let device = device();
    let claims = claims(Some(device_public(&device)));
    let sealed = issue(&claims, &issuer(), &qr_key(), [3; 12]).expect("issue");
    let thief = p256::ecdsa::SigningKey::from_slice(&[0x44; 32]).expect("scalar");
    let qr = present_with_device(&sealed, &claims.ticket_id, EVENT, NOW, &thief);
    assert_eq!(
        verify(&qr, NOW, &ring(), &Policy::new(EVENT)),
        Err(Rejection::BadDeviceProof)
    );
    // A proof signed for another ticket or event does not transfer either.
    let other = ticket::TicketId([9; 16]);
    let qr = present_with_device(&sealed, &other, EVENT, NOW, &device);
    assert_eq!(
        verify(&qr, NOW, &ring(), &Policy::new(EVENT)),
        Err(Rejection::BadDeviceProof)
    );
}

#[test]
fn rotating_code_for_a_static_credential_is_refused() {
    let sealed = issue(&claims(None), &issuer(), &qr_key(), [4; 12]).expect("issue");
    let qr = ticket::rotating_qr(&sealed, NOW, &[1; 64]);
    assert_eq!(
        verify(&qr, NOW, &ring(), &static_policy()),
        Err(Rejection::BadDeviceProof)
    );
}

#[test]
fn holder_of_the_qr_key_alone_cannot_forge() {
    // The door holds the QR key; a stolen scanner must still not be able to mint.
    let forger = IssuerKey::from_secret_bytes(KID, &[0x55; 32]).expect("scalar");
    let sealed = issue(&claims(None), &forger, &qr_key(), [5; 12]).expect("issue");
    assert_eq!(
        verify(&sealed.to_static_qr(), NOW, &ring(), &static_policy()),
        Err(Rejection::BadIssuerSignature)
    );
}

#[test]
fn sealed_with_another_qr_key_or_unknown_kid_is_refused() {
    let other_qr = QrKey::from_bytes(&[0x66; 32]).expect("32 bytes");
    let sealed = issue(&claims(None), &issuer(), &other_qr, [6; 12]).expect("issue");
    assert_eq!(
        verify(&sealed.to_static_qr(), NOW, &ring(), &static_policy()),
        Err(Rejection::Undecryptable)
    );
    let stranger = IssuerKey::from_secret_bytes(KID + 1, &[0x11; 32]).expect("scalar");
    let mut c = claims(None);
    c.kid = KID + 1;
    let sealed = issue(&c, &stranger, &qr_key(), [6; 12]).expect("issue");
    assert_eq!(
        verify(&sealed.to_static_qr(), NOW, &ring(), &static_policy()),
        Err(Rejection::UnknownKey)
    );
}

#[test]
fn claims_decide_event_revocation_window_and_gate() {
    let qr = device_bound_qr(NOW);
    assert_eq!(
        verify(&qr, NOW, &ring(), &Policy::new("other-event")),
        Err(Rejection::WrongEvent)
    );
    let mut revoked = ring();
    revoked.revoke(claims(None).ticket_id);
    assert_eq!(
        verify(&qr, NOW, &revoked, &Policy::new(EVENT)),
        Err(Rejection::Revoked)
    );
    let early = device_bound_qr(NOT_BEFORE - 1);
    assert_eq!(
        verify(&early, NOT_BEFORE - 1, &ring(), &Policy::new(EVENT)),
        Err(Rejection::NotYetValid)
    );
    let late = device_bound_qr(NOT_AFTER + 1);
    assert_eq!(
        verify(&late, NOT_AFTER + 1, &ring(), &Policy::new(EVENT)),
        Err(Rejection::Expired)
    );
    let at_edges = [NOT_BEFORE, NOT_AFTER];
    for t in at_edges {
        assert!(verify(&device_bound_qr(t), t, &ring(), &Policy::new(EVENT)).is_ok());
    }
    let gate = |g: &str| Policy {
        gate: Some(g.into()),
        ..Policy::new(EVENT)
    };
    assert!(verify(&qr, NOW, &ring(), &gate("VIP")).is_ok());
    assert_eq!(
        verify(&qr, NOW, &ring(), &gate("B")),
        Err(Rejection::GateNotAllowed)
    );
}

#[test]
fn two_phase_api_decides_exactly_as_verify() {
    let qr = device_bound_qr(NOW - 3);
    let opened = open(&qr, &ring()).expect("opens");
    assert_eq!(opened.claims().event_id, EVENT);
    assert_eq!(opened.issuer_check.public_key_sec1.len(), 65);
    let device_check = opened.device_check.clone().expect("device-bound");
    assert!(opened.issuer_check.verify_with_p256());
    assert!(device_check.verify_with_p256());
    // The caller's verdicts drive the decision.
    let policy = Policy::new(EVENT);
    assert!(opened
        .clone()
        .decide(true, Some(true), NOW, &ring(), &policy)
        .is_ok());
    assert_eq!(
        opened
            .clone()
            .decide(false, Some(true), NOW, &ring(), &policy)
            .err(),
        Some(Rejection::BadIssuerSignature)
    );
    assert_eq!(
        opened
            .clone()
            .decide(true, Some(false), NOW, &ring(), &policy)
            .err(),
        Some(Rejection::BadDeviceProof)
    );
    assert_eq!(
        opened.decide(true, None, NOW, &ring(), &policy).err(),
        Some(Rejection::BadDeviceProof)
    );
}

#[test]
fn junk_is_malformed_and_other_versions_are_named() {
    let ring = ring();
    let policy = Policy::new(EVENT);
    for junk in ["", "KC1:", "KC1:A", "hello", "KC1:abc", "KC1:%%%", "KC1: "] {
        let r = verify(junk, NOW, &ring, &policy);
        assert_eq!(r, Err(Rejection::Malformed), "{junk:?}");
    }
    assert_eq!(
        verify("KC2:BB8", NOW, &ring, &policy),
        Err(Rejection::UnsupportedVersion)
    );
    let huge = format!("KC1:{}", "0".repeat(5000));
    assert_eq!(
        verify(&huge, NOW, &ring, &policy),
        Err(Rejection::Malformed)
    );
}

#[test]
fn issue_refuses_bad_claims_and_mismatched_kid() {
    let mut c = claims(None);
    c.kid = 1;
    assert_eq!(
        issue(&c, &issuer(), &qr_key(), [0; 12]).err(),
        Some(IssueError::KidMismatch)
    );
    let mut c = claims(None);
    c.event_id = String::new();
    assert!(matches!(
        issue(&c, &issuer(), &qr_key(), [0; 12]),
        Err(IssueError::Claims(_))
    ));
}

#[test]
fn rejection_codes_are_unique_snake_case() {
    let mut codes: Vec<_> = Rejection::ALL.iter().map(|r| r.code()).collect();
    assert!(codes
        .iter()
        .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), Rejection::ALL.len());
}

#[test]
fn key_material_is_not_printed() {
    let issuer = issuer();
    let printed = format!("{issuer:?} {:?} {:?}", qr_key(), ring());
    // The issuer scalar is 0x11 x 32 and the QR key 0x33 x 32: neither may appear, as decimal
    // bytes (a derived Debug of an array) or as hex.
    for leak in ["17, 17", "1111", "51, 51", "3333"] {
        assert!(!printed.contains(leak), "{leak:?} in {printed}");
    }
}
