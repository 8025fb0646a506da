//! End to end over the dev stack (moto, the real handlers behind the local API gateway, the SQS
//! event source mapping, the gateway stub, the edge worker in workerd), at small sizes: the
//! summary's invariants, checked one by one.
//!
//! Needs the edge worker built (`make build-edge`; `make test` builds it first) and the moto
//! venv (`make moto-venv`).

use functions::aws::provision;
use functions::testing::{contains_bytes, sample_buyer};
use karcis_e2e::scenario::{self, Options, PrivacyOutcome};
use karcis_e2e::stack::DevStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(clippy::too_many_lines)]
async fn flash_sale_from_checkout_to_the_door() {
    let mut stack = DevStack::start(true).await.expect("start the dev stack");
    let opts = Options {
        tickets: 20,
        buyers: 60,
        concurrency: 32,
        quiet: true,
    };
    let result = scenario::run(&mut stack, &opts).await;
    let raw = provision::raw_table_items(&stack.clients.dynamodb, &stack.deps.config.table_name)
        .await
        .expect("scan the table");
    stack.shutdown().await;
    let s = result.expect("the scenario runs to the end");
    eprintln!("{}", s.render());

    // No oversell, and the event's counter agrees.
    assert_eq!(s.oversold, 0);
    assert!(s.sold <= s.capacity, "sold {} of {}", s.sold, s.capacity);
    // Every seat went to someone: a real buyer, or a bot's order that got through the rules and
    // holds its seats until its reservation expires (the blacklisted card's paid order too).
    let taken = s.sold + s.farm.seats + s.card_seats;
    assert!(
        taken >= s.capacity - 1,
        "60 buyers and the bots must (nearly) sell out 20: sold {}, bots hold {}, card order {}",
        s.sold,
        s.farm.seats,
        s.card_seats
    );
    assert_eq!(s.available_after, s.capacity.saturating_sub(taken));
    assert_eq!(s.checkout_errors, 0, "{:?}", s.problems);
    assert!(s.sold_out_refused > 0, "the losers were told: sold out");
    assert_eq!(s.idempotent_retries_same_order, s.idempotent_retries);

    // Webhooks: every order paid once; duplicates and late 'pending' are no-ops; forgeries refused.
    assert_eq!(s.webhooks_paid, s.orders);
    assert!(s.webhooks_duplicate_noop > 0 && s.webhooks_late_pending_noop > 0);
    assert!(s.forged_webhooks_sent >= 2);
    assert_eq!(s.forged_webhooks_rejected, s.forged_webhooks_sent);
    assert_eq!(s.webhook_errors, 0, "{:?}", s.problems);

    // Minting through SQS: exactly the tickets sold, nothing dead-lettered.
    assert_eq!(s.orders_minted, s.orders);
    assert_eq!(s.tickets_minted, s.sold);
    assert_eq!(s.dead_letters, 0);
    assert!(s.notifications_sent >= u64::from(s.orders_minted));

    // The door: every bound ticket admitted exactly once (one was revoked before it came).
    assert!(s.bound > 5, "bound {}", s.bound);
    assert_eq!(
        s.max_admissions_per_ticket, 1,
        "a ticket was admitted twice"
    );
    assert_eq!(s.admitted + 1, s.bound);
    assert_eq!(s.race_pairs_one_winner, s.race_pairs);
    assert!(s.second_scans > 0);
    assert_eq!(s.second_scans_refused, s.second_scans);
    assert_eq!(s.replays_refused, s.replays);
    assert_eq!(s.static_copies_refused, s.static_copies);
    assert!(s.forged_qr >= 2);
    assert_eq!(
        s.forged_qr_refused, s.forged_qr,
        "forged QR codes must be refused"
    );
    assert_eq!(s.revoked_refused, 1);

    // No buyer's name, email or phone in clear in any table item.
    for n in 0..opts.buyers {
        let b = sample_buyer(n);
        for field in ["name", "email", "phone"] {
            let value = b[field].as_str().expect("field");
            assert!(
                !raw.iter().any(|item| contains_bytes(item, value)),
                "buyer {n}'s {field} is stored in clear"
            );
        }
    }

    match &s.privacy {
        Some(PrivacyOutcome::Done {
            exported_own_data,
            deleted_unreadable,
        }) => {
            assert!(*exported_own_data, "the export lacked the buyer's data");
            assert!(*deleted_unreadable, "deleted data is still readable");
        }
        None => panic!("privacy step not run"),
    }
    assert!(s.violations().is_empty(), "{:?}", s.violations());
}

/// The event source mapping: a message the handler keeps failing reappears after the
/// visibility timeout and, after maxReceiveCount (5) receives, SQS moves it to the DLQ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_ends_in_the_dead_letter_queue() {
    let mut stack = DevStack::start(true).await.expect("start the dev stack");
    stack
        .clients
        .sqs
        .send_message()
        .queue_url(&stack.mint.url)
        .message_body(r#"{"order_id": "ord_00000000000000000000000000000000", "event_id": "nope"}"#)
        .send()
        .await
        .expect("send");
    let mut dead = 0;
    // 5 receives x 5 s visibility: about 25 s; bounded at 90 s.
    for _ in 0..180 {
        dead = provision::depth(&stack.clients.sqs, &stack.mint.dlq_url)
            .await
            .expect("depth");
        if dead > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let poller = stack.mint_poller.as_ref().expect("poller");
    let failures = poller
        .stats
        .failures
        .load(std::sync::atomic::Ordering::Relaxed);
    let left = provision::depth(&stack.clients.sqs, &stack.mint.url)
        .await
        .expect("depth");
    stack.shutdown().await;
    assert_eq!(dead, 1, "the poison message reached the DLQ");
    assert_eq!(left, 0, "and left the work queue");
    assert_eq!(failures, 5, "it was tried maxReceiveCount times");
}
