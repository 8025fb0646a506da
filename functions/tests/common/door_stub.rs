//! A stub edge on 127.0.0.1 for the revoke function's calls: `POST /v1/revocations` checks the
//! `KarcisRevoker t=..,v1=..` MAC over the raw body exactly as the worker does (same scheme, t
//! within 300 s of the tests' clock), then records the call. Shared by the revoke, reissue and
//! incident-response tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use functions::deps::Deps;
use functions::edge_client::{authorization, EdgeRevocations};
use functions::gateway::transport::HyperTransport;
use functions::revoke::Revoker;

/// The tests' clock: the stub checks `t` against it.
pub const NOW: u64 = 1_800_000_000;
/// The revoker key the stub and the revoke function share.
pub const KEY: &[u8] = b"karcis-test-revoker-key-0123456789abcdef";

/// What the stub door received: every accepted call, and the (event, ticket) pairs revoked.
#[derive(Clone, Default)]
pub struct Edge {
    pub calls: Arc<Mutex<Vec<serde_json::Value>>>,
    pub revoked: Arc<Mutex<BTreeSet<(String, String)>>>,
}

async fn stub_revocations(
    State(edge): State<Edge>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(t) = given
        .strip_prefix("KarcisRevoker t=")
        .and_then(|r| r.split(',').next())
        .and_then(|t| t.parse::<u64>().ok())
    else {
        return StatusCode::UNAUTHORIZED;
    };
    if NOW.abs_diff(t) > 300 || authorization(KEY, t, body.as_bytes()) != given {
        return StatusCode::UNAUTHORIZED;
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    edge.calls.lock().unwrap().push(v.clone());
    edge.revoked.lock().unwrap().insert((
        v["event_id"].as_str().unwrap_or_default().to_owned(),
        v["ticket_id"].as_str().unwrap_or_default().to_owned(),
    ));
    StatusCode::OK
}

/// Starts the stub door; its URL and task.
pub async fn start_edge(edge: Edge) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/v1/revocations", post(stub_revocations))
        .with_state(edge);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (url, task)
}

/// The revoke function calling the door at `edge_url` with [`KEY`].
pub fn revoker(deps: &Deps, edge_url: &str) -> Arc<Revoker> {
    let door = EdgeRevocations::new(
        edge_url,
        zeroize::Zeroizing::new(KEY.to_vec()),
        HyperTransport::new(std::time::Duration::from_secs(2)).unwrap(),
        deps.clock.clone(),
    );
    Arc::new(Revoker::new(deps, Arc::new(door)))
}
