//! mint, notify and tickets against moto (real SQS queues with DLQ redrive), and the scan for
//! plaintext personal data at rest.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::many_single_char_names
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use functions::checkout::{Checkout, CheckoutRequest, CheckoutResponse};
use functions::deps::Deps;
use functions::mint::Minter;
use functions::model::{OrderStatus, PaymentRecord};
use functions::notify::Notifier;
use functions::ports::{KeyPurpose, MintMessage, MintOutcome, Topic};
use functions::testing::{
    contains_bytes, pump, sample_buyer, sample_checkout_body, sample_event_spec, with_minter,
    CountingKeys, RecordingPayments, RecordingSender, TestClock, TestEnv,
};
use functions::tickets::{OrderTickets, TicketView, TicketsService};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

struct World {
    env: TestEnv,
    deps: Deps,
    checkout: Checkout,
}

async fn world() -> World {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 30, NOW))
        .await
        .unwrap();
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    World {
        env,
        deps,
        checkout,
    }
}

/// Reserves and pays an order, and enqueues its mint message (what payment-callback does).
async fn paid_order(w: &World, n: u32, quantity: u32) -> CheckoutResponse {
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body("fest", quantity, n)).unwrap();
    let created = w
        .checkout
        .create_order(&format!("mint-key-{n:05}"), &req)
        .await
        .unwrap()
        .response;
    let o = &created.order;
    w.deps
        .orders
        .mark_paid(
            &o.order_id,
            &PaymentRecord {
                provider: "stripe".into(),
                provider_ref: format!("pi_{n}"),
                amount_minor: o.total.amount_minor,
                currency: o.total.currency.clone(),
                paid_at: NOW + 5,
                payment_id: None,
            },
        )
        .await
        .unwrap();
    created
}

