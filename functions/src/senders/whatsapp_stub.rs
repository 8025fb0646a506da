//! A loopback stand-in for the WhatsApp Business Cloud API's `POST /{version}/{phone-number-id}/
//! messages` (tests only). It checks what the real API checks that karcis can get wrong (the
//! bearer token, the phone number id, the body's shape, the template's name, language and
//! parameter count against the templates it was told are approved) and answers as documented:
//! `200 {"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id"}]}`, or a Graph
//! API error body with the documented code (190 token, 100 parameter, 132000 parameter count,
//! 132001 template, 130429 rate limit).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// A message the stub accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub to: String,
    pub template: String,
    pub language: String,
    pub params: Vec<String>,
    /// The copy-code button's parameter, if any.
    pub button: Option<String>,
}

#[derive(Clone)]
struct StubState {
    token: String,
    phone_number_id: String,
    /// Approved templates: (name, language) -> body parameter count.
    approved: Arc<HashMap<(String, String), usize>>,
    sent: Arc<Mutex<Vec<Sent>>>,
    /// The next N requests answer the rate-limit error.
    throttle: Arc<AtomicU32>,
}

/// The running stub; stops when dropped.
#[derive(Debug)]
pub struct WhatsAppStub {
    pub addr: SocketAddr,
    sent: Arc<Mutex<Vec<Sent>>>,
    throttle: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WhatsAppStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WhatsAppStub {
    /// Serves on 127.0.0.1; `approved`: (template, language, body parameter count).
    pub async fn start(
        token: &str,
        phone_number_id: &str,
        approved: &[(&str, &str, usize)],
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let sent = Arc::new(Mutex::new(Vec::new()));
        let throttle = Arc::new(AtomicU32::new(0));
        let state = StubState {
            token: token.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            approved: Arc::new(
                approved
                    .iter()
                    .map(|(n, l, c)| (((*n).to_owned(), (*l).to_owned()), *c))
                    .collect(),
            ),
            sent: Arc::clone(&sent),
            throttle: Arc::clone(&throttle),
        };
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            sent,
            throttle,
            task,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The messages accepted so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The next `n` requests are refused with the rate-limit error.
    pub fn throttle_next(&self, n: u32) {
        self.throttle.store(n, Ordering::SeqCst);
    }
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message},
        "fbtrace_id": "AbCdEfGh123"
    }});
    (status, Json(body)).into_response()
}

fn text_params(component: Option<&Value>) -> Option<Vec<String>> {
    component?["parameters"]
        .as_array()?
        .iter()
        .map(|p| (p["type"] == "text").then(|| p["text"].as_str().map(str::to_owned))?)
        .collect()
}

async fn messages(
    State(s): State<StubState>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(format!("Bearer {}", s.token).as_str()) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    if !version.starts_with('v') || phone_number_id != s.phone_number_id {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Unsupported post request.");
    }
    if s.throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return graph_error(StatusCode::BAD_REQUEST, 130_429, "Rate limit hit");
    }
    let json_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(b) = serde_json::from_slice::<Value>(&body)
        .ok()
        .filter(|_| json_type)
    else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    let to = b["to"].as_str().unwrap_or("");
    let shape_ok = b["messaging_product"] == "whatsapp"
        && b["type"] == "template"
        && (8..=15).contains(&to.len())
        && to.bytes().all(|c| c.is_ascii_digit());
    let t = &b["template"];
    let (name, language) = (
        t["name"].as_str().unwrap_or(""),
        t["language"]["code"].as_str().unwrap_or(""),
    );
    let components = t["components"].as_array().cloned().unwrap_or_default();
    let body_params = text_params(components.iter().find(|c| c["type"] == "body"));
    let button = components
        .iter()
        .find(|c| c["type"] == "button" && c["sub_type"] == "url" && c["index"] == "0");
    let button_param = text_params(button).and_then(|p| p.into_iter().next());
    let (true, Some(params)) = (shape_ok, body_params) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    let Some(count) = s.approved.get(&(name.to_owned(), language.to_owned())) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            132_001,
            "Template name does not exist in the translation",
        );
    };
    if *count != params.len() || (button.is_some() && button_param.is_none()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            132_000,
            "Number of parameters does not match the expected number of params",
        );
    }
    let mut sent = s
        .sent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    sent.push(Sent {
        to: to.to_owned(),
        template: name.to_owned(),
        language: language.to_owned(),
        params,
        button: button_param,
    });
    let id = format!("wamid.stub{}", sent.len());
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": id, "message_status": "accepted"}]
        })),
    )
        .into_response()
}
