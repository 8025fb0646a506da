//! The guard of checkout and privacy challenges against moto and a siteverify stub: the
//! per-client rate limit under concurrency (6 at once from one client -> exactly 5 pass), its
//! `429` with `Retry-After`, and the Turnstile check (single use, host name, action, the dev
//! placeholder, failing closed or open).

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use functions::captcha::stub::SiteverifyStub;
use functions::captcha::{Captcha, Turnstile, TurnstileConfig};
use functions::checkout::{router, Checkout};
use functions::deps::Deps;
use functions::guard::{Guard, RatePolicy};
use functions::ports::{KeyPurpose, Keys as _};
use functions::privacy::Privacy;
use functions::testing::{
    at_once, contains_bytes, sample_checkout_body, sample_event_spec, RecordingPayments,
    RecordingSender, TestClock, TestEnv,
};
use serde_json::{json, Value};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_010;
const SECRET: &str = "0x4AAAAAAAstub-secret";
const SITE: &str = "tiket.karcis.test";

struct Fixture {
    env: TestEnv,
    deps: Deps,
}

async fn fixture() -> Fixture {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 100, NOW))
        .await
        .unwrap();
    Fixture { env, deps }
}

fn policy() -> RatePolicy {
    RatePolicy {
        limit: 5,
        window_secs: 60,
    }
}

/// A request as API Gateway delivers it.
struct Call<'a> {
    path: &'a str,
    ip: &'a str,
    device: Option<&'a str>,
    token: Option<&'a str>,
    key: String,
    body: Value,
}

async fn send(app: &axum::Router, c: &Call<'_>) -> (StatusCode, Option<String>, Value) {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/checkout-post-order.json")).unwrap();
    event["rawPath"] = json!(c.path);
    event["requestContext"]["http"]["path"] = json!(c.path);
    event["requestContext"]["http"]["sourceIp"] = json!(c.ip);
    event["headers"]["idempotency-key"] = json!(c.key);
    if let Some(d) = c.device {
        event["headers"]["x-karcis-device"] = json!(d);
    }
    if let Some(t) = c.token {
        event["headers"]["cf-turnstile-response"] = json!(t);
    }
    event["body"] = json!(c.body.to_string());
    let req = functions::http::request_from_event(&event.to_string()).unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        retry_after,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn order_call<'a>(
    n: u32,
    ip: &'a str,
    device: Option<&'a str>,
    token: Option<&'a str>,
) -> Call<'a> {
    Call {
        path: "/v1/orders",
        ip,
        device,
        token,
        key: format!("guard-key-{n:06}"),
        body: sample_checkout_body("fest", 1, n),
    }
}

fn checkout_app(f: &Fixture, guard: Option<Guard>) -> axum::Router {
    let c = Checkout::new(f.deps.clone(), Arc::new(RecordingPayments::default()));
    router(match guard {
        Some(g) => c.with_guard(g),
        None => c,
    })
}

