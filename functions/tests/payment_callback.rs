//! payment-callback against moto (real DynamoDB, SQS and KMS wire protocols) and the local
//! gateway stub (create-payment and status APIs, over the real transport): for each gateway, a
//! valid webhook is applied once; a replay is a no-op; a wrong signature, a stale Stripe
//! timestamp, a wrong amount or currency and an unknown order are refused with nothing changed
//! (every table item and every queued message compared before and after). Then the attacks of
//! the issue "Money and personal data" (items 2-4): edited Midtrans statuses, a leaked Xendit
//! token, one provider's callback for another's order, DOKU replays, concurrent duplicates.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::stub::GatewayStub;
use functions::gateway::testing::{
    signed_webhook, stripe_signature_header, test_secrets, SignedWebhook, TestPayment,
};
use functions::gateway::transport::HyperTransport;
use functions::gateway::{midtrans, GatewaySecrets, PaymentStatus, Provider};
use functions::model::{Order, OrderStatus, PaymentRecord};
use functions::payment_callback::{
    load_gateway_secrets, router, PaymentCallback, EVENT_RETENTION_SECS,
};
use functions::ports::{Clock, KeyPurpose, Keys};
use functions::testing::{sample_checkout_body, sample_event_spec, TestClock, TestEnv};
use serde_json::Value;
use tower::ServiceExt;

const NOW: u64 = 1_800_000_000;
const PRICE: u64 = 150_000;

struct Fixture {
    env: TestEnv,
    deps: Deps,
    clock: Arc<TestClock>,
    app: axum::Router,
    /// The gateways' APIs: checkout creates its payments here (real adapter and transport).
    stub: GatewayStub,
}

const ALL_PROVIDERS: [&str; 4] = ["stripe", "midtrans", "xendit", "doku"];

impl Fixture {
    async fn new() -> Self {
        Self::with_providers(&ALL_PROVIDERS).await
    }

    /// A fixture whose checkout enables only `providers` (`PAYMENT_PROVIDERS`).
    async fn with_providers(providers: &[&str]) -> Self {
        Self::with(providers, None).await
    }

    /// `status_api`: where payment-callback finds the gateways' status APIs (default: the stub).
    async fn with(providers: &[&str], status_api: Option<String>) -> Self {
        let env = TestEnv::with_config(|c| {
            c.payment_providers = providers.iter().map(|p| (*p).to_owned()).collect();
        })
        .await;
        let clock = Arc::new(TestClock::new(NOW));
        let deps = env.deps().with_clock(clock.clone());
        functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
            .await
            .expect("event");
        let stub = GatewayStub::start(test_secrets()).await.expect("stub");
        let status_api = status_api.unwrap_or_else(|| stub.base_url());
        let app = callback_router(&deps, clock.clone(), &status_api);
        Fixture {
            env,
            deps,
            clock,
            app,
            stub,
        }
    }

    fn gateway(&self) -> GatewayPayments<HyperTransport> {
        GatewayPayments::new(
            Arc::new(test_secrets()),
            GatewayEndpoints::all_at(&self.stub.base_url()),
            HyperTransport::new(std::time::Duration::from_secs(5)).expect("transport"),
            self.clock.clone(),
            "http://127.0.0.1/orders/{order_id}/paid",
            "http://127.0.0.1/orders/{order_id}/cancelled",
        )
    }

    /// A reserved order of one ticket (IDR 150000), paid with the first enabled provider.
    async fn order(&self, n: u32) -> String {
        self.order_via(None, n).await
    }

    /// A reserved order of one ticket (IDR 150000) to be paid with `provider`.
    async fn order_via(&self, provider: Option<Provider>, n: u32) -> String {
        let checkout = Checkout::new(self.deps.clone(), Arc::new(self.gateway()));
        let mut body = sample_checkout_body("fest", 1, n);
        if let Some(p) = provider {
            body["payment_provider"] = serde_json::json!(p.as_str());
        }
        let req: CheckoutRequest = serde_json::from_value(body).expect("body");
        let created = checkout
            .create_order(&format!("pc-key-{n}"), &req)
            .await
            .expect("reserve");
        assert_eq!(created.response.order.total.amount_minor, PRICE);
        created.response.order.order_id
    }

    async fn deliver(&self, w: &SignedWebhook) -> (StatusCode, Value) {
        deliver_to(self.app.clone(), w.clone()).await
    }

    /// The order as stored now.
    async fn stored_order(&self, order_id: &str) -> Order {
        self.deps
            .orders
            .get_order(order_id)
            .await
            .expect("read")
            .expect("order")
    }

    fn clock_now(&self) -> u64 {
        self.clock.now()
    }

