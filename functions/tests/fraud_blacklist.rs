//! Blacklists against moto: email, phone, card per provider, IP/CIDR and device entries managed
//! through the admin routes (console token of an admin of every event, the staff log), checked
//! at checkout (refused, nothing reserved, another spelling of a listed value included) and when
//! a payment notification reveals the card (the order held, never minted, idempotently); no
//! listed value at rest in clear. Holds' release and cancel: fraud_holds.rs.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use axum::http::StatusCode;
use functions::gateway::PaymentStatus;
use functions::model::OrderStatus;
use functions::ports::{Clock as _, Topic};
use functions::staff::Role;
use functions::testing::{at_once, contains_bytes};
use serde_json::{json, Value};

#[path = "common/fraud_world.rs"]
mod common;

use common::{
    admin, available, buyer_body, callback, checkout, console_token, midtrans_order, mint_messages,
    notify, staff_log, world, Client, EVENT, HOME, NOW,
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
