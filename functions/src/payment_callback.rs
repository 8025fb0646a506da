//! payment-callback: `POST /v1/webhooks/{provider}` (stripe, midtrans, xendit, doku).
//!
//! Order of business, and nothing is written before step 5 passes:
//! 1. the provider must be one checkout sells through (`PAYMENT_PROVIDERS`) and have secrets
//!    (else 404); the body is read raw and bounded (413 past the limit);
//! 2. the webhook is verified exactly as its provider documents ([`crate::gateway`]): a missing
//!    or wrong signature/token, or a signed time (Stripe `t=`, DOKU `Request-Timestamp`) more
//!    than five minutes off, is a 401; a malformed payload (including a Midtrans "paid" whose
//!    signed `status_code` is not 200) a 400;
//! 3. the payment must name a known order (404), come from the order's provider (409), and carry
//!    the order's amount and currency (400);
//! 4. only a `paid` notification goes on. It must name the payment checkout created (Stripe
//!    session, Xendit invoice: 409 otherwise), and for Midtrans and Xendit, whose notifications
//!    are not signed in full, the provider's status API must confirm it: paid, for this order,
//!    for the order's amount and currency (409 otherwise; 503 when the API cannot be reached,
//!    so the provider retries). What is recorded comes from that answer;
//! 5. the notification is claimed (`Dedup`, conditional put of `webhook#<provider>#<id>`,
//!    remembered 35 days, far longer than the five-minute window): a replay, or the same
//!    notification delivered many times at once, finds the claim and answers 200 `duplicate`
//!    with nothing changed. Then `Reserved -> Paid` (a conditional write that also requires the
//!    order's provider, amount and currency) and a mint message on SQS. A payment for an
//!    expired or cancelled order (or a second, different payment of a paid one) is recorded on
//!    the order for refund, never turned into tickets. If a step after the claim fails, the
//!    claim is given back and the answer is a 5xx, so the provider's retry redoes it.
//!
//! `pending`, `failed`, `expired`, `refunded` and other event types are acknowledged and change
//! nothing, so a late `pending` after `paid` is a no-op.
//!
//! Mismatches (another provider, another payment, a payment the gateway does not confirm) answer
//! 409, not 200: they are either an attack or a misconfiguration, and a failed delivery is what
//! shows up in the provider's dashboard. The providers retry a non-2xx a bounded number of times
//! (Stripe for up to 3 days, Midtrans 5 times, Xendit 6 times over 24 h), each retry costing one
//! read and no write; a genuine notification that raced its own status API passes on a retry.
//!
//! If the process dies between the claim and the mint message, the order is paid but its mint
//! is not queued, and the notification's retries are duplicates: a duplicate of the payment
//! that paid an order still unminted [`MINT_REQUEUE_AFTER_SECS`] after payment queues the mint
//! again (the mint consumer dedupes by order).

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
use crate::model::{Order, OrderStatus, PaymentRecord, Reversal};
use crate::ports::{
    Clock, Dedup, KeyPurpose, Keys, MintMessage, Orders, PaidOutcome, PaymentStatusApi, Queue,
    ReversedOutcome, RevokeMessage, Topic,
};

/// How long a processed webhook event id is remembered (gateways retry for up to 3 days).
pub const EVENT_RETENTION_SECS: u64 = 35 * 24 * 3600;
/// A duplicate of the notification that paid an order re-queues its mint when the order is
/// still not minted this long after payment (the first delivery died before queueing it).
pub const MINT_REQUEUE_AFTER_SECS: u64 = 5 * 60;
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
    /// The order was refunded in full: its tickets' revocation is queued.
    Refunded,
    /// The order's payment was disputed (chargeback): its tickets' revocation is queued.
    Disputed,
    /// Part of the order was refunded: recorded, the tickets stay valid.
    PartiallyRefunded,
    /// The order was refunded or disputed before: its revocation is queued again (the consumer
    /// is idempotent).
    AlreadyReversed,
}