    /// Every table item (attributes in name order) and every queued message, sorted: "nothing
    /// changed" means equal.
    async fn snapshot(&self) -> Snapshot {
        let mut items = Vec::new();
        let mut start = None;
        // Bounded: the test table holds a few dozen items.
        for _ in 0..100 {
            let page = self
                .env
                .clients
                .dynamodb
                .scan()
                .table_name(&self.env.config.table_name)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("scan");
            for item in page.items() {
                let sorted: std::collections::BTreeMap<_, _> = item.iter().collect();
                items.push(format!("{sorted:?}"));
            }
            match page.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        items.sort();
        let messages = self.queued_messages().await;
        Snapshot { items, messages }
    }

    /// How many messages each queue and DLQ holds (visible or in flight).
    async fn queued_messages(&self) -> Vec<String> {
        let mut depths = Vec::new();
        for url in [
            &self.env.mint.url,
            &self.env.mint.dlq_url,
            &self.env.notify.url,
            &self.env.notify.dlq_url,
        ] {
            let depth = functions::aws::provision::depth(&self.env.clients.sqs, url)
                .await
                .expect("depth");
            depths.push(format!("{url}: {depth}"));
        }
        depths
    }

    /// The bodies on the revocation queue (received and left there).
    async fn revoke_messages(&self) -> Vec<Value> {
        let got = functions::aws::provision::receive_hidden(
            &self.env.clients.sqs,
            &self.env.revoke.url,
            0,
        )
        .await
        .expect("receive");
        got.iter()
            .map(|m| serde_json::from_str(&m.body).expect("json"))
            .collect()
    }

    /// Messages on the mint queue (each test has one order).
    async fn mint_messages(&self) -> u64 {
        functions::aws::provision::depth(&self.env.clients.sqs, &self.env.mint.url)
            .await
            .expect("depth")
    }

    /// The body of the mint message (received once; it stays queued).
    async fn mint_message(&self) -> Value {
        let got =
            functions::aws::provision::receive(&self.env.clients.sqs, &self.env.mint.url, 10, 1)
                .await
                .expect("receive");
        assert_eq!(got.len(), 1, "one mint message");
        serde_json::from_str(&got[0].body).expect("json")
    }
}

/// payment-callback over `deps`, asking the status APIs at `status_api`.
fn callback_router(deps: &Deps, clock: Arc<TestClock>, status_api: &str) -> axum::Router {
    let statuses = GatewayPayments::status_api(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(status_api),
        HyperTransport::new(std::time::Duration::from_secs(5)).expect("transport"),
        clock,
    );
    router(
        PaymentCallback::new(deps, Arc::new(test_secrets()), Arc::new(statuses))
            .expect("payment callback"),
    )
}

/// Delivers one webhook to the router as API Gateway would (owned, so it can run on a task).
async fn deliver_to(app: axum::Router, w: SignedWebhook) -> (StatusCode, Value) {
    let mut req = Request::builder().method("POST").uri(&w.path);
    for (k, v) in &w.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let res = app
        .oneshot(req.body(Body::from(w.body.clone())).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{status} {json}"
        );
    }
    (status, json)
}

#[derive(PartialEq, Eq)]
struct Snapshot {
    items: Vec<String>,
    messages: Vec<String>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} items, {} messages",
            self.items.len(),
            self.messages.len()
        )
    }
}

/// Asserts two snapshots are equal, printing only what differs.
fn assert_unchanged(before: &Snapshot, after: &Snapshot, what: &str) {
    if before != after {
        let gone: Vec<_> = before
            .items
            .iter()
            .filter(|i| !after.items.contains(i))
            .collect();
        let new: Vec<_> = after
            .items
            .iter()
            .filter(|i| !before.items.contains(i))
            .collect();
        panic!(
            "{what} changed something:\n removed items {gone:#?}\n added items {new:#?}\n messages before {:?}\n messages after {:?}",
            before.messages, after.messages
        );
    }
}

fn paid(order_id: &str, event_id: &str) -> TestPayment {
    TestPayment::paid(order_id, PRICE, "IDR").with_event_id(event_id)
}

/// A genuine payment of `order_id` as `provider` reports it: a Xendit callback names the invoice
/// checkout created at the stub (`inv-<order>`), which the test signer puts in `id`.
fn paid_via(provider: Provider, order_id: &str, event_id: &str) -> TestPayment {
    if provider == Provider::Xendit {
        paid(order_id, &format!("inv-{order_id}"))
    } else {
        paid(order_id, event_id)
    }
}

