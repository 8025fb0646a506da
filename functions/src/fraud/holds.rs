//! A reviewer's decision on an order held for review (console token of an admin of the
//! order's event):
//!
//! - `POST /v1/fraud/holds/{order_id}/release`: the hold is marked released and the order's
//!   mint queued (the minting transaction lets a released hold through); `200 {"hold",
//!   "order_status", "audit_seq"}`.
//! - `POST /v1/fraud/holds/{order_id}/cancel`: one transaction marks the hold cancelled,
//!   the paid order `CANCELLED` with its payment in `refund_due` (owed back, listed in the
//!   finance report), its seats back in stock and off the buyer's limit.
//!
//! Idempotent: a retry of the same decision answers `200` with `audit_seq: null` and changes
//! nothing (a release queues the mint again, which the Minter deduplicates); the other
//! decision after one is `409`; an order without a hold `404`. Each change is one staff log
//! record (`hold_released` / `hold_cancelled`: actor, order id, decision id, event).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::ports::{Hold, Resolution, Resolved};
use super::routes::FraudAdmin;
use crate::error::{Error, Result};
use crate::http::respond;
use crate::model::{is_id, Order, OrderStatus};
use crate::ports::{MintMessage, Topic};

/// The answer to a decision on a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldDecided {
    pub hold: Hold,
    pub order_status: String,
    /// The staff log record of this change; `None` for a retry that changed nothing.
    pub audit_seq: Option<u64>,
}

impl FraudAdmin {
    /// Resolves the hold of `order` as `how` (the caller checked the admin's scope).
    pub async fn decide_hold(
        &self,
        actor: &str,
        order: &Order,
        how: Resolution,
    ) -> Result<HoldDecided> {
        let now = self.deps.clock.now();
        let fraud = &self.deps.fraud;
        let resolved = match how {
            Resolution::Released => fraud.release_hold(&order.order_id, actor, now).await?,
            Resolution::Cancelled => fraud.cancel_hold(&order.order_id, actor, now).await?,
        };
        let (hold, audit_seq) = match resolved {
            Resolved::Now(hold) => {
                let action = match how {
                    Resolution::Released => "hold_released",
                    Resolution::Cancelled => "hold_cancelled",
                };
                let detail = serde_json::json!({
                    "decision_id": hold.decision_id,
                    "event_id": order.event_id,
                });
                let seq = self
                    .record_action(action, actor, &order.order_id, detail)
                    .await?;
                tracing::info!(order_id = %order.order_id, actor, action, "hold resolved");
                (hold, Some(seq))
            }
            Resolved::Before(hold) => (hold, None),
        };
        let current = self
            .deps
            .orders
            .get_order(&order.order_id)
            .await?
            .ok_or_else(|| Error::internal("a held order vanished"))?;
        if how == Resolution::Released && current.status == OrderStatus::Paid {
            let message = MintMessage {
                order_id: current.order_id.clone(),
                event_id: current.event_id.clone(),
            };
            let body = serde_json::to_string(&message).map_err(Error::internal)?;
            self.deps.queue.send(Topic::Mint, &body).await?;
        }
        Ok(HoldDecided {
            hold,
            order_status: current.status.as_str().to_owned(),
            audit_seq,
        })
    }
}

/// `POST /v1/fraud/holds/{order_id}/{release|cancel}`.
pub async fn post_hold(
    State(a): State<Arc<FraudAdmin>>,
    Path((order_id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let caller = a.caller(&headers).await?;
        let how = match action.as_str() {
            "release" => Resolution::Released,
            "cancel" => Resolution::Cancelled,
            _ => return Err(Error::NotFound),
        };
        if !is_id("ord", &order_id) {
            return Err(Error::NotFound);
        }
        let order = a
            .deps
            .orders
            .get_order(&order_id)
            .await?
            .ok_or(Error::NotFound)?;
        caller.require_admin_for(std::slice::from_ref(&order.event_id))?;
        a.decide_hold(&caller.staff_id, &order, how).await
    };
    respond(StatusCode::OK, result.await)
}
