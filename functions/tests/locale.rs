//! Indonesian conventions against moto: an event's IANA zone is stored with it and served by the
//! public event API (`GET /v1/events/{id}`), a zone off the list is refused with nothing
//! created, and a phone typed as `0812 …` or `62 …` at checkout is stored as E.164 (read back
//! through the buyer's privacy export).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router as checkout_router, Checkout, CheckoutRequest};
use functions::privacy::{router as privacy_router, Privacy};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, RecordingSender, TestClock, TestEnv,
};
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: u64 = 1_800_000_000;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_time_zone_is_stored_served_and_checked() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    let app = checkout_router(Checkout::new(
        deps.clone(),
        Arc::new(RecordingPayments::default()),
    ));

    let mut makassar = sample_event_spec("bali-fest", 10, NOW);
    makassar.time_zone = Some("Asia/Makassar".into());
    functions::admin::create_event(&deps, &makassar)
        .await
        .expect("event in WITA");
    functions::admin::create_event(&deps, &sample_event_spec("jkt-fest", 10, NOW))
        .await
        .expect("event without a zone");

    let (status, view) = call(&app, "GET", "/v1/events/bali-fest", None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["time_zone"], "Asia/Makassar");
    let (_, view) = call(&app, "GET", "/v1/events/jkt-fest", None).await;
    assert_eq!(view["time_zone"], "Asia/Jakarta", "the default zone");

    for bad in ["Europe/London", "WITA", "asia/makassar", ""] {
        let mut spec = sample_event_spec("bad-zone", 10, NOW);
        spec.time_zone = Some(bad.into());
        let err = functions::admin::create_event(&deps, &spec)
            .await
            .expect_err(bad);
        assert_eq!(err.problem().field.as_deref(), Some("time_zone"), "{bad:?}");
        let (status, _) = call(&app, "GET", "/v1/events/bad-zone", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad:?}: nothing created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_typed_the_indonesian_way_is_stored_as_e164() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
        .await
        .expect("event");
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let sender = Arc::new(RecordingSender::default());
    let privacy = privacy_router(Privacy::new(deps.clone(), env.store(), sender.clone()));

    let typed = [
        ("0812-3456-7890", 1),
        ("62 812 3456 7891", 2),
        ("+62 (0)812 3456 7892", 3),
    ];
    for (phone, n) in typed {
        let mut body = sample_checkout_body("fest", 1, n);
        body["buyer"]["phone"] = json!(phone);
        let req: CheckoutRequest = serde_json::from_value(body).expect("body");
        checkout
            .create_order(&format!("phone-key-{n}"), &req)
            .await
            .expect(phone);
    }
    // A number in none of the forms is refused before anything is written.
    let mut body = sample_checkout_body("fest", 1, 9);
    body["buyer"]["phone"] = json!("812 3456 7899");
    let req: CheckoutRequest = serde_json::from_value(body).expect("body");
    let err = checkout
        .create_order("phone-key-9", &req)
        .await
        .expect_err("no prefix");
    assert_eq!(err.problem().field.as_deref(), Some("buyer.phone"));

    for (phone, n) in typed {
        let email = sample_checkout_body("fest", 1, n)["buyer"]["email"].clone();
        let (status, body) = call(
            &privacy,
            "POST",
            "/v1/privacy/challenge",
            Some(&json!({"email": email})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let code = sender
            .sent
            .lock()
            .expect("lock")
            .last()
            .expect("code sent")
            .params["code"]
            .clone();
        let proof = json!({"email": email, "challenge": body["challenge"], "code": code});
        let (status, export) = call(&privacy, "POST", "/v1/privacy/export", Some(&proof)).await;
        assert_eq!(status, StatusCode::OK, "{export}");
        let want = format!("+6281234567{}", 889 + n);
        assert_eq!(
            export["orders"][0]["buyer"]["phone"],
            want.as_str(),
            "typed {phone:?}"
        );
    }
}
