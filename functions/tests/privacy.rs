//! privacy against moto: one-time codes, export, consents, crypto-shredding delete.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::privacy::{router, Privacy};
use functions::testing::{
    at_once, contains_bytes, sample_buyer, sample_checkout_body, sample_event_spec,
    RecordingPayments, RecordingSender, TestClock, TestEnv,
};
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: u64 = 1_800_000_000;

struct Fixture {
    env: TestEnv,
    deps: Deps,
    clock: Arc<TestClock>,
    sender: Arc<RecordingSender>,
    app: axum::Router,
}

impl Fixture {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let clock = Arc::new(TestClock::new(NOW));
        let deps = env.deps().with_clock(clock.clone());
        functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
            .await
            .expect("event");
        let sender = Arc::new(RecordingSender::default());
        let app = router(Privacy::new(deps.clone(), env.store(), sender.clone()));
        Fixture {
            env,
            deps,
            clock,
            sender,
            app,
        }
    }

    async fn buy(&self, n: u32, key: &str) -> String {
        let checkout = Checkout::new(self.deps.clone(), Arc::new(RecordingPayments::default()));
        let req: CheckoutRequest =
            serde_json::from_value(sample_checkout_body("fest", 1, n)).expect("body");
        checkout
            .create_order(key, &req)
            .await
            .expect("reserve")
            .response
            .order
            .order_id
    }

    async fn call(&self, method: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
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

    /// Asks for a code; returns (challenge, the code the buyer received, if one was sent).
    async fn challenge(&self, email: &str) -> (String, Option<String>) {
        let before = self.sent();
        let (status, body) = self
            .call("POST", "/v1/privacy/challenge", &json!({"email": email}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let sent = self.sender.sent.lock().expect("lock");
        let code = (sent.len() > before).then(|| {
            let n = sent.last().expect("sent");
            assert_eq!(n.template, "privacy_code");
            assert_eq!(n.recipient_email.as_str(), email);
            n.params["code"].clone()
        });
        (
            body["challenge"].as_str().expect("challenge").to_owned(),
            code,
        )
    }

    /// A request as API Gateway delivers it, from the client address `ip`.
    async fn call_from(&self, ip: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let mut event: Value =
            serde_json::from_str(include_str!("../../events/privacy/challenge.json"))
                .expect("fixture");
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["path"] = json!(path);
        event["requestContext"]["http"]["sourceIp"] = json!(ip);
        event["body"] = json!(body.to_string());
        let req = functions::http::request_from_event(&event.to_string()).expect("event");
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

    fn sent(&self) -> usize {
        self.sender.sent.lock().expect("lock").len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // the whole story of one buyer's rights, in order
async fn export_then_delete_shreds_every_copy() {
    let f = Fixture::new().await;
    let buyer = sample_buyer(7);
    let email = buyer["email"].as_str().expect("email").to_owned();
    let name = buyer["name"].as_str().expect("name").to_owned();
    let phone = buyer["phone"].as_str().expect("phone").to_owned();
    let order_a = f.buy(7, "privacy-a").await;
    let order_b = f.buy(7, "privacy-b").await;

    // An address nobody uses: the same answer, no message.
    let (_, none) = f.challenge("nobody@example.org").await;
    assert!(none.is_none());

    // Wrong code, then the right one; a code opens once.
    let (challenge, code) = f.challenge(&email).await;
    let code = code.expect("code sent");
    // The code goes to the buyer only: no table item and no queued message holds it.
    for item in f.env.raw_items().await {
        assert!(!contains_bytes(&item, &code), "one-time code at rest");
    }
    for message in f.env.peek_all_messages().await {
        assert!(!message.contains(&code), "one-time code queued");
    }
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let proof = |c: &str| json!({"email": email, "challenge": challenge, "code": c});
    let (status, _) = f.call("POST", "/v1/privacy/export", &proof(wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, export) = f.call("POST", "/v1/privacy/export", &proof(&code)).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["schema"], "karcis.privacy-export/1");
    assert_eq!(export["customer"]["email"], email.as_str());
    let orders = export["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 2);
    for o in orders {
        assert!([&order_a, &order_b].contains(&&o["order_id"].as_str().expect("id").to_owned()));
        assert_eq!(o["buyer"]["name"], name.as_str());
        assert_eq!(o["buyer"]["phone"], phone.as_str());
        assert_eq!(o["amount_minor"], 150_000);
    }
    assert_eq!(export["consents"][0]["kind"], "privacy_policy");
    let (status, _) = f.call("POST", "/v1/privacy/export", &proof(&code)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a code opens once");

    // Marketing opt-out is recorded.
    let (challenge, code) = f.challenge(&email).await;
    let (status, body) = f
        .call(
            "PUT",
            "/v1/privacy/consents",
            &json!({"email": email, "challenge": challenge, "code": code.expect("code"), "marketing": false}),
        )
        .await;
    assert_eq!(
        (status, &body["granted"]),
        (StatusCode::OK, &json!(false)),
        "{body}"
    );
    f.clock.advance(5);
    let (challenge, code) = f.challenge(&email).await;
    let (_, export) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": code.expect("code")}),
        )
        .await;
    let consents = export["consents"].as_array().expect("consents");
    assert!(
        consents
            .iter()
            .any(|c| c["kind"] == "marketing" && c["granted"] == false),
        "{export}"
    );

    // Delete.
    let (challenge, code) = f.challenge(&email).await;
    let (status, body) = f
        .call(
            "POST",
            "/v1/privacy/delete",
            &json!({"email": email, "challenge": challenge, "code": code.expect("code")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let customer_id = body["customer_id"].as_str().expect("customer").to_owned();

    // The data key is gone: no sealed copy can be opened any more.
    assert!(f.deps.pii.customer_key_by_id(&customer_id).await.is_err());
    let order = f
        .deps
        .orders
        .get_order(&order_a)
        .await
        .expect("read")
        .expect("financial record kept");
    assert_eq!(
        (order.amount_minor, order.currency.as_str()),
        (150_000, "IDR")
    );
    assert!(
        !order.buyer_sealed.is_empty(),
        "the sealed copy stays, unreadable"
    );
    // The address no longer leads anywhere: no code is sent, the export is refused.
    let (challenge, code) = f.challenge(&email).await;
    assert!(code.is_none());
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": "12345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // And nothing at rest holds the personal data in plain text.
    for item in f.env.raw_items().await {
        for secret in [&email, &name, &phone] {
            assert!(!contains_bytes(&item, secret), "plaintext {secret} at rest");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_are_bounded_and_codes_expire() {
    let f = Fixture::new().await;
    let email = email_of(8);
    f.buy(8, "privacy-c").await;
    let (challenge, code) = f.challenge(&email).await;
    let code = code.expect("code");
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    for _ in 0..5 {
        let (status, _) = f
            .call(
                "POST",
                "/v1/privacy/export",
                &json!({"email": email, "challenge": challenge, "code": wrong}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The right code no longer helps: the challenge is used up.
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (challenge, code) = f.challenge(&email).await;
    f.clock.advance(601);
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": code.expect("code")}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");

    // Malformed input: clear 4xx.
    let (status, body) = f
        .call(
            "POST",
            "/v1/privacy/challenge",
            &json!({"email": "not an email"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = f
        .call("POST", "/v1/privacy/export", &json!({"email": email}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/delete",
            &json!({"email": email, "challenge": "x.1", "code": "1"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_fixtures_reach_the_routes() {
    let f = Fixture::new().await;
    for (file, expected) in [
        (
            include_str!("../../events/privacy/challenge.json"),
            StatusCode::ACCEPTED,
        ),
        // Placeholder challenge (expired long ago) and code: refused, nothing opened.
        (
            include_str!("../../events/privacy/export.json"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            include_str!("../../events/privacy/delete.json"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            include_str!("../../events/privacy/consents.json"),
            StatusCode::UNAUTHORIZED,
        ),
    ] {
        let req = functions::http::request_from_event(file).expect("API Gateway event");
        let res = f.app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(res.status(), expected, "{file}");
    }
}

/// A code that is not `code`.
fn other_code(code: &str) -> &'static str {
    if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    }
}

/// Buyer `n`'s email address.
fn email_of(n: u32) -> String {
    sample_buyer(n)["email"].as_str().expect("email").to_owned()
}

/// `n` copies of one request fired at once (see [`at_once`]).
async fn fire(
    f: &Arc<Fixture>,
    n: usize,
    path: &'static str,
    body: Value,
) -> Vec<(StatusCode, Value)> {
    at_once(n, |_| {
        let (f, body) = (f.clone(), body.clone());
        async move { f.call("POST", path, &body).await }
    })
    .await
}

/// How many of `results` answered `status`.
fn answered(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

/// The review's attack: knowing only the buyer's email, fire the same made-up code at a
/// challenge five times at once. No request may open it, on any route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_wrong_codes_never_opens_a_challenge() {
    let f = Arc::new(Fixture::new().await);
    let email = email_of(11);
    f.buy(11, "privacy-burst").await;
    let mut opened = Vec::new();
    for (round, path) in [
        "/v1/privacy/export",
        "/v1/privacy/delete",
        "/v1/privacy/export",
    ]
    .into_iter()
    .enumerate()
    {
        let (challenge, code) = f.challenge(&email).await;
        let guess = other_code(&code.expect("code sent"));
        let body = json!({"email": email, "challenge": challenge, "code": guess});
        let results = fire(&f, 5, path, body).await;
        for (status, body) in results {
            if status == StatusCode::OK {
                opened.push((round, body));
            } else {
                assert!(
                    [StatusCode::UNAUTHORIZED, StatusCode::UNPROCESSABLE_ENTITY].contains(&status),
                    "{status}: {body}"
                );
            }
        }
    }
    assert!(opened.is_empty(), "wrong codes opened {opened:?}");
    // Still the buyer's: a fresh challenge with the real code opens it.
    let (challenge, code) = f.challenge(&email).await;
    let (status, export) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": code.expect("code")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["customer"]["email"], email.as_str());
}

/// The right code fired ten times at once opens the challenge exactly once; every wrong guess
/// before it is counted, so the fifth attempt is the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_code_fired_at_once_opens_once_and_attempts_are_counted_atomically() {
    let f = Arc::new(Fixture::new().await);
    let email = email_of(12);
    f.buy(12, "privacy-once").await;
    let (challenge, code) = f.challenge(&email).await;
    let code = code.expect("code sent");
    let body = json!({"email": email, "challenge": challenge, "code": code});
    let results = fire(&f, 10, "/v1/privacy/export", body).await;
    assert_eq!(answered(&results, StatusCode::OK), 1, "{results:?}");

    // Eight wrong guesses at once on a fresh challenge: exactly five are counted (401), the
    // rest find it spent (422), and then the right code no longer opens it.
    let (challenge, code) = f.challenge(&email).await;
    let code = code.expect("code sent");
    let guess = other_code(&code);
    let body = json!({"email": email, "challenge": challenge, "code": guess});
    let results = fire(&f, 8, "/v1/privacy/export", body).await;
    let counted = answered(&results, StatusCode::UNAUTHORIZED);
    let spent = answered(&results, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((counted, spent), (5, 3), "{results:?}");
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": email, "challenge": challenge, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A code opens only its own challenge for its own address, and the expiry written in the
/// challenge text is not the one that counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_bound_to_their_challenge_address_and_stored_expiry() {
    let f = Fixture::new().await;
    let alice = email_of(13);
    let bob = email_of(14);
    f.buy(13, "privacy-alice").await;
    f.buy(14, "privacy-bob").await;
    let (alice_challenge, alice_code) = f.challenge(&alice).await;
    let alice_code = alice_code.expect("code");
    let (bob_challenge, _) = f.challenge(&bob).await;
    // Alice's code on Bob's challenge, and Alice's challenge named with Bob's address.
    for body in [
        json!({"email": bob, "challenge": bob_challenge, "code": alice_code}),
        json!({"email": bob, "challenge": alice_challenge, "code": alice_code}),
    ] {
        let (status, _) = f.call("POST", "/v1/privacy/export", &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // Expired; the client moves the expiry in the challenge text: still expired.
    f.clock.advance(601);
    let (id, _) = alice_challenge.split_once('.').expect("shape");
    let edited = format!("{id}.{}", NOW + 100_000);
    let (status, _) = f
        .call(
            "POST",
            "/v1/privacy/export",
            &json!({"email": alice, "challenge": edited, "code": alice_code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Challenges are limited per address and per client, in 10-minute windows; every answer,
/// customer or stranger, takes at least the same floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenges_are_limited_per_address_and_client() {
    let f = Fixture::new().await;
    let email = email_of(15);
    f.buy(15, "privacy-limits").await;
    let ask = |ip: &'static str, email: String| {
        let f = &f;
        async move {
            f.call_from(ip, "/v1/privacy/challenge", &json!({"email": email}))
                .await
        }
    };
    for _ in 0..functions::privacy::CHALLENGES_PER_EMAIL {
        let (status, body) = ask("198.51.100.1", email.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let sent = f.sent();
    // The same address from another client: over the per-address limit, nothing sent.
    let (status, body) = ask("198.51.100.2", email.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["type"], "urn:karcis:problem:rate-limited");
    assert_eq!(f.sent(), sent);
    // One client, many addresses (strangers' and the customer's alike).
    let per_client = functions::privacy::CHALLENGES_PER_CLIENT;
    for n in 0..per_client {
        let (status, body) = ask("203.0.113.9", format!("stranger{n}@example.org")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let (status, _) = ask("203.0.113.9", "one.more@example.org".to_owned()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // The next window opens both again.
    f.clock.advance(functions::privacy::CHALLENGE_WINDOW_SECS);
    let (status, _) = ask("203.0.113.9", email.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(f.sent(), sent + 1);

    // The answer time does not tell a customer from a stranger: both wait for the floor.
    for who in [email.as_str(), "nobody.at.all@example.org"] {
        let started = std::time::Instant::now();
        let (status, _) = ask("192.0.2.77", who.to_owned()).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(
            started.elapsed() >= functions::privacy::CHALLENGE_ANSWER_FLOOR,
            "{who}: answered in {:?}",
            started.elapsed()
        );
    }
}
