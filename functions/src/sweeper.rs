//! sweeper: releases expired unpaid reservations (schedule, every minute).
//!
//! Each release is one transaction conditional on the order still being `RESERVED` and expired:
//! the status becomes `EXPIRED`, the stock and the buyer's counter are returned. Running two
//! sweepers at once, or one twice, returns stock exactly once.

use serde::Serialize;

use crate::deps::Deps;
use crate::error::Result;

/// Reservations handled per query.
pub const BATCH: u32 = 100;
/// Queries per run (bounded work per invocation; the next run continues).
pub const MAX_BATCHES: u32 = 20;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub found: u32,
    pub released: u32,
    /// Already released, paid or cancelled by someone else meanwhile.
    pub skipped: u32,
    pub failed: u32,
}

/// Releases every reservation expired at the clock's `now` (bounded).
pub async fn sweep(deps: &Deps) -> Result<SweepReport> {
    sweep_bounded(deps, BATCH, MAX_BATCHES).await
}

/// As [`sweep`], with explicit bounds.
pub async fn sweep_bounded(deps: &Deps, batch: u32, max_batches: u32) -> Result<SweepReport> {
    let now = deps.clock.now();
    let mut report = SweepReport::default();
    for _ in 0..max_batches {
        let expired = deps.orders.expired_reservations(now, batch).await?;
        if expired.is_empty() {
            break;
        }
        let mut progressed = false;
        for r in &expired {
            report.found += 1;
            match deps.orders.release(r, now).await {
                Ok(true) => {
                    report.released += 1;
                    progressed = true;
                    tracing::info!(order_id = %r.order_id, quantity = r.quantity, "reservation released");
                }
                Ok(false) => report.skipped += 1,
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(order_id = %r.order_id, problem = e.slug(), "release failed");
                }
            }
        }
        // Nothing moved (e.g. another sweeper holds the same page): stop; the next run retries.
        if !progressed || expired.len() < batch as usize {
            break;
        }
    }
    tracing::info!(?report, "sweep done");
    Ok(report)
}
