//! A local Lambda Runtime API (the documented protocol, version 2018-06-01) on 127.0.0.1:0, in
//! axum: what the Lambda service gives a custom runtime (`provided.al2023`) at
//! `AWS_LAMBDA_RUNTIME_API`.
//!
//! - `GET /2018-06-01/runtime/invocation/next`: blocks until an invocation is queued, then
//!   answers the event with `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`.
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`: the result, 202.
//! - `POST /2018-06-01/runtime/init/error`: the runtime failed to initialise, 202.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, Mutex};

/// What the runtime answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST .../invocation/{id}/response`: the handler's answer.
    Response {
        request_id: String,
        body: serde_json::Value,
    },
    /// `POST .../invocation/{id}/error`: the handler failed.
    Error { request_id: String, body: String },
    /// `POST /runtime/init/error`: initialisation failed.
    InitError { body: String },
}

struct Invocation {
    request_id: String,
    deadline_ms: u64,
    payload: serde_json::Value,
}

struct Shared {
    queue: Mutex<mpsc::Receiver<Invocation>>,
    /// When the runtime first asked for an invocation: the end of its init phase.
    first_poll: std::sync::Mutex<Option<Instant>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    function_arn: String,
}

/// The running API.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    invocations: mpsc::Sender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
    counter: AtomicU64,
    shared: Arc<Shared>,
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    if let Ok(mut first) = s.first_poll.lock() {
        first.get_or_insert_with(Instant::now);
    }
    // One runtime polls at a time; a second poll waits for the first (as Lambda serialises).
    let mut queue = s.queue.lock().await;
    let Some(inv) = queue.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", inv.request_id.clone()),
        ("lambda-runtime-deadline-ms", inv.deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            s.function_arn.clone(),
        ),
        (
            "lambda-runtime-trace-id",
            format!(
                "Root=1-{:08x}-{:0>24};Parent=0000000000000001;Sampled=0",
                inv.deadline_ms / 1000,
                inv.request_id
                    .replace('-', "")
                    .chars()
                    .take(24)
                    .collect::<String>()
            ),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, inv.payload.to_string()).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, r#"{"status":"OK"}"#).into_response()
}

async fn response(
    State(s): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    let _ = s.outcomes.send(Outcome::Response { request_id, body });
    accepted()
}

async fn error(
    State(s): State<Arc<Shared>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = s.outcomes.send(Outcome::Error { request_id, body });
    accepted()
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let _ = s.outcomes.send(Outcome::InitError { body });
    accepted()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RuntimeApi {
    /// Serves on a free loopback port for the function `function_arn`.
    pub async fn start(function_arn: &str) -> std::io::Result<Self> {
        let (invocations, queue) = mpsc::channel(1);
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            first_poll: std::sync::Mutex::new(None),
            outcomes: outcomes_tx,
            function_arn: function_arn.to_owned(),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?.to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            invocations,
            outcomes,
            server,
            counter: AtomicU64::new(0),
            shared,
        })
    }

    /// Queues `payload` with a deadline `timeout_secs` from now; returns its request id.
    pub async fn queue(&self, payload: serde_json::Value, timeout_secs: u64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("8476a536-e9f4-11e8-9739-{n:012x}");
        let inv = Invocation {
            request_id: request_id.clone(),
            deadline_ms: now_ms() + timeout_secs * 1000,
            payload,
        };
        self.invocations
            .send(inv)
            .await
            .expect("the runtime API is serving");
        request_id
    }

    /// When the runtime first called `GET .../invocation/next` (Lambda's end of init).
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.first_poll.lock().ok().and_then(|f| *f)
    }

    /// The next outcome the runtime posted (waits; the caller bounds the wait).
    pub async fn outcome(&mut self) -> Option<Outcome> {
        self.outcomes.recv().await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}
