//! A DynamoDB behaviour simulator: a loopback HTTP proxy between the aws-sdk clients and moto
//! that adds what moto lacks and a flash sale meets on real DynamoDB (from AWS's documentation):
//!
//! - **write ceilings** per item and per partition key (write units a second, scaled down and
//!   configurable; a unit per KB written, two per item in a transaction). A single write past a
//!   ceiling is refused with `ProvisionedThroughputExceededException`; a transaction with
//!   `TransactionCanceledException`, reason `ThrottlingError` on the refused item.
//! - **transaction conflicts**: a `TransactWriteItems` holds its items for `tx_hold_ms` (the
//!   time a real transaction spends in its prepare phase, scaled up so overlaps happen on
//!   loopback); another transaction touching a held item is cancelled with
//!   `TransactionCanceledException`, reason `TransactionConflict` on that item and `None` on the
//!   others, and a single write on a held item with `TransactionConflictException`.
//! - **injected faults** drawn from a seed: `InternalServerError` (500), `ThrottlingException`,
//!   the connection closed before the request reaches the table, or after it committed (the
//!   answer lost), and added latency. Requests draw in arrival order, so a sequential run
//!   repeats exactly; a concurrent one repeats its mix of faults.
//!
//! Everything else is forwarded to moto unchanged. [`Sim::start`] runs the proxy on its own
//! thread on an ephemeral loopback port; dropping the [`Sim`] stops it.

pub mod model;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use model::{classify, draw, Fault, InFlight, Refusal, Rng, Throughput};
pub use model::{Ceilings, FaultRates, KeyAttrs};

/// How the simulator behaves. `Config::default()` forwards everything untouched.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub ceilings: Ceilings,
    /// How long a transaction holds its items before it is forwarded (ms).
    pub tx_hold_ms: u64,
    /// Added latency per request, uniform in `[lo, hi]` ms.
    pub latency_ms: (u64, u64),
    pub faults: FaultRates,
    pub key_attrs: KeyAttrs,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 0,
            ceilings: Ceilings {
                item_units_per_sec: None,
                partition_units_per_sec: None,
                burst_secs: 0.1,
            },
            tx_hold_ms: 0,
            latency_ms: (0, 0),
            faults: FaultRates::default(),
            key_attrs: KeyAttrs::default(),
        }
    }
}

/// What the simulator did, counted since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub forwarded: u64,
    /// `TransactWriteItems` requests that reached the ceilings and conflict checks.
    pub transactions: u64,
    pub transactions_committed: u64,
    pub conflicts: u64,
    pub item_throttles: u64,
    pub partition_throttles: u64,
    pub injected_throttling: u64,
    pub internal_errors: u64,
    pub drops_before: u64,
    pub drops_after: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    forwarded: AtomicU64,
    transactions: AtomicU64,
    transactions_committed: AtomicU64,
    conflicts: AtomicU64,
    item_throttles: AtomicU64,
    partition_throttles: AtomicU64,
    injected_throttling: AtomicU64,
    internal_errors: AtomicU64,
    drops_before: AtomicU64,
    drops_after: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug)]
struct State {
    rng: Rng,
    throughput: Throughput,
    in_flight: InFlight,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    upstream: SocketAddr,
    started: Instant,
    state: Mutex<State>,
    counters: Counters,
}

/// A running simulator. Dropping it stops the proxy.
#[derive(Debug)]
pub struct Sim {
    /// `http://127.0.0.1:<port>`: the endpoint to give the DynamoDB client.
    pub endpoint: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sim {
    /// Starts the proxy in front of `upstream` (moto's `http://127.0.0.1:<port>`).
    pub fn start(upstream: &str, config: Config) -> std::io::Result<Self> {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|e| std::io::Error::other(format!("upstream must be http://ip:port: {e}")))?;
        if !upstream.ip().is_loopback() {
            return Err(std::io::Error::other("upstream must be a loopback address"));
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rng: Rng::new(config.seed),
                throughput: Throughput::default(),
                in_flight: InFlight::default(),
            }),
            config,
            upstream,
            started: Instant::now(),
            counters: Counters::default(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("dynamo-sim".into())
            .spawn(move || runtime.block_on(serve(listener, s, stopped)))?;
        Ok(Self {
            endpoint,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            requests: g(&c.requests),
            forwarded: g(&c.forwarded),
            transactions: g(&c.transactions),
            transactions_committed: g(&c.transactions_committed),
            conflicts: g(&c.conflicts),
            item_throttles: g(&c.item_throttles),
            partition_throttles: g(&c.partition_throttles),
            injected_throttling: g(&c.injected_throttling),
            internal_errors: g(&c.internal_errors),
            drops_before: g(&c.drops_before),
            drops_after: g(&c.drops_after),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _)) = accepted else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), req));
            // A connection ends with an error when a fault drops it: nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Reply = Response<Full<Bytes>>;

/// A dropped connection: the service fails, so hyper closes the socket without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the simulator")
    }
}

impl std::error::Error for Dropped {}

