//! tickets: the buyer's tickets (`GET /v1/orders/{order_id}/tickets`) and binding a ticket to a
//! device key (`POST /v1/tickets/{ticket_id}/device`), both guarded by the order access token
//! (`Authorization: Bearer <token>` from checkout).
//!
//! Binding re-issues the ticket's credential with the device's P-256 public key in its claims,
//! so the door accepts it only with a fresh proof signed by that device (the rotating QR). This
//! function claims the ticket for the key (first key wins, one conditional write) and the mint
//! function re-issues ([`crate::reissue`]): the public API never holds an issuer key.
//! Idempotent: binding again to the same key returns the same credential; another key is `409`;
//! a re-issue not stored within [`BIND_WAIT`] is `503` (ask again). Each answer with a bound
//! credential queues the retirement of the ticket's older credentials at the door (the revoke
//! function, [`crate::revoke`]): once it has run, the printed static code is refused.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ticket::{DevicePublicKey, SealedCredential, TicketId};

use crate::checkout::authorize_order;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::{bearer_token, read_json, respond};
use crate::model::OrderStatus;
use crate::ports::{ReissueMessage, RetireMessage, RevokeQueueMessage, TicketRecord, Topic};

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
            // Not bound until the re-issued credential is stored.
            device_public_key: t
                .device_key
                .as_ref()
                .filter(|_| !t.bind_pending)
                .map(|k| B64.encode(k)),
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
    /// The ticket's order. With it the ticket is read from the table itself (strongly
    /// consistent), so a bind right after minting finds it; without it the lookup goes through
    /// the ticket index, which DynamoDB updates eventually (a just-minted ticket may be `404`).
    #[serde(default)]
    pub order_id: Option<String>,
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

/// How long `POST /v1/tickets/{id}/device` waits for the mint function's re-issue before
/// answering `503` (the buyer's app asks again; the claim stays).
pub const BIND_WAIT: Duration = Duration::from_secs(8);
const BIND_POLL: Duration = Duration::from_millis(150);

/// The tickets service. It never holds an issuer key: binding claims the ticket for the device
/// key and asks the mint function to re-issue ([`crate::reissue`]).
#[derive(Debug, Clone)]
pub struct TicketsService {
    pub deps: Deps,
    /// How long a bind waits for its re-issue ([`BIND_WAIT`]).
    pub bind_wait: Duration,
}

impl TicketsService {
    pub fn new(deps: Deps) -> Self {
        Self {
            deps,
            bind_wait: BIND_WAIT,
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
        let ticket = if let Some(order_id) = &req.order_id {
            authorize_order(d, order_id, token).await?;
            d.tickets
                .get_order_ticket(order_id, &tid.to_hex())
                .await?
                .ok_or(Error::NotFound)?
        } else {
            let ticket = d
                .tickets
                .get_ticket(&tid.to_hex())
                .await?
                .ok_or(Error::NotFound)?;
            authorize_order(d, &ticket.order_id, token).await?;
            ticket
        };
        let wanted = device.to_sec1_uncompressed();
        let claimed = match &ticket.device_key {
            Some(_) => ticket,
            None => d.tickets.request_binding(&ticket, &wanted).await?,
        };
        if claimed.device_key.as_deref() != Some(wanted.as_slice()) {
            return Err(Error::Conflict("ticket is bound to another device".into()));
        }
        if !claimed.bind_pending {
            // A repeat, or a retry after queueing the retirement failed: queue it again (the
            // door's line only moves forward).
            queue_retirement(d, &claimed).await?;
            return TicketView::from_record(&claimed);
        }
        // Asked again on every call while pending: the mint function's re-issue is idempotent.
        let msg = ReissueMessage {
            reissue_ticket_id: claimed.ticket_id.clone(),
            order_id: claimed.order_id.clone(),
            event_id: claimed.event_id.clone(),
        };
        d.queue
            .send(
                Topic::Mint,
                &serde_json::to_string(&msg).map_err(Error::internal)?,
            )
            .await?;
        tracing::info!(ticket_id = %claimed.ticket_id, order_id = %claimed.order_id, "ticket claimed for a device; re-issue requested");
        self.await_reissue(&claimed).await
    }

    /// Polls the ticket (strongly consistent) until the re-issue is stored, at most `bind_wait`.
    async fn await_reissue(&self, claimed: &TicketRecord) -> Result<TicketView> {
        let rounds = (self.bind_wait.as_millis() / BIND_POLL.as_millis()).max(1);
        for _ in 0..rounds {
            tokio::time::sleep(BIND_POLL).await;
            let now = self
                .deps
                .tickets
                .get_order_ticket(&claimed.order_id, &claimed.ticket_id)
                .await?
                .ok_or(Error::NotFound)?;
            if !now.bind_pending {
                queue_retirement(&self.deps, &now).await?;
                return TicketView::from_record(&now);
            }
        }
        Err(Error::unavailable(
            "the ticket is being bound to this device; ask again in a few seconds",
        ))
    }
}

/// Queues the retirement, at the door, of the credentials issued before `bound`'s (the printed
/// static code among them): the revoke function sends it with the machine credential, retried
/// while the edge is down. If queueing fails the binding answers 503; the buyer's retry finds the
/// ticket bound to the same key and queues it again.
async fn queue_retirement(d: &Deps, bound: &TicketRecord) -> Result<()> {
    let message = RevokeQueueMessage::Retire(RetireMessage {
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
