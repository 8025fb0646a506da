//! The DynamoDB behaviour simulator (crate `dynamo-sim`), each behaviour shown with the real
//! aws-sdk-dynamodb client through the simulator to moto. SDK retries are off in these tests
//! (one HTTP attempt per call) so that each answer is the simulator's own.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use functions::testing::sim::{Ceilings, Config, FaultRates};
use functions::testing::TestEnv;

struct World {
    env: TestEnv,
    /// Through the simulator, no SDK retries.
    client: Client,
    /// Straight to moto.
    direct: Client,
    table: String,
}

async fn world(config: Config) -> World {
    let base = TestEnv::new().await;
    let env = base.through_sim(config);
    let conf = env
        .clients
        .dynamodb
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    World {
        client: Client::from_conf(conf),
        direct: base.clients.dynamodb.clone(),
        table: env.config.table_name.clone(),
        env,
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

async fn put(w: &World, pk: &str, sk: &str) -> Result<(), String> {
    w.client
        .put_item()
        .table_name(&w.table)
        .item("pk", s(pk))
        .item("sk", s(sk))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("?").to_owned(),
        SdkError::DispatchFailure(_) => "dispatch".to_owned(),
        SdkError::ResponseError(_) => "response".to_owned(),
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        _ => "other".to_owned(),
    }
}

async fn counter(w: &World, pk: &str, sk: &str) -> Option<i64> {
    let out = w
        .direct
        .get_item()
        .table_name(&w.table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    out.item.map(|i| match i.get("n") {
        Some(AttributeValue::N(n)) => n.parse().expect("n"),
        _ => 0,
    })
}

fn add_one(table: &str, pk: &str, sk: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .update_expression("ADD n :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .build()
                .expect("update"),
        )
        .build()
}

/// The cancellation reason codes of a failed transaction.
fn reasons(e: &SdkError<TransactWriteItemsError, impl std::fmt::Debug>) -> Vec<String> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(tc) => tc
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("").to_owned())
                .collect(),
            other => vec![format!("not cancelled: {:?}", other.code())],
        },
        other => vec![format!("not a service error: {}", code(other))],
    }
}

