//! `make bench-scale`: reservations a second, and the simulator's conflict and throttle rates,
//! against the number of stock shards, under the DynamoDB behaviour simulator's per-item and
//! per-partition write ceilings (scaled down so that moto is not the bottleneck: one shard must
//! cap at its ceiling, N shards should scale close to N times).
//!
//! Each point: a fresh event (ample stock, `stock_shards` = N) behind a fresh simulator; a
//! crowd of `BENCH_CLIENTS` buyers (default 16) runs checkouts through the real router for
//! `BENCH_SECS` seconds (default 8), each buyer retrying at once after an answer.
//! Args: the shard counts (default `1 2 4 8`).

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use functions::checkout::{router, Checkout};
use functions::testing::sim::{Ceilings, Config};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};
use tower::ServiceExt as _;

const NOW: u64 = 1_800_000_000;
/// Write units a second per item and per partition key: 6 units = 3 transactional writes (moto,
/// which serialises DynamoDB requests, takes ~12 checkouts a second on the 2-core machine).
const CEILING_UNITS: f64 = 6.0;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 16);
    let secs = env_or("BENCH_SECS", 8);
    let shard_counts: Vec<u32> = {
        let args: Vec<u32> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![1, 2, 4, 8]
        } else {
            args
        }
    };
    println!(
        "ceiling {CEILING_UNITS} write units/s per item and per partition ({} reservations/s), \
         {clients} clients, {secs} s per point",
        CEILING_UNITS / 2.0
    );
    println!("| shards | reservations/s | x 1 shard | conflicts per transaction | throttled requests per transaction | checkouts given up (5xx) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut base = None;
    for shards in shard_counts {
        let direct = TestEnv::with_config(|c| c.reservation_ttl_secs = 600).await;
        let clock = Arc::new(TestClock::new(NOW));
        let event = format!("bench-{shards}");
        let mut spec = sample_event_spec(&event, 1_000_000, NOW);
        spec.max_per_buyer = Some(1_000_000);
        spec.tiers[0].stock_shards = Some(shards);
        functions::admin::create_event(&direct.deps().with_clock(clock.clone()), &spec)
            .await
            .unwrap();
        let env = direct.through_sim(Config {
            ceilings: Ceilings {
                item_units_per_sec: Some(CEILING_UNITS),
                partition_units_per_sec: Some(CEILING_UNITS),
                burst_secs: 0.1,
            },
            tx_hold_ms: 5,
            ..Config::default()
        });
        let app = router(Checkout::new(
            env.deps().with_clock(clock.clone()),
            Arc::new(RecordingPayments::default()),
        ));
        let created = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (app, created, failed, next, event) = (
                app.clone(),
                created.clone(),
                failed.clone(),
                next.clone(),
                event.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = u32::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap();
                    let req = Request::post("/v1/orders")
                        .header("content-type", "application/json")
                        .header("idempotency-key", format!("bench-{event}-{n:012}"))
                        .body(Body::from(
                            serde_json::to_vec(&sample_checkout_body(&event, 1, n)).unwrap(),
                        ))
                        .unwrap();
                    let status = app.clone().oneshot(req).await.unwrap().status();
                    if status == StatusCode::CREATED {
                        created.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let stats = env.sim_stats();
        let rate = created.load(Ordering::Relaxed) as f64 / elapsed;
        let base_rate = *base.get_or_insert(rate);
        let tx = stats.transactions.max(1) as f64;
        println!(
            "| {shards} | {rate:.1} | {:.2} | {:.1} % | {:.1} % | {} |",
            rate / base_rate,
            100.0 * stats.conflicts as f64 / tx,
            100.0 * (stats.item_throttles + stats.partition_throttles) as f64 / tx,
            failed.load(Ordering::Relaxed),
        );
    }
}