/// A webhook signed with secrets the handler does not hold.
fn forged(provider: Provider, order_id: &str, now: u64) -> SignedWebhook {
    let wrong = GatewaySecrets::from_json(
        br#"{
        "stripe":   { "webhook_secrets": ["whsec_attacker"], "api_key": "sk_x" },
        "midtrans": { "server_key": "SB-Mid-server-attacker" },
        "xendit":   { "callback_token": "attacker-token", "api_key": "x" },
        "doku":     { "client_id": "BRN-0001-karcis-test", "secret_key": "SK-attacker" }
    }"#,
    )
    .expect("secrets");
    signed_webhook(provider, &wrong, &paid(order_id, "evt-forged"), now)
}

#[allow(clippy::too_many_lines)] // one provider's whole webhook story, step by step
async fn scenario(provider: Provider) {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(provider), 1).await;
    let secrets = test_secrets();
    let before = f.snapshot().await;

    // Refused, nothing changed.
    let mut refusals: Vec<(&str, SignedWebhook, StatusCode)> = vec![
        (
            "forged signature",
            forged(provider, &order_id, NOW),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong amount",
            signed_webhook(
                provider,
                &secrets,
                &TestPayment::paid(&order_id, PRICE - 1, "IDR").with_event_id("e2"),
                NOW,
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong currency",
            signed_webhook(
                provider,
                &secrets,
                &TestPayment::paid(&order_id, PRICE, "USD").with_event_id("e3"),
                NOW,
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown order",
            signed_webhook(
                provider,
                &secrets,
                &paid("ord_ffffffffffffffffffffffffffffffff", "e4"),
                NOW,
            ),
            StatusCode::NOT_FOUND,
        ),
    ];
    if provider == Provider::Stripe {
        refusals.push((
            "stale timestamp",
            signed_webhook(provider, &secrets, &paid(&order_id, "e5"), NOW - 301),
            StatusCode::UNAUTHORIZED,
        ));
        // A valid signature of other bytes.
        let mut swapped = signed_webhook(provider, &secrets, &paid(&order_id, "e6"), NOW);
        let other = signed_webhook(provider, &secrets, &paid(&order_id, "e7"), NOW);
        swapped.set_header(
            "Stripe-Signature",
            &stripe_signature_header(
                &["whsec_karcis_test_endpoint_secret"],
                NOW,
                &other.body[1..],
            ),
        );
        refusals.push((
            "signature of other bytes",
            swapped,
            StatusCode::UNAUTHORIZED,
        ));
    }
    for (what, w, expected) in &refusals {
        let (status, body) = f.deliver(w).await;
        assert_eq!(status, *expected, "{provider} {what}: {body}");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:karcis:problem:")),
            "{body}"
        );
    }
    assert_eq!(
        f.snapshot().await,
        before,
        "{provider}: a refused webhook changed something"
    );
    let order = f.stored_order(&order_id).await;
    assert_eq!(order.status, OrderStatus::Reserved);

    // The buyer pays at the gateway (its status API now says so); the genuine payment is
    // applied once.
    assert!(f.stub.set_status(&order_id, PaymentStatus::Paid));
    let good = signed_webhook(
        provider,
        &secrets,
        &paid_via(provider, &order_id, "evt-good-1"),
        NOW,
    );
    let (status, body) = f.deliver(&good).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{provider}: {body}"
    );
    let order = f.stored_order(&order_id).await;
    assert_eq!(order.status, OrderStatus::Paid);
    let record = order.paid.expect("payment recorded");
    assert_eq!(
        (
            record.provider.as_str(),
            record.amount_minor,
            record.currency.as_str()
        ),
        (provider.as_str(), PRICE, "IDR")
    );
    assert!(!record.provider_ref.is_empty());
    assert_eq!(f.mint_messages().await, 1, "{provider}: one mint message");
    assert_eq!(
        f.mint_message().await,
        serde_json::json!({"order_id": order_id, "event_id": "fest"})
    );

    // Replays (also a minute later) and a late "pending" change nothing.
    let after = f.snapshot().await;
    f.clock.advance(60);
    for _ in 0..3 {
        let (status, body) = f.deliver(&good).await;
        assert_eq!(
            (status, body["outcome"].as_str()),
            (StatusCode::OK, Some("duplicate")),
            "{provider}: {body}"
        );
    }
    let late = signed_webhook(
        provider,
        &secrets,
        &paid(&order_id, "evt-late").with_status(PaymentStatus::Pending),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&late).await;
    assert_eq!(status, StatusCode::OK, "{provider}: {body}");
    assert_eq!(
        f.snapshot().await,
        after,
        "{provider}: a replay or a late pending changed something"
    );
    let order = f.stored_order(&order_id).await;
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(f.mint_messages().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_webhooks() {
    Box::pin(scenario(Provider::Stripe)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn midtrans_webhooks() {
    Box::pin(scenario(Provider::Midtrans)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xendit_webhooks() {
    Box::pin(scenario(Provider::Xendit)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doku_webhooks() {
    Box::pin(scenario(Provider::Doku)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_for_an_expired_order_is_recorded_for_refund_not_minted() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Xendit), 2).await;
    // The reservation lapses and the sweeper releases it.
    f.clock.advance(f.env.config.reservation_ttl_secs + 1);
    functions::sweeper::sweep(&f.deps).await.expect("sweep");
    let order = f.stored_order(&order_id).await;
    assert_eq!(order.status, OrderStatus::Expired);

    // The buyer pays the invoice anyway, just too late.
    assert!(f.stub.set_status(&order_id, PaymentStatus::Paid));
    let late = signed_webhook(
        Provider::Xendit,
        &test_secrets(),
        &paid_via(Provider::Xendit, &order_id, "late"),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&late).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("refund_due")),
        "{body}"
    );
    let order = f.stored_order(&order_id).await;
    assert_eq!(
        order.status,
        OrderStatus::Expired,
        "never turned into tickets"
    );
    let refund = order.refund_due.expect("recorded for refund");
    assert_eq!(
        (refund.provider.as_str(), refund.amount_minor),
        ("xendit", PRICE)
    );
    assert_eq!(f.mint_messages().await, 0, "no mint for an expired order");

    let after = f.snapshot().await;
    let (status, body) = f.deliver(&late).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "{body}"
    );
    assert_unchanged(&after, &f.snapshot().await, "a replayed refund-due payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_json_and_change_nothing() {
    let f = Fixture::new().await;
    let order_id = f.order(3).await;
    let before = f.snapshot().await;
    let secrets = test_secrets();

    let mut unknown = signed_webhook(Provider::Stripe, &secrets, &paid(&order_id, "e1"), NOW);
    unknown.path = "/v1/webhooks/paypal".into();
    assert_eq!(f.deliver(&unknown).await.0, StatusCode::NOT_FOUND);

    let mut huge = signed_webhook(Provider::Xendit, &secrets, &paid(&order_id, "e2"), NOW);
    huge.body = vec![b' '; 65 * 1024];
    assert_eq!(f.deliver(&huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // Authentic (Stripe signs these exact bytes) but not an event.
    let body = b"{\"id\": 5}".to_vec();
    let header = stripe_signature_header(&["whsec_karcis_test_endpoint_secret"], NOW, &body);
    let malformed = SignedWebhook {
        provider: Provider::Stripe,
        headers: vec![("Stripe-Signature".into(), header)],
        body,
        path: "/v1/webhooks/stripe".into(),
    };
    assert_eq!(f.deliver(&malformed).await.0, StatusCode::BAD_REQUEST);

    let mut no_sig = signed_webhook(Provider::Doku, &secrets, &paid(&order_id, "e3"), NOW);
    no_sig.headers.retain(|(k, _)| k != "Signature");
    assert_eq!(f.deliver(&no_sig).await.0, StatusCode::UNAUTHORIZED);

    let res = f
        .app
        .clone()
        .oneshot(
            Request::builder()
                .method("GET")
                .uri("/v1/webhooks/stripe")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);

    assert_unchanged(&before, &f.snapshot().await, "a bad request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_secrets_come_from_kms_with_the_gateway_context() {
    let env = TestEnv::new().await;
    let keys = env.keys();
    let ciphertext = keys
        .encrypt(
            &KeyPurpose::GatewaySecrets,
            functions::gateway::testing::TEST_SECRETS_JSON.as_bytes(),
        )
        .await
        .expect("encrypt");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&ciphertext);
    let lookup = |k: &str| (k == "GATEWAY_SECRETS").then(|| b64.clone());
    let secrets = load_gateway_secrets(keys.as_ref(), lookup)
        .await
        .expect("decrypts");
    assert!(Provider::ALL.iter().all(|p| secrets.is_configured(*p)));

    // A ciphertext made for another purpose (encryption context) does not open.
    let other = keys
        .encrypt(
            &KeyPurpose::CustomerPii {
                customer_id: "cus_1".into(),
            },
            functions::gateway::testing::TEST_SECRETS_JSON.as_bytes(),
        )
        .await
        .expect("encrypt");
    let other_b64 = base64::engine::general_purpose::STANDARD.encode(&other);
    assert!(
        load_gateway_secrets(keys.as_ref(), |k: &str| (k == "GATEWAY_SECRETS")
            .then(|| other_b64.clone()))
        .await
        .is_err()
    );

    // The plaintext variant is for local development, and never together with the real one.
    let dev = |k: &str| {
        (k == "GATEWAY_SECRETS_DEV_PLAINTEXT")
            .then(|| functions::gateway::testing::TEST_SECRETS_JSON.to_owned())
    };
    assert!(load_gateway_secrets(keys.as_ref(), dev).await.is_ok());
    let both = |k: &str| match k {
        "GATEWAY_SECRETS" => Some(b64.clone()),
        "GATEWAY_SECRETS_DEV_PLAINTEXT" => {
            Some(functions::gateway::testing::TEST_SECRETS_JSON.to_owned())
        }
        _ => None,
    };
    assert!(load_gateway_secrets(keys.as_ref(), both).await.is_err());
    assert!(load_gateway_secrets(keys.as_ref(), |_: &str| None)
        .await
        .is_err());
    assert!(
        load_gateway_secrets(keys.as_ref(), |k: &str| (k == "GATEWAY_SECRETS")
            .then(|| "not base64!".to_owned()))
        .await
        .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// Attacks (issue "Money and personal data", items 2-4)

const MIDTRANS_SERVER_KEY: &str = "SB-Mid-server-karcis-test";

/// A Midtrans notification signed with the merchant's server key (the signature covers only
/// `order_id`, `status_code` and `gross_amount`).
fn midtrans_notification(
    order_id: &str,
    status_code: &str,
    transaction_status: &str,
    transaction_id: &str,
) -> SignedWebhook {
    let gross_amount = format!("{PRICE}.00");
    let body = serde_json::json!({
        "transaction_time": "2026-11-25 16:00:00",
        "transaction_status": transaction_status,
        "transaction_id": transaction_id,
        "status_message": "midtrans payment notification",
        "status_code": status_code,
        "signature_key": midtrans::signature_key(order_id, status_code, &gross_amount, MIDTRANS_SERVER_KEY),
        "payment_type": "bank_transfer",
        "order_id": order_id,
        "gross_amount": gross_amount,
        "fraud_status": "accept",
        "currency": "IDR",
    });
    SignedWebhook {
        provider: Provider::Midtrans,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(&body).expect("json"),
        path: Provider::Midtrans.webhook_path(),
    }
}

/// Edits one top-level field of a JSON body (what an attacker holding a captured notification
/// can do to every field the signature does not cover).
fn edit(w: &SignedWebhook, field: &str, value: Value) -> SignedWebhook {
    let mut body: Value = serde_json::from_slice(&w.body).expect("json");
    body[field] = value;
    SignedWebhook {
        body: serde_json::to_vec(&body).expect("json"),
        ..w.clone()
    }
}

/// Delivers `w`, expects `expected` with a problem+json body, and that nothing changed.
async fn assert_refused(f: &Fixture, w: &SignedWebhook, expected: StatusCode, what: &str) {
    let before = f.snapshot().await;
    let (status, body) = f.deliver(w).await;
    assert_eq!(status, expected, "{what}: {body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:karcis:problem:")),
        "{what}: {body}"
    );
    assert_unchanged(&before, &f.snapshot().await, what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_midtrans_pending_edited_to_settlement_pays_nothing() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Midtrans), 11).await;
    // A genuine `pending` notification (status_code 201), captured and edited: the signature
    // still matches because transaction_status is not signed.
    let pending = midtrans_notification(&order_id, "201", "pending", "tx-11");
    let edited = edit(&pending, "transaction_status", Value::from("settlement"));
    assert_refused(
        &f,
        &edited,
        StatusCode::BAD_REQUEST,
        "pending edited to settlement",
    )
    .await;
    let edited = edit(&pending, "transaction_status", Value::from("capture"));
    assert_refused(
        &f,
        &edited,
        StatusCode::BAD_REQUEST,
        "pending edited to capture",
    )
    .await;
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_midtrans_cancel_edited_to_settlement_is_refused_by_the_status_api() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Midtrans), 12).await;
    // `cancel` is signed with status_code 200 too: only Midtrans' status API can tell.
    let cancel = midtrans_notification(&order_id, "200", "cancel", "tx-12");
    let edited = edit(&cancel, "transaction_status", Value::from("settlement"));
    assert_refused(
        &f,
        &edited,
        StatusCode::CONFLICT,
        "cancel edited to settlement",
    )
    .await;
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
    assert_eq!(f.mint_messages().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_xendit_paid_callback_the_gateway_does_not_confirm_pays_nothing() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Xendit), 13).await;
    // The callback token travels in every callback: one leak lets anyone send "PAID".
    let forged = signed_webhook(
        Provider::Xendit,
        &test_secrets(),
        &paid(&order_id, &format!("inv-{order_id}")),
        NOW,
    );
    assert_refused(&f, &forged, StatusCode::CONFLICT, "unconfirmed Xendit PAID").await;
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_xendit_callback_cannot_pay_a_stripe_order() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 14).await;
    let xendit = signed_webhook(
        Provider::Xendit,
        &test_secrets(),
        &paid(&order_id, &format!("inv-{order_id}")),
        NOW,
    );
    assert_refused(
        &f,
        &xendit,
        StatusCode::CONFLICT,
        "Xendit callback for a Stripe order",
    )
    .await;
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_stripe_event_of_another_checkout_session_cannot_pay_the_order() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 15).await;
    let mut event: Value = serde_json::from_slice(&functions::gateway::testing::stripe_event_body(
        &paid(&order_id, "evt-other-session"),
        NOW,
    ))
    .expect("json");
    event["data"]["object"]["id"] = Value::from("cs_test_someone_elses_session");
    let body = serde_json::to_vec(&event).expect("json");
    let header = stripe_signature_header(&["whsec_karcis_test_endpoint_secret"], NOW, &body);
    let other = SignedWebhook {
        provider: Provider::Stripe,
        headers: vec![("Stripe-Signature".into(), header)],
        body,
        path: Provider::Stripe.webhook_path(),
    };
    assert_refused(&f, &other, StatusCode::CONFLICT, "another session's event").await;
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_webhooks_of_a_provider_checkout_does_not_use_are_refused() {
    // Secrets for all four gateways are configured, but checkout only sells through Stripe.
    let f = Fixture::with_providers(&["stripe"]).await;
    let order_id = f.order(16).await;
    for provider in [Provider::Midtrans, Provider::Xendit, Provider::Doku] {
        let w = signed_webhook(provider, &test_secrets(), &paid(&order_id, "evt-off"), NOW);
        assert_refused(&f, &w, StatusCode::NOT_FOUND, provider.as_str()).await;
    }
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_doku_notification_outside_the_replay_window_is_refused() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Doku), 17).await;
    for (what, signed_at) in [("301 s old", NOW - 301), ("301 s ahead", NOW + 301)] {
        let w = signed_webhook(
            Provider::Doku,
            &test_secrets(),
            &paid(&order_id, what),
            signed_at,
        );
        assert_refused(&f, &w, StatusCode::UNAUTHORIZED, what).await;
    }
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Reserved
    );
    // Inside the window it is genuine.
    let w = signed_webhook(
        Provider::Doku,
        &test_secrets(),
        &paid(&order_id, "fresh"),
        NOW - 299,
    );
    let (status, body) = f.deliver(&w).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("paid")),
        "{body}"
    );
}

