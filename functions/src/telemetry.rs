//! `tracing` JSON logs for Lambda (CloudWatch). Filter from `RUST_LOG` (default `info`).
//!
//! Rule: never log personal data, secrets or keys. Log ids (order, customer, event), counts,
//! statuses and problem types only.
//!
//! The AWS SDK and its HTTP stack are held at `info` whatever `RUST_LOG` says: at `trace` they
//! log whole request and response bodies, which hold stored items (a staff password's PHC
//! string, for one).

/// Crates whose logs never go below `info` (prefix match on the target).
pub const CLAMPED_TARGETS: [&str; 4] = ["aws_smithy", "aws_sdk", "aws_config", "hyper"];

/// The filter of `directives` (`RUST_LOG` syntax) with [`CLAMPED_TARGETS`] held at `info`.
pub fn filter(directives: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for target in CLAMPED_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Installs the JSON subscriber once; later calls do nothing.
pub fn init() {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter(&directives))
        .with_ansi(false)
        .with_target(false)
        .with_current_span(false)
        .without_time() // CloudWatch stamps each line
        .try_init();
}
