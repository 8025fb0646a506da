//! The restore drill at a small size (`make restore-drill` runs it larger and prints the
//! report): a sale with minted, expired and live orders, a door audit chain and a staff chain;
//! the daily backup is taken; a buyer then erases themselves; the backup is restored into a new
//! table, the erasure log replayed and every invariant checked.
//!
//! moto keeps no history (its RestoreTableToPointInTime copies the table as it is now), and its
//! ImportTable corrupts strings holding escaped quotes (our audit texts and JSON attributes), so
//! the local drill restores the daily backup (CreateBackup → RestoreTableFromBackup), which moto
//! copies at backup time. Against AWS the same code restores a point in time (README).
//! `KARCIS_DRILL_ORDERS` sets the size (default 12).

use std::sync::Arc;
use std::time::Duration;

use functions::audit_ingest::{append_record, DynamoAuditLog, Stream};
use functions::checkout::{Checkout, CheckoutRequest};
use functions::deps::Deps;
use functions::mint::Minter;
use functions::model::PaymentRecord;
use functions::operations::restore::run_drill;
use functions::ports::{Clock as _, Erasure, MintMessage};
use functions::store::restore::{RestoreSource, Wait};
use functions::store::DynamoStore;
use functions::testing::{
    sample_buyer, sample_checkout_body, sample_event_spec, unique_name, RecordingPayments,
    TestClock, TestEnv,
};

const NOW: u64 = 1_800_000_000;
const LOCAL: Wait = Wait {
    every: Duration::from_millis(100),
    polls: 600,
};

fn size() -> u32 {
    std::env::var("KARCIS_DRILL_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
        .clamp(3, 5000)
}

/// Orders `first..first+count`, quantity 1 or 2: their ids and the customer of the first.
async fn reserve(checkout: &Checkout, first: u32, count: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in first..first + count {
        let req: CheckoutRequest =
            serde_json::from_value(sample_checkout_body("fest", 1 + n % 2, n)).expect("body");
        let order = checkout
            .create_order(&format!("restore-drill-order-{n:05}"), &req)
            .await
            .expect("reserve")
            .response
            .order;
        out.push((order.order_id, order.total.currency));
    }
    out
}

/// A sale: a third expired, a third paid and minted, a third still reserved; two audit chains.
async fn sale(env: &TestEnv, deps: &Deps, clock: &TestClock, orders: u32) {
    functions::admin::create_event(deps, &sample_event_spec("fest", orders * 2 + 5, NOW))
        .await
        .expect("event");
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let third = orders / 3;
    reserve(&checkout, 1, third).await;
    clock.advance(3600);
    functions::sweeper::sweep(deps).await.expect("sweep");
    let minter = Minter::new(deps.clone());
    for (i, (order_id, currency)) in reserve(&checkout, 1000, third).await.iter().enumerate() {
        let order = deps
            .orders
            .get_order(order_id)
            .await
            .expect("read")
            .expect("order");
        deps.orders
            .mark_paid(
                order_id,
                &PaymentRecord {
                    provider: "stripe".into(),
                    provider_ref: format!("pi_{i}"),
                    amount_minor: order.amount_minor,
                    currency: currency.clone(),
                    paid_at: clock.now(),
                    payment_id: None,
                },
            )
            .await
            .expect("paid");
        minter
            .mint_order(&MintMessage {
                order_id: order_id.clone(),
                event_id: "fest".into(),
            })
            .await
            .expect("mint");
    }
    reserve(&checkout, 2000, orders - 2 * third).await;
    let log = DynamoAuditLog::new(env.clients.dynamodb.clone(), env.config.table_name.clone());
    for stream in [Stream::Door("fest".into()), Stream::Staff] {
        for i in 0..3 {
            append_record(&log, &stream, NOW + i, |seq| {
                Ok(format!("{{\"seq\":{seq}}}"))
            })
            .await
            .expect("audit");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_keeps_the_invariants_and_erased_buyers_stay_erased() {
    let env = TestEnv::new().await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    let orders = size();
    sale(&env, &deps, &clock, orders).await;

    // A buyer with a live order, whose data is in the backup.
    let order = deps
        .orders
        .get_order(
            &reserve(
                &Checkout::new(deps.clone(), Arc::new(RecordingPayments::default())),
                9000,
                1,
            )
            .await[0]
                .0,
        )
        .await
        .expect("read")
        .expect("order");
    let customer_id = order.customer_id.clone();
    let email = sample_buyer(9000)["email"]
        .as_str()
        .expect("email")
        .to_owned();
    let email_index = deps.pii.email_index(&email).await.expect("index");

    // The daily backup, made while the buyer's data is live.
    let ddb = &env.clients.dynamodb;
    let backup_arn = ddb
        .create_backup()
        .table_name(&env.config.table_name)
        .backup_name("daily")
        .send()
        .await
        .expect("CreateBackup")
        .backup_details()
        .map(|d| d.backup_arn().to_owned())
        .expect("backup arn");

    // The buyer is erased after the backup (as the privacy function does: log, then shred).
    deps.erasures
        .record(&Erasure {
            customer_id: customer_id.clone(),
            email_index: Some(email_index.clone()),
            at: clock.now(),
        })
        .await
        .expect("log");
    deps.customers
        .shred_customer(&customer_id)
        .await
        .expect("shred");
    functions::privacy::PrivacyRecords::forget_email_index(env.store().as_ref(), &email_index)
        .await
        .expect("forget");

    let target = unique_name("karcis-drill");
    let source = RestoreSource::Backup { arn: backup_arn };
    let report = run_drill(&env.clients, &env.config, &source, &target, LOCAL)
        .await
        .expect("drill");
    println!("{}", report.summary());
    assert!(report.ok, "{}", report.summary());
    let f = &report.findings;
    assert_eq!(f.orders, orders as usize + 1);
    assert_eq!(f.minted_orders, (orders / 3) as usize);
    assert!(f.tickets >= f.minted_orders);
    assert_eq!((report.erasures_logged, report.reshredded), (1, 1));
    assert_eq!(f.erased_still_readable, 0);
    assert_eq!(f.chains.len(), 2);
    assert!(f.chains.iter().all(|c| c.valid && c.head_seq == 3));
    // The restored buyer's key was back before the replay: the replay is what shredded it.
    let restored = DynamoStore::new(ddb.clone(), target.clone());
    let record = functions::ports::Customers::get_customer(&restored, &customer_id)
        .await
        .expect("read")
        .expect("record");
    assert!(record.wrapped_key.is_none());
    // The live table was not touched by the drill.
    assert!(deps.pii.customer_key_by_id(&customer_id).await.is_err());
}
