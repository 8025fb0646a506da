//! revoke: the tickets of a refunded or disputed order are revoked at the door, and a re-issued
//! ticket's older credentials are retired there (SQS, partial batch failures, like mint).
//!
//! payment-callback queues one [`RevokeMessage`] per refunded or disputed order. For each, the
//! consumer reads the order (it must be `Refunded` or `Disputed`: a message for any other order
//! is refused), lists its tickets and calls the edge's `POST /v1/revocations` for each
//! ([`DoorRevocations`], [`crate::edge_client`]). Revoking a revoked ticket again is harmless,
//! so redelivery and duplicate messages are safe. A call that fails (edge down, 5xx, refused)
//! fails the message: SQS redelivers it after the visibility timeout, and after
//! `maxReceiveCount` receives it goes to the DLQ (alarmed).
//!
//! tickets queues one [`RetireMessage`] per device binding: the consumer reads the ticket and
//! sends its stored `issued_at` as the door's `not_issued_before` for that event and ticket, so
//! the printed static code (and any earlier credential) is refused at the door and, through the
//! offline bundle, by offline scanners. Queued rather than called from the binding request so
//! that an edge outage delays the retirement (retried, then the DLQ) instead of losing it.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::ports::{
    Dedup, DoorRevocations, IncidentRevokeMessage, KeyPurpose, Keys, Orders, RetireMessage,
    RevokeMessage, RevokeQueueMessage, Tickets,
};

/// The edge worker's base URL (`https://door.example`; `http://127.0.0.1:PORT` locally).
pub const EDGE_URL_ENV: &str = "EDGE_URL";
/// Base64 of the KMS ciphertext (under `CONFIG_KEY_ID`, context `{"purpose":"revoker-key"}`)
/// of the revocation key, the same bytes as the worker's `REVOKER_KEY` secret (hex).
pub const REVOKER_KEY_ENV: &str = "REVOKER_KEY";
/// Local development only: the revocation key as hex. Refused when `REVOKER_KEY` is also set.
pub const DEV_PLAINTEXT_ENV: &str = "REVOKER_KEY_DEV_PLAINTEXT";
/// The key is at least this long (bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// Reads the revocation key once per cold start (see [`REVOKER_KEY_ENV`]). The key is hex text
/// (what the worker's secret holds); its bytes are the MAC key.
pub async fn load_revoker_key(
    keys: &dyn Keys,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Zeroizing<Vec<u8>>> {
    let encrypted = lookup(REVOKER_KEY_ENV).filter(|v| !v.trim().is_empty());
    let dev = lookup(DEV_PLAINTEXT_ENV).filter(|v| !v.trim().is_empty());
    let hex_text = match (encrypted, dev) {
        (Some(_), Some(_)) => {
            return Err(Error::internal(format!(
                "set {REVOKER_KEY_ENV} or {DEV_PLAINTEXT_ENV}, not both"
            )))
        }
        (Some(b64), None) => {
            let ciphertext = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| Error::internal(format!("{REVOKER_KEY_ENV} is not base64")))?;
            keys.decrypt(&KeyPurpose::RevokerKey, &ciphertext).await?
        }
        (None, Some(text)) => {
            tracing::warn!("revoker key read from {DEV_PLAINTEXT_ENV}: local development only");
            Zeroizing::new(text.into_bytes())
        }
        (None, None) => return Err(Error::internal(format!("{REVOKER_KEY_ENV} is not set"))),
    };
    parse_key(&hex_text)
}

/// The MAC key of its hex text (at least [`MIN_KEY_BYTES`]).
pub fn parse_key(hex_text: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let text =
        std::str::from_utf8(hex_text).map_err(|_| Error::internal("revoker key: not hex"))?;
    let key = Zeroizing::new(
        hex::decode(text.trim()).map_err(|_| Error::internal("revoker key: not hex"))?,
    );
    if key.len() < MIN_KEY_BYTES {
        return Err(Error::internal("revoker key: at least 32 bytes"));
    }
    Ok(key)
}

/// What one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// Tickets the door was told to refuse.
    pub tickets: usize,
}

/// The revoke handler (build once per cold start).
pub struct Revoker {
    pub orders: Arc<dyn Orders>,
    pub tickets: Arc<dyn Tickets>,
    pub door: Arc<dyn DoorRevocations>,
    /// The operators' mass revocation records (`operations::mass_revoke::marker`).
    pub dedup: Arc<dyn Dedup>,
}

impl std::fmt::Debug for Revoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revoker").finish_non_exhaustive()
    }
}

impl Revoker {
    pub fn new(deps: &crate::deps::Deps, door: Arc<dyn DoorRevocations>) -> Self {
        Self {
            orders: deps.orders.clone(),
            tickets: deps.tickets.clone(),
            door,
            dedup: deps.dedup.clone(),
        }
    }

