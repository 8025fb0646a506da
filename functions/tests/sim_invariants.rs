//! The sale's invariants through the DynamoDB behaviour simulator with every fault on
//! (`functions::testing::sim::faults_on`: conflicts of overlapping transactions, item and
//! partition ceilings, throttling, server errors, connections dropped before and after the
//! table, latency): a crowd checks out at once, the payment callbacks arrive twice at once, the
//! mint function consumes its queue, the sweeper releases the unpaid. Nothing is oversold, no
//! ticket minted twice, no order lost, and every request ends (each under a bound).
//! The assertions read the table straight from moto, past the simulator.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router, Checkout, CheckoutResponse};
use functions::gateway::adapter::GatewayPayments;
use functions::gateway::hosted::GatewayEndpoints;
use functions::gateway::stub::GatewayStub;
use functions::gateway::testing::{signed_webhook, test_secrets, SignedWebhook, TestPayment};
use functions::gateway::transport::HyperTransport;
use functions::gateway::Provider;
use functions::model::OrderStatus;
use functions::payment_callback::PaymentCallback;
use functions::sweeper::sweep;
use functions::testing::sim::faults_on;
use functions::testing::{pump, sample_checkout_body, sample_event_spec, TestClock, TestEnv};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const EVENT: &str = "fest";
const CAPACITY: u32 = 12;
const BUYERS: u32 = 30;
/// Every request must end within this (the store's and the SDK's retries are bounded).
const BOUND: Duration = Duration::from_secs(120);
/// A client (buyer, gateway) tries a request that failed with 5xx at most this many times.
const CLIENT_TRIES: u32 = 12;

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("a request was left hanging")
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let res = bounded(app.clone().oneshot(req)).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, body.to_vec())
}

fn checkout_request(n: u32) -> Request<Body> {
    Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("sim-crowd-{n:03}"))
        .body(Body::from(
            serde_json::to_vec(&sample_checkout_body(EVENT, 1, n)).unwrap(),
        ))
        .unwrap()
}

async fn deliver(app: &axum::Router, w: &SignedWebhook) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method("POST").uri(&w.path);
    for (k, v) in &w.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    send(app, req.body(Body::from(w.body.clone())).unwrap()).await
}

