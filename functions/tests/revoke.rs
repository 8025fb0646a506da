//! revoke against moto and a stub edge on 127.0.0.1 that verifies the `KarcisRevoker` MAC
//! exactly as the worker does (same scheme, same window): a refunded order's tickets are each
//! revoked once per delivery, redelivery is harmless (the door's revocation is idempotent), a
//! message for an order that is not refunded revokes nothing, and with the edge down the message
//! is retried and, after `maxReceiveCount` receives, lands in the DLQ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use functions::deps::Deps;
use functions::edge_client::EdgeRevocations;
use functions::gateway::transport::HyperTransport;
use functions::model::{OrderStatus, Reversal};
use functions::ports::{RevokeMessage, Topic};
#[path = "common/door_stub.rs"]
mod door_stub;
#[path = "common/minted.rs"]
mod minted;
use door_stub::{revoker, start_edge, Edge, NOW};
use functions::testing::{pump, sample_event_spec, TestClock, TestEnv};
use minted::paid_and_minted;

struct World {
    env: TestEnv,
    deps: Deps,
}

async fn world() -> World {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 30, NOW))
        .await
        .unwrap();
    World { env, deps }
}

/// A minted order of `quantity` tickets; refunded when `refund`.
async fn minted_order(w: &World, n: u32, quantity: u32, refund: bool) -> String {
    let o = paid_and_minted(&w.deps, "fest", "revoke-key", n, quantity, NOW)
        .await
        .order;
    if refund {
        let stored = w.deps.orders.get_order(&o.order_id).await.unwrap().unwrap();
        let paid = stored.paid.expect("the order is paid");
        let reversal = Reversal {
            kind: "refunded".into(),
            provider: "stripe".into(),
            provider_ref: format!("ch_{n}"),
            amount_minor: o.total.amount_minor,
            currency: o.total.currency.clone(),
            at: NOW,
        };
        w.deps
            .orders
            .mark_reversed(&o.order_id, &paid, OrderStatus::Refunded, &reversal)
            .await
            .unwrap();
    }
    o.order_id
}

async fn enqueue(w: &World, order_id: &str) {
    let msg = RevokeMessage {
        order_id: order_id.to_owned(),
        event_id: "fest".into(),
        reason: "refunded".into(),
    };
    w.deps
        .queue
        .send(Topic::Revoke, &serde_json::to_string(&msg).unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunded_orders_tickets_are_revoked_at_the_edge_idempotently() {
    let w = world().await;
    let edge = Edge::default();
    let (url, _task) = start_edge(edge.clone()).await;
    let refunded = minted_order(&w, 1, 3, true).await;
    let kept = minted_order(&w, 2, 2, false).await;
    // The message twice (a duplicate or a redelivery), and one for an order not refunded.
    enqueue(&w, &refunded).await;
    enqueue(&w, &refunded).await;
    enqueue(&w, &kept).await;
    let r = revoker(&w.deps, &url);
    pump(&w.env.clients, &w.env.revoke, |e| r.handle(e), 30).await;

    let tickets: BTreeSet<(String, String)> = w
        .deps
        .tickets
        .order_tickets(&refunded)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.event_id, t.ticket_id))
        .collect();
    assert_eq!(tickets.len(), 3);
    assert_eq!(
        *edge.revoked.lock().unwrap(),
        tickets,
        "exactly the refunded order's tickets"
    );
    let calls = edge.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 6, "3 tickets x 2 deliveries: {calls:?}");
    assert!(calls.iter().all(|c| c["reason"] == "refunded"));
    // The message for the order that is not refunded revoked nothing and went to the DLQ.
    let dlq = functions::aws::provision::depth(&w.env.clients.sqs, &w.env.revoke.dlq_url)
        .await
        .unwrap();
    assert_eq!(dlq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_down_retries_then_dead_letters() {
    let w = world().await;
    let refunded = minted_order(&w, 3, 1, true).await;
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = revoker(&w.deps, &format!("http://127.0.0.1:{port}"));
    enqueue(&w, &refunded).await;
    let invocations = pump(&w.env.clients, &w.env.revoke, |e| r.handle(e), 30).await;
    assert_eq!(
        invocations,
        functions::testing::MAX_RECEIVE_COUNT,
        "one try per receive"
    );
    let sqs = &w.env.clients.sqs;
    assert_eq!(
        functions::aws::provision::depth(sqs, &w.env.revoke.url)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        functions::aws::provision::depth(sqs, &w.env.revoke.dlq_url)
            .await
            .unwrap(),
        1
    );

    // A wrong key is refused by the edge, never accepted.
    let edge = Edge::default();
    let (url, _task) = start_edge(edge.clone()).await;
    let door = EdgeRevocations::new(
        &url,
        zeroize::Zeroizing::new(b"another-key-another-key-another-key!".to_vec()),
        HyperTransport::new(std::time::Duration::from_secs(2)).unwrap(),
        w.deps.clock.clone(),
    );
    let err = functions::ports::DoorRevocations::revoke(&door, "fest", &"0".repeat(32), "refunded")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert!(edge.revoked.lock().unwrap().is_empty());
}
