//! Logs carry no personal data: a whole flow (checkout, rejected input, mint, notify with the
//! logging sender, the privacy flow where an address and a one-time code meet) is run with every
//! log line captured, then searched for the buyer's details, tokens and codes.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use functions::checkout::{router, Checkout, CheckoutResponse};
use functions::mint::Minter;
use functions::model::PaymentRecord;
use functions::notify::{LoggingSender, Notifier};
use functions::ports::{MintMessage, Notification, NotificationSender};
use functions::privacy::{router as privacy_router, Privacy};
use functions::testing::{
    contains_bytes, pump, sample_buyer, sample_checkout_body, sample_event_spec, RecordingPayments,
    RecordingSender, TestClock, TestEnv,
};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// current_thread: every task runs on this thread, under the capturing subscriber.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one flow, in order, under one capture
async fn no_personal_data_in_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
        .await
        .unwrap();
    let app = router(Checkout::new(
        deps.clone(),
        Arc::new(RecordingPayments::default()),
    ));
    let post = |body: &serde_json::Value, key: &str| {
        Request::post("/v1/orders")
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let res = app
        .clone()
        .oneshot(post(&sample_checkout_body("fest", 2, 1), "log-key-00001"))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: CheckoutResponse = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    // Rejected input that carries personal data.
    let mut bad = sample_checkout_body("fest", 9, 1);
    bad["buyer"]["phone"] = serde_json::json!("+62 not a phone");
    let res = app
        .clone()
        .oneshot(post(&bad, "log-key-00002"))
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a bad phone is refused");
    let mut bad = sample_checkout_body("fest", 1, 1);
    bad["buyer"]["name"] = serde_json::json!(12);
    let res = app
        .clone()
        .oneshot(post(&bad, "log-key-00003"))
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a name of the wrong type is refused");

    deps.orders
        .mark_paid(
            &created.order.order_id,
            &PaymentRecord {
                provider: "stripe".into(),
                provider_ref: "pi_logs".into(),
                amount_minor: created.order.total.amount_minor,
                currency: "IDR".into(),
                paid_at: NOW,
                payment_id: None,
            },
        )
        .await
        .unwrap();
    Minter::new(deps.clone())
        .mint_order(&MintMessage {
            order_id: created.order.order_id.clone(),
            event_id: "fest".into(),
        })
        .await
        .unwrap();
    let notifier = Arc::new(Notifier::new(deps.clone(), Arc::new(LoggingSender)));
    pump(
        &env.clients,
        &env.notify,
        |e| {
            let n = notifier.clone();
            async move { n.handle(e).await }
        },
        10,
    )
    .await;

    // The privacy flow: a code sent (through the logging sender), a wrong code, the right one.
    let code = privacy_flow(&env, &deps).await;

    let captured = logs.0.lock().unwrap().clone();
    assert!(
        contains_bytes(&captured, "privacy code refused"),
        "the privacy flow was logged"
    );
    assert!(contains_bytes(&captured, "reserved"), "the flow was logged");
    assert!(
        contains_bytes(&captured, "notification sent"),
        "the sender logged"
    );
    let buyer = sample_buyer(1);
    for needle in [
        buyer["name"].as_str().unwrap(),
        buyer["email"].as_str().unwrap(),
        buyer["email"].as_str().unwrap().split('@').next().unwrap(),
        &buyer["phone"].as_str().unwrap()[1..],
        "Siti Rahmawati",
        &created.access_token,
        &code,
    ] {
        assert!(
            !contains_bytes(&captured, needle),
            "{needle:?} found in the logs"
        );
    }
}

/// Records what is sent (to learn the code) and logs it as production's logging sender does.
#[derive(Default)]
struct RecordingAndLogging(RecordingSender);

#[async_trait::async_trait]
impl NotificationSender for RecordingAndLogging {
    async fn send(&self, n: &Notification) -> functions::error::Result<()> {
        self.0.send(n).await?;
        LoggingSender.send(n).await
    }
}

/// Buyer 1 asks for a code, tries a wrong one (401), then exports with the right one (200).
/// Returns the code, to search the logs for it.
async fn privacy_flow(env: &TestEnv, deps: &functions::deps::Deps) -> String {
    let sender = Arc::new(RecordingAndLogging::default());
    let app = privacy_router(Privacy::new(deps.clone(), env.store(), sender.clone()));
    let email = sample_buyer(1)["email"].as_str().unwrap().to_owned();
    let call = |path: &'static str, body: serde_json::Value| {
        let app = app.clone();
        async move {
            let res = app
                .oneshot(
                    Request::post(path)
                        .header("content-type", "application/json")
                        .body(Body::from(body.to_string()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (status, challenge) =
        call("/v1/privacy/challenge", serde_json::json!({"email": email})).await;
    assert_eq!(status, 202);
    let code = sender.0.sent.lock().unwrap().last().unwrap().params["code"].clone();
    let wrong = if code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let proof = |c: &str| serde_json::json!({"email": email, "challenge": challenge["challenge"], "code": c});
    assert_eq!(call("/v1/privacy/export", proof(wrong)).await.0, 401);
    let (status, export) = call("/v1/privacy/export", proof(&code)).await;
    assert_eq!(status, 200, "{export}");
    code
}