    /// The Lambda entry point.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        crate::sqs::process_batch(event, |m| async move {
            let msg: RevokeQueueMessage = serde_json::from_str(&m.body).map_err(|_| {
                Error::Malformed(
                    "revoke message is not {order_id, event_id, reason}, {order_id, event_id, ticket_id} nor {order_id, event_id, incident_id}"
                        .into(),
                )
            })?;
            match msg {
                RevokeQueueMessage::Revoke(msg) => self.revoke_order(&msg).await.map(|_| ()),
                RevokeQueueMessage::Retire(msg) => self.retire_reissued(&msg).await.map(|_| ()),
                RevokeQueueMessage::Incident(msg) => {
                    self.revoke_for_incident(&msg).await.map(|_| ())
                }
            }
        })
        .await
    }

    /// Revokes every ticket of a refunded or disputed order at the door.
    pub async fn revoke_order(&self, msg: &RevokeMessage) -> Result<Revoked> {
        let order =
            crate::mint::order_of_message(self.orders.as_ref(), &msg.order_id, &msg.event_id)
                .await?;
        // The reason comes from the order, never from the message.
        let reason = match order.status {
            OrderStatus::Refunded => "refunded",
            OrderStatus::Disputed => "disputed",
            other => {
                return Err(Error::Conflict(format!(
                    "order is {} and its tickets are not to be revoked",
                    other.as_str()
                )))
            }
        };
        let tickets = self.tickets.order_tickets(&order.order_id).await?;
        for t in &tickets {
            if t.event_id != order.event_id {
                return Err(Error::internal("a ticket of the order names another event"));
            }
            self.door.revoke(&t.event_id, &t.ticket_id, reason).await?;
        }
        tracing::info!(order_id = %order.order_id, tickets = tickets.len(), reason, "tickets revoked at the door");
        Ok(Revoked {
            tickets: tickets.len(),
        })
    }

    /// Retires, at the door, the credentials of a re-issued (device-bound) ticket issued before
    /// its stored re-issue: the old printed static code stops admitting. The line is the stored
    /// ticket's `issued_at` (the message only names the ticket); a ticket not bound to a device
    /// was never re-issued and is refused. Calling it again is harmless (the door's line only
    /// moves forward).
    pub async fn retire_reissued(&self, msg: &RetireMessage) -> Result<u64> {
        let order =
            crate::mint::order_of_message(self.orders.as_ref(), &msg.order_id, &msg.event_id)
                .await?;
        let tickets = self.tickets.order_tickets(&order.order_id).await?;
        let ticket = tickets
            .iter()
            .find(|t| t.ticket_id == msg.ticket_id)
            .ok_or(Error::NotFound)?;
        if ticket.event_id != order.event_id {
            return Err(Error::internal("a ticket of the order names another event"));
        }
        if ticket.device_key.is_none() || ticket.bind_pending {
            return Err(Error::Conflict(
                "the ticket was not re-issued: nothing to retire".into(),
            ));
        }
        self.door
            .retire(&ticket.event_id, &ticket.ticket_id, ticket.issued_at)
            .await?;
        tracing::info!(ticket_id = %ticket.ticket_id, not_issued_before = ticket.issued_at, "older credentials retired at the door");
        Ok(ticket.issued_at)
    }

    /// Revokes every ticket of an order named by an operator's mass revocation. Only if the
    /// operator's record of (incident, order) exists: a message without one (forged, or from
    /// another producer of this queue) revokes nothing. Again is harmless (the door keeps the
    /// first revocation).
    pub async fn revoke_for_incident(&self, msg: &IncidentRevokeMessage) -> Result<Revoked> {
        crate::operations::mass_revoke::check_incident_id(&msg.incident_id)?;
        let marker = crate::operations::mass_revoke::marker(&msg.incident_id, &msg.order_id);
        if !self.dedup.is_claimed(&marker).await? {
            return Err(Error::Conflict(
                "no mass revocation is recorded for this order".into(),
            ));
        }
        let order =
            crate::mint::order_of_message(self.orders.as_ref(), &msg.order_id, &msg.event_id)
                .await?;
        let tickets = self.tickets.order_tickets(&order.order_id).await?;
        for t in &tickets {
            if t.event_id != order.event_id {
                return Err(Error::internal("a ticket of the order names another event"));
            }
            self.door
                .revoke(&t.event_id, &t.ticket_id, "incident")
                .await?;
        }
        tracing::info!(order_id = %order.order_id, incident_id = %msg.incident_id, tickets = tickets.len(), "tickets revoked at the door (incident)");
        Ok(Revoked {
            tickets: tickets.len(),
        })
    }
}