/// Live stock of the tier, read straight from moto.
async fn stock(direct: &TestEnv) -> u32 {
    use functions::ports::Events as _;
    direct
        .store()
        .get_event(EVENT)
        .await
        .unwrap()
        .unwrap()
        .tiers
        .iter()
        .map(|t| t.available)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_through_the_simulator_with_faults_on_keeps_every_invariant() {
    sale(1, 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sale_on_sharded_stock_through_the_simulator_with_faults_on_keeps_every_invariant() {
    sale(4, 16).await;
}

async fn sale(stock_shards: u32, seed: u64) {
    let direct = TestEnv::with_config(|c| c.reservation_ttl_secs = 600).await;
    let clock = Arc::new(TestClock::new(NOW));
    let mut spec = sample_event_spec(EVENT, CAPACITY, NOW);
    spec.tiers[0].stock_shards = Some(stock_shards);
    functions::admin::create_event(&direct.deps().with_clock(clock.clone()), &spec)
        .await
        .unwrap();
    let env = direct.through_sim(faults_on(seed));
    let deps = env.deps().with_clock(clock.clone());
    // Checkout creates its payments at the gateway stub (real adapter and transport), so that
    // the gateway's webhooks name them.
    let stub = GatewayStub::start(test_secrets()).await.unwrap();
    let gateway = GatewayPayments::new(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(&stub.base_url()),
        HyperTransport::new(Duration::from_secs(5)).unwrap(),
        clock.clone(),
        "http://127.0.0.1/orders/{order_id}/paid",
        "http://127.0.0.1/orders/{order_id}/cancelled",
    );
    let app = router(Checkout::new(deps.clone(), Arc::new(gateway)));

    // 1. The crowd, at once. A 5xx is tried again with the same idempotency key, as the site
    //    does; each buyer ends with an order or sold out.
    let outcomes = functions::testing::at_once(BUYERS as usize, |n| {
        let app = app.clone();
        let n = u32::try_from(n).unwrap();
        async move {
            for _ in 0..CLIENT_TRIES {
                let (status, body) = send(&app, checkout_request(n)).await;
                if !status.is_server_error() {
                    return (status, body);
                }
            }
            panic!("buyer {n} never got an answer other than 5xx");
        }
    })
    .await;
    let mut orders = Vec::new();
    let mut sold_out = 0;
    for (status, body) in &outcomes {
        match *status {
            StatusCode::CREATED | StatusCode::OK => {
                let r: CheckoutResponse = serde_json::from_slice(body).unwrap();
                orders.push(r.order.order_id);
            }
            StatusCode::CONFLICT => sold_out += 1,
            s => panic!("unexpected {s}: {}", String::from_utf8_lossy(body)),
        }
    }
    let stats = env.sim_stats();
    assert!(
        stats.conflicts + stats.item_throttles + stats.partition_throttles > 0,
        "the crowd met conflicts or ceilings: {stats:?}"
    );
    assert!(
        stats.internal_errors + stats.injected_throttling + stats.drops_before + stats.drops_after
            > 0,
        "faults were injected: {stats:?}"
    );
    orders.sort();
    orders.dedup();
    assert_eq!(
        u32::try_from(orders.len()).unwrap() + sold_out,
        BUYERS,
        "every buyer answered"
    );
    assert_eq!(
        u32::try_from(orders.len()).unwrap(),
        CAPACITY,
        "sold out exactly, not over"
    );
    assert_eq!(
        direct.count_items("order").await,
        orders.len(),
        "no ghost order"
    );
    assert_eq!(stock(&direct).await, 0);

    // 2. The first half is paid; each payment's webhook arrives twice at once, and a 5xx is
    //    redelivered, as gateways do.
    let statuses = GatewayPayments::status_api(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(&stub.base_url()),
        HyperTransport::new(Duration::from_secs(5)).unwrap(),
        clock.clone(),
    );
    let callback = functions::payment_callback::router(
        PaymentCallback::new(&deps, Arc::new(test_secrets()), Arc::new(statuses)).unwrap(),
    );
    let paid: Vec<String> = orders[..orders.len() / 2].to_vec();
    let deliveries = functions::testing::at_once(paid.len() * 2, |i| {
        let callback = callback.clone();
        let order_id = paid[i / 2].clone();
        async move {
            let hook = signed_webhook(
                Provider::Stripe,
                &test_secrets(),
                &TestPayment::paid(&order_id, 150_000, "IDR").with_event_id(&format!("evt-{i}")),
                NOW,
            );
            for _ in 0..CLIENT_TRIES {
                let (answer, body) = deliver(&callback, &hook).await;
                if !answer.is_server_error() {
                    return (answer, String::from_utf8_lossy(&body).into_owned());
                }
            }
            panic!("the webhook of {order_id} never got past 5xx");
        }
    })
    .await;
    assert!(
        deliveries.iter().all(|(s, _)| s.is_success()),
        "{deliveries:?}"
    );

    // 3. The mint function consumes its queue through the simulator (failed messages come
    //    back after the visibility timeout, as with Lambda's event source mapping).
    let minter = functions::mint::Minter::new(deps.clone());
    bounded(pump(&env.clients, &env.mint, |e| minter.handle(e), 200)).await;
    for order_id in &paid {
        let order = direct
            .deps()
            .orders
            .get_order(order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, OrderStatus::Minted, "{order_id} minted");
        assert!(order.refund_due.is_none(), "{order_id} charged once");
    }
    assert_eq!(
        direct.count_items("ticket").await,
        paid.len(),
        "one ticket per paid order, none twice"
    );

    // 4. Past the reservation window the sweeper (tried again if it fails) releases the unpaid
    //    ones, their stock comes back exactly once.
    clock.advance(601);
    // A sweep that failed part-way is simply run again (the next schedule).
    for _ in 0..CLIENT_TRIES {
        if let Ok(r) = bounded(sweep(&deps)).await {
            if r.found == r.released {
                break;
            }
        }
    }
    let unpaid = orders.len() - paid.len();
    assert_eq!(
        stock(&direct).await as usize,
        unpaid,
        "their stock came back once"
    );
    for order_id in &orders[paid.len()..] {
        let order = direct
            .deps()
            .orders
            .get_order(order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, OrderStatus::Expired);
    }
    assert_eq!(
        bounded(sweep(&direct.deps().with_clock(clock.clone())))
            .await
            .unwrap()
            .released,
        0
    );
}
