//! Latencies per step, and live counters printed while the scenario runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Latency samples by step name.
#[derive(Debug, Default)]
pub struct Latencies(Mutex<BTreeMap<&'static str, Vec<Duration>>>);

/// One row of the latency table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyRow {
    pub step: &'static str,
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
}

/// The `p`-th percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[Duration], p: u32) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

impl Latencies {
    pub fn record(&self, step: &'static str, d: Duration) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(step).or_default().push(d);
        }
    }

    pub fn extend(&self, step: &'static str, samples: &[Duration]) {
        if let Ok(mut m) = self.0.lock() {
            m.entry(step).or_default().extend_from_slice(samples);
        }
    }

    /// Rows in the order the steps are listed in `order` (others after, by name).
    pub fn rows(&self, order: &[&str]) -> Vec<LatencyRow> {
        let m = self.0.lock().map(|m| m.clone()).unwrap_or_default();
        let mut rows: Vec<LatencyRow> = m
            .into_iter()
            .map(|(step, mut v)| {
                v.sort_unstable();
                LatencyRow {
                    step,
                    count: v.len(),
                    p50: percentile(&v, 50),
                    p99: percentile(&v, 99),
                }
            })
            .collect();
        rows.sort_by_key(|r| {
            order
                .iter()
                .position(|s| *s == r.step)
                .unwrap_or(usize::MAX)
        });
        rows
    }
}

/// Live counters (read by the progress printer).
#[derive(Debug, Default)]
pub struct Progress {
    pub checkouts: AtomicU64,
    pub sold: AtomicU64,
    pub webhooks: AtomicU64,
    pub minted_orders: AtomicU64,
    pub bound: AtomicU64,
    pub scans: AtomicU64,
    pub admitted: AtomicU64,
    phase: Mutex<String>,
}

impl Progress {
    pub fn phase(&self, name: &str) {
        if let Ok(mut p) = self.phase.lock() {
            name.clone_into(&mut p);
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn line(&self, buyers: u32, capacity: u32, started: Instant) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let phase = self.phase.lock().map(|p| p.clone()).unwrap_or_default();
        format!(
            "[demo {:>5.1}s] {phase:<9} checkouts {}/{buyers}  sold {}/{capacity}  webhooks {}  minted orders {}  bound {}  scans {} (admitted {})",
            started.elapsed().as_secs_f64(),
            g(&self.checkouts),
            g(&self.sold),
            g(&self.webhooks),
            g(&self.minted_orders),
            g(&self.bound),
            g(&self.scans),
            g(&self.admitted),
        )
    }
}

/// Prints [`Progress::line`] to stderr every second until dropped.
#[derive(Debug)]
pub struct Ticker {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    pub fn start(progress: Arc<Progress>, buyers: u32, capacity: u32, started: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!("{}", progress.line(buyers, capacity, started));
            }
        });
        Self { stop, task }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }
}
