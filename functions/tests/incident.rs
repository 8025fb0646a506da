//! The incident commands against moto (INCIDENT.md): each one's effect on the system it is
//! meant to stop.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use functions::audit_ingest::{append_record, verify_stream, DynamoAuditLog, Stream};
use functions::checkout::{Checkout, CheckoutRequest, PAUSE_CACHE_SECS};
use functions::deps::Deps;
use functions::error::Error;
use functions::operations::evidence::export_evidence;
use functions::operations::pause::{set_sales, Scope};
use functions::testing::{
    at_once, sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};

const NOW: u64 = 1_800_000_000;

async fn order(checkout: &Checkout, event: &str, n: u32) -> Result<String, Error> {
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body(event, 1, n)).expect("body");
    checkout
        .create_order(&format!("incident-order-key-{n:05}"), &req)
        .await
        .map(|c| c.response.order.order_id)
}

async fn world() -> (TestEnv, Deps, Arc<TestClock>, DynamoAuditLog) {
    let env = TestEnv::new().await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    for event in ["fest", "other"] {
        functions::admin::create_event(&deps, &sample_event_spec(event, 100, NOW))
            .await
            .expect("event");
    }
    let log = DynamoAuditLog::new(env.clients.dynamodb.clone(), env.config.table_name.clone());
    (env, deps, clock, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_one_event_stops_its_checkout_at_once_and_no_other() {
    let (env, deps, _clock, log) = world().await;
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    order(&checkout, "fest", 1).await.expect("on sale");
    let store = env.store();
    set_sales(
        &store,
        &log,
        &Scope::Event("fest".into()),
        true,
        "ops",
        "leak",
        NOW,
    )
    .await
    .expect("pause");
    assert_eq!(order(&checkout, "fest", 2).await, Err(Error::NotOnSale));
    order(&checkout, "other", 3)
        .await
        .expect("other event still sells");
    // Unknown events are an error, not a silent no-op.
    assert_eq!(
        set_sales(
            &store,
            &log,
            &Scope::Event("nope".into()),
            true,
            "ops",
            "x",
            NOW
        )
        .await
        .map(|_| ()),
        Err(Error::NotFound)
    );
    set_sales(
        &store,
        &log,
        &Scope::Event("fest".into()),
        false,
        "ops",
        "fixed",
        NOW,
    )
    .await
    .expect("resume");
    order(&checkout, "fest", 4).await.expect("on sale again");
    // Both uses are in the staff chain, which verifies.
    let chain = verify_stream(&log, &Stream::Staff, 100)
        .await
        .expect("verify");
    assert!(chain.valid && chain.checked == 2, "{chain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_stops_every_checkout_within_seconds() {
    let (env, deps, clock, log) = world().await;
    let warm = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    order(&warm, "fest", 1).await.expect("on sale");
    set_sales(
        &env.store(),
        &log,
        &Scope::All,
        true,
        "ops",
        "incident",
        NOW,
    )
    .await
    .expect("pause all");
    // A fresh instance refuses at once, for every event, under a burst.
    let cold = Arc::new(Checkout::new(
        deps.clone(),
        Arc::new(RecordingPayments::default()),
    ));
    let results = at_once(20, |i| {
        let c = cold.clone();
        async move {
            order(
                &c,
                if i % 2 == 0 { "fest" } else { "other" },
                100 + u32::try_from(i).expect("small"),
            )
            .await
        }
    })
    .await;
    assert!(
        results.iter().all(|r| *r == Err(Error::NotOnSale)),
        "{results:?}"
    );
    // A warm instance refuses once its last read is older than the cache.
    clock.advance(PAUSE_CACHE_SECS);
    assert_eq!(order(&warm, "other", 2).await, Err(Error::NotOnSale));
    set_sales(
        &env.store(),
        &log,
        &Scope::All,
        false,
        "ops",
        "over",
        NOW + 5,
    )
    .await
    .expect("resume");
    clock.advance(PAUSE_CACHE_SECS);
    order(&warm, "fest", 3).await.expect("sales resumed");
    assert!(
        set_sales(&env.store(), &log, &Scope::All, true, "ops", "", NOW)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_export_verifies_each_chain_and_shows_a_tamper() {
    let (env, _deps, _clock, log) = world().await;
    let store = env.store();
    set_sales(&store, &log, &Scope::All, true, "ops", "incident", NOW)
        .await
        .expect("pause");
    for i in 0..3 {
        append_record(&log, &Stream::Door("fest".into()), NOW + i, |seq| {
            Ok(format!("{{\"result\":\"admitted\",\"seq\":{seq}}}"))
        })
        .await
        .expect("door entry");
    }
    let evidence = export_evidence(&log, &["fest".to_owned()], NOW)
        .await
        .expect("export");
    assert!(evidence.verified);
    let staff = &evidence.chains[0];
    assert_eq!(staff.stream, "STAFFAUDIT");
    assert!(staff.entries[0].canonical.contains("\"actor\":\"ops\""));
    assert!(staff.entries[0]
        .canonical
        .contains("\"action\":\"sales_paused\""));
    assert_eq!(evidence.chains[1].entries.len(), 3);
    let (text, digest) = evidence.to_json_with_digest().expect("json");
    assert_eq!(digest.len(), 64);
    assert!(text.contains("AUDIT#fest"));

    // Someone with table access rewrites the second door entry: the export shows where.
    env.clients
        .dynamodb
        .update_item()
        .table_name(&env.config.table_name)
        .key("pk", AttributeValue::S("AUDIT#fest".into()))
        .key("sk", AttributeValue::S(format!("SEQ#{:020}", 2)))
        .update_expression("SET canonical = :c")
        .expression_attribute_values(":c", AttributeValue::S("{\"result\":\"denied\"}".into()))
        .send()
        .await
        .expect("tamper");
    let evidence = export_evidence(&log, &["fest".to_owned()], NOW)
        .await
        .expect("export");
    assert!(!evidence.verified);
    assert!(evidence.chains[0].check.valid);
    assert_eq!(evidence.chains[1].check.first_bad_seq, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_backup_job_exports_once_and_a_failure_is_recorded() {
    use functions::operations::backup::{run_job, BackupJob, BackupTarget, Outcome};
    use functions::store::restore::Wait;
    let (env, _deps, _clock, _log) = world().await;
    let wait = Wait {
        every: std::time::Duration::from_millis(100),
        polls: 600,
    };
    env.clients
        .dynamodb
        .update_continuous_backups()
        .table_name(&env.config.table_name)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .expect("spec"),
        )
        .send()
        .await
        .expect("PITR");
    let store = env.store();
    let job = BackupJob {
        kind: "daily_export".into(),
        run_id: "daily-2026-11-30".into(),
    };
    // No bucket: the run fails, is recorded as failed, and its message fails.
    let missing = BackupTarget {
        bucket: functions::testing::unique_name("karcis-no-bucket"),
        kms_key: None,
    };
    assert!(run_job(&store, &missing, &job, NOW, wait).await.is_err());
    assert_eq!(
        store
            .backup_run_status(&job.run_id)
            .await
            .expect("read")
            .as_deref(),
        Some("FAILED")
    );
    // The retry (redelivery) with the bucket in place exports the table.
    let bucket = functions::testing::unique_name("karcis-backups");
    functions::testing::create_s3_bucket(&env.endpoint, &bucket);
    let target = BackupTarget {
        bucket,
        kms_key: None,
    };
    let first = run_job(&store, &target, &job, NOW, wait)
        .await
        .expect("export");
    assert!(
        matches!(first, Outcome::Exported { items, .. } if items > 0),
        "{first:?}"
    );
    assert_eq!(
        store
            .backup_run_status(&job.run_id)
            .await
            .expect("read")
            .as_deref(),
        Some("DONE")
    );
    // Redelivered at once, many times: none exports again.
    let store = Arc::new(store);
    let target = Arc::new(target);
    let again = at_once(5, |_| {
        let (s, t, j) = (store.clone(), target.clone(), job.clone());
        async move { run_job(&s, &t, &j, NOW, wait).await }
    })
    .await;
    assert!(
        again.iter().all(|r| *r == Ok(Outcome::AlreadyClaimed)),
        "{again:?}"
    );
    // A malformed job changes nothing.
    let bad = BackupJob {
        kind: "daily_export".into(),
        run_id: "../x".into(),
    };
    assert!(matches!(
        run_job(&store, &target, &bad, NOW, wait).await,
        Err(Error::Invalid { .. })
    ));
}
