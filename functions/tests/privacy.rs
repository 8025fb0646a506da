//! privacy against moto: one-time codes, export, consents, crypto-shredding delete.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::privacy::{router, Privacy};
use functions::testing::{
    contains_bytes, sample_buyer, sample_checkout_body, sample_event_spec, RecordingPayments,
    RecordingSender, TestClock, TestEnv,
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
    let email = sample_buyer(8)["email"].as_str().expect("email").to_owned();
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
