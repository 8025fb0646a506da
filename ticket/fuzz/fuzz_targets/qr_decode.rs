//! libFuzzer target: any input, as QR text or as raw payload bytes, must be refused without a
//! panic (the fuzzing keys never sign anything, so nothing can verify).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ticket::{base45, open, verify, IssuerKey, KeyRing, Policy, QrKey};

fn ring() -> &'static KeyRing {
    static RING: std::sync::OnceLock<KeyRing> = std::sync::OnceLock::new();
    RING.get_or_init(|| {
        let issuer = IssuerKey::from_secret_bytes(1, &[0x11; 32]).expect("scalar");
        let mut ring = KeyRing::new();
        ring.add_event_keys(1, "fuzz-event", &issuer.public_key_sec1(), QrKey::from_bytes(&[0x33; 32]).expect("key"))
            .expect("ring");
        ring
    })
}

fuzz_target!(|data: &[u8]| {
    let ring = ring();
    let policy = Policy {
        accept_static: true,
        ..Policy::new("fuzz-event")
    };
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = base45::decode(text);
        assert!(verify(text, 1_790_000_000, ring, &policy).is_err());
    }
    let qr = format!("KC1:{}", base45::encode(data));
    assert!(open(&qr, ring).is_err());
});
