//! retention against moto: customers whose every event is past the retention period are
//! shredded; a customer with a later event keeps their data.

use std::sync::Arc;

use functions::checkout::{Checkout, CheckoutRequest};
use functions::retention::{run, RetentionReport};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 86_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_of_past_events_is_shredded_after_the_retention_period() {
    let env = TestEnv::with_config(|c| c.retention_days = 30).await;
    let clock = Arc::new(TestClock::new(NOW));
    let deps = env.deps().with_clock(clock.clone());
    // "old" ends two days from now; "later" ends a year after.
    functions::admin::create_event(&deps, &sample_event_spec("old", 10, NOW))
        .await
        .expect("event");
    functions::admin::create_event(&deps, &sample_event_spec("later", 10, NOW + 365 * DAY))
        .await
        .expect("event");
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let buy = |event: &'static str, n: u32, key: &'static str| {
        let checkout = &checkout;
        async move {
            let req: CheckoutRequest =
                serde_json::from_value(sample_checkout_body(event, 1, n)).expect("body");
            checkout
                .create_order(key, &req)
                .await
                .expect("reserve")
                .response
                .order
                .order_id
        }
    };
    let only_old = buy("old", 1, "retention-key-1").await;
    let both_old = buy("old", 2, "retention-key-2").await;
    buy("later", 2, "retention-key-3").await;
    let customer = |order_id: String| {
        let deps = deps.clone();
        async move {
            deps.orders
                .get_order(&order_id)
                .await
                .expect("read")
                .expect("order")
                .customer_id
        }
    };
    let (c1, c2) = (customer(only_old).await, customer(both_old).await);
    let store = env.store();

    // Inside the retention period: nothing happens.
    clock.set(NOW + 2 * DAY + 30 * DAY - 10);
    assert_eq!(
        run(&deps, store.as_ref(), store.as_ref())
            .await
            .expect("run")
            .shredded,
        0
    );
    assert!(deps.pii.customer_key_by_id(&c1).await.is_ok());

    // Past it: only the customer with nothing but the old event is shredded, once.
    clock.set(NOW + 2 * DAY + 30 * DAY + 10);
    assert_eq!(
        run(&deps, store.as_ref(), store.as_ref())
            .await
            .expect("run"),
        RetentionReport {
            examined: 1,
            shredded: 1,
            reshredded: 0
        }
    );
    assert!(deps.pii.customer_key_by_id(&c1).await.is_err(), "shredded");
    assert!(
        deps.pii.customer_key_by_id(&c2).await.is_ok(),
        "has a later event"
    );
    assert_eq!(
        run(&deps, store.as_ref(), store.as_ref())
            .await
            .expect("run"),
        RetentionReport {
            examined: 0,
            shredded: 0,
            reshredded: 0
        },
        "idempotent: a shredded customer is not a candidate again"
    );
    // The email no longer maps to the customer.
    let email = functions::testing::sample_buyer(1)["email"]
        .as_str()
        .expect("email")
        .to_owned();
    let index = deps.pii.email_index(&email).await.expect("index");
    assert_eq!(
        deps.customers
            .find_by_email_index(&index)
            .await
            .expect("lookup"),
        None
    );
}
