//! The step-up routes, served by the checkout function:
//!
//! - `POST /v1/orders/{id}/verify` `{"code"}` (bearer: the order access token): checks the
//!   one-time code; the right one moves the order to `reserved` and its payment session is
//!   created. Answers the order view.
//! - `POST /v1/orders/{id}/verify/resend` (bearer): a new code replaces the current one.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::checkout::{authorize_order, Checkout, OrderView};
use crate::error::{Error, Result};
use crate::http::{bearer_token, read_json, respond};

/// `POST /v1/orders/{id}/verify` body. `Debug` leaves the code out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub code: String,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifyRequest(<redacted>)")
    }
}

/// `POST /v1/orders/{id}/verify/resend` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendResponse {
    /// When the new code stops working.
    pub expires_at: u64,
}

async fn verify(
    c: &Checkout,
    order_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<OrderView> {
    let token = bearer_token(headers)?;
    let order = authorize_order(&c.deps, order_id, token).await?;
    let req: VerifyRequest = read_json(headers, body, c.deps.config.max_body_bytes).await?;
    crate::sale::stepup::verify(&c.deps, &order, &req.code).await?;
    // This request won the code: it alone creates the payment session.
    let order = c
        .deps
        .orders
        .get_order(order_id)
        .await?
        .ok_or_else(|| Error::internal("order vanished"))?;
    let event = c
        .deps
        .events
        .get_event(&order.event_id)
        .await?
        .ok_or(Error::NotFound)?;
    let order = c.ensure_payment(order, &event).await?;
    Ok(OrderView::from(&order))
}

pub(crate) async fn post_verify(
    State(c): State<Arc<Checkout>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(StatusCode::OK, verify(&c, &order_id, &headers, body).await)
}

pub(crate) async fn post_resend(
    State(c): State<Arc<Checkout>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        let order = authorize_order(&c.deps, &order_id, token).await?;
        let expires_at = crate::sale::stepup::resend(&c.deps, &order).await?;
        Ok(ResendResponse { expires_at })
    };
    respond(StatusCode::ACCEPTED, result.await)
}