async fn enqueue_mint(w: &World, order_id: &str) {
    let msg = MintMessage {
        order_id: order_id.to_owned(),
        event_id: "fest".into(),
    };
    w.deps
        .queue
        .send(Topic::Mint, &serde_json::to_string(&msg).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_mint_messages_never_mint_twice_and_poison_lands_in_the_dlq() {
    let w = world().await;
    let kms = Arc::new(CountingKeys::new(w.deps.keys.clone()));
    let minter = Arc::new(Minter::new(w.deps.clone().with_keys(kms.clone())));
    let a = paid_order(&w, 1, 3).await;
    let b = paid_order(&w, 2, 1).await;
    // The same message delivered three times (SQS is at-least-once), plus a poison message.
    for _ in 0..3 {
        enqueue_mint(&w, &a.order.order_id).await;
    }
    enqueue_mint(&w, &b.order.order_id).await;
    w.deps
        .queue
        .send(Topic::Mint, "{\"not\": \"a mint message\"")
        .await
        .unwrap();

    let m = minter.clone();
    pump(
        &w.env.clients,
        &w.env.mint,
        move |e| {
            let m = m.clone();
            async move { m.handle(e).await }
        },
        40,
    )
    .await;

    // A redelivery after the pump minted: nothing more.
    let again = MintMessage {
        order_id: a.order.order_id.clone(),
        event_id: "fest".into(),
    };
    assert_eq!(
        minter.mint_order(&again).await.unwrap(),
        MintOutcome::AlreadyMinted
    );

    assert_eq!(
        w.deps
            .tickets
            .order_tickets(&a.order.order_id)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        w.deps
            .tickets
            .order_tickets(&b.order.order_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        w.env.count_items("ticket").await,
        4,
        "never two sets of tickets"
    );
    let oa = w
        .deps
        .orders
        .get_order(&a.order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(oa.status, OrderStatus::Minted);
    assert_eq!(minter.keys.len().await, 1, "one event's key set is cached");
    assert_eq!(
        kms.decrypts(|p| matches!(p, KeyPurpose::TicketIssuer { .. })),
        1,
        "key set unwrapped from KMS once per cold start, for two orders and five deliveries"
    );

    // The poison message went to the DLQ after maxReceiveCount receives.
    let dlq = functions::aws::provision::receive(&w.env.clients.sqs, &w.env.mint.dlq_url, 10, 1)
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1, "only the poison message is dead-lettered");
    assert!(dlq[0].body.contains("a mint message"));
    assert_eq!(
        functions::aws::provision::depth(&w.env.clients.sqs, &w.env.mint.url)
            .await
            .unwrap(),
        0
    );

    // Notifications: one per order however often the mint ran.
    let sender = Arc::new(RecordingSender::default());
    let notifier = Arc::new(Notifier::new(w.deps.clone(), sender.clone()));
    pump(
        &w.env.clients,
        &w.env.notify,
        move |e| {
            let n = notifier.clone();
            async move { n.handle(e).await }
        },
        20,
    )
    .await;
    let sent = sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let to_a = sent
        .iter()
        .find(|n| n.params.get("order_id") == Some(&a.order.order_id))
        .unwrap();
    assert_eq!(to_a.template, "tickets_ready");
    assert_eq!(
        to_a.recipient_email.as_str(),
        sample_buyer(1)["email"].as_str().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_is_not_minted() {
    let w = world().await;
    let req: CheckoutRequest = serde_json::from_value(sample_checkout_body("fest", 1, 5)).unwrap();
    let created = w
        .checkout
        .create_order("unpaid-key-0001", &req)
        .await
        .unwrap()
        .response;
    let minter = Minter::new(w.deps.clone());
    let err = minter
        .mint_order(&MintMessage {
            order_id: created.order.order_id.clone(),
            event_id: "fest".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, functions::Error::Conflict(_)), "{err:?}");
    let err = minter
        .mint_order(&MintMessage {
            order_id: created.order.order_id.clone(),
            event_id: "other".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, functions::Error::Conflict(_)));
    assert_eq!(w.env.count_items("ticket").await, 0);
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    (
        status,
        axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_list_verify_and_bind_to_a_device() {
    let w = world().await;
    let order = paid_order(&w, 3, 2).await;
    let minter = Minter::new(w.deps.clone());
    minter
        .mint_order(&MintMessage {
            order_id: order.order.order_id.clone(),
            event_id: "fest".into(),
        })
        .await
        .unwrap();
    let app = functions::tickets::router(TicketsService::new(w.deps.clone()));

    // List (through the API Gateway fixture).
    let fixture = std::fs::read_to_string(format!(
        "{}/../events/tickets-list.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "ord_00000000000000000000000000000000",
        &order.order.order_id,
    )
    .replace("REPLACE_WITH_ACCESS_TOKEN", &order.access_token);
    let (s, b) = call(&app, functions::http::request_from_event(&fixture).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let list: OrderTickets = serde_json::from_slice(&b).unwrap();
    assert_eq!(list.status, OrderStatus::Minted);
    assert_eq!(list.tickets.len(), 2);

    // Each static QR verifies with the event's public keys.
    let event = w.deps.events.get_event("fest").await.unwrap().unwrap();
    let keys = functions::eventkeys::load(&w.deps, "fest", event.kid)
        .await
        .unwrap();
    let mut ring = ticket::KeyRing::new();
    ring.add_event_keys(
        event.kid,
        "fest",
        &keys.issuer.public_key_sec1(),
        ticket::QrKey::from_bytes(keys.qr.expose_secret()).unwrap(),
    )
    .unwrap();
    let mut policy = ticket::Policy::new("fest");
    policy.accept_static = true;
    for t in &list.tickets {
        let v = ticket::verify(&t.static_qr, event.starts_at, &ring, &policy).unwrap();
        assert_eq!(v.claims.ticket_id.to_hex(), t.ticket_id);
        assert!(!t.static_qr.contains("siti"));
    }

    // Wrong token: not found (existence not disclosed).
    let (s, _) = call(
        &app,
        Request::get(format!("/v1/orders/{}/tickets", order.order.order_id))
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bind the first ticket to a device key; binding again is idempotent; another key is 409.
    let device = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let device_pub = B64.encode(device.verifying_key().to_encoded_point(false).as_bytes());
    let bind = |ticket_id: &str, key: &str, token: &str| {
        Request::post(format!("/v1/tickets/{ticket_id}/device"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({"device_public_key": key}).to_string(),
            ))
            .unwrap()
    };
    let tid = list.tickets[0].ticket_id.clone();
    let (s, b) = with_minter(
        &w.env,
        w.deps.clone(),
        call(&app, bind(&tid, &device_pub, &order.access_token)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let bound: TicketView = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        bound.device_public_key.as_deref(),
        Some(device_pub.as_str())
    );
    assert_ne!(bound.credential, list.tickets[0].credential, "re-issued");
    let (s, b) = call(&app, bind(&tid, &device_pub, &order.access_token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<TicketView>(&b).unwrap(),
        bound,
        "idempotent"
    );
    let other = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let other_pub = B64.encode(other.verifying_key().to_encoded_point(true).as_bytes());
    let (s, _) = call(&app, bind(&tid, &other_pub, &order.access_token)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = call(&app, bind(&tid, &device_pub, "wrong-token")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, bind(&tid, "bm90IGEga2V5", &order.access_token)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&app, bind("zz", &device_pub, &order.access_token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The bound credential admits only with a fresh proof from that device.
    let sealed =
        ticket::SealedCredential::from_bytes(B64.decode(&bound.credential).unwrap()).unwrap();
    let at = event.starts_at;
    let tid_bytes = ticket::TicketId::from_hex(&tid).unwrap();
    let qr = ticket::present_with_device(&sealed, &tid_bytes, "fest", at, &device);
    let strict = ticket::Policy::new("fest");
    let v = ticket::verify(&qr, at, &ring, &strict).unwrap();
    assert!(v.claims.device_key.is_some());
    assert!(ticket::verify(&sealed.to_static_qr(), at, &ring, &strict).is_err());
    let forged = ticket::present_with_device(&sealed, &tid_bytes, "fest", at, &other);
    assert!(ticket::verify(&forged, at, &ring, &strict).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_personal_data_in_any_table_item_or_queue_message() {
    let w = world().await;
    let minter = Minter::new(w.deps.clone());
    let mut orders = Vec::new();
    for n in 20..24 {
        let o = paid_order(&w, n, 1).await;
        enqueue_mint(&w, &o.order.order_id).await;
        orders.push(o);
    }
    // An unpaid reservation too.
    let req: CheckoutRequest = serde_json::from_value(sample_checkout_body("fest", 1, 30)).unwrap();
    w.checkout
        .create_order("pii-scan-unpaid", &req)
        .await
        .unwrap();
    // Mint two now; leave the rest (and the notify messages) in the queues for the scan.
    for o in &orders[..2] {
        minter
            .mint_order(&MintMessage {
                order_id: o.order.order_id.clone(),
                event_id: "fest".into(),
            })
            .await
            .unwrap();
    }

    let items = w.env.raw_items().await;
    let messages = w.env.peek_all_messages().await;
    assert!(items.len() > 20, "the scan sees the data");
    assert!(
        messages.len() >= 4,
        "the scan sees the queues: {}",
        messages.len()
    );
    for n in (20..24).chain([30]) {
        let buyer = sample_buyer(n);
        let name = buyer["name"].as_str().unwrap();
        let email = buyer["email"].as_str().unwrap();
        let phone = buyer["phone"].as_str().unwrap();
        let local_part = email.split('@').next().unwrap();
        for needle in [
            name,
            email,
            local_part,
            phone,
            &phone[1..],
            "Siti Rahmawati",
            "example.co.id",
        ] {
            for item in &items {
                assert!(
                    !contains_bytes(item, needle),
                    "plaintext {needle:?} in a table item"
                );
            }
            for m in &messages {
                assert!(
                    !contains_bytes(m.as_bytes(), needle),
                    "plaintext {needle:?} in a message"
                );
            }
        }
    }
    // ...while the sealed data is still there and opens with the customer's key.
    let order = w
        .deps
        .orders
        .get_order(&orders[0].order.order_id)
        .await
        .unwrap()
        .unwrap();
    let key = w
        .deps
        .pii
        .customer_key_by_id(&order.customer_id)
        .await
        .unwrap();
    let buyer: functions::model::BuyerDetails = key
        .open_json(
            &format!("order/{}/buyer", order.order_id),
            &order.buyer_sealed,
        )
        .unwrap();
    assert_eq!(buyer.email, sample_buyer(20)["email"].as_str().unwrap());

    // Shredding the customer's key makes it unreadable.
    w.deps
        .customers
        .shred_customer(&order.customer_id)
        .await
        .unwrap();
    assert_eq!(
        w.deps
            .pii
            .customer_key_by_id(&order.customer_id)
            .await
            .unwrap_err(),
        functions::Error::NotFound
    );
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_and_api_fixtures_drive_mint_notify_and_bind() {
    let w = world().await;
    let o = paid_order(&w, 40, 2).await;
    let order = w
        .deps
        .orders
        .get_order(&o.order.order_id)
        .await
        .unwrap()
        .unwrap();
    let ids = |text: String| {
        text.replace("ord_00000000000000000000000000000000", &order.order_id)
            .replace("cus_00000000000000000000000000000000", &order.customer_id)
            .replace("jakarta-fest-2026", "fest")
    };

    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&ids(fixture("mint-sqs-batch.json"))).unwrap();
    let minter = Minter::new(w.deps.clone());
    assert!(minter
        .handle(event.clone())
        .await
        .batch_item_failures
        .is_empty());
    assert!(
        minter.handle(event).await.batch_item_failures.is_empty(),
        "redelivery is a no-op"
    );
    let tickets = w.deps.tickets.order_tickets(&order.order_id).await.unwrap();
    assert_eq!(tickets.len(), 2);

    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_str(&ids(fixture("notify-sqs-batch.json"))).unwrap();
    let sender = Arc::new(RecordingSender::default());
    let notifier = Notifier::new(w.deps.clone(), sender.clone());
    assert!(notifier
        .handle(event.clone())
        .await
        .batch_item_failures
        .is_empty());
    assert!(notifier.handle(event).await.batch_item_failures.is_empty());
    assert_eq!(
        sender.sent.lock().unwrap().len(),
        1,
        "one notification per dedupe id"
    );

    let text = ids(fixture("tickets-bind-device.json"))
        .replace("00000000000000000000000000000000", &tickets[0].ticket_id)
        .replace("REPLACE_WITH_ACCESS_TOKEN", &o.access_token);
    let app = functions::tickets::router(TicketsService::new(w.deps.clone()));
    let (s, b) = with_minter(
        &w.env,
        w.deps.clone(),
        call(&app, functions::http::request_from_event(&text).unwrap()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let bound: TicketView = serde_json::from_slice(&b).unwrap();
    assert!(bound.device_public_key.is_some());

    // The schedule event the sweeper is invoked with is plain JSON it ignores.
    let schedule: serde_json::Value =
        serde_json::from_str(&fixture("sweeper-schedule.json")).unwrap();
    assert_eq!(schedule["detail-type"], "Scheduled Event");
    assert_eq!(
        functions::sweeper::sweep(&w.deps).await.unwrap().released,
        0
    );
}

/// The first mint of a freshly paid order, raced by eight invocations at once (SQS delivers a
/// message twice, Lambda retries): exactly one mints, the rest find it minted, one set of tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_mints_of_a_paid_order_write_one_set() {
    let w = world().await;
    let minter = Arc::new(Minter::new(w.deps.clone()));
    let order = paid_order(&w, 7, 2).await;
    let message = MintMessage {
        order_id: order.order.order_id.clone(),
        event_id: "fest".into(),
    };
    let outcomes = functions::testing::at_once(8, |_| {
        let minter = minter.clone();
        let message = message.clone();
        async move { minter.mint_order(&message).await }
    })
    .await;
    let first_mints = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(MintOutcome::Minted)))
        .count();
    let already = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(MintOutcome::AlreadyMinted)))
        .count();
    assert_eq!((first_mints, already), (1, 7), "{outcomes:?}");
    assert_eq!(
        w.deps
            .tickets
            .order_tickets(&order.order.order_id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(w.env.count_items("ticket").await, 2, "never two sets");
}

/// Least privilege (issue 10, item 7): the public tickets function never unwraps an issuer key
/// (a compromise of it could otherwise sign any claims for any event); device binding is
/// re-issued by the mint function. While no minter runs, a bind is `503` and the ticket is only
/// claimed: its credential is unchanged, the key is not shown as bound, and another device is
/// still refused. The claim survives and the next call completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binding_reissues_in_the_mint_function_and_the_tickets_function_never_unwraps_issuer_keys()
{
    let w = world().await;
    let order = paid_order(&w, 50, 1).await;
    Minter::new(w.deps.clone())
        .mint_order(&MintMessage {
            order_id: order.order.order_id.clone(),
            event_id: "fest".into(),
        })
        .await
        .unwrap();
    let before = w
        .deps
        .tickets
        .order_tickets(&order.order.order_id)
        .await
        .unwrap()
        .remove(0);
    let tickets_kms = Arc::new(CountingKeys::new(w.deps.keys.clone()));
    let mut service = TicketsService::new(w.deps.clone().with_keys(tickets_kms.clone()));
    service.bind_wait = std::time::Duration::from_millis(300);
    let app = functions::tickets::router(service);
    let bind = |key: &str| {
        Request::post(format!("/v1/tickets/{}/device", before.ticket_id))
            .header("authorization", format!("Bearer {}", order.access_token))
            .header("content-type", "application/json")
            .body(Body::from(
                serde_json::json!({"device_public_key": key}).to_string(),
            ))
            .unwrap()
    };
    let device = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let device_pub = B64.encode(device.verifying_key().to_encoded_point(false).as_bytes());
    let other = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let other_pub = B64.encode(other.verifying_key().to_encoded_point(false).as_bytes());

    // No minter running: claimed, not re-issued.
    let (s, b) = call(&app, bind(&device_pub)).await;
    assert_eq!(
        s,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let pending = w
        .deps
        .tickets
        .get_order_ticket(&before.order_id, &before.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert!(pending.bind_pending);
    assert_eq!(pending.credential, before.credential, "not re-issued yet");
    assert_eq!(pending.version, before.version);
    let view = TicketView::from_record(&pending).unwrap();
    assert_eq!(
        view.device_public_key, None,
        "not shown as bound while pending"
    );
    let (s, _) = call(&app, bind(&other_pub)).await;
    assert_eq!(s, StatusCode::CONFLICT, "the first key's claim holds");

    // With the mint function consuming its queue, the same bind completes.
    let mint_kms = Arc::new(CountingKeys::new(w.deps.keys.clone()));
    let (s, b) = with_minter(&w.env, w.deps.clone().with_keys(mint_kms.clone()), async {
        let mut last = (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
        // Bounded: the service waits 300 ms per call; the minter answers within seconds.
        for _ in 0..40 {
            last = call(&app, bind(&device_pub)).await;
            if last.0 != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
        }
        last
    })
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let bound: TicketView = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        bound.device_public_key.as_deref(),
        Some(device_pub.as_str())
    );
    let stored = w
        .deps
        .tickets
        .get_order_ticket(&before.order_id, &before.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.bind_pending);
    assert_eq!(stored.version, before.version + 1, "re-issued exactly once");
    assert_ne!(stored.credential, before.credential);

    let issuer = |p: &KeyPurpose| matches!(p, KeyPurpose::TicketIssuer { .. });
    assert_eq!(
        tickets_kms.decrypts(issuer),
        0,
        "the tickets function unwrapped an issuer key"
    );
    assert_eq!(tickets_kms.generated(issuer), 0);
    assert!(
        mint_kms.decrypts(issuer) >= 1,
        "the mint function re-issued"
    );

    // A redelivered re-issue message changes nothing.
    let again = functions::reissue::reissue(
        &w.deps,
        &functions::eventkeys::EventKeyCache::new(),
        &functions::ports::ReissueMessage {
            reissue_ticket_id: before.ticket_id.clone(),
            order_id: before.order_id.clone(),
            event_id: "fest".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(again, functions::reissue::ReissueOutcome::NothingPending);
    let unchanged = w
        .deps
        .tickets
        .get_order_ticket(&before.order_id, &before.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged, stored);
}
