//! tickets: the buyer's tickets (`GET /v1/orders/{order_id}/tickets`) and binding a ticket to a
//! device key (`POST /v1/tickets/{ticket_id}/device`), both guarded by the order access token
//! (`Authorization: Bearer <token>` from checkout).
//!
//! Binding re-issues the ticket's credential with the device's P-256 public key in its claims,
//! so the door accepts it only with a fresh proof signed by that device (the rotating QR).
//! Idempotent: binding again to the same key returns the same credential; another key is `409`.
//! Each binding queues the retirement of the ticket's older credentials at the door (the revoke
//! function, [`crate::revoke`]): once it has run, the printed static code is refused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ticket::{Claims, DevicePublicKey, SealedCredential, TicketId};

use crate::checkout::authorize_order;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::eventkeys::EventKeyCache;
use crate::http::{bearer_token, read_json, respond};
use crate::mint::issue_credential;
use crate::model::OrderStatus;
use crate::ports::{ReissueMessage, RevokeQueueMessage, TicketRecord, Topic};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A ticket as the buyer's app receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketView {
    pub ticket_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub gates: Vec<String>,
    pub not_before: u64,
    pub not_after: u64,
    /// The sealed credential, base64url: the app builds the rotating QR from it.
    pub credential: String,
    /// The static QR text (`KC1:...`) of the credential.
    pub static_qr: String,
    /// Uncompressed SEC1 device key, base64url, once bound.
    pub device_public_key: Option<String>,
}

impl TicketView {
    pub fn from_record(t: &TicketRecord) -> Result<Self> {
        let sealed = SealedCredential::from_bytes(t.credential.clone())
            .map_err(|_| Error::internal("stored credential is malformed"))?;
        Ok(Self {
            ticket_id: t.ticket_id.clone(),
            event_id: t.event_id.clone(),
            tier_id: t.tier_id.clone(),
            gates: t.gates.clone(),
            not_before: t.not_before,
            not_after: t.not_after,
            credential: B64.encode(&t.credential),
            static_qr: sealed.to_static_qr(),
            device_public_key: t.device_key.as_ref().map(|k| B64.encode(k)),
        })
    }
}

/// `GET /v1/orders/{id}/tickets` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTickets {
    pub order_id: String,
    pub status: OrderStatus,
    pub tickets: Vec<TicketView>,
}

/// `POST /v1/tickets/{id}/device` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    /// SEC1 P-256 public key (33 or 65 bytes), base64url (padding optional) or hex.
    pub device_public_key: String,
}

/// Decodes a device key given as base64url or hex.
pub fn parse_device_key(text: &str) -> Result<DevicePublicKey> {
    let text = text.trim();
    let bytes = if text.len() == 66 || text.len() == 130 {
        hex::decode(text).ok()
    } else {
        None
    }
    .or_else(|| B64.decode(text.trim_end_matches('=')).ok())
    .ok_or_else(|| Error::invalid("device_public_key", "not base64url or hex"))?;
    DevicePublicKey::from_sec1(&bytes)
        .map_err(|_| Error::invalid("device_public_key", "not a P-256 SEC1 public key"))
}

/// The tickets service.
#[derive(Debug, Clone)]
pub struct TicketsService {
    pub deps: Deps,
    pub keys: Arc<EventKeyCache>,
}

impl TicketsService {
    pub fn new(deps: Deps) -> Self {
        Self {
            deps,
            keys: Arc::new(EventKeyCache::new()),
        }
    }

    pub async fn list(&self, order_id: &str, token: &str) -> Result<OrderTickets> {
        let order = authorize_order(&self.deps, order_id, token).await?;
        let records = if order.status == OrderStatus::Minted {
            self.deps.tickets.order_tickets(order_id).await?
        } else {
            Vec::new()
        };
        Ok(OrderTickets {
            order_id: order.order_id,
            status: order.status,
            tickets: records
                .iter()
                .map(TicketView::from_record)
                .collect::<Result<_>>()?,
        })
    }

