//! The incident commands of the first hour and day against moto (INCIDENT.md): rotating an
//! event's ticket keys (tickets re-issued under the new kid, the worker's `EVENT_KEYS` with the
//! old kid's `not_after`), mass revocation through the revoke queue to the door, and the
//! customers' incident notice through the notify queue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

use std::sync::Arc;

use functions::audit_ingest::{verify_stream, DynamoAuditLog, Stream};
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::error::Error;
use functions::eventkeys::EventKeyCache;
use functions::notify::Notifier;
use functions::operations::mass_revoke::{mass_revoke, Selection};
use functions::operations::notify_customers::notify_customers;
use functions::operations::rotate_keys::{edge_event_keys, remint_event, rotate_event_keys};
use functions::ports::{IncidentRevokeMessage, RevokeQueueMessage, TicketRecord};
use functions::testing::{
    at_once, pump, sample_checkout_body, sample_event_spec, RecordingPayments, RecordingSender,
    TestClock, TestEnv,
};

#[path = "common/door_stub.rs"]
mod door_stub;
#[path = "common/minted.rs"]
mod minted;
use door_stub::{revoker, start_edge, Edge, NOW};
use minted::paid_and_minted;

async fn world(events: &[&str]) -> (TestEnv, Deps, DynamoAuditLog) {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    for event in events {
        functions::admin::create_event(&deps, &sample_event_spec(event, 100, NOW))
            .await
            .unwrap();
    }
    let log = DynamoAuditLog::new(env.clients.dynamodb.clone(), env.config.table_name.clone());
    (env, deps, log)
}

/// A paid and minted order of `quantity` tickets of `event`: its id and customer id.
async fn minted(deps: &Deps, event: &str, n: u32, quantity: u32) -> (String, String) {
    let o = paid_and_minted(deps, event, "incident-response", n, quantity, NOW)
        .await
        .order;
    let order = deps.orders.get_order(&o.order_id).await.unwrap().unwrap();
    (o.order_id, order.customer_id)
}

/// Receives and deletes every message of `url` (bounded).
async fn drain(env: &TestEnv, url: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for _ in 0..50 {
        let got = functions::aws::provision::receive(&env.clients.sqs, url, 10, 0)
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for m in got {
            out.push(serde_json::from_str(&m.body).unwrap());
            functions::aws::provision::delete(&env.clients.sqs, url, &m.receipt_handle)
                .await
                .unwrap();
        }
    }
    out
}

/// A ring of an `EVENT_KEYS` document, as the worker builds it.
fn ring_of(doc: &serde_json::Value) -> ticket::KeyRing {
    let mut ring = ticket::KeyRing::new();
    for e in doc["events"].as_array().unwrap() {
        let qr = ticket::QrKey::from_bytes(&hex::decode(e["qr_key"].as_str().unwrap()).unwrap())
            .unwrap();
        ring.add_event_keys(
            u32::try_from(e["kid"].as_u64().unwrap()).unwrap(),
            e["event_id"].as_str().unwrap(),
            &hex::decode(e["issuer_public_key"].as_str().unwrap()).unwrap(),
            qr,
        )
        .unwrap();
    }
    ring
}

