//! Lambda's SQS event source mapping, played against a real (moto) queue: long-polls batches of
//! up to 10 messages, invokes the real handler with an `SqsEvent` built from them, deletes the
//! messages the handler did not report as failures (`ReportBatchItemFailures`). A failed
//! message stays in the queue, reappears after the queue's visibility timeout, and after the
//! redrive policy's `maxReceiveCount` receives SQS moves it to the dead-letter queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use functions::aws::provision;
use functions::aws::Clients;
use functions::mint::Minter;
use functions::notify::Notifier;

/// The function behind a queue.
#[derive(Clone, Debug)]
pub enum Consumer {
    Mint(Arc<Minter>),
    Notify(Arc<Notifier>),
    Revoke(Arc<functions::revoke::Revoker>),
}

/// Counters of one mapping.
#[derive(Debug, Default)]
pub struct PollStats {
    pub batches: AtomicU64,
    pub messages: AtomicU64,
    pub failures: AtomicU64,
    /// Handler time per batch.
    pub batch_latency: Mutex<Vec<Duration>>,
}

/// A running mapping (`concurrency` pollers on one queue).
#[derive(Debug)]
pub struct Poller {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub stats: Arc<PollStats>,
}

/// `arn:aws:sqs:<region>:<account>:<name>` from a queue URL `http://host/<account>/<name>`.
pub fn queue_arn(url: &str, region: &str) -> String {
    let mut parts = url.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or("123456789012");
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

impl Poller {
    pub fn start(
        clients: &Clients,
        queue_url: &str,
        consumer: &Consumer,
        concurrency: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(PollStats::default());
        let arn = queue_arn(queue_url, "us-east-1");
        let tasks = (0..concurrency.max(1))
            .map(|_| {
                let (stop, stats, consumer) = (stop.clone(), stats.clone(), consumer.clone());
                let (sqs, url, arn) = (clients.sqs.clone(), queue_url.to_owned(), arn.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        // Long poll, short enough that stopping is quick.
                        let Ok(received) = provision::receive(&sqs, &url, 10, 1).await else {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        };
                        if received.is_empty() {
                            continue;
                        }
                        let triples: Vec<(String, String, u32)> = received
                            .iter()
                            .map(|m| (m.message_id.clone(), m.body.clone(), m.receive_count))
                            .collect();
                        let event = functions::sqs::event_from(&triples, &arn);
                        let started = Instant::now();
                        let response = match &consumer {
                            Consumer::Mint(m) => m.handle(event).await,
                            Consumer::Notify(n) => n.handle(event).await,
                            Consumer::Revoke(r) => r.handle(event).await,
                        };
                        if let Ok(mut l) = stats.batch_latency.lock() {
                            l.push(started.elapsed());
                        }
                        let failed = functions::sqs::failed_ids(&response);
                        stats.batches.fetch_add(1, Ordering::Relaxed);
                        stats
                            .messages
                            .fetch_add(received.len() as u64, Ordering::Relaxed);
                        stats
                            .failures
                            .fetch_add(failed.len() as u64, Ordering::Relaxed);
                        for m in &received {
                            if !failed.contains(&m.message_id) {
                                // A failed delete only means a redelivery; the handlers are
                                // idempotent.
                                let _ = provision::delete(&sqs, &url, &m.receipt_handle).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Self { stop, tasks, stats }
    }

    /// Stops polling: in-flight batches finish (at most `wait`), then the pollers end.
    pub async fn stop(mut self, wait: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + wait;
        for task in self.tasks.drain(..) {
            let left = deadline.saturating_duration_since(Instant::now());
            let abort = task.abort_handle();
            if tokio::time::timeout(left, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
    }
}
