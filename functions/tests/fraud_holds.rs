//! Orders on hold for review, against moto: the Minter itself refuses a held order (the hold
//! is checked in the minting transaction, so no queued or redelivered mint message gets
//! around it), and an admin releases (minted) or cancels (seats back to stock, the payment
//! owed back) a held order through `/v1/fraud/holds/{order_id}/...`, idempotently and once
//! under concurrency, each change written to the staff log.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use axum::http::StatusCode;
use functions::fraud::ports::Resolution;
use functions::gateway::PaymentStatus;
use functions::mint::Minter;
use functions::model::OrderStatus;
use functions::ports::{Clock as _, MintMessage};
use functions::staff::Role;
use functions::testing::{at_once, pump};
use serde_json::{json, Value};

#[path = "common/fraud_world.rs"]
mod common;

use common::{
    admin, available, callback, console_token, midtrans_order, mint_messages, notify, staff_log,
    world, World, EVENT,
};

/// A Midtrans order of buyer `n`, paid through the callback with `card`.
async fn paid_with(w: &World, app: &axum::Router, n: u32, card: &str) -> String {
    let order = midtrans_order(w, n).await;
    assert!(w.stub.payments().set_card(&order, card));
    assert!(w.stub.set_status(&order, PaymentStatus::Paid));
    assert_eq!(
        notify(
            app,
            w.clock.now(),
            &order,
            PaymentStatus::Paid,
            &format!("e-{n}")
        )
        .await,
        StatusCode::OK
    );
    order
}

/// A Midtrans order of buyer `n`, paid with a clean card: its mint is queued.
async fn paid_order(w: &World, app: &axum::Router, n: u32) -> String {
    let order = paid_with(w, app, n, "410505-1467").await;
    assert!(
        mint_messages(w).await.iter().any(|m| m.contains(&order)),
        "the mint is queued"
    );
    order
}

/// Runs the Minter over the mint queue until it is empty (bounded).
async fn run_minter(w: &World) {
    let minter = Minter::new(w.deps.clone());
    pump(&w.env.clients, &w.env.mint, |e| minter.handle(e), 20).await;
}

async fn tickets(w: &World, order: &str) -> usize {
    w.deps.tickets.order_tickets(order).await.unwrap().len()
}