/// The payment-callback handler over its ports.
pub struct PaymentCallback {
    pub orders: Arc<dyn Orders>,
    pub dedup: Arc<dyn Dedup>,
    pub queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<GatewaySecrets>,
    /// The gateways' status APIs (Midtrans, Xendit), asked before a `paid` is believed.
    pub statuses: Arc<dyn PaymentStatusApi>,
    /// The providers checkout sells through (`PAYMENT_PROVIDERS`): webhooks of any other
    /// provider are refused, even when its secrets are configured.
    pub enabled: Vec<Provider>,
    pub max_body_bytes: usize,
    /// The `Request-Target` DOKU signs: the path of the notification URL configured at DOKU
    /// (default `/v1/webhooks/doku`; differs behind a base-path mapping).
    pub doku_request_target: String,
    /// The fraud defences (failed payments counted, cards checked against the blacklist and
    /// held orders not minted); `None` turns them off.
    pub fraud: Option<crate::deps::Deps>,
}

impl std::fmt::Debug for PaymentCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentCallback")
            .field("enabled", &self.enabled)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("doku_request_target", &self.doku_request_target)
            .finish_non_exhaustive()
    }
}

impl PaymentCallback {
    /// The handler over `deps`; the enabled providers are checkout's (`PAYMENT_PROVIDERS`).
    /// Fails when a name there is not a provider.
    pub fn new(
        deps: &crate::deps::Deps,
        secrets: Arc<GatewaySecrets>,
        statuses: Arc<dyn PaymentStatusApi>,
    ) -> Result<Self> {
        let enabled = deps
            .config
            .payment_providers
            .iter()
            .map(|p| {
                p.parse::<Provider>()
                    .map_err(|_| Error::internal("PAYMENT_PROVIDERS names an unknown provider"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PaymentCallback {
            orders: deps.orders.clone(),
            dedup: deps.dedup.clone(),
            queue: deps.queue.clone(),
            clock: deps.clock.clone(),
            secrets,
            statuses,
            enabled,
            max_body_bytes: DEFAULT_MAX_WEBHOOK_BYTES,
            doku_request_target: Provider::Doku.webhook_path(),
            fraud: Some(deps.clone()),
        })
    }

    /// Verifies and applies one webhook. `headers` and `body` exactly as received.
    pub async fn handle(
        &self,
        provider: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Outcome> {
        let provider: Provider = provider.parse().map_err(|_| Error::NotFound)?;
        if !self.secrets.is_configured(provider) || !self.enabled.contains(&provider) {
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
        // A Stripe dispute names only the PaymentIntent: the order is the one it paid.
        let resolved;
        let n = if n.order_id.is_empty() {
            let payment_id = n.payment_id.as_deref().ok_or(Error::NotFound)?;
            let order_id = self
                .orders
                .order_of_payment(n.provider.as_str(), payment_id)
                .await?
                .ok_or(Error::NotFound)?;
            resolved = PaymentNotification {
                order_id,
                ..n.clone()
            };
            &resolved
        } else {
            n
        };
        // Strongly consistent: the provider and the checkout reference are written before any
        // payment can be made and never change.
        let order = self
            .orders
            .get_order(&n.order_id)
            .await?
            .ok_or(Error::NotFound)?;
        let refuse = |e: Error, why: &'static str| {
            tracing::warn!(
                provider = n.provider.as_str(),
                order_id = %n.order_id,
                why,
                "webhook refused"
            );
            e
        };
        check_provider(&order, n).map_err(|e| refuse(e, "provider"))?;
        check_matches(&order, n).map_err(|e| refuse(e, "amount or currency"))?;
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
        if n.status.is_reversal() {
            let outcome = self
                .apply_reversal(&order, n, now)
                .await
                .map_err(|e| refuse(e, "reversal"))?;
            return Ok(log(outcome));
        }
        if n.status == PaymentStatus::Failed {
            self.count_failure(&order, n, now).await?;
        }
        if n.status != PaymentStatus::Paid {
            // Pending / failed / expired: the order's state is driven by `paid` (and by the
            // sweeper for expiry); nothing to write.
            return Ok(log(Outcome::Acknowledged));
        }
        check_reference(&order, n).map_err(|e| refuse(e, "payment reference"))?;
        let mut card = None;
        let (record, event_id) = if n.provider.confirms_with_status_api() {
            let state = self.confirm(&order, n).await?;
            // The card as the status API answered it (the notification's copy is unsigned).
            card.clone_from(&state.card);
            // The claim names what the gateway confirmed, not the notification's unsigned ids.
            let event_id = format!("{}:paid", state.reference);
            (record_of(&state, now), event_id)
        } else {
            let record = PaymentRecord {
                provider: n.provider.as_str().to_owned(),
                provider_ref: n.provider_reference.clone(),
                amount_minor: n.amount,
                currency: n.currency.clone(),
                paid_at: now,
                payment_id: n.payment_id.clone(),
            };
            (record, n.provider_event_id.clone())
        };
        self.check_card(&order, n, card.as_deref(), now).await?;
        let claim_key = format!("webhook#{}#{event_id}", n.provider.as_str());
        if !self
            .dedup
            .claim(&claim_key, now + EVENT_RETENTION_SECS)
            .await?
        {
            self.requeue_lost_mint(&order, &record, now).await?;
            return Ok(log(Outcome::Duplicate));
        }
        match self.apply_claimed(&order.order_id, &record).await {
            Ok(outcome) => Ok(log(outcome)),
            Err(e) => {
                // Give the claim back so the provider's retry redoes the work.
                self.dedup.release_claim(&claim_key).await.ok();
                Err(e)
            }
        }
    }

    /// Asks the provider's status API; the payment must be paid, for this order, for exactly
    /// the order's amount and currency (and, for Xendit, be the invoice checkout created).
    async fn confirm(
        &self,
        order: &Order,
        n: &PaymentNotification,
    ) -> Result<crate::gateway::PaymentState> {
        // Xendit is asked about the invoice checkout stored (check_reference made sure the
        // callback names it); Midtrans about the order id.
        let reference = order
            .payment
            .as_ref()
            .map_or(n.provider_reference.as_str(), |p| p.reference.as_str());
        let state = self
            .statuses
            .payment_state(n.provider, &order.order_id, reference)
            .await
            .inspect_err(|e| {
                tracing::warn!(
                    provider = n.provider.as_str(),
                    order_id = %n.order_id,
                    error = %e,
                    "payment status API failed: the provider will retry"
                );
            })?;
        let confirmed = state.filter(|s| {
            s.status == PaymentStatus::Paid
                && s.provider == n.provider
                && s.order_id == order.order_id
                && s.amount == order.amount_minor
                && s.currency == order.currency
                && (n.provider != Provider::Xendit || s.reference == reference)
        });
        confirmed.ok_or_else(|| {
            tracing::warn!(
                provider = n.provider.as_str(),
                order_id = %n.order_id,
                "a paid notification the gateway's status API does not confirm"
            );
            Error::Conflict("the payment gateway does not confirm this payment".into())
        })
    }

    /// A verified refund, partial refund or dispute of `order`'s payment.
    ///
    /// It must be of the payment that paid the order: Stripe names the PaymentIntent (stored
    /// from the paid Checkout Session); Midtrans' status is unsigned, so the Get Status API must
    /// answer the same reversal for the transaction that paid; DOKU signs the whole body and
    /// names the payment by the order id. Then the notification is claimed (replays and
    /// concurrent copies do nothing), and one conditional write moves a paid or minted order
    /// to `Refunded` (a refund of the whole amount) or `Disputed` and records it; a partial
    /// refund is recorded and changes nothing else. A reversed order's revocation is queued.
    async fn apply_reversal(
        &self,
        order: &Order,
        n: &PaymentNotification,
        now: u64,
    ) -> Result<Outcome> {
        let paid = order.paid.as_ref().ok_or_else(|| {
            Error::Conflict("the order has no payment to refund or dispute".into())
        })?;
        let same_payment = match n.provider {
            Provider::Stripe => paid.payment_id.is_some() && paid.payment_id == n.payment_id,
            Provider::Midtrans => paid.provider_ref == n.provider_reference,
            Provider::Doku => true,
            Provider::Xendit => false,
        };
        if paid.provider != n.provider.as_str() || !same_payment {
            return Err(Error::Conflict(
                "the refund or dispute is not of the payment that paid this order".into(),
            ));
        }
        let event_id = if n.provider.confirms_with_status_api() {
            let state = self.confirm_reversal(order, paid, n).await?;
            format!("{}:{}", state.reference, state.status.as_str())
        } else {
            n.provider_event_id.clone()
        };
        let status = match n.status {
            PaymentStatus::Disputed => OrderStatus::Disputed,
            PaymentStatus::Refunded if n.amount == order.amount_minor => OrderStatus::Refunded,
            // A refund of less than the whole order: recorded, the tickets stay valid.
            _ => order.status,
        };
        let kind = match status {
            OrderStatus::Disputed => "disputed",
            OrderStatus::Refunded => "refunded",
            _ => "partially_refunded",
        };
        let reversal = Reversal {
            kind: kind.to_owned(),
            provider: n.provider.as_str().to_owned(),
            provider_ref: n.provider_reference.clone(),
            amount_minor: n.amount,
            currency: n.currency.clone(),
            at: now,
        };
        let claim_key = format!("webhook#{}#{event_id}", n.provider.as_str());
        if !self
            .dedup
            .claim(&claim_key, now + EVENT_RETENTION_SECS)
            .await?
        {
            return Ok(Outcome::Duplicate);
        }
        let result = async {
            Ok(
                match self
                    .orders
                    .mark_reversed(&order.order_id, paid, status, &reversal)
                    .await?
                {
                    ReversedOutcome::Reversed(o) => {
                        self.enqueue_revocation(&o).await?;
                        if o.status == OrderStatus::Disputed {
                            Outcome::Disputed
                        } else {
                            Outcome::Refunded
                        }
                    }
                    ReversedOutcome::Already(o) => {
                        // Another notification of the reversal, or the retry of a delivery
                        // that died before queueing: queue again (the consumer is idempotent).
                        self.enqueue_revocation(&o).await?;
                        Outcome::AlreadyReversed
                    }
                    ReversedOutcome::PartialRecorded(_) => Outcome::PartiallyRefunded,
                },
            )
        }
        .await;
        if result.is_err() {
            // Give the claim back so the provider's retry redoes the work.
            self.dedup.release_claim(&claim_key).await.ok();
        }
        result
    }

    /// Midtrans: the Get Status API must answer the notification's reversal, for this order,
    /// for the transaction that paid it, for the order's amount and currency.
    async fn confirm_reversal(
        &self,
        order: &Order,
        paid: &PaymentRecord,
        n: &PaymentNotification,
    ) -> Result<crate::gateway::PaymentState> {
        let state = self
            .statuses
            .payment_state(n.provider, &order.order_id, &paid.provider_ref)
            .await?;
        state
            .filter(|s| {
                s.status == n.status
                    && s.provider == n.provider
                    && s.order_id == order.order_id
                    && s.reference == paid.provider_ref
                    && s.amount == order.amount_minor
                    && s.currency == order.currency
            })
            .ok_or_else(|| {
                Error::Conflict("the payment gateway does not confirm this refund".into())
            })
    }

    async fn enqueue_revocation(&self, order: &Order) -> Result<()> {
        let reason = if order.status == OrderStatus::Disputed {
            "disputed"
        } else {
            "refunded"
        };
        let message = RevokeMessage {
            order_id: order.order_id.clone(),
            event_id: order.event_id.clone(),
            reason: reason.to_owned(),
        };
        let body = serde_json::to_string(&message).map_err(Error::internal)?;
        self.queue.send(Topic::Revoke, &body).await
    }

    /// The state change of a claimed `paid` notification.
    async fn apply_claimed(&self, order_id: &str, record: &PaymentRecord) -> Result<Outcome> {
        if let Some(payment_id) = &record.payment_id {
            // So that a dispute, which names only the payment, finds the order.
            self.orders
                .link_payment(&record.provider, payment_id, order_id)
                .await?;
        }
        Ok(match self.orders.mark_paid(order_id, record).await? {
            PaidOutcome::Paid(order) => {
                self.enqueue_mint(&order).await?;
                Outcome::Paid
            }
            PaidOutcome::AlreadyPaid(order) => {
                // Another notification of the same payment (e.g. Xendit PAID then SETTLED), or a
                // retry of a delivery that died before queueing the mint: make sure it is queued
                // (the consumer dedupes by order).
                if order.status == OrderStatus::Paid {
                    self.enqueue_mint(&order).await?;
                }
                Outcome::AlreadyPaid
            }
            PaidOutcome::RefundDue(_) => {
                tracing::warn!(
                    provider = %record.provider,
                    order_id = %order_id,
                    "payment for an order that cannot be fulfilled: recorded for refund"
                );
                Outcome::RefundDue
            }
        })
    }

    /// A duplicate of the payment that paid `order`, which is still not minted long after:
    /// the delivery that claimed the notification died before queueing the mint. Queue it.
    async fn requeue_lost_mint(
        &self,
        order: &Order,
        record: &PaymentRecord,
        now: u64,
    ) -> Result<()> {
        let lost = order.status == OrderStatus::Paid
            && order.paid.as_ref().is_some_and(|p| {
                p.provider == record.provider
                    && p.provider_ref == record.provider_ref
                    && now >= p.paid_at.saturating_add(MINT_REQUEUE_AFTER_SECS)
            });
        if lost {
            tracing::warn!(order_id = %order.order_id, "paid order still unminted: mint re-queued");
            self.enqueue_mint(order).await?;
        }
        Ok(())
    }

    /// The card that paid against the blacklist, before the order is marked paid: a hold is
    /// in place before any mint is queued. Idempotent: a retried notification checks again and
    /// changes nothing more.
    async fn check_card(
        &self,
        order: &Order,
        n: &PaymentNotification,
        card: Option<&str>,
        now: u64,
    ) -> Result<()> {
        if let Some(deps) = &self.fraud {
            crate::fraud::screen::at_payment(
                deps,
                &order.order_id,
                &order.event_id,
                crate::fraud::screen::PaymentSignal::Paid {
                    provider: n.provider.as_str(),
                    card,
                },
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// A failed payment counts against the order's email, device and address, once per
    /// notification (claimed like any other).
    async fn count_failure(&self, order: &Order, n: &PaymentNotification, now: u64) -> Result<()> {
        let Some(deps) = &self.fraud else {
            return Ok(());
        };
        let claim_key = format!(
            "fraud-failed#{}#{}",
            n.provider.as_str(),
            n.provider_event_id
        );
        if self
            .dedup
            .claim(&claim_key, now + EVENT_RETENTION_SECS)
            .await?
        {
            crate::fraud::screen::at_payment(
                deps,
                &order.order_id,
                &order.event_id,
                crate::fraud::screen::PaymentSignal::Failed,
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn enqueue_mint(&self, order: &Order) -> Result<()> {
        if let Some(deps) = &self.fraud {
            if deps.fraud.is_held(&order.order_id).await? {
                tracing::warn!(order_id = %order.order_id, "order on hold: not minted");
                return Ok(());
            }
        }
        let message = MintMessage {
            order_id: order.order_id.clone(),
            event_id: order.event_id.clone(),
        };
        let body = serde_json::to_string(&message).map_err(Error::internal)?;
        self.queue.send(Topic::Mint, &body).await
    }
}

/// The notification must come from the provider the order is paid through.
fn check_provider(order: &Order, n: &PaymentNotification) -> Result<()> {
    if order.payment_provider == n.provider.as_str() {
        Ok(())
    } else {
        Err(Error::Conflict(
            "the notification is not from the order's payment provider".into(),
        ))
    }
}

/// A `paid` notification that names the gateway's payment (Stripe session, Xendit invoice) must
/// name the one checkout created and stored for the order. Midtrans and DOKU notifications name
/// the payment by our order id only, which the order was looked up by.
fn check_reference(order: &Order, n: &PaymentNotification) -> Result<()> {
    if !n.provider.notifications_name_checkout_reference() {
        return Ok(());
    }
    match &order.payment {
        Some(p) if p.provider == n.provider.as_str() && p.reference == n.provider_reference => {
            Ok(())
        }
        _ => Err(Error::Conflict(
            "the notification is not for the payment checkout created for this order".into(),
        )),
    }
}

/// What is recorded for a payment its gateway confirmed.
fn record_of(state: &crate::gateway::PaymentState, now: u64) -> PaymentRecord {
    PaymentRecord {
        provider: state.provider.as_str().to_owned(),
        provider_ref: state.reference.clone(),
        amount_minor: state.amount,
        currency: state.currency.clone(),
        paid_at: now,
        payment_id: None,
    }
}

/// A payment must be for exactly what the order costs, in the order's currency. Refunds may be
/// partial but never exceed the order.
fn check_matches(order: &Order, n: &PaymentNotification) -> Result<()> {
    if n.currency != order.currency {
        return Err(Error::invalid("currency", "does not match the order"));
    }
    let ok = if n.status.is_reversal() {
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
    use crate::model::PaymentReference;

    fn order(amount: u64, currency: &str) -> Order {
        Order {
            unit_price_minor: amount,
            amount_minor: amount,
            currency: currency.into(),
            ..Order::sample("ord_1", OrderStatus::Reserved)
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
            payment_id: None,
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

    #[test]
    fn provider_and_payment_reference_must_be_the_orders() {
        let mut o = order(150_000, "IDR");
        let n = notification(150_000, "IDR", PaymentStatus::Paid);
        assert!(check_provider(&o, &n).is_ok());
        for other in [Provider::Midtrans, Provider::Xendit, Provider::Doku] {
            let x = PaymentNotification {
                provider: other,
                ..n.clone()
            };
            assert!(matches!(check_provider(&o, &x), Err(Error::Conflict(_))));
        }
        // Checkout stored no reference: a notification naming one cannot be this order's.
        assert!(matches!(check_reference(&o, &n), Err(Error::Conflict(_))));
        let stored = |provider: &str, reference: &str| PaymentReference {
            provider: provider.into(),
            reference: reference.into(),
            redirect_url: None,
            expires_at: None,
        };
        o.payment = Some(stored("stripe", "cs"));
        assert!(check_reference(&o, &n).is_ok());
        o.payment = Some(stored("stripe", "cs_other"));
        assert!(check_reference(&o, &n).is_err());
        o.payment = Some(stored("xendit", "cs"));
        assert!(check_reference(&o, &n).is_err());
        // Midtrans and DOKU notifications name the payment by the order id only.
        o.payment = Some(stored("midtrans", "snap-token"));
        o.payment_provider = "midtrans".into();
        let m = PaymentNotification {
            provider: Provider::Midtrans,
            provider_reference: "tx-1".into(),
            ..n
        };
        assert!(check_provider(&o, &m).is_ok() && check_reference(&o, &m).is_ok());
    }
}
