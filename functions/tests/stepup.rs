//! Step-up verification of high-value orders against moto: no payment session before the
//! buyer's one-time code, one success per code under concurrency, guesses counted atomically,
//! expiry, resends limited, the code never in clear at rest or in a queue.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router, Checkout};
use functions::deps::Deps;
use functions::notify::Notifier;
use functions::testing::{
    at_once, contains_bytes, pump, sample_buyer, sample_checkout_body, sample_event_spec,
    RecordingPayments, RecordingSender, TestClock, TestEnv,
};
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: u64 = 1_800_000_000;
/// Rp400.000 a ticket: two are Rp800.000 (no step-up), three Rp1.200.000 (step-up).
const PRICE: u64 = 400_000;

struct Fixture {
    env: TestEnv,
    deps: Deps,
    clock: Arc<TestClock>,
    payments: Arc<RecordingPayments>,
    sender: Arc<RecordingSender>,
    app: axum::Router,
}

impl Fixture {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let clock = Arc::new(TestClock::new(NOW));
        let deps = env.deps().with_clock(clock.clone());
        let mut spec = sample_event_spec("gala", 40, NOW);
        spec.tiers[0].price_minor = PRICE;
        functions::admin::create_event(&deps, &spec)
            .await
            .expect("event");
        let payments = Arc::new(RecordingPayments::default());
        let app = router(Checkout::new(deps.clone(), payments.clone()));
        Fixture {
            env,
            deps,
            clock,
            payments,
            sender: Arc::new(RecordingSender::default()),
            app,
        }
    }

    async fn call(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut req = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        } else {
            req = req.header("idempotency-key", format!("key-{}", body["buyer"]["email"]));
        }
        let req = req
            .body(Body::from(serde_json::to_vec(body).expect("json")))
            .expect("request");
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Buyer `n` orders `quantity`: (order view, access token).
    async fn order(&self, n: u32, quantity: u32, extra: Value) -> (Value, String) {
        let mut body = sample_checkout_body("gala", quantity, n);
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let (status, created) = self.call("/v1/orders", None, &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["order"].clone(),
            created["access_token"].as_str().expect("token").to_owned(),
        )
    }

    fn payments_for(&self, order_id: &str) -> usize {
        self.payments
            .requests
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.order_id == order_id)
            .count()
    }

    /// Runs notify over the queue; the last code sent for `order_id` and its channel.
    async fn delivered_code(&self, order_id: &str) -> (String, functions::ports::Channel) {
        let notifier = Notifier::new(self.deps.clone(), self.sender.clone());
        pump(
            &self.env.clients,
            &self.env.notify,
            |e| notifier.handle(e),
            10,
        )
        .await;
        let sent = self.sender.sent.lock().expect("lock");
        let n = sent
            .iter()
            .rev()
            .find(|n| n.template == "purchase_otp" && n.params["order_id"] == order_id)
            .expect("a purchase code was sent");
        (n.params["code"].clone(), n.channel)
    }

    async fn verify(&self, order: &Value, token: &str, code: &str) -> (StatusCode, Value) {
        let path = format!(
            "/v1/orders/{}/verify",
            order["order_id"].as_str().expect("id")
        );
        self.call(&path, Some(token), &json!({ "code": code }))
            .await
    }

    async fn resend(&self, order: &Value, token: &str) -> (StatusCode, Value) {
        let id = order["order_id"].as_str().expect("id");
        self.call(
            &format!("/v1/orders/{id}/verify/resend"),
            Some(token),
            &Value::Null,
        )
        .await
    }
}

fn other_code(code: &str) -> &'static str {
    if code == "000000" {
        "000001"
    } else {
        "000000"
    }
}

fn answered(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

/// The attack in its plainest form (only the fields checkout always had): a Rp1.200.000 order
/// must not come back with a payment session. On the code before the step-up (7a78874) it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_value_order_gets_no_payment_session_without_a_code() {
    let f = Fixture::new().await;
    let (order, _) = f.order(9, 3, json!({})).await;
    let id = order["order_id"].as_str().expect("id").to_owned();
    assert!(order["payment"].is_null(), "{order}");
    assert_eq!(f.payments_for(&id), 0);
}

