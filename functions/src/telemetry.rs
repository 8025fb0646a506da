//! `tracing` JSON logs for Lambda (CloudWatch). Filter from `RUST_LOG` (default `info`).
//!
//! Rule: never log personal data, secrets or keys. Log ids (order, customer, event), counts,
//! statuses and problem types only.

/// Installs the JSON subscriber once; later calls do nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_current_span(false)
        .without_time() // CloudWatch stamps each line
        .try_init();
}