fn ceilings(item: Option<f64>, partition: Option<f64>) -> Config {
    Config {
        ceilings: Ceilings {
            item_units_per_sec: item,
            partition_units_per_sec: partition,
            burst_secs: 1.0,
        },
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_past_its_write_ceiling_is_refused_while_other_items_are_not() {
    // 5 units a second with a 1 s burst: the 6th write in a row to one item is refused (the
    // writes take far less than the 200 ms a token takes to come back).
    let w = world(ceilings(Some(5.0), None)).await;
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(put(&w, "HOT", "1").await);
    }
    assert!(outcomes[..5].iter().all(Result::is_ok), "{outcomes:?}");
    assert_eq!(
        outcomes[5],
        Err("ProvisionedThroughputExceededException".to_owned())
    );
    // Same partition, another item: its own ceiling.
    assert_eq!(put(&w, "HOT", "2").await, Ok(()));
    assert_eq!(w.env.sim_stats().item_throttles, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_past_its_write_ceiling_is_refused_across_its_items() {
    let w = world(ceilings(None, Some(4.0))).await;
    for i in 0..4 {
        assert_eq!(put(&w, "P", &i.to_string()).await, Ok(()));
    }
    assert_eq!(
        put(&w, "P", "9").await,
        Err("ProvisionedThroughputExceededException".to_owned())
    );
    assert_eq!(put(&w, "Q", "9").await, Ok(()), "another partition key");
    // The refused write did not reach the table.
    assert_eq!(counter(&w, "P", "9").await, None);
    assert_eq!(w.env.sim_stats().partition_throttles, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_the_ceiling_is_cancelled_with_a_throttling_reason() {
    // A transactional write costs 2 units: 4 units allow two transactions on the item.
    let w = world(ceilings(Some(4.0), None)).await;
    let tx = || {
        w.client
            .transact_write_items()
            .transact_items(add_one(&w.table, "T", "hot"))
            .transact_items(add_one(&w.table, "T", "cold"))
    };
    tx().send().await.expect("first");
    tx().send().await.expect("second");
    let err = tx().send().await.expect_err("third is over the ceiling");
    assert_eq!(reasons(&err)[0], "ThrottlingError");
    assert_eq!(counter(&w, "T", "hot").await, Some(2));
    assert_eq!(
        counter(&w, "T", "cold").await,
        Some(2),
        "nothing of the third"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_transactions_on_an_item_conflict_and_only_one_commits() {
    let w = world(Config {
        tx_hold_ms: 400,
        ..Config::default()
    })
    .await;
    let tx = |other: &str| {
        w.client
            .transact_write_items()
            .transact_items(add_one(&w.table, "X", other))
            .transact_items(add_one(&w.table, "X", "shared"))
            .send()
    };
    // The second starts while the first holds its items (held 400 ms); the first is in flight
    // once its request is sent, which the simulator's counter shows before the second goes.
    let first = tokio::spawn(tx("a"));
    for _ in 0..200 {
        if w.env.sim_stats().requests > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let second = tx("b").await;
    // A single write on a held item meets the transaction too.
    let single = w
        .client
        .update_item()
        .table_name(&w.table)
        .key("pk", s("X"))
        .key("sk", s("shared"))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await;
    first.await.expect("join").expect("the first commits");
    let err = second.expect_err("the second overlaps");
    assert_eq!(reasons(&err), vec!["None", "TransactionConflict"]);
    assert_eq!(
        single.map_err(|e| code(&e)).expect_err("held"),
        "TransactionConflictException"
    );
    assert_eq!(counter(&w, "X", "shared").await, Some(1));
    assert_eq!(
        counter(&w, "X", "b").await,
        None,
        "nothing of the cancelled one"
    );
    // Once the first is done the item is free again.
    tx("b").await.expect("after the first");
    assert_eq!(counter(&w, "X", "shared").await, Some(2));
}

fn always(faults: FaultRates) -> Config {
    Config {
        faults,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_server_errors_and_throttling_answer_as_dynamodb_and_write_nothing() {
    let w = world(always(FaultRates {
        internal_error: 1.0,
        ..FaultRates::default()
    }))
    .await;
    assert_eq!(put(&w, "E", "1").await, Err("InternalServerError".into()));
    assert_eq!(counter(&w, "E", "1").await, None);

    let w = world(always(FaultRates {
        throttling: 1.0,
        ..FaultRates::default()
    }))
    .await;
    assert_eq!(put(&w, "E", "1").await, Err("ThrottlingException".into()));
    assert_eq!(counter(&w, "E", "1").await, None);
    assert_eq!(w.env.sim_stats().injected_throttling, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_before_the_table_writes_nothing_and_after_it_loses_the_answer() {
    let w = world(always(FaultRates {
        drop_before: 1.0,
        ..FaultRates::default()
    }))
    .await;
    assert_eq!(put(&w, "D", "before").await, Err("dispatch".into()));
    assert_eq!(counter(&w, "D", "before").await, None);

    let w = world(always(FaultRates {
        drop_after: 1.0,
        ..FaultRates::default()
    }))
    .await;
    let err = put(&w, "D", "after").await.expect_err("answer lost");
    assert!(
        err == "dispatch" || err == "response",
        "a transport failure, got {err}"
    );
    assert_eq!(counter(&w, "D", "after").await, Some(0), "it committed");
    assert_eq!(w.env.sim_stats().drops_after, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_latency_delays_every_answer_by_at_least_its_floor() {
    let w = world(Config {
        latency_ms: (150, 160),
        ..Config::default()
    })
    .await;
    let started = Instant::now();
    put(&w, "L", "1").await.expect("put");
    // A lower bound only: the simulator cannot answer before its latency has passed.
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_repeats_the_same_run() {
    let mixed = |seed| Config {
        seed,
        faults: FaultRates {
            internal_error: 0.2,
            throttling: 0.2,
            drop_before: 0.2,
            drop_after: 0.0,
        },
        ..Config::default()
    };
    let run = |seed| async move {
        let w = world(mixed(seed)).await;
        let mut outcomes = Vec::new();
        for i in 0..30 {
            outcomes.push(put(&w, "R", &i.to_string()).await);
        }
        outcomes
    };
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    assert!(a.iter().any(Result::is_ok) && a.iter().any(Result::is_err));
    assert_ne!(a, run(12).await);
}
