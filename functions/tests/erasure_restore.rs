//! The restore drill of an erasure: a buyer is erased, the table is restored from a backup made
//! before the erasure (their wrapped key is back, their data readable again), the erasure log is
//! replayed, and the buyer is unreadable again.
//!
//! moto's RestoreTableToPointInTime copies the table as it is now (it keeps no history), so the
//! drill restores an on-demand backup (CreateBackup / RestoreTableFromBackup), which moto does
//! copy at backup time, as AWS Backup's daily copies are.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::privacy::{replay_erasures, router, Privacy};
use functions::store::DynamoStore;
use functions::testing::{
    sample_buyer, sample_checkout_body, sample_event_spec, unique_name, RecordingPayments,
    RecordingSender, TestClock, TestEnv,
};
use serde_json::{json, Value};
use tower::ServiceExt;

const NOW: u64 = 1_800_000_000;

async fn call(app: &axum::Router, path: &str, body: &Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Deps over another table (the restored one), same keys and erasure log.
fn deps_on(env: &TestEnv, table: &str, clock: Arc<TestClock>) -> Deps {
    let mut config = env.config.clone();
    table.clone_into(&mut config.table_name);
    Deps::from_clients(config, &env.clients).with_clock(clock)
}

/// A world with an event and one order of buyer `n`: (deps, order id, customer id, email).
async fn one_buyer(env: &TestEnv, clock: Arc<TestClock>, n: u32) -> (Deps, String, String, String) {
    let deps = env.deps().with_clock(clock);
    functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
        .await
        .expect("event");
    let email = sample_buyer(n)["email"].as_str().expect("email").to_owned();
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body("fest", 1, n)).expect("body");
    let order_id = checkout
        .create_order(&format!("restore-drill-{n}"), &req)
        .await
        .expect("reserve")
        .response
        .order
        .order_id;
    let customer_id = deps
        .orders
        .get_order(&order_id)
        .await
        .expect("read")
        .expect("order")
        .customer_id;
    (deps, order_id, customer_id, email)
}

/// The buyer asks for a code and erases themselves: the delete's status.
async fn erase(env: &TestEnv, deps: &Deps, email: &str) -> StatusCode {
    let sender = Arc::new(RecordingSender::default());
    let app = router(Privacy::new(deps.clone(), env.store(), sender.clone()));
    let (status, body) = call(&app, "/v1/privacy/challenge", &json!({"email": email})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let code = sender
        .sent
        .lock()
        .expect("lock")
        .last()
        .expect("sent")
        .params["code"]
        .clone();
    call(
        &app,
        "/v1/privacy/delete",
        &json!({"email": email, "challenge": body["challenge"], "code": code}),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_buyer_stays_erased_after_a_restore_and_replay() {
    let env = TestEnv::new().await;
    let clock = Arc::new(TestClock::new(NOW));
    let (deps, order_id, customer_id, email) = one_buyer(&env, clock.clone(), 21).await;

    // The nightly backup, made while the buyer's data is live.
    let ddb = &env.clients.dynamodb;
    let backup = ddb
        .create_backup()
        .table_name(&env.config.table_name)
        .backup_name("nightly")
        .send()
        .await
        .expect("CreateBackup");
    let backup_arn = backup
        .backup_details()
        .map(|d| d.backup_arn().to_owned())
        .expect("backup arn");

    // The buyer erases themselves.
    assert_eq!(erase(&env, &deps, &email).await, StatusCode::OK);
    assert!(deps.pii.customer_key_by_id(&customer_id).await.is_err());

    // The table is restored from the backup: the buyer's key is back and their data readable.
    let restored = unique_name("karcis-restored");
    ddb.restore_table_from_backup()
        .target_table_name(&restored)
        .backup_arn(&backup_arn)
        .send()
        .await
        .expect("RestoreTableFromBackup");
    let r = deps_on(&env, &restored, clock.clone());
    let key = r
        .pii
        .customer_key_by_id(&customer_id)
        .await
        .expect("the restore brought the key back");
    let order = r
        .orders
        .get_order(&order_id)
        .await
        .expect("read")
        .expect("order");
    let details: functions::model::BuyerDetails = key
        .open_json(&format!("order/{order_id}/buyer"), &order.buyer_sealed)
        .expect("readable before the replay");
    assert_eq!(details.email, email);
    let index = r.pii.email_index(&email).await.expect("index");
    assert_eq!(
        r.customers.find_by_email_index(&index).await.expect("read"),
        Some(customer_id.clone())
    );

    // The post-restore replay: unreadable again, the address leads nowhere, and a second
    // replay has nothing left to do.
    let records = Arc::new(DynamoStore::new(ddb.clone(), restored.clone()));
    let report = replay_erasures(&r, records.as_ref()).await.expect("replay");
    assert_eq!((report.logged, report.reshredded), (1, 1), "{report:?}");
    assert!(r.pii.customer_key_by_id(&customer_id).await.is_err());
    let record = r
        .customers
        .get_customer(&customer_id)
        .await
        .expect("read")
        .expect("pseudonymous record stays");
    assert!(record.wrapped_key.is_none() && record.email_sealed.is_none());
    assert_eq!(
        r.customers.find_by_email_index(&index).await.expect("read"),
        None
    );
    let report = replay_erasures(&r, records.as_ref()).await.expect("replay");
    assert_eq!((report.logged, report.reshredded), (1, 0));
    // The live table was untouched by the drill and stays erased.
    assert!(deps.pii.customer_key_by_id(&customer_id).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_without_the_erasure_log_fails_and_shreds_nothing() {
    let env = TestEnv::with_config(|c| c.erasure_log_table = None).await;
    let clock = Arc::new(TestClock::new(NOW));
    let (deps, _, customer_id, email) = one_buyer(&env, clock, 22).await;
    assert_eq!(
        erase(&env, &deps, &email).await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(deps.pii.customer_key_by_id(&customer_id).await.is_ok());
}
