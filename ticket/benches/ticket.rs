//! Criterion benchmarks of minting and verification, natively.
//! `make bench-ticket`; figures go in the README's performance section.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use p256::ecdsa::SigningKey;
use ticket::{
    base45, issue, open, present_with_device, verify, Claims, DevicePublicKey, IssuerKey, KeyRing,
    Policy, QrKey, TicketId,
};

const KID: u32 = 1;
const NOW: u64 = 1_790_027_200;

fn claims(device: Option<DevicePublicKey>) -> Claims {
    Claims {
        kid: KID,
        ticket_id: TicketId([7; 16]),
        event_id: "bench-event".into(),
        gates: vec!["A".into()],
        not_before: NOW - 3600,
        not_after: NOW + 3600,
        issued_at: NOW - 7200,
        device_key: device,
    }
}

fn benches(c: &mut Criterion) {
    let issuer = IssuerKey::from_secret_bytes(KID, &[0x11; 32]).expect("scalar");
    let qr_key = QrKey::from_bytes(&[0x33; 32]).expect("key");
    let device = SigningKey::from_slice(&[0x22; 32]).expect("scalar");
    let device_pub =
        DevicePublicKey::from_sec1(device.verifying_key().to_encoded_point(true).as_bytes())
            .expect("point");
    let mut ring = KeyRing::new();
    ring.add_event_keys(
        KID,
        "bench-event",
        &issuer.public_key_sec1(),
        qr_key.clone(),
    )
    .expect("ring");
    let static_claims = claims(None);
    let bound_claims = claims(Some(device_pub));
    let static_sealed = issue(&static_claims, &issuer, &qr_key, [1; 12]).expect("issue");
    let bound_sealed = issue(&bound_claims, &issuer, &qr_key, [2; 12]).expect("issue");
    let static_qr = static_sealed.to_static_qr();
    let bound_qr = present_with_device(
        &bound_sealed,
        &bound_claims.ticket_id,
        "bench-event",
        NOW,
        &device,
    );
    let policy = Policy {
        accept_static: true,
        ..Policy::new("bench-event")
    };
    assert!(verify(&bound_qr, NOW, &ring, &policy).is_ok());

    c.bench_function("issue (encode + sign + seal)", |b| {
        b.iter(|| issue(black_box(&bound_claims), &issuer, &qr_key, [3; 12]));
    });
    c.bench_function("seal only (AES-256-GCM of a credential)", |b| {
        use aes_gcm::aead::{Aead, KeyInit};
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(qr_key.expose_secret()).expect("key");
        let credential = vec![0u8; 190];
        b.iter(|| cipher.encrypt(&[4u8; 12].into(), black_box(credential.as_slice())));
    });
    c.bench_function("encode static QR text (base45)", |b| {
        b.iter(|| black_box(&static_sealed).to_static_qr());
    });
    c.bench_function("device proof (phone side: sign + encode)", |b| {
        b.iter(|| {
            present_with_device(
                &bound_sealed,
                &bound_claims.ticket_id,
                "bench-event",
                NOW,
                &device,
            )
        });
    });
    c.bench_function("base45 decode", |b| {
        b.iter(|| base45::decode(black_box(&bound_qr[4..])));
    });
    c.bench_function("open (decode + decrypt + parse)", |b| {
        b.iter(|| open(black_box(&bound_qr), &ring));
    });
    c.bench_function("verify static", |b| {
        b.iter(|| verify(black_box(&static_qr), NOW, &ring, &policy));
    });
    c.bench_function("verify device-bound (2 x P-256 + AEAD)", |b| {
        b.iter(|| verify(black_box(&bound_qr), NOW, &ring, &policy));
    });
}

criterion_group!(ticket_benches, benches);
criterion_main!(ticket_benches);
