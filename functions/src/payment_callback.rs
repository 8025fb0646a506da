//! payment-callback: `POST /v1/webhooks/{provider}` (stripe, midtrans, xendit, doku).
//!
//! Order of business, and nothing is written before step 3 passes:
//! 1. the body is read raw and bounded (413 past the limit);
//! 2. the webhook is verified exactly as its provider documents ([`crate::gateway`]): a missing
//!    or wrong signature/token or a stale Stripe timestamp is a 401, a malformed payload a 400;
//! 3. the payment must name a known order and carry the order's amount and currency (else 404 /
//!    400, nothing changed);
//! 4. only a `paid` notification changes state: `Reserved -> Paid` (conditional write, with the
//!    gateway's reference, never card data), then a mint message on SQS. A payment for an
//!    expired or cancelled order (or a second, different payment of a paid one) is recorded on the
//!    order for refund, never turned into tickets. `pending`, `failed`, `expired`, `refunded` and
//!    other event types are acknowledged and change nothing, so a late `pending` after `paid` is
//!    a no-op.
//!
//! Idempotent steps instead of one transaction: `mark_paid` is a conditional write that answers
//! `AlreadyPaid` for the same payment, the mint consumer dedupes by order, and the event is then
//! claimed (`Dedup`, conditional put of `webhook#<provider>#<event id>`). A replay finds the
//! claim and changes nothing; a delivery that died between the steps is finished by the retry
//! (the claim is only written once the mint message is sent).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::gateway::{
    self, GatewaySecrets, PaymentNotification, PaymentStatus, Provider, WebhookEvent,
};
use crate::model::{Order, PaymentRecord};
use crate::ports::{
    Clock, Dedup, KeyPurpose, Keys, MintMessage, Orders, PaidOutcome, Queue, Topic,
};

/// How long a processed webhook event id is remembered (gateways retry for up to 3 days).
pub const EVENT_RETENTION_SECS: u64 = 35 * 24 * 3600;
/// Largest webhook body accepted (gateway notifications are a few KiB).
pub const DEFAULT_MAX_WEBHOOK_BYTES: usize = 64 * 1024;

/// The env var holding the base64 KMS ciphertext of the gateway secrets JSON.
pub const SECRETS_ENV: &str = "GATEWAY_SECRETS";
/// Local development only: the gateway secrets JSON in plain text. Refused when
/// `GATEWAY_SECRETS` is also set.
pub const DEV_PLAINTEXT_ENV: &str = "GATEWAY_SECRETS_DEV_PLAINTEXT";

/// Reads the gateway secrets once per cold start: `GATEWAY_SECRETS` (base64 of a KMS ciphertext
/// under `CONFIG_KEY_ID`, context `{"purpose":"gateway-secrets"}`), or for local development
/// only `GATEWAY_SECRETS_DEV_PLAINTEXT`. The plaintext is zeroized after parsing.
pub async fn load_gateway_secrets(
    keys: &dyn Keys,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<GatewaySecrets> {
    let encrypted = lookup(SECRETS_ENV).filter(|v| !v.trim().is_empty());
    let dev = lookup(DEV_PLAINTEXT_ENV).filter(|v| !v.trim().is_empty());
    match (encrypted, dev) {
        (Some(_), Some(_)) => Err(Error::internal(format!(
            "set {SECRETS_ENV} or {DEV_PLAINTEXT_ENV}, not both"
        ))),
        (Some(b64), None) => {
            let ciphertext = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| Error::internal(format!("{SECRETS_ENV} is not base64")))?;
            let plaintext = keys
                .decrypt(&KeyPurpose::GatewaySecrets, &ciphertext)
                .await?;
            Ok(GatewaySecrets::from_json(&plaintext)?)
        }
        (None, Some(json)) => {
            tracing::warn!("gateway secrets read from {DEV_PLAINTEXT_ENV}: local development only");
            let json = zeroize::Zeroizing::new(json);
            Ok(GatewaySecrets::from_json(json.as_bytes())?)
        }
        (None, None) => Err(Error::internal(format!("{SECRETS_ENV} is not set"))),
    }
}

/// What a delivered webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The order is now paid and its mint is queued.
    Paid,
    /// This event was processed before: nothing changed.
    Duplicate,
    /// The order was already paid by this payment (another event of it): nothing changed.
    AlreadyPaid,
    /// The order had expired or been cancelled (or was paid by another payment): the payment is
    /// recorded for refund, no tickets.
    RefundDue,
    /// An authentic status update that changes nothing (pending, failed, expired, refunded).
    Acknowledged,
    /// An authentic event of a type karcis does not act on.
    Ignored,
}