async fn status(w: &World, order: &str) -> OrderStatus {
    w.deps
        .orders
        .get_order(order)
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_held_order_whose_payment_arrived_is_never_minted() {
    let w = world().await;
    let app = callback(&w);
    let order = paid_order(&w, &app, 1).await;
    // The hold lands after the callback read "not held" and queued the mint (the card check
    // of another delivery, a reviewer): the queued message must not mint it.
    w.deps.fraud.hold(&order, "rsk_review_1").await.unwrap();
    run_minter(&w).await;
    // Redeliveries and a forged message, at once.
    let msg = MintMessage {
        order_id: order.clone(),
        event_id: EVENT.into(),
    };
    let minter = std::sync::Arc::new(Minter::new(w.deps.clone()));
    let outcomes = at_once(6, |_| {
        let (minter, msg) = (minter.clone(), msg.clone());
        async move { minter.mint_order(&msg).await }
    })
    .await;
    assert!(
        outcomes.iter().all(Result::is_ok),
        "a held order is not an error to retry: {outcomes:?}"
    );
    assert_eq!(tickets(&w, &order).await, 0, "no ticket minted");
    assert_eq!(status(&w, &order).await, OrderStatus::Paid);
    assert!(w.deps.fraud.is_held(&order).await.unwrap(), "still held");
    assert!(
        !w.env
            .peek_all_messages()
            .await
            .iter()
            .any(|m| m.contains("tickets_ready") && m.contains(&order)),
        "no ticket email for a held order"
    );
}

/// Blacklists the card `481111-1114` (as `adm-all`) and pays order `n` with it: held.
async fn held_order(w: &World, app: &axum::Router, n: u32) -> String {
    let token = console_token(w, "adm-all", Role::Admin, &["*"]).await;
    let (s, _) = admin(
        w,
        "POST",
        "/v1/fraud/blacklist",
        Some(&token),
        Some(json!({"kind": "card", "provider": "midtrans", "value": "481111-1114", "reason": "stolen card"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let order = paid_with(w, app, n, "481111-1114").await;
    assert!(w.deps.fraud.is_held(&order).await.unwrap());
    order
}

fn staff_actions(log: &[Value], action: &str) -> Vec<Value> {
    log.iter()
        .filter(|r| r["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_the_event_releases_a_hold_once_and_the_order_is_minted() {
    let w = world().await;
    let app = callback(&w);
    let order = held_order(&w, &app, 1).await;
    let not_held = paid_order(&w, &app, 2).await;
    let path = format!("/v1/fraud/holds/{order}/release");

    // Who may not: nobody, finance, door staff, an admin of another event.
    let finance = console_token(&w, "fin-1", Role::Finance, &[EVENT]).await;
    let other = console_token(&w, "adm-other", Role::Admin, &["other-fest"]).await;
    let (s, _) = admin(&w, "POST", &path, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for token in [&finance, &other] {
        let (s, problem) = admin(&w, "POST", &path, Some(token), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{problem}");
    }
    let token = console_token(&w, "adm-fest", Role::Admin, &[EVENT]).await;
    // Bad input: an unknown action, a malformed or unknown order, an order not on hold.
    for bad in [
        format!("/v1/fraud/holds/{order}/approve"),
        "/v1/fraud/holds/not-an-order/release".to_owned(),
        "/v1/fraud/holds/ord_0000000000000000000000/release".to_owned(),
        format!("/v1/fraud/holds/{not_held}/release"),
    ] {
        let (s, problem) = admin(&w, "POST", &bad, Some(&token), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{bad}: {problem}");
    }
    assert!(staff_actions(&staff_log(&w).await, "hold_released").is_empty());
    assert!(
        w.deps.fraud.is_held(&order).await.unwrap(),
        "refusals change nothing"
    );

    // The reviewer's click, sent three times at once: one change, one staff log record.
    let answers = at_once(3, |_| {
        let (w_app, token, path) = (w.app.clone(), token.clone(), path.clone());
        async move { common::call(&w_app, "POST", &path, Some(&token), None).await }
    })
    .await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    let audited: Vec<&Value> = answers
        .iter()
        .filter(|(_, b)| !b["audit_seq"].is_null())
        .map(|(_, b)| b)
        .collect();
    assert_eq!(audited.len(), 1, "one change: {answers:?}");
    assert_eq!(audited[0]["hold"]["resolution"], "released");
    assert_eq!(audited[0]["hold"]["resolved_by"], "adm-fest");
    let log = staff_actions(&staff_log(&w).await, "hold_released");
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["subject"], order.as_str());
    assert_eq!(log[0]["actor"], "adm-fest");

    run_minter(&w).await;
    assert_eq!(tickets(&w, &order).await, 1, "released: minted");
    assert_eq!(status(&w, &order).await, OrderStatus::Minted);
    // A retry later changes nothing; cancelling a released hold is a conflict.
    let (s, again) = admin(&w, "POST", &path, Some(&token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(again["audit_seq"].is_null());
    assert_eq!(again["order_status"], "MINTED");
    let (s, _) = admin(
        &w,
        "POST",
        &format!("/v1/fraud/holds/{order}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    run_minter(&w).await;
    assert_eq!(tickets(&w, &order).await, 1, "minted once");
    // A later notification of the same payment does not hold it again.
    assert_eq!(
        notify(&app, w.clock.now(), &order, PaymentStatus::Paid, "e-late").await,
        StatusCode::OK
    );
    assert!(!w.deps.fraud.is_held(&order).await.unwrap());

    // The flagged list shows the decision with its hold's resolution.
    let (_, flagged) = admin(&w, "GET", "/v1/fraud/flagged", Some(&token), None).await;
    let d = flagged["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["order_id"] == order.as_str())
        .unwrap();
    assert_eq!(d["outcome"], "hold");
    assert_eq!(d["hold"]["resolution"], "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_hold_returns_the_seats_and_owes_the_payment_back_once() {
    let w = world().await;
    let app = callback(&w);
    let order = held_order(&w, &app, 1).await;
    let token = console_token(&w, "adm-fest", Role::Admin, &[EVENT]).await;
    let seats = available(&w).await;
    let path = format!("/v1/fraud/holds/{order}/cancel");
    let answers = at_once(3, |_| {
        let (w_app, token, path) = (w.app.clone(), token.clone(), path.clone());
        async move { common::call(&w_app, "POST", &path, Some(&token), None).await }
    })
    .await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    assert_eq!(
        answers
            .iter()
            .filter(|(_, b)| !b["audit_seq"].is_null())
            .count(),
        1,
        "{answers:?}"
    );
    assert_eq!(available(&w).await, seats + 1, "the seat is back, once");
    let stored = w.deps.orders.get_order(&order).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Cancelled);
    let owed = stored.refund_due.expect("the payment is owed back");
    assert_eq!(Some(owed), stored.paid);
    assert_eq!(
        staff_actions(&staff_log(&w).await, "hold_cancelled").len(),
        1
    );
    let (s, _) = admin(
        &w,
        "POST",
        &format!("/v1/fraud/holds/{order}/release"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "a cancelled hold is not released");
    // A mint message delivered anyway mints nothing.
    let _ = Minter::new(w.deps.clone())
        .mint_order(&MintMessage {
            order_id: order.clone(),
            event_id: EVENT.into(),
        })
        .await;
    assert_eq!(tickets(&w, &order).await, 0);
    assert_eq!(available(&w).await, seats + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_and_cancel_at_once_one_decision_wins() {
    let w = world().await;
    let app = callback(&w);
    let token = console_token(&w, "adm-fest", Role::Admin, &[EVENT]).await;
    let order = held_order(&w, &app, 1).await;
    let seats = available(&w).await;
    let answers = at_once(6, |i| {
        let action = if i % 2 == 0 { "release" } else { "cancel" };
        let (w_app, token) = (w.app.clone(), token.clone());
        let path = format!("/v1/fraud/holds/{order}/{action}");
        async move { common::call(&w_app, "POST", &path, Some(&token), None).await }
    })
    .await;
    let won: Vec<&Value> = answers
        .iter()
        .filter(|(_, b)| !b["audit_seq"].is_null())
        .map(|(_, b)| b)
        .collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    run_minter(&w).await;
    let hold = w.deps.fraud.get_hold(&order).await.unwrap().unwrap();
    match won[0]["hold"]["resolution"].as_str().unwrap() {
        "released" => {
            assert_eq!(tickets(&w, &order).await, 1);
            assert_eq!(available(&w).await, seats);
            assert_eq!(hold.resolution, Some(Resolution::Released));
        }
        "cancelled" => {
            assert_eq!(tickets(&w, &order).await, 0);
            assert_eq!(available(&w).await, seats + 1);
            assert_eq!(hold.resolution, Some(Resolution::Cancelled));
        }
        other => panic!("{other}"),
    }
    for (s, _) in &answers {
        assert!(
            *s == StatusCode::OK || *s == StatusCode::CONFLICT,
            "{answers:?}"
        );
    }
}