/// Six orders fired at once from one client (address + device).
async fn burst(
    app: &axum::Router,
    first: u32,
    ip: &'static str,
    device: &'static str,
) -> Vec<(StatusCode, Option<String>, Value)> {
    at_once(6, |i| {
        let app = app.clone();
        async move {
            let n = first + u32::try_from(i).unwrap();
            send(&app, &order_call(n, ip, Some(device), None)).await
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_concurrent_checkouts_from_one_client_exactly_five_pass() {
    let f = fixture().await;
    // The attack on the code as it was (no guard): all six go through.
    let open = checkout_app(&f, None);
    let results = burst(&open, 9_000, "203.0.113.7", "dev-attack-000001").await;
    assert_eq!(
        results
            .iter()
            .filter(|r| r.0 == StatusCode::CREATED)
            .count(),
        6,
        "{results:?}"
    );

    let app = checkout_app(&f, Some(Guard::new(policy(), None)));
    let results = burst(&app, 9_100, "203.0.113.7", "dev-client-000001").await;
    let created = results
        .iter()
        .filter(|r| r.0 == StatusCode::CREATED)
        .count();
    let limited: Vec<_> = results
        .iter()
        .filter(|r| r.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!((created, limited.len()), (5, 1), "{results:?}");
    let (_, retry_after, problem) = limited[0];
    // NOW is 10 s into its minute: 50 s left.
    assert_eq!(retry_after.as_deref(), Some("50"));
    assert_eq!(problem["type"], "urn:karcis:problem:rate-limited");
    assert_eq!(problem["status"], 429);

    // Another device behind the same address, and another address, are other clients.
    let (s, _, _) = send(
        &app,
        &order_call(9_200, "203.0.113.7", Some("dev-client-000002"), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _, _) = send(
        &app,
        &order_call(9_201, "198.51.100.9", Some("dev-client-000001"), None),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // A malformed device id is refused, not a free new client.
    let (s, _, p) = send(
        &app,
        &order_call(9_202, "203.0.113.7", Some("bad device"), None),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
    // The counters hold no address or device in clear.
    for item in f.env.raw_items().await {
        for needle in ["203.0.113.7", "198.51.100.9", "dev-client-000001"] {
            assert!(!contains_bytes(&item, needle), "plaintext {needle} at rest");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_concurrent_privacy_challenges_from_one_client_exactly_five_pass() {
    let f = fixture().await;
    let privacy = Privacy::new(
        f.deps.clone(),
        f.env.store(),
        Arc::new(RecordingSender::default()),
    )
    .with_guard(Guard::new(policy(), None));
    let app = functions::privacy::router(privacy);
    let results = at_once(6, |i| {
        let app = app.clone();
        async move {
            let c = Call {
                path: "/v1/privacy/challenge",
                ip: "203.0.113.8",
                device: Some("dev-privacy-00001"),
                token: None,
                key: String::new(),
                body: json!({"email": format!("someone{i}@example.org")}),
            };
            send(&app, &c).await
        }
    })
    .await;
    let passed = results
        .iter()
        .filter(|r| r.0 == StatusCode::ACCEPTED)
        .count();
    let limited = results
        .iter()
        .filter(|r| r.0 == StatusCode::TOO_MANY_REQUESTS && r.1.is_some())
        .count();
    assert_eq!((passed, limited), (5, 1), "{results:?}");
}

fn turnstile(url: &str, fail_open: bool, timeout_ms: u64) -> Arc<dyn Captcha> {
    let config = TurnstileConfig {
        url: url.to_owned(),
        secret: functions::gateway::Secret::new(SECRET),
        hostnames: vec![SITE.to_owned()],
        fail_open,
    };
    let transport = functions::gateway::transport::HyperTransport::new(
        std::time::Duration::from_millis(timeout_ms),
    )
    .unwrap();
    Arc::new(Turnstile::new(config, transport).unwrap())
}

fn captcha_guard(captcha: Arc<dyn Captcha>) -> Guard {
    Guard::new(
        RatePolicy {
            limit: 1000,
            window_secs: 60,
        },
        Some(captcha),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_needs_a_fresh_turnstile_token_for_this_site_and_action() {
    let f = fixture().await;
    let stub = SiteverifyStub::start(SECRET).await.unwrap();
    let ip = "192.0.2.10";
    let dev = Some("dev-captcha-00001");
    // The attack on the code as it was (the token never checked): no token, an order.
    let (s, _, _) = send(&checkout_app(&f, None), &order_call(9_299, ip, dev, None)).await;
    assert_eq!(s, StatusCode::CREATED);
    let app = checkout_app(
        &f,
        Some(captcha_guard(turnstile(&stub.url(), false, 5_000))),
    );

    // No token, the site's dev placeholder: refused, and siteverify is not even asked.
    for token in [None, Some("dev-placeholder")] {
        let (s, _, p) = send(&app, &order_call(9_300, ip, dev, token)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        assert_eq!(p["type"], "urn:karcis:problem:captcha-failed");
    }
    assert_eq!(stub.calls(), 0);
    // A token nobody issued.
    let (s, _, _) = send(
        &app,
        &order_call(9_300, ip, dev, Some("0.forged.token-000000000000")),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A real token: admitted once; the same checkout retried (same Idempotency-Key) replays.
    let token = stub.issue(SITE, "checkout");
    let (s, _, p) = send(&app, &order_call(9_301, ip, dev, Some(&token))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, _, _) = send(&app, &order_call(9_301, ip, dev, Some(&token))).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a retry of the same checkout gets the same answer"
    );
    // The same token for another order: used.
    let (s, _, p) = send(&app, &order_call(9_302, ip, dev, Some(&token))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");

    // Solved on another site, or for another form.
    let other_site = stub.issue("evil.example", "checkout");
    let (s, _, _) = send(&app, &order_call(9_303, ip, dev, Some(&other_site))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other_form = stub.issue(SITE, "privacy");
    let (s, _, _) = send(&app, &order_call(9_304, ip, dev, Some(&other_form))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Only the unguarded order and the admitted one exist.
    assert_eq!(f.env.count_items("order").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn siteverify_down_fails_closed_unless_the_operator_chose_open() {
    let f = fixture().await;
    let stub = SiteverifyStub::start(SECRET).await.unwrap();
    stub.stall(true);
    let ip = "192.0.2.11";
    let dev = Some("dev-captcha-00002");
    let closed = checkout_app(&f, Some(captcha_guard(turnstile(&stub.url(), false, 300))));
    let token = stub.issue(SITE, "checkout");
    let (s, _, p) = send(&closed, &order_call(9_400, ip, dev, Some(&token))).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{p}");
    assert_eq!(f.env.count_items("order").await, 0);

    let open = checkout_app(&f, Some(captcha_guard(turnstile(&stub.url(), true, 300))));
    let (s, _, p) = send(&open, &order_call(9_401, ip, dev, Some(&token))).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    // Fail open admits an unreachable check, never a refused one.
    stub.stall(false);
    let (s, _, _) = send(&open, &order_call(9_402, ip, dev, Some("dev-placeholder"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A wrong secret is the operator's error: 500, nothing written.
    let wrong = TurnstileConfig {
        url: stub.url(),
        secret: functions::gateway::Secret::new("0x4AAAAAAAwrong"),
        hostnames: vec![SITE.to_owned()],
        fail_open: true,
    };
    let t = Turnstile::new(
        wrong,
        functions::gateway::transport::HyperTransport::new(std::time::Duration::from_secs(5))
            .unwrap(),
    )
    .unwrap();
    let app = checkout_app(&f, Some(captcha_guard(Arc::new(t))));
    let token = stub.issue(SITE, "checkout");
    let (s, _, _) = send(&app, &order_call(9_403, ip, dev, Some(&token))).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(f.env.count_items("order").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_check_cannot_be_off_on_lambda() {
    let env = TestEnv::new().await;
    let keys = env.keys();
    let on_lambda =
        |k: &str| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "karcis-checkout".to_owned());
    assert!(functions::captcha::from_lookup(keys.as_ref(), on_lambda)
        .await
        .is_err());
    assert!(functions::captcha::from_lookup(keys.as_ref(), |_| None)
        .await
        .unwrap()
        .is_none());
    // The secret is KMS ciphertext for its own purpose only.
    let wrapped = keys
        .encrypt(&KeyPurpose::CaptchaSecret, SECRET.as_bytes())
        .await
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&wrapped);
    let configured = |k: &str| match k {
        "TURNSTILE_SECRET" => Some(b64.clone()),
        "TURNSTILE_HOSTNAMES" => Some(SITE.to_owned()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("karcis-checkout".to_owned()),
        _ => None,
    };
    assert!(functions::captcha::from_lookup(keys.as_ref(), configured)
        .await
        .unwrap()
        .is_some());
    let other = keys
        .encrypt(&KeyPurpose::GatewaySecrets, SECRET.as_bytes())
        .await
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&other);
    let wrong_purpose = |k: &str| match k {
        "TURNSTILE_SECRET" => Some(b64.clone()),
        "TURNSTILE_HOSTNAMES" => Some(SITE.to_owned()),
        _ => None,
    };
    assert!(
        functions::captcha::from_lookup(keys.as_ref(), wrong_purpose)
            .await
            .is_err()
    );
}
