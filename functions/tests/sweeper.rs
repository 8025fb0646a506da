//! sweeper against moto: expired reservations return their stock exactly once.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;

use functions::checkout::{Checkout, CheckoutRequest};
use functions::model::{OrderStatus, PaymentRecord};
use functions::ports::PaidOutcome;
use functions::sweeper::{sweep, sweep_bounded};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};

const NOW: u64 = 1_800_000_000;

async fn reserve(c: &Checkout, n: u32, quantity: u32) -> String {
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body("fest", quantity, n)).unwrap();
    c.create_order(&format!("sweeper-key-{n:05}"), &req)
        .await
        .expect("reserve")
        .response
        .order
        .order_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_reservations_return_stock_exactly_once_even_with_concurrent_sweepers() {
    let env = TestEnv::with_config(|c| c.reservation_ttl_secs = 600).await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    functions::admin::create_event(&deps, &sample_event_spec("fest", 20, NOW))
        .await
        .unwrap();
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));

    // 6 reservations of 2 tickets; one of them is paid before it expires.
    let mut orders = Vec::new();
    for n in 0..6 {
        orders.push(reserve(&checkout, n, 2).await);
    }
    let stock = || async { checkout.event_view("fest").await.unwrap().tiers[0].available };
    assert_eq!(stock().await, 8);
    let paid = deps.orders.get_order(&orders[0]).await.unwrap().unwrap();
    let outcome = deps
        .orders
        .mark_paid(
            &paid.order_id,
            &PaymentRecord {
                provider: "stripe".into(),
                provider_ref: "pi_test_1".into(),
                amount_minor: paid.amount_minor,
                currency: paid.currency.clone(),
                paid_at: NOW + 10,
                payment_id: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(outcome, PaidOutcome::Paid(_)));

    // Nothing has expired yet.
    clock.set(NOW + 599);
    assert_eq!(sweep(&deps).await.unwrap().released, 0);
    assert_eq!(stock().await, 8);

    // Expired: four sweepers at once, then one more run.
    clock.set(NOW + 600);
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let deps = deps.clone();
        runs.spawn(async move { sweep_bounded(&deps, 2, 20).await.unwrap() });
    }
    let mut released = 0;
    while let Some(r) = runs.join_next().await {
        released += r.unwrap().released;
    }
    assert_eq!(
        released, 5,
        "each unpaid reservation released by exactly one sweeper"
    );
    assert_eq!(
        sweep(&deps).await.unwrap().released,
        0,
        "a second run releases nothing"
    );
    assert_eq!(stock().await, 18, "20 - 2 paid");

    for (i, id) in orders.iter().enumerate() {
        let o = deps.orders.get_order(id).await.unwrap().unwrap();
        let want = if i == 0 {
            OrderStatus::Paid
        } else {
            OrderStatus::Expired
        };
        assert_eq!(o.status, want);
    }

    // A payment that arrives for an expired order is recorded for refund, not turned into tickets.
    let late = deps.orders.get_order(&orders[1]).await.unwrap().unwrap();
    let outcome = deps
        .orders
        .mark_paid(
            &late.order_id,
            &PaymentRecord {
                provider: "stripe".into(),
                provider_ref: "pi_late".into(),
                amount_minor: late.amount_minor,
                currency: late.currency.clone(),
                paid_at: NOW + 700,
                payment_id: None,
            },
        )
        .await
        .unwrap();
    match outcome {
        PaidOutcome::RefundDue(o) => {
            assert_eq!(o.status, OrderStatus::Expired);
            assert_eq!(o.refund_due.unwrap().provider_ref, "pi_late");
        }
        other => panic!("expected RefundDue, got {other:?}"),
    }
    assert_eq!(stock().await, 18);

    // The released buyer may buy again (their per-buyer counter went back too).
    let req: CheckoutRequest = serde_json::from_value(sample_checkout_body("fest", 4, 1)).unwrap();
    checkout
        .create_order("sweeper-key-again", &req)
        .await
        .unwrap();
    let req: CheckoutRequest = serde_json::from_value(sample_checkout_body("fest", 2, 1)).unwrap();
    checkout
        .create_order("sweeper-key-again-2", &req)
        .await
        .unwrap();
    assert_eq!(stock().await, 12);
}
