//! Sharded stock (`functions::store::stock`) against moto: a tier's stock split across N items,
//! reservations spread over them and move on from an empty one, sold out known from the tier
//! item alone, the sweeper returns stock to the shard it came from, the per-buyer limit exact.
//! The crowds fire at once.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router, Checkout};
use functions::deps::Deps;
use functions::sweeper::sweep;
use functions::testing::{
    at_once, sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const EVENT: &str = "stadium";

struct World {
    env: TestEnv,
    deps: Deps,
    clock: Arc<TestClock>,
    app: axum::Router,
}

async fn world(capacity: u32, shards: u32) -> World {
    let env = TestEnv::with_config(|c| c.reservation_ttl_secs = 600).await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    let mut spec = sample_event_spec(EVENT, capacity, NOW);
    spec.tiers[0].stock_shards = Some(shards);
    functions::admin::create_event(&deps, &spec).await.unwrap();
    let app = router(Checkout::new(
        deps.clone(),
        Arc::new(RecordingPayments::default()),
    ));
    World {
        env,
        deps,
        clock,
        app,
    }
}

async fn buy(app: &axum::Router, buyer: u32, quantity: u32, key: &str) -> StatusCode {
    let req = Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("sharded-stock-{key}-0000000000"))
        .body(Body::from(
            serde_json::to_vec(&sample_checkout_body(EVENT, quantity, buyer)).unwrap(),
        ))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(
        matches!(
            status,
            StatusCode::CREATED | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    status
}

async fn item(w: &World, pk: &str, sk: &str) -> std::collections::HashMap<String, AttributeValue> {
    w.env
        .clients
        .dynamodb
        .get_item()
        .table_name(&w.env.config.table_name)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

async fn shard_stock(w: &World, shards: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for k in 0..shards {
        let i = item(w, &format!("STOCK#{EVENT}#ga#{k}"), "STOCK").await;
        out.push(i["available"].as_n().unwrap().parse().unwrap());
    }
    out
}

/// The tier item's set of shards found empty.
async fn empty_shards(w: &World) -> Vec<u32> {
    let i = item(w, &format!("EVENT#{EVENT}"), "TIER#ga").await;
    let mut v: Vec<u32> = i
        .get("empty")
        .map(|e| {
            e.as_ns()
                .unwrap()
                .iter()
                .map(|x| x.parse().unwrap())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

async fn available(w: &World) -> u32 {
    w.deps.events.get_event(EVENT).await.unwrap().unwrap().tiers[0].available
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crowd_over_four_shards_sells_exactly_the_capacity_and_the_tier_knows_it_is_sold_out() {
    let w = world(10, 4).await;
    assert_eq!(shard_stock(&w, 4).await, vec![3, 3, 2, 2]);
    assert_eq!(available(&w).await, 10);
    let statuses = at_once(16, |n| {
        let app = w.app.clone();
        let n = u32::try_from(n).unwrap();
        async move { buy(&app, n, 1, &format!("crowd-{n}")).await }
    })
    .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let sold_out = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, sold_out), (10, 6), "{statuses:?}");
    assert_eq!(w.env.count_items("order").await, 10, "no oversell");
    assert_eq!(shard_stock(&w, 4).await, vec![0, 0, 0, 0]);
    assert_eq!(available(&w).await, 0);
    // Every shard that a buyer found empty is noted on the tier item; a buyer now meets sold
    // out there (with every shard noted, no shard is read).
    assert_eq!(buy(&w.app, 99, 1, "late").await, StatusCode::CONFLICT);
    assert_eq!(empty_shards(&w).await, vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_moves_on_from_an_empty_shard_and_the_sweeper_returns_stock_to_its_shard() {
    // One ticket per shard: whatever shard a buyer starts at, the later ones must move on.
    let w = world(4, 4).await;
    for n in 0..4 {
        assert_eq!(
            buy(&w.app, n, 1, &format!("seq-{n}")).await,
            StatusCode::CREATED
        );
    }
    assert_eq!(buy(&w.app, 5, 1, "seq-5").await, StatusCode::CONFLICT);
    assert_eq!(shard_stock(&w, 4).await, vec![0, 0, 0, 0]);
    assert_eq!(
        empty_shards(&w).await,
        vec![0, 1, 2, 3],
        "sold out is recorded"
    );

    w.clock.advance(601);
    assert_eq!(sweep(&w.deps).await.unwrap().released, 4);
    assert_eq!(
        shard_stock(&w, 4).await,
        vec![1, 1, 1, 1],
        "each back to its shard"
    );
    assert!(empty_shards(&w).await.is_empty(), "no shard is noted empty");
    assert_eq!(available(&w).await, 4);
    assert_eq!(sweep(&w.deps).await.unwrap().released, 0);
    assert_eq!(buy(&w.app, 6, 1, "again").await, StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_buyer_at_once_across_shards_gets_exactly_the_per_buyer_limit() {
    // The sample event allows 6 per buyer and 4 per order: eight orders of 2 at once from one
    // buyer, spread over 8 shards, leave exactly 3 orders.
    let w = world(40, 8).await;
    let statuses = at_once(8, |n| {
        let app = w.app.clone();
        async move { buy(&app, 1, 2, &format!("same-buyer-{n}")).await }
    })
    .await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "{statuses:?}");
    assert_eq!(available(&w).await, 34);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_count_out_of_range_is_refused_and_nothing_is_created() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    for bad in [0, 101] {
        let mut spec = sample_event_spec(EVENT, 10, NOW);
        spec.tiers[0].stock_shards = Some(bad);
        let err = functions::admin::create_event(&deps, &spec)
            .await
            .unwrap_err();
        assert_eq!(err.problem().status, 400, "{bad}");
    }
    assert!(deps.events.get_event(EVENT).await.unwrap().is_none());
}