/// The attack: a bot (or a stolen card) buys Rp1.200.000 of tickets and goes straight to the
/// payment page. Below the threshold the payment session is made at once; above it, not before
/// the code the buyer received, and the code is nowhere in clear (table, queues).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_payment_session_above_the_threshold_before_the_code() {
    let f = Fixture::new().await;
    let (small, _) = f.order(1, 2, json!({})).await;
    assert_eq!(small["status"], "reserved", "{small}");
    assert!(small["payment"].is_object(), "{small}");

    let (big, token) = f
        .order(2, 3, json!({"otp_channel": "sms", "lang": "en"}))
        .await;
    let id = big["order_id"].as_str().expect("id").to_owned();
    assert_eq!(big["status"], "verification_required", "{big}");
    assert!(big["payment"].is_null(), "{big}");
    assert_eq!(f.payments_for(&id), 0, "no payment session before the code");
    let get = Request::get(format!("/v1/orders/{id}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let res = f.app.clone().oneshot(get).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    let read: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(read["status"], "verification_required", "{read}");

    let messages = f.env.peek_all_messages().await;
    let (code, channel) = f.delivered_code(&id).await;
    assert_eq!(code.len(), 6);
    assert_eq!(channel, functions::ports::Channel::Sms);
    let buyer = sample_buyer(2);
    for secret in [
        code.as_str(),
        buyer["email"].as_str().expect("email"),
        buyer["phone"].as_str().expect("phone"),
    ] {
        assert!(
            !messages.iter().any(|m| m.contains(secret)),
            "{secret} in a queue message"
        );
        assert_eq!(
            f.env
                .raw_items()
                .await
                .iter()
                .filter(|i| contains_bytes(i, secret))
                .count(),
            0,
            "{secret} at rest"
        );
    }
    assert!(messages.iter().any(|m| m.contains("code_sealed")));

    // A wrong code: refused, still no payment.
    let (status, _) = f.verify(&big, &token, other_code(&code)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(f.payments_for(&id), 0);
    // Another order's token does not open it.
    let (status, _) = f.verify(&big, "not-the-token", &code).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, verified) = f.verify(&big, &token, &code).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["status"], "reserved");
    assert!(verified["payment"].is_object(), "{verified}");
    assert_eq!(f.payments_for(&id), 1);
    // Used: a second verification changes nothing.
    let (status, _) = f.verify(&big, &token, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(f.payments_for(&id), 1);
}

/// The right code fired ten times at once: exactly one success, one payment session (every
/// request is a counted guess, so at most five even reach the compare).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_right_codes_verify_exactly_once() {
    let f = Arc::new(Fixture::new().await);
    let (order, token) = f.order(3, 3, json!({})).await;
    let id = order["order_id"].as_str().expect("id").to_owned();
    let (code, channel) = f.delivered_code(&id).await;
    assert_eq!(channel, functions::ports::Channel::Email);
    let results = at_once(10, |_| {
        let (f, order, token, code) = (f.clone(), order.clone(), token.clone(), code.clone());
        async move { f.verify(&order, &token, &code).await }
    })
    .await;
    assert_eq!(answered(&results, StatusCode::OK), 1, "{results:?}");
    // The others: refused as used (409) or, past the five counted guesses, as spent (422).
    assert_eq!(
        answered(&results, StatusCode::CONFLICT)
            + answered(&results, StatusCode::UNPROCESSABLE_ENTITY),
        9,
        "{results:?}"
    );
    assert_eq!(f.payments_for(&id), 1);
}

