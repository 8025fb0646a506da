//! The fraud defences against moto: blacklists (email, phone, card per provider, IP/CIDR,
//! device) managed through admin routes with a console token and the staff log, checked at
//! checkout (refused, nothing reserved) and when a payment notification reveals the card (the
//! order held, never minted, idempotently); risk rules (device reuse, bulk, country, failed
//! payments) scored, stored with reasons and listed for admins; counters exact under
//! concurrency; nothing personal at rest.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use axum::http::StatusCode;
use functions::gateway::PaymentStatus;
use functions::model::OrderStatus;
use functions::ports::{Clock as _, Topic};
use functions::staff::Role;
use functions::testing::{at_once, contains_bytes, sample_buyer, sample_checkout_body};
use serde_json::{json, Value};

#[path = "common/fraud_world.rs"]
mod common;

use common::{
    admin, available, buyer_body, callback, checkout, console_token, midtrans_order, mint_messages,
    notify, staff_log, world, world_with, Client, EVENT, HOME, NOW,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_blacklisted_email_phone_network_and_device_cannot_reserve() {
    let w = world().await;
    let token = console_token(&w, "adm-all", Role::Admin, &["*"]).await;
    for (kind, value) in [
        ("email", "sitirahma9001@gmail.com"),
        ("phone", "0812-9999-0001"),
        ("ip", "203.0.113.0/24"),
        ("device", "dev-farm-000001"),
    ] {
        let (status, body) = admin(
            &w,
            "POST",
            "/v1/fraud/blacklist",
            Some(&token),
            Some(json!({"kind": kind, "value": value, "reason": "bot farm, 2026-11 sale"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
    }
    let stock = available(&w).await;
    let orders = w.env.count_items("order").await;
    // Each attempt is another spelling of a listed value.
    let attempts: [(&str, Value, Client); 4] = [
        (
            "email (dots, plus tag, googlemail)",
            buyer_body(1, Some("Siti.Rahma9001+flash@googlemail.com"), None),
            HOME,
        ),
        (
            "phone (E.164)",
            buyer_body(2, None, Some("+6281299990001")),
            HOME,
        ),
        (
            "address inside the network",
            buyer_body(3, None, None),
            Client {
                ip: "203.0.113.77",
                ..HOME
            },
        ),
        (
            "device",
            buyer_body(4, None, None),
            Client {
                device: Some("dev-farm-000001"),
                ..HOME
            },
        ),
    ];
    for (i, (what, body, client)) in attempts.iter().enumerate() {
        let (status, problem) = checkout(&w.app, *client, &format!("bl-key-{i:04}"), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {problem}");
        assert_eq!(
            problem["type"], "urn:karcis:problem:order-refused",
            "{what}"
        );
        assert!(
            !problem["detail"].as_str().unwrap().contains("blacklist"),
            "the refusal does not say which rule: {problem}"
        );
    }
    assert_eq!(available(&w).await, stock, "stock untouched");
    assert_eq!(w.env.count_items("order").await, orders, "no order created");
    // Another buyer from another network buys.
    let (status, body) = checkout(&w.app, HOME, "bl-key-good", &buyer_body(5, None, None)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(available(&w).await, stock - 1);
    // Each refusal is a stored, flagged decision with its reason, visible to admins.
    let (status, flagged) = admin(&w, "GET", "/v1/fraud/flagged", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let mut codes: Vec<String> = flagged["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["outcome"], "block");
            d["reasons"][0]["code"].as_str().unwrap().to_owned()
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "blacklist_device",
            "blacklist_email",
            "blacklist_ip",
            "blacklist_phone"
        ]
    );
    // The listed values and the refused buyers' details are nowhere in the table in clear
    // (entries, decisions and counters are keyed by the keyed blind index), in any spelling.
    let items = w.env.raw_items().await;
    for needle in [
        "sitirahma9001",
        "Siti.Rahma9001",
        "+6281299990001",
        "0812-9999-0001",
        "81299990001",
        "203.0.113",
        "dev-farm-000001",
    ] {
        let found = items.iter().filter(|i| contains_bytes(i, needle)).count();
        assert_eq!(found, 0, "{needle} is stored in clear in {found} item(s)");
    }
    // An entry past its expiry no longer blocks.
    w.clock.advance(91 * 86_400);
    let (status, _) = checkout(
        &w.app,
        HOME,
        "bl-key-later",
        &buyer_body(1, Some("sitirahma9001@gmail.com"), None),
    )
    .await;
    assert_ne!(
        status,
        StatusCode::FORBIDDEN,
        "expired entries do not block"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blacklist_routes_need_an_admin_of_every_event_and_write_the_staff_log() {
    let w = world().await;
    let all = console_token(&w, "adm-all", Role::Admin, &["*"]).await;
    let one = console_token(&w, "adm-fest", Role::Admin, &[EVENT]).await;
    let finance = console_token(&w, "fin-fest", Role::Finance, &[EVENT]).await;
    let entry = json!({"kind": "card", "provider": "midtrans", "value": "481111-1114",
                       "reason": "chargeback", "ttl_secs": 86_400});
    let post = |t: Option<String>, b: Value| {
        let w = &w;
        async move { admin(w, "POST", "/v1/fraud/blacklist", t.as_deref(), Some(b)).await }
    };
    assert_eq!(post(None, entry.clone()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(Some("x.y.z".into()), entry.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(Some(finance.clone()), entry.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(Some(one.clone()), entry.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin(&w, "GET", "/v1/fraud/blacklist", Some(&one), None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Bad input: a clear 400, nothing written.
    let before = w.env.raw_items().await.len();
    for bad in [
        json!({"kind": "iban", "value": "x", "reason": "r"}),
        json!({"kind": "ip", "value": "10.0.0.0/4", "reason": "r"}),
        json!({"kind": "card", "value": "481111-1114", "reason": "r"}),
        json!({"kind": "email", "value": "a@example.com", "reason": ""}),
        json!({"kind": "email", "value": "a@example.com", "reason": "r", "ttl_secs": 10}),
        json!({"kind": "email", "value": "a@example.com", "reason": "r", "extra": 1}),
    ] {
        let (status, body) = post(Some(all.clone()), bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        w.env.raw_items().await.len(),
        before,
        "refused requests write nothing"
    );

    let (status, added) = post(Some(all.clone()), entry.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let id = added["entry"]["id"].as_str().unwrap().to_owned();
    assert_eq!(added["entry"]["added_by"], "adm-all");
    assert_eq!(added["entry"]["expires_at"], NOW + 86_400);
    let (status, list) = admin(&w, "GET", "/v1/fraud/blacklist?limit=10", Some(&all), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["entries"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains("481111"),
        "the list shows no value: {list}"
    );
    for raw in w.env.raw_items().await {
        assert!(
            !contains_bytes(&raw, "481111-1114"),
            "card reference in clear at rest"
        );
    }
    assert_eq!(
        admin(&w, "GET", "/v1/fraud/blacklist?limit=0", Some(&all), None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let path = format!("/v1/fraud/blacklist/{id}");
    assert_eq!(
        admin(&w, "DELETE", &path, Some(&one), None).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, removed) = admin(&w, "DELETE", &path, Some(&all), None).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(
        admin(&w, "DELETE", &path, Some(&all), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin(&w, "DELETE", "/v1/fraud/blacklist/nope", Some(&all), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let log: Vec<(String, String)> = staff_log(&w)
        .await
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("blacklist"))
        .map(|r| {
            assert_eq!(r["subject"], id.as_str());
            assert!(!r.to_string().contains("481111"));
            (
                r["action"].as_str().unwrap().to_owned(),
                r["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            ("blacklist_added".to_owned(), "adm-all".to_owned()),
            ("blacklist_removed".to_owned(), "adm-all".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_blacklisted_card_pays_and_the_order_is_held_not_minted() {
    let w = world().await;
    let token = console_token(&w, "adm-all", Role::Admin, &["*"]).await;
    let (status, _) = admin(
        &w,
        "POST",
        "/v1/fraud/blacklist",
        Some(&token),
        Some(json!({"kind": "card", "provider": "midtrans", "value": "481111-1114", "reason": "stolen card"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let app = callback(&w);
    let held = midtrans_order(&w, 1).await;
    let fine = midtrans_order(&w, 2).await;
    assert!(w.stub.payments().set_card(&held, "481111-1114"));
    assert!(w.stub.payments().set_card(&fine, "410505-1467"));
    for o in [&held, &fine] {
        assert!(w.stub.set_status(o, PaymentStatus::Paid));
    }
    // The paid notification, delivered three times (retries) and twice at once.
    assert_eq!(
        notify(&app, w.clock.now(), &held, PaymentStatus::Paid, "e-held").await,
        StatusCode::OK
    );
    assert_eq!(
        notify(&app, w.clock.now(), &held, PaymentStatus::Paid, "e-held").await,
        StatusCode::OK
    );
    let both = at_once(2, |_| {
        let (app, now, held) = (app.clone(), w.clock.now(), held.clone());
        async move { notify(&app, now, &held, PaymentStatus::Paid, "e-held-2").await }
    })
    .await;
    assert!(both.iter().all(|s| *s == StatusCode::OK), "{both:?}");
    assert_eq!(
        notify(&app, w.clock.now(), &fine, PaymentStatus::Paid, "e-fine").await,
        StatusCode::OK
    );

    let stored = w.deps.orders.get_order(&held).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Paid, "the money is recorded");
    assert!(w.deps.fraud.is_held(&held).await.unwrap());
    let mints = mint_messages(&w).await;
    assert!(
        !mints.iter().any(|m| m.contains(held.as_str())),
        "held order queued for mint: {mints:?}"
    );
    assert!(
        mints.iter().any(|m| m.contains(fine.as_str())),
        "the other card's order is minted"
    );
    let (_, flagged) = admin(&w, "GET", "/v1/fraud/flagged", Some(&token), None).await;
    let holds: Vec<&Value> = flagged["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["stage"] == "payment")
        .collect();
    assert_eq!(
        holds.len(),
        1,
        "one decision however often notified: {flagged}"
    );
    assert_eq!(holds[0]["order_id"], held.as_str());
    assert_eq!(holds[0]["outcome"], "hold");
    assert_eq!(holds[0]["reasons"][0]["code"], "blacklist_card");
    let _ = Topic::Mint;
}

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
