//! Checkout of an event in queue mode against moto: only a valid, unexpired admission of the
//! waiting room for this event, spent once (one conditional write), makes an order. Attacks: no
//! admission, a forged one, another event's, an expired one, a used one, one admission fired by
//! many buyers at once. Each refusal is a clear problem and reserves nothing; an idempotent retry
//! of the admitted order still answers; an event not in queue mode is unchanged.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use functions::checkout::{router, Checkout};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};
use functions::Problem;
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const QUEUED: &str = "fest-queued";
const OTHER: &str = "fest-queued-2";
const OPEN: &str = "fest-open";

fn edge_key() -> SigningKey {
    SigningKey::from_slice(&[0x5a; 32]).unwrap()
}

fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_encoded_point(false).as_bytes())
}

/// An admission as the edge signs it (`edge-worker/src/queue_token.rs`).
fn admission(key: &SigningKey, event_id: &str, jti: &str, exp: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"iss": "karcis-waiting-room", "aud": "karcis-checkout",
            "event_id": event_id, "place": 1, "jti": jti, "iat": exp - 600, "exp": exp})
        .to_string(),
    );
    let input = format!("{header}.{claims}");
    let sig: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

fn valid(jti: &str) -> String {
    admission(&edge_key(), QUEUED, jti, NOW + 300)
}

struct Fixture {
    app: axum::Router,
    checkout: Checkout,
}

async fn fixture(public_key: Option<String>) -> Fixture {
    let env = TestEnv::with_config(|c| {
        c.waiting_room_public_key =
            public_key.map(|k| functions::sale::admission::parse_public_key(&k).unwrap());
    })
    .await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    for (event_id, queue_mode) in [(QUEUED, true), (OTHER, true), (OPEN, false)] {
        let mut spec = sample_event_spec(event_id, 10, NOW);
        spec.queue_mode = queue_mode;
        functions::admin::create_event(&deps, &spec).await.unwrap();
    }
    let checkout = Checkout::new(deps, Arc::new(RecordingPayments::default()));
    Fixture {
        app: router(checkout.clone()),
        checkout,
    }
}

fn order(event_id: &str, buyer: u32, admission: Option<&str>) -> serde_json::Value {
    let mut body = sample_checkout_body(event_id, 2, buyer);
    if let Some(a) = admission {
        body["admission"] = serde_json::json!(a);
    }
    body
}

async fn post(app: &axum::Router, body: &serde_json::Value, key: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, body.to_vec())
}

/// The problem's slug, after checking it is a problem document with the response's status.
fn slug(status: StatusCode, body: &[u8]) -> String {
    let p: Problem = serde_json::from_slice(body).expect("a problem document");
    assert_eq!(p.status, status.as_u16());
    p.r#type
        .trim_start_matches("urn:karcis:problem:")
        .to_owned()
}

async fn available(f: &Fixture, event_id: &str) -> u32 {
    f.checkout.event_view(event_id).await.unwrap().tiers[0].available
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_valid_admission_nothing_is_reserved() {
    let f = fixture(Some(public_hex(&edge_key()))).await;
    let view = f.checkout.event_view(QUEUED).await.unwrap();
    assert!(view.queue_mode, "the site learns the event is queued");
    let stranger = SigningKey::from_slice(&[0x11; 32]).unwrap();
    let cases = [
        (None, StatusCode::FORBIDDEN, "admission-required"),
        (
            Some(String::new()),
            StatusCode::FORBIDDEN,
            "admission-required",
        ),
        (
            Some(admission(&stranger, QUEUED, "forged0001", NOW + 300)),
            StatusCode::FORBIDDEN,
            "admission-invalid",
        ),
        (
            Some(admission(&edge_key(), OTHER, "other0001", NOW + 300)),
            StatusCode::FORBIDDEN,
            "admission-invalid",
        ),
        (
            Some(admission(&edge_key(), QUEUED, "expired01", NOW - 10)),
            StatusCode::FORBIDDEN,
            "admission-expired",
        ),
        (
            Some("not.a.jws".to_owned()),
            StatusCode::FORBIDDEN,
            "admission-invalid",
        ),
    ];
    for (i, (a, status, expected)) in cases.iter().enumerate() {
        let (got, body) = post(
            &f.app,
            &order(QUEUED, 1, a.as_deref()),
            &format!("key-refused-{i}"),
        )
        .await;
        assert_eq!(got, *status, "case {i}: {}", String::from_utf8_lossy(&body));
        assert_eq!(slug(got, &body), *expected, "case {i}");
    }
    assert_eq!(available(&f, QUEUED).await, 10, "nothing reserved");
    // A refused attempt spent nothing: the forged one's jti, signed properly, still works.
    let (status, _) = post(
        &f.app,
        &order(QUEUED, 1, Some(&valid("forged0001"))),
        "key-after",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(available(&f, QUEUED).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admission_makes_one_order_and_its_retry_still_answers() {
    let f = fixture(Some(public_hex(&edge_key()))).await;
    let a = valid("place0001");
    let (status, first) = post(&f.app, &order(QUEUED, 1, Some(&a)), "key-buyer-1").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&first)
    );
    // The same order retried (same buyer, same key): the same answer.
    let (status, again) = post(&f.app, &order(QUEUED, 1, Some(&a)), "key-buyer-1").await;
    assert_eq!(status, StatusCode::OK);
    let id = |b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(b).unwrap()["order"]["order_id"].clone()
    };
    assert_eq!(id(&again), id(&first));
    // Another key, or another buyer: the admission is spent.
    for (buyer, key) in [(1, "key-buyer-1b"), (2, "key-buyer-2")] {
        let (status, body) = post(&f.app, &order(QUEUED, buyer, Some(&a)), key).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(slug(status, &body), "admission-used");
    }
    assert_eq!(available(&f, QUEUED).await, 8, "one order's tickets only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_admission_fired_by_many_buyers_at_once_makes_exactly_one_order() {
    let f = fixture(Some(public_hex(&edge_key()))).await;
    let a = valid("burst0001");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..16u32 {
        let app = f.app.clone();
        let body = order(QUEUED, 100 + n, Some(&a));
        tasks.spawn(async move { post(&app, &body, &format!("key-burst-{n}")).await });
    }
    let answers = tasks.join_all().await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::CONFLICT);
        assert_eq!(slug(*status, body), "admission-used");
    }
    assert_eq!(available(&f, QUEUED).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_not_in_queue_mode_are_unchanged_and_queue_mode_fails_closed_without_a_key() {
    let f = fixture(None).await;
    assert!(!f.checkout.event_view(OPEN).await.unwrap().queue_mode);
    let (status, _) = post(&f.app, &order(OPEN, 1, None), "key-open-1").await;
    assert_eq!(status, StatusCode::CREATED);
    // No public key configured: a queued event sells nothing, whatever is presented.
    let (status, body) = post(
        &f.app,
        &order(QUEUED, 2, Some(&valid("nokey0001"))),
        "key-nokey",
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(slug(status, &body), "internal");
    assert_eq!(available(&f, QUEUED).await, 10);
}
