//! Fixed keys and claims shared by the ticket tests. Test keys only: never use them for real.
#![allow(dead_code)]

use p256::ecdsa::SigningKey;
use ticket::{p256, Claims, DevicePublicKey, IssuerKey, KeyRing, QrKey, TicketId};

pub const KID: u32 = 0x0000_2a01;
pub const EVENT: &str = "jkt-fest-2026";
/// 2026-09-21T21:46:40Z: "now" in the tests, inside the validity window below.
pub const NOW: u64 = 1_790_027_200;
pub const NOT_BEFORE: u64 = 1_790_000_000;
pub const NOT_AFTER: u64 = 1_790_086_400;
pub const ISSUED_AT: u64 = 1_789_000_000;

pub fn issuer() -> IssuerKey {
    IssuerKey::from_secret_bytes(KID, &[0x11; 32]).expect("test scalar is valid")
}

pub fn qr_key() -> QrKey {
    QrKey::from_bytes(&[0x33; 32]).expect("32 bytes")
}

pub fn device() -> SigningKey {
    SigningKey::from_slice(&[0x22; 32]).expect("test scalar is valid")
}

pub fn device_public(device: &SigningKey) -> DevicePublicKey {
    DevicePublicKey::from_sec1(device.verifying_key().to_encoded_point(true).as_bytes())
        .expect("valid point")
}

/// The key set of EVENT.
pub fn ring() -> KeyRing {
    ring_of(EVENT)
}

/// The test key set, as event `event_id`'s.
pub fn ring_of(event_id: &str) -> KeyRing {
    let mut ring = KeyRing::new();
    ring.add_event_keys(KID, event_id, &issuer().public_key_sec1(), qr_key())
        .expect("valid keys");
    ring
}

pub fn claims(device_key: Option<DevicePublicKey>) -> Claims {
    Claims {
        kid: KID,
        ticket_id: TicketId([
            0x6b, 0x61, 0x72, 0x63, 0x69, 0x73, 0x2d, 0x74, 0x69, 0x63, 0x6b, 0x65, 0x74, 0x2d,
            0x30, 0x31,
        ]),
        event_id: EVENT.into(),
        gates: vec!["A".into(), "VIP".into()],
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
        issued_at: ISSUED_AT,
        device_key,
    }
}
