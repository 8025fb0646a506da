//! The flash sale through the waiting room over the dev stack (`make demo DEMO_QUEUE=1` at a
//! small size): the edge's line admits at its rate, walkers-away are skipped or admitted, every
//! order was admitted, nothing is oversold, and checkout refuses a client without an admission
//! and a spent admission.
//!
//! Needs the edge worker built (`make build-edge`) and the moto venv (`make moto-venv`).

use karcis_e2e::queue::{self, QueueOptions};
use karcis_e2e::stack::DevStack;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queued_sale_admits_at_the_rate_and_checkout_takes_only_admissions() {
    let mut stack = DevStack::start(true).await.expect("start the dev stack");
    let opts = QueueOptions {
        tickets: 20,
        buyers: 80,
        rate: 40,
        concurrency: 32,
        quiet: true,
    };
    let result = queue::run(&mut stack, &opts).await;
    stack.shutdown().await;
    let s = result.expect("the queued sale runs to the end");
    eprintln!("{}", s.render());
    assert_eq!(s.violations(), Vec::<String>::new());
    assert_eq!(s.arrivals, 80);
    assert_eq!(s.joins_refused, 0);
    // Every place had its turn: admitted, or skipped after walking away.
    assert_eq!(s.admitted + s.abandoned, 80);
    assert!(s.abandoned <= u64::from(s.walked_away));
    assert_eq!(s.sold, 20, "80 admitted buyers sell out 20");
    assert!(s.no_admission_refused && s.reused_admission_refused);
}