fn kid_of(t: &TicketRecord, ring: &ticket::KeyRing) -> Option<u32> {
    let qr = ticket::SealedCredential::from_bytes(t.credential.clone())
        .unwrap()
        .to_static_qr();
    ticket::open(&qr, ring).ok().map(|o| o.claims().kid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_an_events_keys_reissues_every_ticket_under_the_new_kid_once() {
    let (env, deps, log) = world(&["fest", "other"]).await;
    let store = env.store();
    let mut orders = Vec::new();
    for n in 0..3 {
        orders.push(minted(&deps, "fest", n, 2).await.0);
    }
    let (other_order, _) = minted(&deps, "other", 9, 1).await;
    let before = store.event_tickets("fest").await.unwrap();
    assert_eq!(before.len(), 6);
    let old_kid = deps.events.get_event("fest").await.unwrap().unwrap().kid;
    drain(&env, &env.notify.url).await;

    // Two operators at once: one rotation wins, the other changes nothing.
    let (d, s, l) = (Arc::new(deps.clone()), store.clone(), Arc::new(log));
    let tries = at_once(4, |_| {
        let (d, s, l) = (d.clone(), s.clone(), l.clone());
        async move {
            rotate_event_keys(&d, &s, l.as_ref(), "fest", 3600, "ops", "issuer key leak").await
        }
    })
    .await;
    let won: Vec<_> = tries.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{tries:?}");
    assert!(tries
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(Error::Conflict(_)))));
    let rotation = *won[0];
    assert_eq!(rotation.old_kid, old_kid);
    assert_eq!(rotation.old_not_after, NOW + 3600);
    let event = deps.events.get_event("fest").await.unwrap().unwrap();
    assert_eq!(
        event.kid, rotation.new_kid,
        "new orders mint under the new kid"
    );

    // The worker's keys: the new kid, and the old one until the end of the grace period.
    let current = serde_json::json!({"events": [{"kid": 1, "event_id": "other", "x": 1}]});
    let doc = edge_event_keys(&deps, "fest", &rotation, Some(&current))
        .await
        .unwrap();
    let entries = doc["events"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["event_id"], "other", "other events keep theirs");
    assert_eq!(entries[1]["kid"], rotation.new_kid);
    assert!(entries[1].get("not_after").is_none());
    assert_eq!(entries[2]["kid"], old_kid);
    assert_eq!(entries[2]["not_after"], NOW + 3600);
    let fest_only = serde_json::json!({"events": [entries[1].clone(), entries[2].clone()]});
    let ring = ring_of(&fest_only);
    let new_only = ring_of(&serde_json::json!({"events": [entries[1].clone()]}));
    assert!(before.iter().all(|t| kid_of(t, &ring) == Some(old_kid)));
    assert!(before.iter().all(|t| kid_of(t, &new_only).is_none()));

    // Re-issue, bounded: 4 now, the rest on the next run, nothing on a third.
    let keys = EventKeyCache::new();
    let first = remint_event(&deps, &store, &keys, "fest", 4).await.unwrap();
    assert_eq!((first.reissued, first.remaining), (4, 2), "{first:?}");
    let second = remint_event(&deps, &store, &keys, "fest", 100)
        .await
        .unwrap();
    assert_eq!((second.reissued, second.remaining), (2, 0), "{second:?}");
    let third = remint_event(&deps, &store, &keys, "fest", 100)
        .await
        .unwrap();
    assert_eq!(third.reissued + third.orders_notified, 0, "{third:?}");
    let after = store.event_tickets("fest").await.unwrap();
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(old.ticket_id, new.ticket_id);
        assert_eq!(new.kid, rotation.new_kid);
        assert!(new.issued_at > old.issued_at);
        assert_eq!(new.version, old.version + 1);
        assert_eq!(kid_of(new, &new_only), Some(rotation.new_kid));
    }
    // Another event's tickets are untouched.
    let other = deps.tickets.order_tickets(&other_order).await.unwrap();
    assert_ne!(other[0].kid, rotation.new_kid);
    assert_eq!(other[0].version, 1);

    // Each order's buyer is sent the tickets again, once.
    let sent = drain(&env, &env.notify.url).await;
    let mut notified: Vec<String> = sent
        .iter()
        .map(|m| {
            assert_eq!(m["template"], "tickets_ready");
            m["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    notified.sort();
    let mut expected = orders.clone();
    expected.sort();
    assert_eq!(notified, expected);
    let chain = verify_stream(l.as_ref(), &Stream::Staff, 10).await.unwrap();
    assert!(chain.valid && chain.checked == 1, "{chain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_revocation_revokes_every_ticket_of_the_event_at_the_door_and_resumes() {
    let (env, deps, log) = world(&["fest", "other"]).await;
    let store = env.store();
    for n in 0..5 {
        minted(&deps, "fest", n, 2).await;
    }
    let (other_order, _) = minted(&deps, "other", 9, 1).await;
    let fest: Vec<String> = store
        .event_tickets("fest")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.ticket_id)
        .collect();
    assert_eq!(fest.len(), 10);
    drain(&env, &env.revoke.url).await;
    let edge = Edge::default();
    let (url, _door) = start_edge(edge.clone()).await;
    let r = revoker(&deps, &url);

    // A forged incident message (no operator's record) revokes nothing.
    let forged = RevokeQueueMessage::Incident(IncidentRevokeMessage {
        order_id: other_order.clone(),
        event_id: "other".into(),
        incident_id: "inc-1".into(),
    });
    deps.queue
        .send(
            functions::ports::Topic::Revoke,
            &serde_json::to_string(&forged).unwrap(),
        )
        .await
        .unwrap();
    pump(&env.clients, &env.revoke, |e| r.handle(e), 12).await;
    assert!(edge.calls.lock().unwrap().is_empty());
    drain(&env, &env.revoke.dlq_url).await;

    let sel = Selection::Event {
        event_id: "fest".into(),
        tier: None,
    };
    let first = mass_revoke(&deps, &store, &log, "inc-1", &sel, 2, "ops")
        .await
        .unwrap();
    assert_eq!(
        (first.orders, first.queued, first.remaining),
        (5, 2, 3),
        "{first:?}"
    );
    let second = mass_revoke(&deps, &store, &log, "inc-1", &sel, 100, "ops")
        .await
        .unwrap();
    assert_eq!(
        (second.queued, second.already, second.remaining),
        (3, 2, 0),
        "{second:?}"
    );
    let third = mass_revoke(&deps, &store, &log, "inc-1", &sel, 100, "ops")
        .await
        .unwrap();
    assert_eq!((third.queued, third.already), (0, 5), "{third:?}");

    pump(&env.clients, &env.revoke, |e| r.handle(e), 20).await;
    let calls = edge.calls.lock().unwrap().clone();
    let mut revoked: Vec<String> = calls
        .iter()
        .map(|c| {
            assert_eq!(c["event_id"], "fest");
            assert_eq!(c["reason"], "incident");
            c["ticket_id"].as_str().unwrap().to_owned()
        })
        .collect();
    revoked.sort();
    let mut expected = fest.clone();
    expected.sort();
    assert_eq!(revoked, expected, "each ticket of the event once, no other");
    assert!(drain(&env, &env.revoke.dlq_url).await.is_empty());

    // Bad input changes nothing.
    let bad = Selection::Orders {
        event_id: "fest".into(),
        order_ids: vec![other_order],
    };
    assert!(matches!(
        mass_revoke(&deps, &store, &log, "inc-2", &bad, 10, "ops").await,
        Err(Error::Invalid { .. })
    ));
    assert!(mass_revoke(&deps, &store, &log, "INC 2", &sel, 10, "ops")
        .await
        .is_err());
    assert!(drain(&env, &env.revoke.url).await.is_empty());
    let chain = verify_stream(&log, &Stream::Staff, 10).await.unwrap();
    assert!(chain.valid && chain.checked == 3, "{chain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_notices_go_once_per_order_and_skip_erased_buyers() {
    let (env, deps, _log) = world(&["fest"]).await;
    let store = env.store();
    let mut customers = Vec::new();
    for n in 0..4 {
        customers.push(minted(&deps, "fest", n, 1).await);
    }
    // An unpaid order's buyer is not affected.
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let req: CheckoutRequest = serde_json::from_value(sample_checkout_body("fest", 1, 50)).unwrap();
    checkout
        .create_order("incident-unpaid", &req)
        .await
        .unwrap();
    deps.customers
        .shred_customer(&customers[3].1)
        .await
        .unwrap();
    drain(&env, &env.notify.url).await;

    // Two runs at once, then a re-run: every order is queued, the re-run queues nothing.
    let (d, s) = (Arc::new(deps.clone()), store.clone());
    let runs = at_once(2, |_| {
        let (d, s) = (d.clone(), s.clone());
        async move { notify_customers(&d, &s, "inc-7", "fest", 100, 2, || async {}).await }
    })
    .await;
    for r in &runs {
        assert_eq!(r.as_ref().unwrap().erased, 1, "{r:?}");
    }
    let again = notify_customers(&deps, &store, "inc-7", "fest", 100, 2, || async {})
        .await
        .unwrap();
    assert_eq!(
        (again.queued, again.already, again.erased),
        (0, 3, 1),
        "{again:?}"
    );

    // The notify function sends one notice per affected order, none to the erased buyer.
    let sender = Arc::new(RecordingSender::default());
    let notifier = Notifier::new(deps.clone(), sender.clone());
    pump(&env.clients, &env.notify, |e| notifier.handle(e), 20).await;
    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "{sent:?}");
    let again = notify_customers(&deps, &store, "inc-7", "fest", 100, 2, || async {})
        .await
        .unwrap();
    assert_eq!(again.queued, 0);
    assert!(drain(&env, &env.notify.url).await.is_empty());

    // Rate limit: a pause after every `per_second` messages; `max_orders` bounds a run.
    let pauses = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = pauses.clone();
    let run = notify_customers(&deps, &store, "inc-8", "fest", 2, 1, move || {
        p.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async {}
    })
    .await
    .unwrap();
    assert_eq!((run.queued, run.remaining), (2, 1), "{run:?}");
    assert_eq!(pauses.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        notify_customers(&deps, &store, "inc 8", "fest", 2, 1, || async {})
            .await
            .is_err()
    );
    assert_eq!(
        notify_customers(&deps, &store, "inc-9", "nope", 2, 1, || async {}).await,
        Err(Error::NotFound)
    );
}

// The edge worker's own token checks, compiled natively (as `tests/staff.rs` does).
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/api.rs"]
mod api;
#[allow(dead_code, unused_imports, clippy::all, clippy::pedantic)]
#[path = "../../edge-worker/src/auth.rs"]
mod auth;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_every_staff_token_refuses_old_tokens_at_once_here_and_at_the_door() {
    use functions::operations::staff_tokens::revoke_all_staff_tokens;
    use functions::ports::OsRng;
    use functions::staff::{
        create_signing_key, public_key_of, DynamoDirectory, KmsSigner, MemberSpec, Purpose, Role,
        Settings, StaffService, TokenRequest,
    };
    use functions::staff_identity::{Console, VerifyKeys};

    let (env, _deps, log) = world(&[]).await;
    let log = Arc::new(log);
    let clock = Arc::new(TestClock::new(NOW));
    let directory = || {
        Arc::new(DynamoDirectory::new(
            env.clients.dynamodb.clone(),
            env.config.table_name.clone(),
        ))
    };
    let service_with = |signer: KmsSigner| {
        StaffService::new(
            Settings::default(),
            Arc::new(signer),
            vec![],
            directory(),
            log.clone(),
            clock.clone(),
            Arc::new(OsRng),
        )
        .unwrap()
    };
    let old_key = create_signing_key(&env.clients.kms, "old").await.unwrap();
    let new_key = create_signing_key(&env.clients.kms, "new").await.unwrap();
    let old_pk = public_key_of(&env.clients.kms, &old_key).await.unwrap();
    let new_pk = public_key_of(&env.clients.kms, &new_key).await.unwrap();
    let old_service = service_with(
        KmsSigner::load(env.clients.kms.clone(), &old_key)
            .await
            .unwrap(),
    );
    let spec = MemberSpec {
        role: Role::Admin,
        events: vec!["*".into()],
        gates: vec!["*".into()],
        active: true,
    };
    old_service
        .put_member("cli:ops", "ops-1", &spec)
        .await
        .unwrap();
    let req = |purpose| TokenRequest {
        purpose,
        events: None,
        gates: None,
        ttl_secs: None,
        jwk: None,
    };
    let console_token = old_service
        .issue_token("cli:ops", "ops-1", &req(Purpose::Console))
        .await
        .unwrap()
        .token;
    let door_token = old_service
        .issue_token("cli:ops", "ops-1", &req(Purpose::Door))
        .await
        .unwrap()
        .token;
    let settings = Settings::default();
    let console = |keys: &[[u8; 65]]| Console {
        keys: VerifyKeys::new(keys).unwrap(),
        issuer: settings.issuer.clone(),
        audience: settings.console_audience.clone(),
        directory: directory(),
    };
    // Before: the old key's tokens work, in the functions and at the door.
    let during_rotation = console(&[new_pk, old_pk]);
    during_rotation
        .authenticate(&console_token, NOW + 5)
        .await
        .unwrap();
    let old_jwks = serde_json::to_string(&old_service.jwks()).unwrap();
    let door = |token: &str, jwks: &str| {
        let keys = auth::StaffKeys::from_jwks(jwks).unwrap();
        auth::parse(token, &keys).and_then(|u| {
            let valid = u.check.verify_with_p256();
            u.decide(valid, NOW + 5, &settings.door_audience, &settings.issuer)
        })
    };
    door(&door_token, &old_jwks).unwrap();

    let done = revoke_all_staff_tokens(
        &store_of(&env),
        log.as_ref(),
        &new_pk,
        "ops",
        "key leak",
        NOW + 5,
    )
    .await
    .unwrap();
    assert_eq!(done.not_before, NOW + 6);
    // At once, in the functions: refused even while the old key is still trusted.
    assert_eq!(
        during_rotation.authenticate(&console_token, NOW + 6).await,
        Err(Error::Unauthorized)
    );
    // At the door with the new STAFF_JWKS: the old kid is gone.
    let new_jwks = serde_json::to_string(&done.jwks).unwrap();
    assert_eq!(done.jwks.keys.len(), 1);
    assert!(matches!(
        door(&door_token, &new_jwks),
        Err(auth::AuthError::UnknownKey)
    ));
    // A token of the new key, issued after the line, works; the line never moves back.
    clock.set(NOW + 10);
    let new_service = service_with(
        KmsSigner::load(env.clients.kms.clone(), &new_key)
            .await
            .unwrap(),
    );
    let fresh = new_service
        .issue_token("cli:ops", "ops-1", &req(Purpose::Console))
        .await
        .unwrap()
        .token;
    console(&[new_pk])
        .authenticate(&fresh, NOW + 10)
        .await
        .unwrap();
    let fresh_door = new_service
        .issue_token("cli:ops", "ops-1", &req(Purpose::Door))
        .await
        .unwrap()
        .token;
    door(&fresh_door, &new_jwks).unwrap();
    revoke_all_staff_tokens(&store_of(&env), log.as_ref(), &new_pk, "ops", "older", NOW)
        .await
        .unwrap();
    console(&[new_pk])
        .authenticate(&fresh, NOW + 10)
        .await
        .unwrap();
}

fn store_of(env: &TestEnv) -> functions::store::DynamoStore {
    functions::store::DynamoStore::new(env.clients.dynamodb.clone(), env.config.table_name.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_ingest_token_and_a_webhook_secret_overlaps_then_refuses_the_old() {
    use base64::Engine as _;
    use functions::audit_ingest::{new_ingest_token, IngestTokens};
    use functions::gateway::testing::TEST_SECRETS_JSON;
    use functions::gateway::GatewaySecrets;
    use functions::operations::rotate_secrets::{ingest_hashes, rotate_gateway_ciphertext, Phase};
    use functions::ports::{KeyPurpose, Keys as _, OsRng};

    // The audit ingest token, as the audit-ingest function checks it.
    let (old, old_hash) = new_ingest_token(&OsRng);
    let (new, new_hash) = new_ingest_token(&OsRng);
    let during = ingest_hashes(&old_hash, Some(&new_hash), Phase::Start).unwrap();
    let tokens = IngestTokens::from_hex_list(&during).unwrap();
    assert!(tokens.accepts(&old) && tokens.accepts(&new));
    let after = ingest_hashes(&during, None, Phase::Finish).unwrap();
    let tokens = IngestTokens::from_hex_list(&after).unwrap();
    assert!(tokens.accepts(&new));
    assert!(
        !tokens.accepts(&old),
        "the old token is refused after the rotation"
    );

    // The Stripe endpoint secret inside the KMS-encrypted gateway configuration (on moto).
    let env = TestEnv::new().await;
    let keys = env.keys();
    let b64 = base64::engine::general_purpose::STANDARD;
    let current = b64.encode(
        keys.encrypt(&KeyPurpose::GatewaySecrets, TEST_SECRETS_JSON.as_bytes())
            .await
            .unwrap(),
    );
    let new_secret = NEW_SECRET;
    assert_eq!(
        stripe_accepts(keys.as_ref(), &current).await,
        [true, false, false]
    );
    let during = rotate_gateway_ciphertext(keys.as_ref(), &current, Some(new_secret), Phase::Start)
        .await
        .unwrap();
    assert_eq!(
        stripe_accepts(keys.as_ref(), &during).await,
        [true, true, false]
    );
    let after = rotate_gateway_ciphertext(keys.as_ref(), &during, None, Phase::Finish)
        .await
        .unwrap();
    assert_eq!(
        stripe_accepts(keys.as_ref(), &after).await,
        [false, true, false]
    );
    // The other providers' secrets are carried over unchanged.
    let plain = keys
        .decrypt(&KeyPurpose::GatewaySecrets, &b64.decode(&after).unwrap())
        .await
        .unwrap();
    assert!(GatewaySecrets::from_json(&plain)
        .unwrap()
        .midtrans()
        .is_ok());
    // Bad input changes nothing: not base64, a ciphertext of another purpose, no new secret.
    assert!(
        rotate_gateway_ciphertext(keys.as_ref(), "%%", Some("x"), Phase::Start)
            .await
            .is_err()
    );
    let other = b64.encode(keys.encrypt(&KeyPurpose::RevokerKey, b"ab").await.unwrap());
    assert!(
        rotate_gateway_ciphertext(keys.as_ref(), &other, Some("x"), Phase::Start)
            .await
            .is_err()
    );
    assert!(
        rotate_gateway_ciphertext(keys.as_ref(), &current, None, Phase::Start)
            .await
            .is_err()
    );
}

const OLD_SECRET: &str = "whsec_karcis_test_endpoint_secret";
const NEW_SECRET: &str = "whsec_karcis_rotated_1";

/// Whether the Stripe secrets in `ciphertext` accept a webhook signed with the old secret, the
/// new one, and someone else's, as the payment-callback function verifies it.
async fn stripe_accepts(keys: &dyn functions::ports::Keys, ciphertext: &str) -> [bool; 3] {
    use base64::Engine as _;
    use functions::gateway::stripe::verify_signature;
    use functions::gateway::testing::stripe_signature_header;
    let plain = keys
        .decrypt(
            &functions::ports::KeyPurpose::GatewaySecrets,
            &base64::engine::general_purpose::STANDARD
                .decode(ciphertext)
                .unwrap(),
        )
        .await
        .unwrap();
    let secrets = functions::gateway::GatewaySecrets::from_json(&plain).unwrap();
    let list = secrets.stripe().unwrap().webhook_secrets.clone();
    let body = br#"{"id":"evt_1"}"#;
    [OLD_SECRET, NEW_SECRET, "whsec_someone_else"].map(|s| {
        verify_signature(&stripe_signature_header(&[s], NOW, body), body, &list, NOW).is_ok()
    })
}
