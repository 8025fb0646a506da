//! Device binding retires the old credential at the door ("The door" issue, item 7, back end):
//! binding re-issues the ticket, queues a re-issue message on the revoke queue, and the revoke
//! function sends the stored re-issue time to the edge as `not_issued_before` for that event and
//! ticket (`KarcisRevoker`, verified by a stub edge on 127.0.0.1 exactly as the worker does).
//! Against moto. Attack: after binding, the printed static code must be retired: the line the
//! door receives is after the static credential's `issued_at` (even when both fall in one
//! second) and at the bound one's; an edge outage delays it (retried) and loses nothing; a forged
//! message for a ticket that was never re-issued, or naming another event, retires nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use functions::deps::Deps;
use functions::ports::{RetireMessage, RevokeQueueMessage, TicketRecord, Topic};
#[path = "common/door_stub.rs"]
mod door_stub;
#[path = "common/minted.rs"]
mod minted;
use door_stub::{revoker, start_edge, Edge, NOW};
use functions::testing::{pump, sample_event_spec, with_minter, TestClock, TestEnv};
use functions::tickets::{BindRequest, TicketsService};
use minted::paid_and_minted;

/// A minted order of one ticket: the order id, its access token and the (static) ticket.
async fn minted(deps: &Deps, n: u32) -> (String, String, TicketRecord) {
    let created = paid_and_minted(deps, "fest", "reissue-key", n, 1, NOW).await;
    let o = &created.order;
    let ticket = deps
        .tickets
        .order_tickets(&o.order_id)
        .await
        .unwrap()
        .remove(0);
    (created.order.order_id, created.access_token, ticket)
}

fn device_key() -> String {
    let sk = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    hex::encode(sk.verifying_key().to_encoded_point(false).as_bytes())
}

fn bind_request(key: &str) -> BindRequest {
    serde_json::from_value(serde_json::json!({ "device_public_key": key })).unwrap()
}

async fn depth(env: &TestEnv, url: &str) -> u64 {
    functions::aws::provision::depth(&env.clients.sqs, url)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_retires_the_printed_code_at_the_door_through_the_queue() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 30, NOW))
        .await
        .unwrap();
    let (_order_id, token, printed) = minted(&deps, 1).await;
    assert!(
        printed.device_key.is_none(),
        "minted as a printed (static) ticket"
    );
    assert_eq!(depth(&env, &env.revoke.url).await, 0);

    // Bound within the same second as the mint (the test clock stands still), then again.
    let service = TicketsService::new(deps.clone());
    let key = device_key();
    let bound = with_minter(&env, deps.clone(), async {
        let bound = service
            .bind(&printed.ticket_id, &token, &bind_request(&key))
            .await
            .unwrap();
        service
            .bind(&printed.ticket_id, &token, &bind_request(&key))
            .await
            .unwrap();
        bound
    })
    .await;
    assert!(bound.device_public_key.is_some());
    let stored = deps
        .tickets
        .get_ticket(&printed.ticket_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.issued_at > printed.issued_at,
        "the re-issue is strictly after the printed credential"
    );

    // The edge is down first: the message waits in the queue (retried), nothing is lost.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = revoker(&deps, &format!("http://127.0.0.1:{port}"));
    pump(&env.clients, &env.revoke, |e| down.handle(e), 2).await;
    assert_eq!(depth(&env, &env.revoke.dlq_url).await, 0);

    let edge = Edge::default();
    let (url, _task) = start_edge(edge.clone()).await;
    let r = revoker(&deps, &url);
    pump(&env.clients, &env.revoke, |e| r.handle(e), 30).await;
    let calls = edge.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one retirement per binding call: {calls:?}");
    for c in &calls {
        assert_eq!(c["event_id"], "fest");
        assert_eq!(c["ticket_id"], printed.ticket_id.as_str());
        assert_eq!(c["reason"], "reissued");
        assert_eq!(c["not_issued_before"], stored.issued_at);
    }
    // The door refuses a credential whose issued_at is before the line: the printed one.
    let line = calls[0]["not_issued_before"].as_u64().unwrap();
    assert!(printed.issued_at < line && stored.issued_at >= line);
    assert_eq!(depth(&env, &env.revoke.dlq_url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_reissue_message_retires_nothing() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 30, NOW))
        .await
        .unwrap();
    functions::admin::create_event(&deps, &sample_event_spec("other", 30, NOW))
        .await
        .unwrap();
    let (order_id, _token, printed) = minted(&deps, 2).await;
    let edge = Edge::default();
    let (url, _task) = start_edge(edge.clone()).await;
    let r = revoker(&deps, &url);

    // Never bound: not re-issued. Named under another event: refused.
    for event_id in ["fest", "other"] {
        let msg = RevokeQueueMessage::Retire(RetireMessage {
            order_id: order_id.clone(),
            event_id: event_id.into(),
            ticket_id: printed.ticket_id.clone(),
        });
        deps.queue
            .send(Topic::Revoke, &serde_json::to_string(&msg).unwrap())
            .await
            .unwrap();
    }
    pump(&env.clients, &env.revoke, |e| r.handle(e), 30).await;
    assert!(edge.calls.lock().unwrap().is_empty());
    assert_eq!(depth(&env, &env.revoke.dlq_url).await, 2);
}
