//! The local API gateway: one loopback HTTP listener in front of the HTTP functions. Like API
//! Gateway's HTTP API, it turns each request into an API Gateway v2 event (JSON), picks the
//! function by route, and hands the event to that function's real `Router` exactly as
//! `lambda_http` does on Lambda (`functions::http::request_from_event`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tower::ServiceExt as _;

/// API Gateway's payload limit.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The functions behind the gateway, one router each (the contract's route table).
#[derive(Clone, Debug)]
pub struct Functions {
    pub checkout: Router,
    pub payment_callback: Router,
    pub tickets: Router,
    /// `None` until the privacy function exists.
    pub privacy: Option<Router>,
    /// The edge's audit batches (`POST /v1/audit/batches`) and audit reports.
    pub audit_ingest: Option<Router>,
    /// Staff sign-in, refresh and members (`/v1/staff/*`).
    pub staff: Option<Router>,
}

#[derive(Clone)]
struct GatewayState {
    functions: Functions,
    request_ids: Arc<AtomicU64>,
}

/// Which function serves `method path` (the HTTP API's routes).
pub fn route(functions: &Functions, path: &str) -> Option<(&'static str, Router)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "webhooks", _] => Some(("payment-callback", functions.payment_callback.clone())),
        ["v1", "orders", _, "tickets"] | ["v1", "tickets", _, "device"] => {
            Some(("tickets", functions.tickets.clone()))
        }
        ["v1", "privacy", ..] => functions.privacy.clone().map(|r| ("privacy", r)),
        ["v1", "audit", ..] => functions.audit_ingest.clone().map(|r| ("audit-ingest", r)),
        ["v1", "staff", ..] => functions.staff.clone().map(|r| ("staff", r)),
        // The step-up code of an order (`/verify`, `/verify/resend`) is checkout's too.
        ["v1", "orders"]
        | ["v1", "orders" | "events", _]
        | ["v1", "orders", _, "verify"]
        | ["v1", "orders", _, "verify", "resend"] => Some(("checkout", functions.checkout.clone())),
        _ => None,
    }
}

/// The API Gateway v2 (HTTP API) event for a request.
pub fn to_event(parts: &Parts, body: &[u8], request_id: u64, now_ms: u128) -> Value {
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::from(values.join(",")));
    }
    let path = parts.uri.path();
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    // The harness's stand-in for the viewer address (see `crate::bots::SOURCE_HEADER`).
    let source_ip = headers
        .remove(crate::bots::SOURCE_HEADER)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    let user_agent = headers
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "karcis-local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "requestId": format!("local-{request_id}"),
            "http": {
                "method": parts.method.as_str(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": user_agent,
            },
            "routeKey": "$default",
            "stage": "$default",
            "time": "",
            "timeEpoch": now_ms,
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

fn problem(status: StatusCode, code: &str) -> Response {
    let body = json!({"type": format!("urn:karcis:problem:{code}"), "title": code, "status": status.as_u16()});
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn front(State(state): State<GatewayState>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let Some((_name, router)) = route(&state.functions, parts.uri.path()) else {
        return problem(StatusCode::NOT_FOUND, "not_found");
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAYLOAD_BYTES).await else {
        return problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let id = state.request_ids.fetch_add(1, Ordering::Relaxed);
    let event = to_event(&parts, &bytes, id, now_ms);
    let Ok(lambda_request) = functions::http::request_from_event(&event.to_string()) else {
        return problem(StatusCode::BAD_REQUEST, "bad_request");
    };
    match router.oneshot(lambda_request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// The gateway, serving on `127.0.0.1:<free port>` until dropped.
#[derive(Debug)]
pub struct LocalApi {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LocalApi {
    pub async fn start(functions: Functions) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(front).with_state(GatewayState {
            functions,
            request_ids: Arc::new(AtomicU64::new(1)),
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}
