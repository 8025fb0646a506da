//! `make demo`: starts the whole stack on 127.0.0.1, runs the flash sale, prints the summary,
//! stops everything. Sizes: `DEMO_TICKETS` (default 500), `DEMO_BUYERS` (default 2000),
//! `DEMO_CONCURRENCY` (default 64). Exit status 1 if an invariant does not hold.
//! `DEMO_QUEUE=1` runs the sale through the edge's waiting room instead (`DEMO_QUEUE_RATE`
//! admissions a second, default 50; see `karcis_e2e::queue`).
//!
//! Other modes:
//! - `karcis-demo serve`: the stack with one on-sale event, kept running until stdin closes
//!   (Ctrl-D); prints `export KARCIS_...=` lines for the web tests (web/test/browser).
//!   Its event has a VIP tier above the step-up threshold; the gateways send buyers back to
//!   `$KARCIS_SITE_URL/return.html` (a free loopback port it picks, where the web test serves
//!   the site).
//! - `karcis-demo otp EMAIL` / `karcis-demo purchase-otp EMAIL` / `karcis-demo pay ORDER_ID`:
//!   ask a running `serve` (at `$KARCIS_DEV_CONTROL`) for the privacy code or the purchase
//!   (step-up) code sent to EMAIL, or to pay an order.

use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

use karcis_e2e::client::HttpClient;
use karcis_e2e::scenario::{self, Options};
use karcis_e2e::stack::DevStack;
use serde_json::json;

fn env_num(name: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| format!("{name} must be a number in {range:?}")),
    }
}

fn options() -> Result<Options, String> {
    Ok(Options {
        tickets: env_num("DEMO_TICKETS", 500, 1..=20_000)?,
        buyers: env_num("DEMO_BUYERS", 2000, 1..=100_000)?,
        concurrency: env_num("DEMO_CONCURRENCY", 64, 1..=512)? as usize,
        quiet: false,
    })
}

/// `make demo DEMO_QUEUE=1`: the sale through the waiting room.
async fn queued() -> ExitCode {
    let opts = match options().and_then(|o| {
        Ok(karcis_e2e::queue::QueueOptions {
            tickets: o.tickets,
            buyers: o.buyers,
            rate: env_num("DEMO_QUEUE_RATE", 50, 1..=10_000)?,
            concurrency: o.concurrency,
            quiet: false,
        })
    }) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("karcis-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stack = match DevStack::start(false).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("karcis-demo: could not start the stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = karcis_e2e::queue::run(&mut stack, &opts).await;
    eprintln!("[stack] stopping");
    stack.shutdown().await;
    outcome(result.map(|s| (s.render(), s.violations().is_empty())))
}

/// Prints the summary (or the failure); exit status 1 unless every invariant held.
fn outcome(result: Result<(String, bool), String>) -> ExitCode {
    match result {
        Ok((summary, held)) => {
            println!("{summary}");
            if held {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("karcis-demo: the sale failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> ExitCode {
    if std::env::var("DEMO_QUEUE").is_ok_and(|v| v.trim() == "1") {
        return queued().await;
    }
    let opts = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("karcis-demo: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "karcis demo: {} tickets, {} buyers; everything on 127.0.0.1, stopped at the end",
        opts.tickets, opts.buyers
    );
    let mut stack = match DevStack::start(false).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("karcis-demo: could not start the stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = scenario::run(&mut stack, &opts).await;
    eprintln!("[stack] stopping");
    stack.shutdown().await;
    outcome(result.map(|s| (s.render(), s.violations().is_empty())))
}

async fn serve() -> Result<(), String> {
    let tickets = env_num("DEMO_TICKETS", 50, 1..=20_000)?;
    // The site's address, for the gateways' return URLs: a port free now (the web test binds it).
    let site_port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let site_url = format!("http://127.0.0.1:{site_port}");
    let mut stack = DevStack::start_with(false, Some(&site_url)).await?;
    let (event_id, _kid, edge_url) =
        scenario::open_event_spec(&mut stack, &scenario::serve_spec(tickets), false).await?;
    // The browser's scanner signs in with these, binding its token to its own device key.
    let staff_password = stack
        .staff
        .door_member("staff-web", &[&event_id], &["*"])
        .await?;
    let api_url = stack.api_url();
    let stack = Arc::new(stack);
    let (control, task) = karcis_e2e::control::start(stack.clone())
        .await
        .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let exe = exe.display();
    println!("export KARCIS_API_URL={api_url}");
    println!("export KARCIS_EDGE_URL={edge_url}");
    println!("export KARCIS_EVENT_ID={event_id}");
    println!("export KARCIS_STAFF_ID=staff-web");
    println!("export KARCIS_STAFF_PASSWORD='{staff_password}'");
    println!("export KARCIS_DEV_CONTROL=http://{control}");
    println!("export KARCIS_SITE_URL={site_url}");
    println!("export KARCIS_OTP_COMMAND='{exe} otp'");
    println!("export KARCIS_PURCHASE_OTP_COMMAND='{exe} purchase-otp'");
    println!("export KARCIS_PAY_COMMAND='{exe} pay'");
    eprintln!("[stack] serving; close stdin (Ctrl-D) to stop");
    // Runs until stdin closes (a parent process exiting closes it too).
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    })
    .await;
    task.abort();
    let _ = task.await;
    eprintln!("[stack] stopping");
    match Arc::try_unwrap(stack) {
        Ok(mut stack) => stack.shutdown().await,
        Err(_) => eprintln!("[stack] still in use; its processes stop with this one"),
    }
    Ok(())
}

async fn control(path: &str, body: serde_json::Value) -> Result<(), String> {
    let base = std::env::var("KARCIS_DEV_CONTROL")
        .map_err(|_| "KARCIS_DEV_CONTROL is not set (run `karcis-demo serve`)".to_owned())?;
    let reply = HttpClient::new(&base).post_json(path, &[], &body).await?;
    let text = String::from_utf8_lossy(&reply.body);
    if reply.status == 200 {
        println!("{text}");
        Ok(())
    } else {
        Err(format!("{}: {text}", reply.status))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => return demo().await,
        ["serve"] => serve().await,
        ["otp", email] => control("/otp", json!({"email": email})).await,
        ["purchase-otp", email] => control("/purchase-otp", json!({"email": email})).await,
        ["pay", order_id] => control("/pay", json!({"order_id": order_id})).await,
        _ => {
            eprintln!("usage: karcis-demo [serve | otp EMAIL | purchase-otp EMAIL | pay ORDER_ID]");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("karcis-demo: {e}");
            ExitCode::FAILURE
        }
    }
}