/// The payment-callback handler over its ports.
pub struct PaymentCallback {
    pub orders: Arc<dyn Orders>,
    pub dedup: Arc<dyn Dedup>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<GatewaySecrets>,
    pub max_body_bytes: usize,
    /// The `Request-Target` DOKU signs: the path of the notification URL configured at DOKU
    /// (default `/v1/webhooks/doku`; differs behind a base-path mapping).
    pub doku_request_target: String,
}

impl std::fmt::Debug for PaymentCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentCallback")
            .field("max_body_bytes", &self.max_body_bytes)
            .field("doku_request_target", &self.doku_request_target)
            .finish_non_exhaustive()
    }
}

impl PaymentCallback {
    pub fn new(deps: &crate::deps::Deps, secrets: Arc<GatewaySecrets>) -> Self {
        PaymentCallback {
            orders: deps.orders.clone(),
            dedup: deps.dedup.clone(),
            queue: deps.queue.clone(),
            clock: deps.clock.clone(),
            secrets,
            max_body_bytes: DEFAULT_MAX_WEBHOOK_BYTES,
            doku_request_target: Provider::Doku.webhook_path(),
        }
    }

    /// Verifies and applies one webhook. `headers` and `body` exactly as received.
    pub async fn handle(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Outcome> {
        let provider: Provider = provider.parse().map_err(|_| Error::NotFound)?;
        if !self.secrets.is_configured(provider) {
            return Err(Error::NotFound);
        }
        if body.len() > self.max_body_bytes {
            return Err(Error::PayloadTooLarge);
        }
        let target = if provider == Provider::Doku {
            self.doku_request_target.clone()
        } else {
            provider.webhook_path()
        };
        let request = gateway::WebhookRequest {
            headers,
            body,
            request_target: &target,
        };
        let now = self.clock.now();
        let event =
            gateway::verify_webhook(provider, &self.secrets, &request, now).map_err(|e| {
                tracing::warn!(
                    provider = provider.as_str(),
                    code = e.code(),
                    "webhook refused"
                );
                Error::from(e)
            })?;
        match event {
            WebhookEvent::Ignored { event_type, .. } => {
                tracing::info!(provider = provider.as_str(), %event_type, "webhook event ignored");
                Ok(Outcome::Ignored)
            }
            WebhookEvent::Payment(n) => self.apply(&n, now).await,
        }
    }

    async fn apply(&self, n: &PaymentNotification, now: u64) -> Result<Outcome> {
        let order = self
            .orders
            .get_order(&n.order_id)
            .await?
            .ok_or(Error::NotFound)?;
        check_matches(&order, n)?;
        let log = |outcome: Outcome| {
            tracing::info!(
                provider = n.provider.as_str(),
                order_id = %n.order_id,
                status = n.status.as_str(),
                outcome = ?outcome,
                "webhook applied"
            );
            outcome
        };
        if n.status != PaymentStatus::Paid {
            // Pending / failed / expired / refunded: the order's state is driven by `paid`
            // (and by the sweeper for expiry); nothing to write.
            return Ok(log(Outcome::Acknowledged));
        }
        let record = PaymentRecord {
            provider: n.provider.as_str().to_owned(),
            provider_ref: n.provider_reference.clone(),
            amount_minor: n.amount,
            currency: n.currency.clone(),
            paid_at: now,
        };
        let claim_key = format!("webhook#{}#{}", n.provider.as_str(), n.provider_event_id);
        let outcome = match self.orders.mark_paid(&n.order_id, &record).await? {
            PaidOutcome::Paid(order) => {
                self.enqueue_mint(&order).await?;
                self.dedup
                    .claim(&claim_key, now + EVENT_RETENTION_SECS)
                    .await?;
                Outcome::Paid
            }
            PaidOutcome::AlreadyPaid(order) => {
                if self
                    .dedup
                    .claim(&claim_key, now + EVENT_RETENTION_SECS)
                    .await?
                {
                    // First time this event is seen for a paid order: either another event
                    // of the same payment, or a retry of a delivery that died before its
                    // claim. Make sure the mint is queued (the consumer dedupes by order).
                    if order.status == crate::model::OrderStatus::Paid {
                        if let Err(e) = self.enqueue_mint(&order).await {
                            self.dedup.release_claim(&claim_key).await.ok();
                            return Err(e);
                        }
                    }
                    Outcome::AlreadyPaid
                } else {
                    Outcome::Duplicate
                }
            }
            PaidOutcome::RefundDue(_) => {
                if self
                    .dedup
                    .claim(&claim_key, now + EVENT_RETENTION_SECS)
                    .await?
                {
                    tracing::warn!(
                        provider = n.provider.as_str(),
                        order_id = %n.order_id,
                        "payment for an order that cannot be fulfilled: recorded for refund"
                    );
                    Outcome::RefundDue
                } else {
                    Outcome::Duplicate
                }
            }
        };
        Ok(log(outcome))
    }

    async fn enqueue_mint(&self, order: &Order) -> Result<()> {
        let message = MintMessage {
            order_id: order.order_id.clone(),
            event_id: order.event_id.clone(),
        };
        let body = serde_json::to_string(&message).map_err(Error::internal)?;
        self.queue.send(Topic::Mint, &body).await
    }
}

/// A payment must be for exactly what the order costs, in the order's currency. Refunds may be
/// partial but never exceed the order.
fn check_matches(order: &Order, n: &PaymentNotification) -> Result<()> {
    if n.currency != order.currency {
        return Err(Error::invalid("currency", "does not match the order"));
    }
    let ok = if n.status == PaymentStatus::Refunded {
        n.amount <= order.amount_minor
    } else {
        n.amount == order.amount_minor
    };
    if !ok {
        return Err(Error::invalid("amount", "does not match the order"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Serialize)]
struct Ack {
    received: bool,
    outcome: Outcome,
}

async fn post_webhook(
    State(handler): State<Arc<PaymentCallback>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let declared = headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > handler.max_body_bytes) {
            return Err(Error::PayloadTooLarge);
        }
        let bytes = axum::body::to_bytes(body, handler.max_body_bytes)
            .await
            .map_err(|_| Error::PayloadTooLarge)?;
        // Header values that are not text cannot be part of any signature scheme; skip them.
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        handler.handle(&provider, &pairs, &bytes).await
    }
    .await;
    match result {
        Ok(outcome) => crate::http::json_response(
            StatusCode::OK,
            &Ack {
                received: true,
                outcome,
            },
        ),
        Err(e) => e.into_response(),
    }
}

/// The payment-callback route.
pub fn router(handler: PaymentCallback) -> Router {
    Router::new()
        .route("/v1/webhooks/{provider}", post(post_webhook))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(handler))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Consent, OrderStatus};

    fn order(amount: u64, currency: &str) -> Order {
        Order {
            order_id: "ord_1".into(),
            event_id: "fest".into(),
            tier_id: "ga".into(),
            quantity: 1,
            unit_price_minor: amount,
            amount_minor: amount,
            currency: currency.into(),
            status: OrderStatus::Reserved,
            customer_id: "cus_1".into(),
            created_at: 0,
            expires_at: 900,
            buyer_sealed: vec![],
            access_token_hash: vec![],
            access_token_sealed: vec![],
            consent: Consent {
                privacy_policy_version: "2026-01".into(),
                accepted_at: 0,
                marketing: false,
            },
            payment_provider: "stripe".into(),
            payment: None,
            paid: None,
            refund_due: None,
            minted_at: None,
        }
    }

    fn notification(amount: u64, currency: &str, status: PaymentStatus) -> PaymentNotification {
        PaymentNotification {
            provider: Provider::Stripe,
            provider_event_id: "evt".into(),
            provider_reference: "cs".into(),
            order_id: "ord_1".into(),
            amount,
            currency: currency.into(),
            status,
        }
    }

    #[test]
    fn amount_and_currency_must_match() {
        let o = order(150_000, "IDR");
        assert!(check_matches(&o, &notification(150_000, "IDR", PaymentStatus::Paid)).is_ok());
        assert_eq!(
            check_matches(&o, &notification(149_999, "IDR", PaymentStatus::Paid)),
            Err(Error::invalid("amount", "does not match the order"))
        );
        assert_eq!(
            check_matches(&o, &notification(150_001, "IDR", PaymentStatus::Pending)),
            Err(Error::invalid("amount", "does not match the order"))
        );
        assert_eq!(
            check_matches(&o, &notification(150_000, "USD", PaymentStatus::Paid)),
            Err(Error::invalid("currency", "does not match the order"))
        );
        assert!(check_matches(&o, &notification(50_000, "IDR", PaymentStatus::Refunded)).is_ok());
        assert!(check_matches(&o, &notification(150_001, "IDR", PaymentStatus::Refunded)).is_err());
    }
}