/// The same valid notification fired 20 times at once: exactly one state change and one mint
/// message; every other delivery is a 200 no-op.
async fn concurrent_identical_deliveries(provider: Provider) {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(provider), 18).await;
    assert!(f.stub.set_status(&order_id, PaymentStatus::Paid));
    let w = signed_webhook(
        provider,
        &test_secrets(),
        &paid_via(provider, &order_id, "evt-burst"),
        NOW,
    );
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        set.spawn(deliver_to(f.app.clone(), w.clone()));
    }
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    while let Some(joined) = set.join_next().await {
        let (status, body) = joined.expect("task");
        assert_eq!(status, StatusCode::OK, "{provider}: {body}");
        *outcomes
            .entry(body["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let expected: std::collections::BTreeMap<String, u32> =
        [("duplicate".to_owned(), 19), ("paid".to_owned(), 1)].into();
    assert_eq!(outcomes, expected, "{provider}");
    assert_eq!(f.stored_order(&order_id).await.status, OrderStatus::Paid);
    assert_eq!(f.mint_messages().await, 1, "{provider}: one mint message");
    // One claim of the notification, remembered for 35 days (DynamoDB TTL).
    let ttl = format!("N(\"{}\")", NOW + EVENT_RETENTION_SECS);
    let claims: Vec<_> = f
        .snapshot()
        .await
        .items
        .into_iter()
        .filter(|i| i.contains(&format!("webhook#{provider}#")))
        .collect();
    assert_eq!(claims.len(), 1, "{provider}: {claims:#?}");
    assert!(claims[0].contains(&ttl), "{provider}: {claims:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_stripe_notifications_pay_once() {
    concurrent_identical_deliveries(Provider::Stripe).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_midtrans_notifications_pay_once() {
    concurrent_identical_deliveries(Provider::Midtrans).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_xendit_notifications_pay_once() {
    concurrent_identical_deliveries(Provider::Xendit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_doku_notifications_pay_once() {
    concurrent_identical_deliveries(Provider::Doku).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_api_unreachable_answers_503_and_changes_nothing_until_a_retry() {
    // Nothing listens on this port.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let f = Fixture::with(&ALL_PROVIDERS, Some(dead)).await;
    for (n, provider) in [(21, Provider::Midtrans), (22, Provider::Xendit)] {
        let order_id = f.order_via(Some(provider), n).await;
        assert!(f.stub.set_status(&order_id, PaymentStatus::Paid));
        let w = signed_webhook(
            provider,
            &test_secrets(),
            &paid_via(provider, &order_id, "evt-unconfirmed"),
            NOW,
        );
        assert_refused(&f, &w, StatusCode::SERVICE_UNAVAILABLE, provider.as_str()).await;
        assert_eq!(
            f.stored_order(&order_id).await.status,
            OrderStatus::Reserved
        );

        // The provider retries once the API answers again: paid, once.
        let (status, body) = deliver_to(
            callback_router(&f.deps, f.clock.clone(), &f.stub.base_url()),
            w.clone(),
        )
        .await;
        assert_eq!(
            (status, body["outcome"].as_str()),
            (StatusCode::OK, Some("paid")),
            "{provider}: {body}"
        );
    }
    assert_eq!(f.mint_messages().await, 2);
}

/// A delivery that claimed its notification and paid the order, then died before queueing the
/// mint: its retries are duplicates, and one arriving 5 minutes after payment queues the mint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mint_lost_after_the_claim_is_queued_again_by_a_later_retry() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 23).await;
    // What the dead delivery wrote: its claim and the paid order.
    assert!(f
        .deps
        .dedup
        .claim("webhook#stripe#evt-crash", NOW + EVENT_RETENTION_SECS)
        .await
        .expect("claim"));
    let record = PaymentRecord {
        provider: "stripe".into(),
        provider_ref: format!("cs_test_{order_id}"),
        amount_minor: PRICE,
        currency: "IDR".into(),
        paid_at: NOW,
        payment_id: None,
    };
    f.deps
        .orders
        .mark_paid(&order_id, &record)
        .await
        .expect("paid");
    assert_eq!(f.mint_messages().await, 0);

    for (later, mints) in [(60, 0), (300, 1)] {
        f.clock.set(NOW + later);
        let retry = signed_webhook(
            Provider::Stripe,
            &test_secrets(),
            &paid(&order_id, "evt-crash"),
            NOW + later,
        );
        let (status, body) = f.deliver(&retry).await;
        assert_eq!(
            (status, body["outcome"].as_str()),
            (StatusCode::OK, Some("duplicate")),
            "{body}"
        );
        assert_eq!(f.mint_messages().await, mints, "{later} s after payment");
    }
}

/// Pays `order_id` through `provider` with a genuine notification and mints its tickets.
async fn pay_and_mint(f: &Fixture, provider: Provider, order_id: &str) {
    assert!(f.stub.set_status(order_id, PaymentStatus::Paid));
    let good = signed_webhook(
        provider,
        &test_secrets(),
        &paid_via(provider, order_id, &format!("evt-pay-{order_id}")),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&good).await;
    assert_eq!(status, StatusCode::OK, "{provider}: {body}");
    let minter = functions::mint::Minter::new(f.deps.clone());
    minter
        .mint_order(&functions::ports::MintMessage {
            order_id: order_id.to_owned(),
            event_id: "fest".into(),
        })
        .await
        .expect("mint");
    assert_eq!(f.stored_order(order_id).await.status, OrderStatus::Minted);
}

/// The attack of issue "Money and personal data" item 5: buy, get tickets, refund, still get
/// in. A verified full refund of a minted order must mark it refunded (so its tickets are
/// revoked), not be acknowledged and dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_refund_of_a_minted_order_is_not_dropped() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 40).await;
    pay_and_mint(&f, Provider::Stripe, &order_id).await;
    let refund = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &paid(&order_id, "evt-refund-40").with_status(PaymentStatus::Refunded),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&refund).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"].as_str(), Some("refunded"), "{body}");
    let order = f.stored_order(&order_id).await;
    assert_eq!(
        order.status,
        OrderStatus::Refunded,
        "a refunded order keeps its tickets valid"
    );
    let reversal = order.reversal.expect("recorded");
    assert_eq!(
        (
            reversal.kind.as_str(),
            reversal.amount_minor,
            reversal.currency.as_str()
        ),
        ("refunded", PRICE, "IDR")
    );
    assert_eq!(
        f.revoke_messages().await,
        vec![serde_json::json!({"order_id": order_id, "event_id": "fest", "reason": "refunded"})]
    );
}

/// The same verified refund fired 10 times at once: one state change, one revocation message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_refunds_queue_one_revocation() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 41).await;
    pay_and_mint(&f, Provider::Stripe, &order_id).await;
    let refund = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &paid(&order_id, "evt-refund-41").with_status(PaymentStatus::Refunded),
        f.clock_now(),
    );
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        set.spawn(deliver_to(f.app.clone(), refund.clone()));
    }
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    while let Some(joined) = set.join_next().await {
        let (status, body) = joined.expect("task");
        assert_eq!(status, StatusCode::OK, "{body}");
        *outcomes
            .entry(body["outcome"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    let expected: std::collections::BTreeMap<String, u32> =
        [("duplicate".to_owned(), 9), ("refunded".to_owned(), 1)].into();
    assert_eq!(outcomes, expected);
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Refunded
    );
    assert_eq!(f.revoke_messages().await.len(), 1);
}

/// A partial refund is recorded and revokes nothing; a dispute (which names only the
/// PaymentIntent) finds the order and revokes; a refund of another payment is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_refunds_are_recorded_disputes_revoke_other_payments_are_refused() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Stripe), 42).await;
    pay_and_mint(&f, Provider::Stripe, &order_id).await;
    let secrets = test_secrets();
    let partial = signed_webhook(
        Provider::Stripe,
        &secrets,
        &TestPayment::paid(&order_id, 50_000, "IDR")
            .with_event_id("evt-partial-42")
            .with_status(PaymentStatus::PartiallyRefunded),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&partial).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("partially_refunded")),
        "{body}"
    );
    let order = f.stored_order(&order_id).await;
    assert_eq!(order.status, OrderStatus::Minted);
    assert_eq!(order.reversal.expect("recorded").amount_minor, 50_000);
    assert!(f.revoke_messages().await.is_empty());

    // A "full" refund of a payment the order was not paid with (another PaymentIntent).
    let mut other = String::from_utf8(
        signed_webhook(
            Provider::Stripe,
            &secrets,
            &paid(&order_id, "evt-other-42").with_status(PaymentStatus::Refunded),
            f.clock_now(),
        )
        .body,
    )
    .expect("utf8");
    other = other.replace(&format!("pi_test_{order_id}"), "pi_test_someone_else");
    let w = functions::gateway::testing::SignedWebhook {
        provider: Provider::Stripe,
        headers: vec![(
            "Stripe-Signature".into(),
            stripe_signature_header(
                &["whsec_karcis_test_endpoint_secret"],
                f.clock_now(),
                other.as_bytes(),
            ),
        )],
        body: other.into_bytes(),
        path: "/v1/webhooks/stripe".into(),
    };
    let (status, body) = f.deliver(&w).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(f.stored_order(&order_id).await.status, OrderStatus::Minted);

    let dispute = signed_webhook(
        Provider::Stripe,
        &secrets,
        &paid(&order_id, "evt-dispute-42").with_status(PaymentStatus::Disputed),
        f.clock_now(),
    );
    let (status, body) = f.deliver(&dispute).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::OK, Some("disputed")),
        "{body}"
    );
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Disputed
    );
    assert_eq!(
        f.revoke_messages().await,
        vec![serde_json::json!({"order_id": order_id, "event_id": "fest", "reason": "disputed"})]
    );
}

