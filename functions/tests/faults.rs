//! DynamoDB failures moto never produces, injected by an SDK interceptor
//! (`functions::testing::faults`): transaction conflicts, throttling, a transaction that
//! committed but whose answer was lost, and a secondary index that lags behind the table.
//! Each test checks the outcome the caller sees and the stock invariants.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use functions::checkout::{router, Checkout, CheckoutResponse};
use functions::deps::Deps;
use functions::mint::Minter;
use functions::model::{OrderStatus, PaymentRecord};
use functions::ports::{MintMessage, MintOutcome};
use functions::store::TRANSACTION_ATTEMPTS;
use functions::sweeper::sweep;
use functions::testing::faults::{Fault, Faults, ALWAYS};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};
use functions::tickets::{OrderTickets, TicketView, TicketsService};
use functions::Problem;
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
const EVENT: &str = "fest";
const TX: &str = "TransactWriteItems";
/// A test that should end in seconds fails instead of hanging if a retry loop does not end.
const GIVE_UP: Duration = Duration::from_secs(180);

struct World {
    env: TestEnv,
    faults: Arc<Faults>,
    deps: Deps,
    clock: Arc<TestClock>,
    checkout: Checkout,
    payments: Arc<RecordingPayments>,
    app: axum::Router,
}

/// An event of `capacity` tickets; then every DynamoDB call goes through the fault injector.
async fn world(capacity: u32) -> World {
    let base = TestEnv::with_config(|c| c.reservation_ttl_secs = 600).await;
    let clock = Arc::new(TestClock::new(NOW));
    functions::admin::create_event(
        &base.deps().with_clock(clock.clone()),
        &sample_event_spec(EVENT, capacity, NOW),
    )
    .await
    .unwrap();
    // From here on, every DynamoDB call goes through the fault injector.
    let faults = Faults::new();
    let env = base.with_faults(&faults);
    let deps = env.deps().with_clock(clock.clone());
    let payments = Arc::new(RecordingPayments::default());
    let checkout = Checkout::new(deps.clone(), payments.clone());
    World {
        app: router(checkout.clone()),
        env,
        faults,
        deps,
        clock,
        checkout,
        payments,
    }
}

fn post(n: u32, quantity: u32, key: &str) -> Request<Body> {
    Request::post("/v1/orders")
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(
            serde_json::to_vec(&sample_checkout_body(EVENT, quantity, n)).unwrap(),
        ))
        .unwrap()
}

/// Status, whether the answer is an idempotent replay, body.
async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, bool, Vec<u8>) {
    let res = tokio::time::timeout(GIVE_UP, app.clone().oneshot(req))
        .await
        .expect("the request did not give up")
        .unwrap();
    let status = res.status();
    let replayed = res.headers().contains_key("idempotent-replayed");
    let body = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, replayed, body.to_vec())
}

async fn stock(w: &World) -> u32 {
    w.checkout.event_view(EVENT).await.unwrap().tiers[0].available
}