    pub async fn bind(
        &self,
        ticket_id: &str,
        token: &str,
        req: &BindRequest,
    ) -> Result<TicketView> {
        let d = &self.deps;
        let tid = TicketId::from_hex(ticket_id).map_err(|_| Error::NotFound)?;
        let device = parse_device_key(&req.device_public_key)?;
        let ticket = d
            .tickets
            .get_ticket(&tid.to_hex())
            .await?
            .ok_or(Error::NotFound)?;
        authorize_order(d, &ticket.order_id, token).await?;
        let wanted = device.to_sec1_uncompressed();
        match &ticket.device_key {
            Some(k) if *k == wanted => {
                // A retry of a binding whose queueing failed (or a repeat): queue it again; the
                // door's retirement is idempotent.
                queue_retirement(d, &ticket).await?;
                return TicketView::from_record(&ticket);
            }
            Some(_) => return Err(Error::Conflict("ticket is bound to another device".into())),
            None => {}
        }
        let event = d
            .events
            .get_event(&ticket.event_id)
            .await?
            .ok_or_else(|| Error::internal("ticket names an unknown event"))?;
        let set = self.keys.get(d, &ticket.event_id, ticket.kid).await?;
        // Strictly after the credential it replaces, so that the door's "not issued before"
        // line retires the old one even when both were issued within one second.
        let now = d.clock.now().max(ticket.issued_at.saturating_add(1));
        let claims = Claims {
            kid: ticket.kid,
            ticket_id: tid,
            event_id: ticket.event_id.clone(),
            gates: ticket.gates.clone(),
            not_before: ticket.not_before,
            not_after: ticket.not_after.max(event.ends_at),
            issued_at: now,
            device_key: Some(device),
        };
        let mut bound = ticket.clone();
        bound.credential = issue_credential(&set, &claims, d.rng.as_ref())?;
        bound.device_key = Some(wanted.clone());
        bound.issued_at = now;
        bound.not_after = claims.not_after;
        let stored = d.tickets.bind_device(&bound, ticket.version).await?;
        if stored.device_key.as_deref() != Some(wanted.as_slice()) {
            return Err(Error::Conflict("ticket is bound to another device".into()));
        }
        tracing::info!(ticket_id = %stored.ticket_id, order_id = %stored.order_id, "ticket bound to device");
        queue_retirement(d, &stored).await?;
        TicketView::from_record(&stored)
    }
}

/// Queues the retirement, at the door, of the credentials issued before `bound`'s (the printed
/// static code among them): the revoke function sends it with the machine credential, retried
/// while the edge is down. If queueing fails the binding answers 503; the buyer's retry finds the
/// ticket bound to the same key and queues it again.
async fn queue_retirement(d: &Deps, bound: &TicketRecord) -> Result<()> {
    let message = RevokeQueueMessage::Reissue(ReissueMessage {
        order_id: bound.order_id.clone(),
        event_id: bound.event_id.clone(),
        ticket_id: bound.ticket_id.clone(),
    });
    let body = serde_json::to_string(&message).map_err(Error::internal)?;
    d.queue.send(Topic::Revoke, &body).await
}

async fn list_tickets(
    State(s): State<Arc<TicketsService>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        s.list(&order_id, token).await
    }
    .await;
    respond(StatusCode::OK, result)
}

async fn bind_device(
    State(s): State<Arc<TicketsService>>,
    Path(ticket_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        let req: BindRequest = read_json(&headers, body, s.deps.config.max_body_bytes).await?;
        s.bind(&ticket_id, &token, &req).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// The tickets routes.
pub fn router(service: TicketsService) -> Router {
    Router::new()
        .route("/v1/orders/{order_id}/tickets", get(list_tickets))
        .route("/v1/tickets/{ticket_id}/device", post(bind_device))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn device_keys_parse_from_hex_and_base64url() {
        let sk = ticket::p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let point = sk.verifying_key().to_encoded_point(false);
        let bytes = point.as_bytes();
        let a = parse_device_key(&hex::encode(bytes)).unwrap();
        let b = parse_device_key(&B64.encode(bytes)).unwrap();
        assert_eq!(a.to_sec1_uncompressed(), b.to_sec1_uncompressed());
        let compressed = sk.verifying_key().to_encoded_point(true);
        let c = parse_device_key(&B64.encode(compressed.as_bytes())).unwrap();
        assert_eq!(c.to_sec1_uncompressed(), bytes.to_vec());
        assert!(parse_device_key("not a key").is_err());
        assert!(parse_device_key(&B64.encode([4u8; 65])).is_err());
    }
}
