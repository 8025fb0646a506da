//! `karcis-demo serve`: the dev stack kept running for a browser or a person, with a loopback-only
//! control endpoint standing in for the two things outside the system a buyer does by hand:
//! reading the one-time privacy code from their inbox, and paying on the gateway's page.
//!
//! - `POST /otp` `{"email"}` -> the latest code sent to that address (text), or 404.
//! - `POST /purchase-otp` `{"email"}` -> the latest purchase (step-up) code sent to that address
//!   through the notify queue, waiting for it up to 30 s (the queue is asynchronous), or 404.
//! - `POST /pay` `{"order_id"}` -> the gateway's signed `paid` webhook is delivered; answers the
//!   callback's status.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::stack::DevStack;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OtpRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    order_id: String,
}

async fn otp(State(stack): State<Arc<DevStack>>, Json(r): Json<OtpRequest>) -> Response {
    match stack.mailbox.take_code(&r.email) {
        Some(code) => (StatusCode::OK, code).into_response(),
        None => (StatusCode::NOT_FOUND, "no code").into_response(),
    }
}

async fn purchase_otp(State(stack): State<Arc<DevStack>>, Json(r): Json<OtpRequest>) -> Response {
    // Bounded: 300 polls, 100 ms apart.
    for _ in 0..300 {
        if let Some(code) = stack.purchase_codes.take_code(&r.email) {
            return (StatusCode::OK, code).into_response();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (StatusCode::NOT_FOUND, "no code").into_response()
}

async fn pay(State(stack): State<Arc<DevStack>>, Json(r): Json<PayRequest>) -> Response {
    if !functions::model::is_id("ord", &r.order_id) {
        return (StatusCode::BAD_REQUEST, "not an order id").into_response();
    }
    match crate::scenario::pay_order(&stack, &r.order_id).await {
        Ok(status) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            format!("payment callback answered {status}"),
        )
            .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e).into_response(),
    }
}

/// Serves the control routes on `127.0.0.1:<free port>` until the task is aborted.
pub async fn start(
    stack: Arc<DevStack>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/otp", post(otp))
        .route("/purchase-otp", post(purchase_otp))
        .route("/pay", post(pay))
        .with_state(stack);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}