/// The buyer's per-event counter of held tickets (absent: 0).
async fn held(w: &World, order_id: &str) -> i64 {
    let order = w.deps.orders.get_order(order_id).await.unwrap().unwrap();
    let item = w
        .env
        .clients
        .dynamodb
        .get_item()
        .table_name(&w.env.config.table_name)
        .key(
            "pk",
            AttributeValue::S(format!("CUSTOMER#{}", order.customer_id)),
        )
        .key("sk", AttributeValue::S(format!("LIMIT#{EVENT}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default();
    item.get("held")
        .map_or(0, |v| v.as_n().unwrap().parse().unwrap())
}

/// How many HTTP attempts the SDK makes per call (its standard retry mode, as in production).
fn sdk_attempts(env: &TestEnv) -> u32 {
    env.clients.dynamodb.config().retry_config().map_or(
        1,
        aws_sdk_dynamodb::config::retry::RetryConfig::max_attempts,
    )
}

/// Loses the answer of the next transaction after it commits, then throttles the SDK's own
/// retries of it until the SDK gives up, so that the store's retry (a new SDK call) is the one
/// that meets the committed transaction. (Within one call the SDK resends its own
/// auto-generated idempotency token; across calls only the store's token makes the retry
/// idempotent.)
fn lose_the_answer_then_exhaust_the_sdk(w: &World) -> usize {
    let sdk = sdk_attempts(&w.env);
    w.faults.inject(TX, Fault::CommittedThenTimeout, 1);
    w.faults.inject(TX, Fault::Throttling, sdk - 1);
    sdk as usize + 1
}

/// Every attempt of the transaction carried one and the same `ClientRequestToken`.
fn one_token(faults: &Faults) -> String {
    let attempts = faults.attempts(TX);
    let first = attempts[0].client_request_token.clone().expect("a token");
    assert!(
        attempts
            .iter()
            .all(|a| a.client_request_token.as_deref() == Some(first.as_str())),
        "every attempt carries the first attempt's token: {attempts:?}"
    );
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_and_throttling_are_retried_with_one_token_and_the_checkout_completes() {
    let w = world(10).await;
    w.faults.inject(TX, Fault::TransactionConflict, 2);
    w.faults.inject(TX, Fault::Throttling, 2);
    w.faults.inject(TX, Fault::ProvisionedThroughputExceeded, 1);

    let (status, replayed, body) = send(&w.app, post(1, 3, "faults-retried")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(!replayed, "a first request, not a replay");
    let created: CheckoutResponse = serde_json::from_slice(&body).unwrap();

    assert_eq!(w.faults.injected(Fault::TransactionConflict), 2);
    assert_eq!(w.faults.injected(Fault::Throttling), 2);
    assert_eq!(w.faults.injected(Fault::ProvisionedThroughputExceeded), 1);
    assert_eq!(
        w.faults.attempts(TX).len(),
        6,
        "5 refused attempts, then the commit"
    );
    one_token(&w.faults);
    assert_eq!(stock(&w).await, 7);
    assert_eq!(held(&w, &created.order.order_id).await, 3);
    assert_eq!(w.env.count_items("order").await, 1);
    assert_eq!(w.payments.requests.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_conflicts_give_up_after_the_retry_budget_and_change_nothing() {
    let w = world(10).await;
    w.faults.inject(TX, Fault::TransactionConflict, ALWAYS);

    let (status, _, body) = send(&w.app, post(1, 2, "faults-conflicts")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let p: Problem = serde_json::from_slice(&body).unwrap();
    assert_eq!(p.r#type, "urn:karcis:problem:unavailable");
    // The SDK does not retry a cancelled transaction: one HTTP attempt per store attempt.
    assert_eq!(
        w.faults.attempts(TX).len(),
        TRANSACTION_ATTEMPTS as usize,
        "exactly the store's budget"
    );
    one_token(&w.faults);
    assert_eq!(stock(&w).await, 10, "nothing reserved");
    assert_eq!(w.env.count_items("order").await, 0);
    assert!(w.payments.requests.lock().unwrap().is_empty());

    // Nothing was written, not even the idempotency record: the retry is a first request.
    w.faults.clear();
    let (status, replayed, _) = send(&w.app, post(1, 2, "faults-conflicts")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!replayed);
    assert_eq!(stock(&w).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_throttling_gives_up_within_the_sdk_and_store_budgets() {
    let w = world(10).await;
    w.faults.inject(TX, Fault::Throttling, ALWAYS);
    let sdk_attempts = sdk_attempts(&w.env);

    let (status, _, body) = send(&w.app, post(1, 2, "faults-throttled")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let p: Problem = serde_json::from_slice(&body).unwrap();
    assert_eq!(p.r#type, "urn:karcis:problem:unavailable");
    let attempts = w.faults.attempts(TX).len();
    assert!(
        attempts >= TRANSACTION_ATTEMPTS as usize
            && attempts <= (TRANSACTION_ATTEMPTS * sdk_attempts) as usize,
        "{attempts} attempts: between {TRANSACTION_ATTEMPTS} and {} (store x SDK budgets)",
        TRANSACTION_ATTEMPTS * sdk_attempts
    );
    one_token(&w.faults);
    assert_eq!(stock(&w).await, 10, "nothing reserved");
    assert_eq!(w.env.count_items("order").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_throughput_errors_end_in_a_clear_unavailable_error() {
    let w = world(10).await;
    let (status, _, body) = send(&w.app, post(1, 2, "faults-release")).await;
    assert_eq!(status, StatusCode::CREATED);
    let created: CheckoutResponse = serde_json::from_slice(&body).unwrap();
    w.clock.set(NOW + 600);
    let expired = w
        .deps
        .orders
        .expired_reservations(NOW + 600, 10)
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);

    w.faults
        .inject(TX, Fault::ProvisionedThroughputExceeded, ALWAYS);
    let err = tokio::time::timeout(GIVE_UP, w.deps.orders.release(&expired[0], NOW + 600))
        .await
        .expect("the release did not give up")
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    let text = format!("{err:?}");
    assert!(
        text.contains("TransactWriteItems") && text.contains("ProvisionedThroughputExceeded"),
        "names the call and DynamoDB's reason: {text}"
    );
    let attempts = w.faults.attempts(TX).len();
    assert!(attempts >= TRANSACTION_ATTEMPTS as usize, "{attempts}");
    let order = w
        .deps
        .orders
        .get_order(&created.order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Reserved, "not released");
    assert_eq!(stock(&w).await, 8);
    assert_eq!(held(&w, &created.order.order_id).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_whose_answer_was_lost_after_commit_is_created_once_not_replayed() {
    let w = world(10).await;
    let attempts = lose_the_answer_then_exhaust_the_sdk(&w);

    let (status, replayed, body) = send(&w.app, post(1, 3, "faults-lost-answer")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(!replayed, "the buyer's own first request, not a replay");
    let created: CheckoutResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(w.faults.injected(Fault::CommittedThenTimeout), 1);
    assert_eq!(
        w.faults.attempts(TX).len(),
        attempts,
        "the commit, the SDK's throttled retries, then the store's retry"
    );
    one_token(&w.faults);

    // Reserved once.
    assert_eq!(stock(&w).await, 7);
    assert_eq!(held(&w, &created.order.order_id).await, 3);
    assert_eq!(w.env.count_items("order").await, 1);
    assert_eq!(w.payments.requests.lock().unwrap().len(), 1);
    let order = w
        .deps
        .orders
        .get_order(&created.order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Reserved);

    // The same request again is the replay.
    let (status, replayed, body) = send(&w.app, post(1, 3, "faults-lost-answer")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(replayed);
    let again: CheckoutResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(again.order.order_id, created.order.order_id);
    assert_eq!(stock(&w).await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_whose_answer_was_lost_after_commit_is_reported_released_once() {
    let w = world(10).await;
    let (status, _, body) = send(&w.app, post(1, 2, "faults-release-lost")).await;
    assert_eq!(status, StatusCode::CREATED);
    let created: CheckoutResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(stock(&w).await, 8);

    w.clock.set(NOW + 600);
    let before = w.faults.attempts(TX).len();
    let attempts = lose_the_answer_then_exhaust_the_sdk(&w);
    let report = tokio::time::timeout(GIVE_UP, sweep(&w.deps))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.faults.injected(Fault::CommittedThenTimeout), 1);
    assert_eq!(w.faults.attempts(TX).len() - before, attempts);
    assert_eq!(
        (report.released, report.skipped, report.failed),
        (1, 0, 0),
        "released by this sweep, not counted as someone else's: {report:?}"
    );
    let tokens: std::collections::BTreeSet<_> = w.faults.attempts(TX)[before..]
        .iter()
        .map(|a| a.client_request_token.clone())
        .collect();
    assert_eq!(tokens.len(), 1, "one token for every attempt: {tokens:?}");
    let order = w
        .deps
        .orders
        .get_order(&created.order.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Expired);
    assert_eq!(stock(&w).await, 10, "the stock came back exactly once");
    assert_eq!(held(&w, &created.order.order_id).await, 0);
    assert_eq!(sweep(&w.deps).await.unwrap().released, 0);
    assert_eq!(stock(&w).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_under_conflicts_and_throttling_never_oversell() {
    let w = world(10).await;
    w.faults.inject(TX, Fault::TransactionConflict, 20);
    w.faults.inject(TX, Fault::Throttling, 6);
    w.faults.inject(TX, Fault::CommittedThenTimeout, 4);
    let results = functions::testing::at_once(30, |n| {
        let app = w.app.clone();
        let n = u32::try_from(n).unwrap();
        async move { send(&app, post(n, 1, &format!("faults-crowd-{n:03}"))).await }
    })
    .await;
    let (mut created, mut sold_out) = (0, 0);
    for (status, replayed, body) in &results {
        match *status {
            StatusCode::CREATED => {
                assert!(!replayed);
                created += 1;
            }
            StatusCode::CONFLICT => {
                let p: Problem = serde_json::from_slice(body).unwrap();
                assert_eq!(p.r#type, "urn:karcis:problem:sold-out");
                sold_out += 1;
            }
            s => panic!("unexpected {s}: {}", String::from_utf8_lossy(body)),
        }
    }
    assert_eq!(w.faults.injected(Fault::TransactionConflict), 20);
    assert_eq!(w.faults.injected(Fault::Throttling), 6);
    assert_eq!(w.faults.injected(Fault::CommittedThenTimeout), 4);
    assert_eq!((created, sold_out), (10, 20));
    assert_eq!(stock(&w).await, 0);
    assert_eq!(w.env.count_items("order").await, 10, "no oversell");
}

/// The emulator keeps DynamoDB's documented token semantics (the launcher adds them to moto):
/// a repeated token is a success that changes nothing; other parameters under it are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_honours_client_request_tokens_as_dynamodb_documents() {
    let env = TestEnv::new().await;
    let db = &env.clients.dynamodb;
    let add = |by: &str| {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&env.config.table_name)
                    .key("pk", AttributeValue::S("COUNTER#t".into()))
                    .key("sk", AttributeValue::S("COUNTER".into()))
                    .update_expression("ADD n :by")
                    .expression_attribute_values(":by", AttributeValue::N(by.into()))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let run = |token: &str, by: &str| {
        db.transact_write_items()
            .client_request_token(token)
            .transact_items(add(by))
            .send()
    };
    run("token-a", "1").await.unwrap();
    run("token-a", "1").await.unwrap();
    let read = || async {
        db.get_item()
            .table_name(&env.config.table_name)
            .key("pk", AttributeValue::S("COUNTER#t".into()))
            .key("sk", AttributeValue::S("COUNTER".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()["n"]
            .as_n()
            .unwrap()
            .clone()
    };
    assert_eq!(read().await, "1", "the repeat changed nothing");
    let err = run("token-a", "5").await.unwrap_err();
    assert_eq!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::code(&err),
        Some("IdempotentParameterMismatchException")
    );
    run("token-b", "1").await.unwrap();
    assert_eq!(read().await, "2", "a new token is a new transaction");
}

/// Right after minting, the ticket index may not list the ticket yet (DynamoDB updates a GSI
/// eventually). A bind that names its order reads the table itself and succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_bind_right_after_minting_does_not_wait_for_the_ticket_index() {
    let w = world(10).await;
    let (status, _, body) = send(&w.app, post(1, 1, "faults-bind")).await;
    assert_eq!(status, StatusCode::CREATED);
    let created: CheckoutResponse = serde_json::from_slice(&body).unwrap();
    let order_id = created.order.order_id.clone();
    let order = w.deps.orders.get_order(&order_id).await.unwrap().unwrap();
    w.deps
        .orders
        .mark_paid(
            &order_id,
            &PaymentRecord {
                provider: "stripe".into(),
                provider_ref: "pi_bind".into(),
                amount_minor: order.amount_minor,
                currency: order.currency.clone(),
                paid_at: NOW + 5,
                payment_id: None,
            },
        )
        .await
        .unwrap();
    let minted = Minter::new(w.deps.clone())
        .mint_order(&MintMessage {
            order_id: order_id.clone(),
            event_id: EVENT.into(),
        })
        .await
        .unwrap();
    assert_eq!(minted, MintOutcome::Minted);

    // The index has not caught up: every index query answers nothing.
    w.faults.inject("Query", Fault::IndexLag, ALWAYS);
    let app = functions::tickets::router(TicketsService::new(w.deps.clone()));
    let call = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let res = app.oneshot(req).await.unwrap();
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, body.to_vec())
        }
    };
    let token = format!("Bearer {}", created.access_token);
    let (s, b) = call(
        Request::get(format!("/v1/orders/{order_id}/tickets"))
            .header("authorization", &token)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let list: OrderTickets = serde_json::from_slice(&b).unwrap();
    assert_eq!(list.tickets.len(), 1);
    let ticket_id = &list.tickets[0].ticket_id;
    let device = ticket::p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let device_pub = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(device.verifying_key().to_encoded_point(false).as_bytes());
    let bind = |body: serde_json::Value| {
        Request::post(format!("/v1/tickets/{ticket_id}/device"))
            .header("authorization", &token)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };

    // Through the index (no order named): the lag shows as 404.
    let (s, _) = call(bind(serde_json::json!({"device_public_key": device_pub}))).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "the injected index lag is in effect"
    );
    assert!(w.faults.injected(Fault::IndexLag) >= 1);

    // Naming the order: read from the table, claimed, and re-issued by the mint function
    // (consuming the mint queue meanwhile, as its event source mapping would).
    let (s, b) = functions::testing::with_minter(
        &w.env,
        w.deps.clone(),
        call(bind(
            serde_json::json!({"device_public_key": device_pub, "order_id": order_id}),
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    let bound: TicketView = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        bound.device_public_key.as_deref(),
        Some(device_pub.as_str())
    );

    // An order this token does not open: not found.
    let (s, _) = call(bind(
        serde_json::json!({"device_public_key": device_pub, "order_id": "ord_0000000000000000000000"}),
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
