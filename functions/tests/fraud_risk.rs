//! Risk rules against moto: device reuse across emails, bulk orders, a high-risk country, a
//! disposable address and failed payments, scored per checkout, stepped up or held, stored with
//! their reasons (no personal data) and listed for the event's admins; the windowed counters
//! exact under concurrency; retries of one order never counted again.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use axum::http::StatusCode;
use functions::gateway::PaymentStatus;
use functions::ports::Clock as _;
use functions::staff::Role;
use functions::testing::{at_once, contains_bytes, sample_buyer, sample_checkout_body};
use serde_json::{json, Value};

#[path = "common/fraud_world.rs"]
mod common;

use common::{
    admin, buyer_body, callback, checkout, console_token, notify, world, world_with, Client, EVENT,
    HOME,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_rules_step_up_then_hold_a_device_reused_across_emails() {
    let w = world().await;
    let token = console_token(&w, "adm-fest", Role::Admin, &[EVENT]).await;
    let farm = Client {
        device: Some("dev-reused-0001"),
        ..HOME
    };
    let mut statuses = Vec::new();
    for n in 1..=8 {
        let (status, body) = checkout(
            &w.app,
            farm,
            &format!("risk-key-{n:04}"),
            &buyer_body(n, None, None),
        )
        .await;
        statuses.push((
            status.as_u16(),
            body["order"]["status"].as_str().unwrap_or("-").to_owned(),
        ));
    }
    // Emails 1-3 pass; the 4th email on the device steps up (40 points); past 6 orders the
    // device is also bulk (+30 = 70): held.
    let expected: Vec<(u16, String)> = [
        (201, "reserved"),
        (201, "reserved"),
        (201, "reserved"),
        (201, "verification_required"),
        (201, "verification_required"),
        (201, "verification_required"),
        (403, "-"),
        (403, "-"),
    ]
    .iter()
    .map(|(s, o)| (*s, (*o).to_owned()))
    .collect();
    assert_eq!(statuses, expected);
    let (status, flagged) = admin(&w, "GET", "/v1/fraud/flagged", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let decisions = flagged["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 5);
    let held: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["outcome"] == "hold")
        .collect();
    assert_eq!(held.len(), 2);
    let codes: Vec<&str> = held[0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["orders_per_device", "emails_per_device"]);
    assert!(decisions
        .iter()
        .filter(|d| d["outcome"] == "step_up")
        .all(|d| d["order_id"].is_string()));
    // No personal data in the decisions or the counters.
    for n in 1..=8 {
        let email = sample_buyer(n)["email"].as_str().unwrap().to_owned();
        assert!(!flagged.to_string().contains(&email));
        for raw in w.env.raw_items().await {
            assert!(
                !contains_bytes(&raw, "dev-reused-0001"),
                "device id in clear"
            );
            assert!(!contains_bytes(&raw, "198.51.100.10"), "address in clear");
        }
    }
    // Another event's admin sees none of them.
    let other = console_token(&w, "adm-other", Role::Admin, &["other-fest"]).await;
    let (_, none) = admin(&w, "GET", "/v1/fraud/flagged", Some(&other), None).await;
    assert_eq!(none["decisions"].as_array().unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_country_and_a_disposable_address_step_up_and_together_hold() {
    let w = world_with(|c| c.risk.high_risk_countries = vec!["XA".into()]).await;
    let far = Client {
        country: Some("xa"),
        ..HOME
    };
    let (s1, b1) = checkout(&w.app, far, "cty-key-0001", &buyer_body(1, None, None)).await;
    assert_eq!(
        (s1, b1["order"]["status"].as_str()),
        (StatusCode::CREATED, Some("verification_required"))
    );
    let (s2, b2) = checkout(
        &w.app,
        HOME,
        "cty-key-0002",
        &buyer_body(2, Some("bot0002@mailinator.com"), None),
    )
    .await;
    assert_eq!(
        (s2, b2["order"]["status"].as_str()),
        (StatusCode::CREATED, Some("verification_required"))
    );
    let (s3, _) = checkout(
        &w.app,
        far,
        "cty-key-0003",
        &buyer_body(3, Some("bot0003@yopmail.com"), None),
    )
    .await;
    assert_eq!(s3, StatusCode::FORBIDDEN);
    let (s4, b4) = checkout(&w.app, HOME, "cty-key-0004", &buyer_body(4, None, None)).await;
    assert_eq!(
        (s4, b4["order"]["status"].as_str()),
        (StatusCode::CREATED, Some("reserved"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkouts_from_one_device_are_each_counted() {
    let w = world_with(|c| c.risk.orders_per_device = 1000).await;
    let results = at_once(12, |i| {
        let app = w.app.clone();
        async move {
            let client = Client {
                device: Some("dev-burst-0001"),
                ..HOME
            };
            checkout(
                &app,
                client,
                &format!("burst-key-{i:04}"),
                &buyer_body(100 + u32::try_from(i).unwrap(), None, None),
            )
            .await
            .0
        }
    })
    .await;
    assert!(
        results.iter().all(|s| *s == StatusCode::CREATED),
        "{results:?}"
    );
    let device = w
        .deps
        .pii
        .mac("risk", "device:dev-burst-0001")
        .await
        .unwrap();
    let window = w.deps.config.risk.window_secs;
    let count = w
        .deps
        .fraud
        .peek(&format!("orders#{device}"), window, w.clock.now())
        .await
        .unwrap();
    assert_eq!(count, 12, "an atomic counter loses no concurrent checkout");
    let emails = w
        .deps
        .fraud
        .distinct(&format!("emails#{device}"), window, w.clock.now())
        .await
        .unwrap();
    assert_eq!(emails, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_payments_count_once_per_notification_and_then_step_up_the_buyer() {
    let w = world_with(|c| c.risk.failed_payments = 1).await;
    let app = callback(&w);
    let mut orders = Vec::new();
    for n in [1, 2] {
        let mut body = sample_checkout_body(EVENT, 1, 7);
        body["payment_provider"] = json!("midtrans");
        let (status, created) = checkout(&w.app, HOME, &format!("fail-key-{n}"), &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        orders.push(created["order"]["order_id"].as_str().unwrap().to_owned());
    }
    for (i, o) in orders.iter().enumerate() {
        assert!(w.stub.set_status(o, PaymentStatus::Failed));
        let event = format!("e-fail-{i}");
        assert_eq!(
            notify(&app, w.clock.now(), o, PaymentStatus::Failed, &event).await,
            StatusCode::OK
        );
        // The gateway's retry of the same notification counts nothing more.
        assert_eq!(
            notify(&app, w.clock.now(), o, PaymentStatus::Failed, &event).await,
            StatusCode::OK
        );
    }
    let email = w
        .deps
        .pii
        .email_index("siti.rahma0007@example.co.id")
        .await
        .unwrap();
    let window = w.deps.config.risk.window_secs;
    assert_eq!(
        w.deps
            .fraud
            .peek(&format!("failed#{email}"), window, w.clock.now())
            .await
            .unwrap(),
        2
    );
    let mut body = sample_checkout_body(EVENT, 1, 7);
    body["payment_provider"] = json!("midtrans");
    let (status, created) = checkout(&w.app, HOME, "fail-key-3", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        created["order"]["status"], "verification_required",
        "{created}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_retries_of_one_order_are_not_counted_again_and_never_refuse_it() {
    // A buyer on a flaky connection retries the same checkout (same idempotency key). Counting
    // each retry as another order from the device would refuse the buyer their own order once
    // the device's limit is reached; the retries must replay the order and count nothing.
    let w = world_with(|c| c.risk.orders_per_device = 1).await;
    let client = Client {
        device: Some("dev-flaky-0001"),
        ..HOME
    };
    let body = buyer_body(300, None, None);
    let (first, made) = checkout(&w.app, client, "flaky-key-0001", &body).await;
    assert_eq!(first, StatusCode::CREATED, "{made}");
    for _ in 0..3 {
        let (status, again) = checkout(&w.app, client, "flaky-key-0001", &body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["order"]["order_id"], made["order"]["order_id"]);
        assert_eq!(again["order"]["status"], made["order"]["status"]);
    }
    let device = w
        .deps
        .pii
        .mac("risk", "device:dev-flaky-0001")
        .await
        .unwrap();
    let count = w
        .deps
        .fraud
        .peek(
            &format!("orders#{device}"),
            w.deps.config.risk.window_secs,
            w.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(count, 1, "one order, counted once");
}