/// Eight wrong codes at once: exactly five counted, the rest refused as spent, and then the
/// right code no longer works either (no payment session ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_wrong_codes_at_once_count_five_then_refuse() {
    let f = Arc::new(Fixture::new().await);
    let (order, token) = f.order(4, 3, json!({})).await;
    let id = order["order_id"].as_str().expect("id").to_owned();
    let (code, _) = f.delivered_code(&id).await;
    let guess = other_code(&code);
    let results = at_once(8, |_| {
        let (f, order, token) = (f.clone(), order.clone(), token.clone());
        async move { f.verify(&order, &token, guess).await }
    })
    .await;
    let counted = answered(&results, StatusCode::BAD_REQUEST);
    let spent = answered(&results, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((counted, spent), (5, 3), "{results:?}");
    let (status, _) = f.verify(&order, &token, &code).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A resend gives a new code but no new guesses.
    f.clock.advance(31);
    let (status, _) = f.resend(&order, &token).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (code, _) = f.delivered_code(&id).await;
    let (status, _) = f.verify(&order, &token, &code).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(f.payments_for(&id), 0);
}

/// A code expires after five minutes (the stored expiry decides); a resend replaces it (the old
/// one stops working); resends are spaced and limited; bad codes are refused before any guess.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire_and_resends_are_limited() {
    let f = Fixture::new().await;
    let (order, token) = f.order(5, 3, json!({})).await;
    let id = order["order_id"].as_str().expect("id").to_owned();
    let (first, _) = f.delivered_code(&id).await;
    for bad in ["12345", "1234567", "12a456", ""] {
        let (status, _) = f.verify(&order, &token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // Too soon for a resend.
    let (status, _) = f.resend(&order, &token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    f.clock.advance(300);
    let (status, body) = f.verify(&order, &token, &first).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = f.resend(&order, &token).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["expires_at"], NOW + 300 + 300);
    let (second, _) = f.delivered_code(&id).await;
    if second != first {
        let (status, _) = f.verify(&order, &token, &first).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "the replaced code no longer works"
        );
    }
    f.clock.advance(31);
    let (status, _) = f.resend(&order, &token).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (third, _) = f.delivered_code(&id).await;
    f.clock.advance(31);
    let (status, _) = f.resend(&order, &token).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "three codes per order"
    );
    let (status, verified) = f.verify(&order, &token, &third).await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(f.payments_for(&id), 1);
}

/// SMS or WhatsApp without a phone is refused at checkout and writes nothing; an order below
/// the threshold has nothing to verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_checks_and_nothing_to_verify_below_the_threshold() {
    let f = Fixture::new().await;
    let before = f.env.raw_items().await;
    let mut body = sample_checkout_body("gala", 3, 6);
    body["buyer"]
        .as_object_mut()
        .expect("buyer")
        .remove("phone");
    body["otp_channel"] = json!("whatsapp");
    let (status, problem) = f.call("/v1/orders", None, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    body["otp_channel"] = json!("pigeon");
    let (status, _) = f.call("/v1/orders", None, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (mut a, mut b) = (before, f.env.raw_items().await);
    a.sort();
    b.sort();
    assert!(a == b, "refused requests wrote nothing");

    let (small, token) = f.order(7, 1, json!({})).await;
    let (status, _) = f.verify(&small, &token, "123456").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = f.resend(&small, &token).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// An order that never gets its code holds its seats only until the reservation expires: the
/// sweeper releases it like any reservation, and a late right code then opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_order_is_released_at_expiry() {
    let f = Fixture::new().await;
    let (order, token) = f.order(8, 3, json!({})).await;
    let id = order["order_id"].as_str().expect("id").to_owned();
    let (code, _) = f.delivered_code(&id).await;
    let available = || async {
        f.deps
            .events
            .get_event("gala")
            .await
            .expect("read")
            .expect("event")
            .tiers[0]
            .available
    };
    assert_eq!(available().await, 37);
    f.clock.advance(900);
    let report = functions::sweeper::sweep(&f.deps).await.expect("sweep");
    assert_eq!(report.released, 1, "{report:?}");
    assert_eq!(available().await, 40);
    let stored = f
        .deps
        .orders
        .get_order(&id)
        .await
        .expect("read")
        .expect("order");
    assert_eq!(stored.status, functions::model::OrderStatus::Expired);
    let (status, _) = f.verify(&order, &token, &code).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(f.payments_for(&id), 0);
}
