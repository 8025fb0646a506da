//! checkout against moto: no oversell under concurrency, idempotency, limits, consent, bad input.

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::many_single_char_names
)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router, Checkout, CheckoutResponse, EventView, OrderView};
use functions::pii::BLIND_INDEX_CUSTOMER;
use functions::ports::KeyPurpose;
use functions::testing::{
    sample_buyer, sample_checkout_body, sample_event_spec, CountingKeys, RecordingPayments,
    TestClock, TestEnv,
};
use functions::Problem;
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    env: TestEnv,
    app: axum::Router,
    payments: Arc<RecordingPayments>,
    checkout: Checkout,
}

async fn fixture(capacity: u32) -> Fixture {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(
        &deps,
        &sample_event_spec("jakarta-fest-2026", capacity, NOW),
    )
    .await
    .expect("create event");
    let payments = Arc::new(RecordingPayments::default());
    let checkout = Checkout::new(deps, payments.clone());
    Fixture {
        app: router(checkout.clone()),
        env,
        payments,
        checkout,
    }
}

fn post(body: &serde_json::Value, key: &str) -> Request<Body> {
    Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, ct, body.to_vec())
}

async fn problem(app: &axum::Router, req: Request<Body>) -> (StatusCode, Problem) {
    let (status, ct, body) = send(app, req).await;
    assert_eq!(ct, "application/problem+json", "status {status}");
    let p: Problem = serde_json::from_slice(&body).expect("problem body");
    assert_eq!(p.status, status.as_u16());
    assert!(p.r#type.starts_with("urn:karcis:problem:"));
    (status, p)
}

async fn available(f: &Fixture) -> u32 {
    f.checkout
        .event_view("jakarta-fest-2026")
        .await
        .unwrap()
        .tiers[0]
        .available
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_checkouts_for_fifty_tickets_never_oversell() {
    let f = fixture(50).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200u32 {
        let app = f.app.clone();
        tasks.spawn(async move {
            let req = post(
                &sample_checkout_body("jakarta-fest-2026", 1, n),
                &format!("concurrent-key-{n:04}"),
            );
            let (status, _, body) = send(&app, req).await;
            (status, body)
        });
    }
    let (mut created, mut sold_out, mut other) = (0, 0, Vec::new());
    while let Some(r) = tasks.join_next().await {
        let (status, body) = r.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let p: Problem = serde_json::from_slice(&body).unwrap();
                assert_eq!(p.r#type, "urn:karcis:problem:sold-out");
                sold_out += 1;
            }
            s => other.push((s, String::from_utf8_lossy(&body).into_owned())),
        }
    }
    assert!(
        other.is_empty(),
        "{} unexpected answers, first: {:?}",
        other.len(),
        other.first()
    );
    assert_eq!(created, 50, "exactly the capacity is reserved");
    assert_eq!(sold_out, 150);
    assert_eq!(available(&f).await, 0);
    assert_eq!(
        f.env.count_items("order").await,
        50,
        "0 oversold: one order per reserved ticket"
    );
    assert_eq!(f.payments.requests.lock().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_returns_the_same_order() {
    let f = fixture(10).await;
    let body = sample_checkout_body("jakarta-fest-2026", 2, 1);
    let (s1, _, b1) = send(&f.app, post(&body, "retry-key-000001")).await;
    assert_eq!(s1, StatusCode::CREATED);
    let first: CheckoutResponse = serde_json::from_slice(&b1).unwrap();
    assert_eq!(first.order.total.amount_minor, 300_000);
    assert_eq!(first.order.total.currency, "IDR");
    assert!(first.order.payment.is_some());

    // The client retries (e.g. the response was lost), concurrently too.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let app = f.app.clone();
        let body = body.clone();
        tasks.spawn(async move { send(&app, post(&body, "retry-key-000001")).await });
    }
    while let Some(r) = tasks.join_next().await {
        let (s, _, b) = r.unwrap();
        assert_eq!(s, StatusCode::OK);
        let again: CheckoutResponse = serde_json::from_slice(&b).unwrap();
        assert_eq!(again, first, "same order, same token, same payment");
    }
    assert_eq!(available(&f).await, 8, "stock taken once");
    assert_eq!(f.env.count_items("order").await, 1);
    assert_eq!(f.payments.requests.lock().unwrap().len(), 1);

    // The same key with another request is refused, and changes nothing.
    let other = sample_checkout_body("jakarta-fest-2026", 3, 1);
    let (s, p) = problem(&f.app, post(&other, "retry-key-000001")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p.r#type, "urn:karcis:problem:idempotency-key-reused");
    assert_eq!(available(&f).await, 8);

    // The order can be read with its token only.
    let get = |token: &str| {
        Request::get(format!("/v1/orders/{}", first.order.order_id))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = send(&f.app, get(&first.access_token)).await;
    assert_eq!(s, StatusCode::OK);
    let view: OrderView = serde_json::from_slice(&b).unwrap();
    assert_eq!(view, first.order);
    let (s, _) = problem(&f.app, get("wrong-token")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = problem(
        &f.app,
        Request::get(format!("/v1/orders/{}", first.order.order_id))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_missing_consent_are_rejected_with_nothing_written() {
    let f = fixture(20).await;
    // A first order puts the buyer at 4 of the 6 they may hold for the event.
    let (s, _, _) = send(
        &f.app,
        post(
            &sample_checkout_body("jakarta-fest-2026", 4, 7),
            "limit-key-first",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let before = f.env.raw_items().await;

    let mut no_consent = sample_checkout_body("jakarta-fest-2026", 1, 8);
    no_consent["consent"]["accepted"] = serde_json::json!(false);
    let mut old_policy = sample_checkout_body("jakarta-fest-2026", 1, 8);
    old_policy["consent"]["privacy_policy_version"] = serde_json::json!("2019-01");
    let mut no_consent_field = sample_checkout_body("jakarta-fest-2026", 1, 8);
    no_consent_field.as_object_mut().unwrap().remove("consent");
    let cases = [
        (
            no_consent,
            StatusCode::UNPROCESSABLE_ENTITY,
            "consent-required",
        ),
        (
            old_policy,
            StatusCode::UNPROCESSABLE_ENTITY,
            "consent-required",
        ),
        (
            no_consent_field,
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        // per order: the event allows 4
        (
            sample_checkout_body("jakarta-fest-2026", 5, 9),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit-exceeded",
        ),
        // per buyer: 4 held + 3 > 6
        (
            sample_checkout_body("jakarta-fest-2026", 3, 7),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit-exceeded",
        ),
        (
            sample_checkout_body("jakarta-fest-2026", 0, 9),
            StatusCode::BAD_REQUEST,
            "invalid-field",
        ),
        (
            sample_checkout_body("no-such-event", 1, 9),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ];
    for (i, (body, status, slug)) in cases.into_iter().enumerate() {
        let (s, p) = problem(&f.app, post(&body, &format!("limit-key-{i:04}"))).await;
        assert_eq!(
            (s, p.r#type.as_str()),
            (status, format!("urn:karcis:problem:{slug}").as_str()),
            "case {i}"
        );
    }
    // The same buyer with an email in other case is the same buyer.
    let mut shouting = sample_checkout_body("jakarta-fest-2026", 3, 7);
    shouting["buyer"]["email"] =
        serde_json::json!(sample_buyer(7)["email"].as_str().unwrap().to_uppercase());
    let (s, p) = problem(&f.app, post(&shouting, "limit-key-upper")).await;
    assert_eq!(
        (s, p.r#type.as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "urn:karcis:problem:limit-exceeded"
        )
    );

    // The fraud screen's windowed counters (`FRAUD#...`) count attempts, refused ones too (a
    // bot's refused attempts are what bulk detection counts, and one atomic ADD before the
    // reservation is what keeps a concurrent burst from slipping past it): everything else is
    // untouched.
    let not_counter = |i: &Vec<u8>| !functions::testing::contains_bytes(i, "FRAUD#");
    let mut after: Vec<Vec<u8>> = f
        .env
        .raw_items()
        .await
        .into_iter()
        .filter(not_counter)
        .collect();
    let mut before: Vec<Vec<u8>> = before.into_iter().filter(not_counter).collect();
    before.sort();
    after.sort();
    assert!(before == after, "rejected requests wrote nothing");
    assert_eq!(available(&f).await, 16);
    // 2 more are still allowed for this buyer.
    let (s, _, _) = send(
        &f.app,
        post(
            &sample_checkout_body("jakarta-fest-2026", 2, 7),
            "limit-key-second",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_missing_and_huge_bodies_get_problem_json_and_write_nothing() {
    let f = fixture(5).await;
    let before = f.env.raw_items().await;
    let raw = |body: Vec<u8>, ct: &str, key: Option<&str>| {
        let mut r = Request::post("/v1/orders").header("content-type", ct);
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        r.body(Body::from(body)).unwrap()
    };
    let good = serde_json::to_vec(&sample_checkout_body("jakarta-fest-2026", 1, 3)).unwrap();
    let mut missing = sample_checkout_body("jakarta-fest-2026", 1, 3);
    missing["buyer"].as_object_mut().unwrap().remove("email");
    let mut wrong_type = sample_checkout_body("jakarta-fest-2026", 1, 3);
    wrong_type["quantity"] = serde_json::json!("two");
    let mut bad_email = sample_checkout_body("jakarta-fest-2026", 1, 3);
    bad_email["buyer"]["email"] = serde_json::json!("not-an-email");
    let mut huge = sample_checkout_body("jakarta-fest-2026", 1, 3);
    huge["buyer"]["name"] = serde_json::json!("x".repeat(64 * 1024));
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            raw(
                b"{not json".to_vec(),
                "application/json",
                Some("bad-key-00001"),
            ),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            raw(Vec::new(), "application/json", Some("bad-key-00002")),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            raw(
                serde_json::to_vec(&missing).unwrap(),
                "application/json",
                Some("bad-key-00003"),
            ),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            raw(
                serde_json::to_vec(&wrong_type).unwrap(),
                "application/json",
                Some("bad-key-00004"),
            ),
            StatusCode::BAD_REQUEST,
            "malformed-request",
        ),
        (
            raw(
                serde_json::to_vec(&bad_email).unwrap(),
                "application/json",
                Some("bad-key-00005"),
            ),
            StatusCode::BAD_REQUEST,
            "invalid-field",
        ),
        (
            raw(
                serde_json::to_vec(&huge).unwrap(),
                "application/json",
                Some("bad-key-00006"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
        (
            raw(
                vec![b' '; 10 << 20],
                "application/json",
                Some("bad-key-00007"),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
        ),
        (
            raw(good.clone(), "text/plain", Some("bad-key-00008")),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            raw(good.clone(), "application/json", None),
            StatusCode::BAD_REQUEST,
            "invalid-header",
        ),
        (
            raw(good.clone(), "application/json", Some("short")),
            StatusCode::BAD_REQUEST,
            "invalid-header",
        ),
        (
            Request::put("/v1/orders").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
        (
            Request::get("/v1/nothing").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ];
    for (i, (req, status, slug)) in cases.into_iter().enumerate() {
        let (s, p) = problem(&f.app, req).await;
        assert_eq!(
            (s, p.r#type.as_str()),
            (status, format!("urn:karcis:problem:{slug}").as_str()),
            "case {i}"
        );
        assert!(
            !p.detail.contains("siti"),
            "a problem never echoes personal data"
        );
    }
    let (mut before, mut after) = (before, f.env.raw_items().await);
    before.sort();
    after.sort();
    assert!(before == after, "bad input wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_fixtures_drive_the_router() {
    let f = fixture(10).await;
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    // The fixture asks for midtrans: enable it for this checkout.
    let mut deps = f.checkout.deps.clone();
    let mut cfg = (*deps.config).clone();
    cfg.payment_providers = vec!["stripe".into(), "midtrans".into()];
    deps.config = Arc::new(cfg);
    let app = router(Checkout::new(deps, f.payments.clone()));

    let req = functions::http::request_from_event(&read("checkout-post-order.json")).unwrap();
    let (s, _, b) = send(&app, req).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let created: CheckoutResponse = serde_json::from_slice(&b).unwrap();
    assert_eq!(created.order.quantity, 2);
    assert_eq!(created.order.payment.as_ref().unwrap().provider, "midtrans");

    let req =
        functions::http::request_from_event(&read("checkout-post-order-malformed.json")).unwrap();
    let (s, p) = problem(&app, req).await;
    assert_eq!(
        (s, p.r#type.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "urn:karcis:problem:malformed-request"
        )
    );

    let req = functions::http::request_from_event(&read("checkout-get-event.json")).unwrap();
    let (s, _, b) = send(&app, req).await;
    assert_eq!(s, StatusCode::OK);
    let ev: EventView = serde_json::from_slice(&b).unwrap();
    assert_eq!(ev.tiers[0].available, 8);
    assert_eq!(ev.tiers[0].price.amount_minor, 150_000);

    let text = read("checkout-get-order.json")
        .replace(
            "ord_00000000000000000000000000000000",
            &created.order.order_id,
        )
        .replace("REPLACE_WITH_ACCESS_TOKEN", &created.access_token);
    let (s, _, b) = send(&app, functions::http::request_from_event(&text).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let view: OrderView = serde_json::from_slice(&b).unwrap();
    assert_eq!(view.order_id, created.order.order_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_failure_keeps_the_reservation_and_a_retry_completes_it() {
    let f = fixture(10).await;
    f.payments
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let body = sample_checkout_body("jakarta-fest-2026", 1, 11);
    let (s, p) = problem(&f.app, post(&body, "gateway-down-0001")).await;
    assert_eq!(
        (s, p.r#type.as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "urn:karcis:problem:unavailable"
        )
    );
    f.payments
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (s, _, b) = send(&f.app, post(&body, "gateway-down-0001")).await;
    assert_eq!(s, StatusCode::OK);
    let r: CheckoutResponse = serde_json::from_slice(&b).unwrap();
    assert!(r.order.payment.is_some());
    assert_eq!(available(&f).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_unwraps_the_index_key_once_per_cold_start_and_a_buyer_key_once_per_request() {
    let f = fixture(20).await;
    let event = "jakarta-fest-2026";
    // A first checkout creates the blind-index key.
    let returning = sample_checkout_body(event, 1, 50);
    let (s, _, _) = send(&f.app, post(&returning, "kms-key-first")).await;
    assert_eq!(s, StatusCode::CREATED);

    // A new cold start: its index key is not cached yet.
    let kms = Arc::new(CountingKeys::new(f.checkout.deps.keys.clone()));
    let deps = f.checkout.deps.clone().with_keys(kms.clone());
    let app = router(Checkout::new(deps, f.payments.clone()));
    let index_key = |p: &KeyPurpose| matches!(p, KeyPurpose::CustomerPii { customer_id } if customer_id == BLIND_INDEX_CUSTOMER);
    let buyer_key = |p: &KeyPurpose| matches!(p, KeyPurpose::CustomerPii { customer_id } if customer_id != BLIND_INDEX_CUSTOMER);
    for n in 51..55 {
        let (s, _, _) = send(
            &app,
            post(
                &sample_checkout_body(event, 1, n),
                &format!("kms-key-{n:05}"),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    assert_eq!(kms.decrypts(buyer_key), 0, "new buyers: no key to unwrap");

    // A returning buyer: their key is unwrapped once for the order, and once for its replay.
    let (s, _, b) = send(&app, post(&returning, "kms-key-returning")).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(kms.decrypts(buyer_key), 1);
    let (s, _, again) = send(&app, post(&returning, "kms-key-returning")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<CheckoutResponse>(&again).unwrap(),
        serde_json::from_slice::<CheckoutResponse>(&b).unwrap()
    );
    assert_eq!(kms.decrypts(buyer_key), 2, "a replay unwraps the key once");

    assert_eq!(
        kms.decrypts(index_key),
        1,
        "the blind-index key is unwrapped once per cold start, not per checkout"
    );
    assert_eq!(kms.generated(index_key), 0, "and never replaced");
}

/// Ten identical first requests with one key, at once: one order, one payment session, one
/// token. The key is the buyer's own: another buyer using the same key gets their own order,
/// never the first buyer's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_requests_make_one_order_and_keys_belong_to_their_buyer() {
    let f = fixture(20).await;
    // A gateway slow enough that the replays arrive while the first request is still at it.
    f.payments
        .latency_ms
        .store(500, std::sync::atomic::Ordering::SeqCst);
    let body = sample_checkout_body("jakarta-fest-2026", 1, 1);
    let results = functions::testing::at_once(10, |_| {
        let app = f.app.clone();
        let body = body.clone();
        async move { send(&app, post(&body, "race-key-0000001")).await }
    })
    .await;
    let created = results
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let responses: Vec<CheckoutResponse> = results
        .iter()
        .map(|(s, _, b)| {
            assert!(s.is_success(), "{s}");
            serde_json::from_slice(b).unwrap()
        })
        .collect();
    let first = responses[0].clone();
    assert!(first.order.payment.is_some());
    assert!(
        responses.iter().all(|r| *r == first),
        "same order, token, session"
    );
    assert_eq!(
        f.payments.requests.lock().unwrap().len(),
        1,
        "one payment session"
    );
    assert_eq!(available(&f).await, 19);

    let other = sample_checkout_body("jakarta-fest-2026", 1, 2);
    let (s, _, b) = send(&f.app, post(&other, "race-key-0000001")).await;
    assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    let theirs: CheckoutResponse = serde_json::from_slice(&b).unwrap();
    assert_ne!(theirs.order.order_id, first.order.order_id);
    assert_ne!(theirs.access_token, first.access_token);
    assert_eq!(available(&f).await, 18);
}
