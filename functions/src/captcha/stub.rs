//! A loopback stand-in for Turnstile's siteverify (tests and the local stack). Tokens are issued
//! by the stub for a host name and an action (what the widget would produce after a solved
//! challenge); siteverify answers as documented: the secret checked (`missing-input-secret`,
//! `invalid-input-secret`), the token known (`invalid-input-response`), single use
//! (`timeout-or-duplicate`, except a repeat with the first use's `idempotency_key`, which gets
//! the same answer), `success` with `hostname`, `action` and `challenge_ts`. It takes JSON or
//! form bodies, as siteverify does. `stall` holds every answer back (bounded) so that a client's
//! timeout fires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
struct Issued {
    hostname: String,
    action: String,
    /// `Some(idempotency key or "")` once redeemed.
    redeemed: Option<String>,
}

#[derive(Clone)]
struct StubState {
    secret: String,
    tokens: Arc<Mutex<HashMap<String, Issued>>>,
    stall: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
}

/// The running stub; stops when dropped.
#[derive(Debug)]
pub struct SiteverifyStub {
    pub addr: SocketAddr,
    state_tokens: Arc<Mutex<HashMap<String, Issued>>>,
    stall: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    next: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SiteverifyStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SiteverifyStub {
    /// Serves `POST /turnstile/v0/siteverify` on 127.0.0.1 for `secret`.
    pub async fn start(secret: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = StubState {
            secret: secret.to_owned(),
            tokens: Arc::default(),
            stall: Arc::default(),
            calls: Arc::default(),
        };
        let (state_tokens, stall, calls) = (
            Arc::clone(&state.tokens),
            Arc::clone(&state.stall),
            Arc::clone(&state.calls),
        );
        let app = Router::new()
            .route("/turnstile/v0/siteverify", post(siteverify))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            state_tokens,
            stall,
            calls,
            next: AtomicU64::new(1),
            task,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/turnstile/v0/siteverify", self.addr)
    }

    /// A token as the widget on `hostname` rendered for `action` would return it.
    pub fn issue(&self, hostname: &str, action: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let token = format!("0.stub-token-{n:06}.{}", "x".repeat(40));
        if let Ok(mut t) = self.state_tokens.lock() {
            t.insert(
                token.clone(),
                Issued {
                    hostname: hostname.to_owned(),
                    action: action.to_owned(),
                    redeemed: None,
                },
            );
        }
        token
    }

    /// Holds every answer back (up to 10 s) while set.
    pub fn stall(&self, on: bool) {
        self.stall.store(on, Ordering::SeqCst);
    }

    /// How many siteverify requests arrived.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

fn fields(headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        return v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3D", "=").replace('+', " ")))
        .collect()
}

fn failure(codes: &[&str]) -> Response {
    (
        StatusCode::OK,
        Json(json!({"success": false, "error-codes": codes, "messages": []})),
    )
        .into_response()
}

async fn siteverify(State(s): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    for _ in 0..100 {
        if !s.stall.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let f = fields(&headers, &body);
    match f.get("secret") {
        None => return failure(&["missing-input-secret"]),
        Some(x) if *x != s.secret => return failure(&["invalid-input-secret"]),
        Some(_) => {}
    }
    let Some(token) = f.get("response") else {
        return failure(&["missing-input-response"]);
    };
    let key = f.get("idempotency_key").cloned().unwrap_or_default();
    let mut tokens = s
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(issued) = tokens.get_mut(token) else {
        return failure(&["invalid-input-response"]);
    };
    match &issued.redeemed {
        Some(first) if key.is_empty() || *first != key => {
            return failure(&["timeout-or-duplicate"]);
        }
        Some(_) => {}
        None => issued.redeemed = Some(key),
    }
    (
        StatusCode::OK,
        Json(json!({
            "success": true,
            "challenge_ts": "2026-11-29T22:00:00.000Z",
            "hostname": issued.hostname,
            "error-codes": [],
            "action": issued.action,
            "cdata": "",
            "metadata": {"ephemeral_id": "x:stub"}
        })),
    )
        .into_response()
}