fn error(status: StatusCode, kind: &str, body: serde_json::Value) -> Reply {
    let mut body = body;
    body["__type"] = json!(kind);
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

const DDB: &str = "com.amazonaws.dynamodb.v20120810#";

fn cancelled(n: usize, at: &[usize], code: &str, message: &str) -> Reply {
    let reasons: Vec<_> = (0..n)
        .map(|i| {
            if at.contains(&i) {
                json!({"Code": code, "Message": message})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = (0..n)
        .map(|i| if at.contains(&i) { code } else { "None" })
        .collect();
    error(
        StatusCode::BAD_REQUEST,
        &format!("{DDB}TransactionCanceledException"),
        json!({
            "message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        }),
    )
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Reply, Dropped> {
    let c = &shared.counters;
    bump(&c.requests);
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Some(operation) = target.strip_prefix("DynamoDB_20120810.") else {
        return forward(&shared, parts, body).await;
    };
    let cfg = &shared.config;
    let d = {
        let mut st = shared.state.lock().map_err(|_| Dropped)?;
        draw(&mut st.rng, cfg.latency_ms, &cfg.faults)
    };
    if d.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(d.latency_ms)).await;
    }
    if let Some(early) = injected(c, d.fault) {
        return early;
    }
    let request = classify(operation, &body, &cfg.key_attrs);
    let (refs, transaction) = match &request {
        model::Request::Transaction(r) => (r.clone(), true),
        model::Request::Write(r) => (r.clone(), false),
        model::Request::Other => (Vec::new(), false),
    };
    if transaction {
        bump(&c.transactions);
    }
    if !refs.is_empty() {
        if let Some(refused) = admit(&shared, &refs, transaction)? {
            return Ok(refused);
        }
    }
    if transaction && cfg.tx_hold_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.tx_hold_ms)).await;
    }
    let out = forward(&shared, parts, body).await;
    if transaction {
        if let Ok(mut st) = shared.state.lock() {
            st.in_flight.release(&refs);
        }
        if out.as_ref().is_ok_and(|r| r.status().is_success()) {
            bump(&c.transactions_committed);
        }
    }
    if d.fault == Some(Fault::DropAfter) {
        bump(&c.drops_after);
        return Err(Dropped);
    }
    out
}

/// The answer of a fault injected before the table, if any.
fn injected(c: &Counters, fault: Option<Fault>) -> Option<Result<Reply, Dropped>> {
    match fault {
        Some(Fault::DropBefore) => {
            bump(&c.drops_before);
            Some(Err(Dropped))
        }
        Some(Fault::InternalError) => {
            bump(&c.internal_errors);
            Some(Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{DDB}InternalServerError"),
                json!({"message": "Internal server error"}),
            )))
        }
        Some(Fault::Throttling) => {
            bump(&c.injected_throttling);
            Some(Ok(error(
                StatusCode::BAD_REQUEST,
                "com.amazon.coral.availability#ThrottlingException",
                json!({"message": "Rate of requests exceeds the allowed throughput."}),
            )))
        }
        Some(Fault::DropAfter) | None => None,
    }
}

/// Takes the request's items (a transaction holds them until it is done) and write units, or
/// the refusal DynamoDB would answer: a conflict with a transaction in flight, or a ceiling.
fn admit(
    shared: &Shared,
    refs: &[model::ItemRef],
    transaction: bool,
) -> Result<Option<Reply>, Dropped> {
    let c = &shared.counters;
    let cfg = &shared.config;
    let now = shared.started.elapsed().as_secs_f64();
    let mut st = shared.state.lock().map_err(|_| Dropped)?;
    if transaction {
        let clash = st.in_flight.acquire(refs);
        if !clash.is_empty() {
            bump(&c.conflicts);
            return Ok(Some(cancelled(
                refs.len(),
                &clash,
                "TransactionConflict",
                "Transaction is ongoing for the item",
            )));
        }
    } else if st.in_flight.holds_any(refs) {
        bump(&c.conflicts);
        return Ok(Some(error(
            StatusCode::BAD_REQUEST,
            &format!("{DDB}TransactionConflictException"),
            json!({"message": "Transaction is ongoing for the item"}),
        )));
    }
    if let Err(refusal) = st.throughput.take(refs, &cfg.ceilings, now) {
        if transaction {
            st.in_flight.release(refs);
        }
        let at = match refusal {
            Refusal::Item(i) => {
                bump(&c.item_throttles);
                i
            }
            Refusal::Partition(i) => {
                bump(&c.partition_throttles);
                i
            }
        };
        let message = "Throughput exceeds the current capacity for one or more items";
        return Ok(Some(if transaction {
            cancelled(refs.len(), &[at], "ThrottlingError", message)
        } else {
            error(
                StatusCode::BAD_REQUEST,
                &format!("{DDB}ProvisionedThroughputExceededException"),
                json!({"message": message}),
            )
        }));
    }
    Ok(None)
}

async fn forward(
    shared: &Shared,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Reply, Dropped> {
    bump(&shared.counters.forwarded);
    let stream = TcpStream::connect(shared.upstream)
        .await
        .map_err(|_| Dropped)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Dropped)?;
    tokio::spawn(conn);
    let req = Request::from_parts(parts, Full::new(body));
    let res = sender.send_request(req).await.map_err(|_| Dropped)?;
    let (mut parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    parts.headers.remove("transfer-encoding");
    parts.headers.remove("connection");
    Ok(Response::from_parts(parts, Full::new(body)))
}