/// Midtrans: `transaction_status` is unsigned, so a refund counts only once the status API
/// says so; an edited `settlement -> refund` changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn midtrans_refund_counts_only_when_the_status_api_confirms_it() {
    let f = Fixture::new().await;
    let order_id = f.order_via(Some(Provider::Midtrans), 43).await;
    pay_and_mint(&f, Provider::Midtrans, &order_id).await;
    let refund = signed_webhook(
        Provider::Midtrans,
        &test_secrets(),
        &paid(&order_id, &format!("tx-{order_id}")).with_status(PaymentStatus::Refunded),
        f.clock_now(),
    );
    // The gateway still says settlement: refused, nothing changed.
    let (status, body) = f.deliver(&refund).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(f.stored_order(&order_id).await.status, OrderStatus::Minted);
    assert!(f.revoke_messages().await.is_empty());
    // Refunded at the gateway: the retry applies it once.
    assert!(f.stub.set_status(&order_id, PaymentStatus::Refunded));
    for expected in ["refunded", "duplicate"] {
        let (status, body) = f.deliver(&refund).await;
        assert_eq!(
            (status, body["outcome"].as_str()),
            (StatusCode::OK, Some(expected)),
            "{body}"
        );
    }
    assert_eq!(
        f.stored_order(&order_id).await.status,
        OrderStatus::Refunded
    );
    assert_eq!(f.revoke_messages().await.len(), 1);
}
