//! privacy: the GDPR rights of a buyer who proves they own their email address.
//!
//! - `POST /v1/privacy/challenge` `{"email"}`: a one-time 8-digit code is sent to the address
//!   (through the notification adapter; never logged, never queued) if it belongs to a customer.
//!   The answer is the same either way (no account enumeration): `202 {"challenge", "expires_at"}`.
//! - `POST /v1/privacy/export` `{"email", "challenge", "code"}`: everything held about the
//!   customer, decrypted, in the schema of `functions/PRIVACY.md` (`karcis.privacy-export/1`).
//! - `POST /v1/privacy/delete` `{"email", "challenge", "code"}`: crypto-shredding. The
//!   customer's wrapped data key and sealed email are removed and the email blind index is
//!   forgotten: every sealed copy of their personal data (orders, backups) becomes unreadable.
//!   Orders stay as pseudonymised financial records (amount, currency, gateway reference,
//!   customer id), as the law requires.
//! - `PUT /v1/privacy/consents` `{"email", "challenge", "code", "marketing": bool}`: records a
//!   marketing consent or opt-out (append-only history).
//!
//! One-time codes: a challenge item holds an HMAC of (challenge, email index, customer, code) under
//! a KMS-wrapped key, never the code; it expires after 10 minutes. Each attempt is counted by one
//! conditional write before the code is compared in constant time (5 per challenge, concurrent
//! ones included), and a right code is consumed by a second conditional write that exactly one
//! request wins. Challenges are limited per address and per client (see the constants), and
//! `/challenge` answers in the same time for customers and strangers.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::{client_address, read_json, respond};
use crate::model::{normalise_email, BuyerDetails, PaymentRecord};
use crate::ports::{Erasure, Notification, NotificationSender};

/// How long a one-time code is valid.
pub const CODE_TTL_SECS: u64 = 600;
/// Attempts per challenge (right or wrong, concurrent or not).
pub const MAX_ATTEMPTS: u32 = 5;
/// Challenges per email address per [`CHALLENGE_WINDOW_SECS`].
pub const CHALLENGES_PER_EMAIL: u32 = 5;
/// Challenges per client (source address) per [`CHALLENGE_WINDOW_SECS`].
pub const CHALLENGES_PER_CLIENT: u32 = 10;
/// The window of the challenge limits.
pub const CHALLENGE_WINDOW_SECS: u64 = 600;
/// `/challenge` answers no sooner than this after the request arrived, customer or not, so
/// that its timing does not tell whether an address is a customer's (the send to a customer,
/// measured well under this, happens inside it).
pub const CHALLENGE_ANSWER_FLOOR: std::time::Duration = std::time::Duration::from_millis(400);
/// Notification template of the code.
pub const CODE_TEMPLATE: &str = "privacy_code";
/// The MAC purpose of stored one-time codes (a key separate from the email index's).
const CODE_MAC_PURPOSE: &str = "privacy-code";
/// Schema id of the export document.
pub const EXPORT_SCHEMA: &str = "karcis.privacy-export/1";

// ---------------------------------------------------------------------------------------------
// Port: consent records and the email index

/// A consent decision. Privacy-policy acceptances are written by checkout; marketing consents
/// and opt-outs by this function. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// `privacy_policy` or `marketing`.
    pub kind: String,
    /// The policy version (privacy policy only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Given (`true`) or withdrawn (`false`).
    pub granted: bool,
    /// Unix seconds.
    pub at: u64,
    /// The order it was given with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// What the privacy function stores besides H1's ports.
#[async_trait]
pub trait PrivacyRecords: Send + Sync {
    /// Every consent record of a customer, oldest first.
    async fn consents(&self, customer_id: &str) -> Result<Vec<ConsentRecord>>;
    /// Appends a consent record.
    async fn put_consent(&self, customer_id: &str, record: &ConsentRecord) -> Result<()>;
    /// Deletes the email blind-index item, so the address no longer leads to the customer.
    async fn forget_email_index(&self, email_index: &str) -> Result<()>;
    /// Stores a new challenge (its attempts at 0, not used).
    async fn put_challenge(&self, challenge: &StoredChallenge) -> Result<()>;
    /// Counts one attempt at a challenge in one conditional write: the challenge (with the
    /// attempt counted) if it is unused, unexpired at `now` and had fewer than `max_attempts`.
    async fn count_attempt(
        &self,
        challenge_id: &str,
        max_attempts: u32,
        now: u64,
    ) -> Result<AttemptOutcome>;
    /// Marks the challenge used: `true` for exactly one caller, ever.
    async fn consume_challenge(&self, challenge_id: &str) -> Result<bool>;
}

/// A one-time-code challenge as stored: a MAC of the code under a KMS-wrapped key, never the
/// code itself (8 digits are 10^8 guesses: an unkeyed hash in a table read would give it away).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredChallenge {
    pub challenge_id: String,
    /// The blind index of the address the challenge was made for.
    pub email_index: String,
    /// `None` when the address is no (readable) customer's: no code was sent, none can open it.
    pub customer_id: Option<String>,
    /// Hex MAC of (challenge, email index, customer, code); see [`code_mac_input`].
    pub code_mac: String,
    pub expires_at: u64,
    /// Attempts counted so far.
    pub attempts: u32,
}

impl std::fmt::Debug for StoredChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredChallenge")
            .field("challenge_id", &self.challenge_id)
            .field("expires_at", &self.expires_at)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What counting an attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The attempt was counted; the challenge as it is now.
    Counted(StoredChallenge),
    /// Every attempt of the challenge is spent.
    Exhausted,
    /// Unknown, used or expired.
    Closed,
}

// ---------------------------------------------------------------------------------------------
// The export document (documented in functions/PRIVACY.md)

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyExport {
    pub schema: String,
    pub generated_at: u64,
    pub customer: ExportedCustomer,
    pub orders: Vec<ExportedOrder>,
    pub consents: Vec<ConsentRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedCustomer {
    pub customer_id: String,
    pub email: String,
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedOrder {
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u32,
    pub amount_minor: u64,
    pub currency: String,
    pub status: String,
    pub created_at: u64,
    /// The buyer details given with the order (decrypted).
    pub buyer: Option<BuyerDetails>,
    pub payment: Option<PaymentRecord>,
    pub refund_due: Option<PaymentRecord>,
    pub tickets: Vec<ExportedTicket>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedTicket {
    pub ticket_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub gates: Vec<String>,
    pub not_before: u64,
    pub not_after: u64,
    pub issued_at: u64,
    pub device_bound: bool,
}

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    pub email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    pub email: String,
    pub challenge: String,
    pub code: String,
}

impl std::fmt::Debug for ProofRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProofRequest(<redacted>)")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub email: String,
    pub challenge: String,
    pub code: String,
    pub marketing: bool,
}

impl std::fmt::Debug for ConsentRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsentRequest(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// Opaque; send it back with the code.
    pub challenge: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteResponse {
    pub deleted: bool,
    /// The pseudonymous id the remaining financial records keep.
    pub customer_id: String,
}

// ---------------------------------------------------------------------------------------------
// The handler

pub struct Privacy {
    pub deps: Deps,
    pub records: Arc<dyn PrivacyRecords>,
    pub sender: Arc<dyn NotificationSender>,
    /// The per-client rate limit and the bot check of `/challenge` (see [`crate::guard`]).
    pub guard: Option<crate::guard::Guard>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Privacy")
    }
}

/// What the code MAC covers: the challenge, the address it was made for, the customer and the
/// code, so that a code opens only its own challenge for its own address.
fn code_mac_input(
    challenge_id: &str,
    email_index: &str,
    customer_id: Option<&str>,
    code: &str,
) -> String {
    format!(
        "{challenge_id}\0{email_index}\0{}\0{code}",
        customer_id.unwrap_or("-")
    )
}

/// `chl_<32 hex>.<expires_at>`: the challenge id. The expiry in the text is for the client's
/// display only; the stored one decides.
fn parse_challenge(challenge: &str) -> Option<&str> {
    let (id, expires) = challenge.split_once('.')?;
    if !crate::model::is_id("chl", id)
        || expires.is_empty()
        || expires.len() > 12
        || !expires.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(id)
}

/// A rate-limit key for the client's address: its blind index (an address is personal data).
async fn client_key(deps: &Deps, client: &str) -> Result<String> {
    let client: String = client.chars().take(64).collect();
    let index = deps
        .pii
        .mac(crate::guard::CLIENT_MAC_PURPOSE, &client)
        .await?;
    Ok(format!("privacy-challenge#client#{index}"))
}

impl Privacy {
    pub fn new(
        deps: Deps,
        records: Arc<dyn PrivacyRecords>,
        sender: Arc<dyn NotificationSender>,
    ) -> Self {
        Privacy {
            deps,
            records,
            sender,
            guard: None,
        }
    }

    /// Puts `guard` in front of `/challenge`.
    #[must_use]
    pub fn with_guard(mut self, guard: crate::guard::Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    async fn email_index(&self, email: &str) -> Result<String> {
        let email = normalise_email(email)
            .map_err(|_| Error::invalid("email", "must be an email address"))?;
        self.deps.pii.email_index(&email).await
    }

    /// Starts a proof of ownership of `email`, asked for by `client` (its source address).
    /// Answers no sooner than [`CHALLENGE_ANSWER_FLOOR`] after it started, whatever happened.
    pub async fn challenge(
        &self,
        request: &ChallengeRequest,
        client: &str,
    ) -> Result<ChallengeResponse> {
        let answer_at = tokio::time::Instant::now() + CHALLENGE_ANSWER_FLOOR;
        let result = self.start_challenge(request, client).await;
        tokio::time::sleep_until(answer_at).await;
        result
    }

    async fn start_challenge(
        &self,
        request: &ChallengeRequest,
        client: &str,
    ) -> Result<ChallengeResponse> {
        let email = normalise_email(&request.email)
            .map_err(|_| Error::invalid("email", "must be an email address"))?;
        let now = self.deps.clock.now();
        let limits = &self.deps.limits;
        if !limits
            .allow(
                &client_key(&self.deps, client).await?,
                CHALLENGES_PER_CLIENT,
                CHALLENGE_WINDOW_SECS,
                now,
            )
            .await?
        {
            return Err(Error::rate_limited(
                "too many codes asked for from this address; try again in 10 minutes",
                CHALLENGE_WINDOW_SECS - now % CHALLENGE_WINDOW_SECS,
            ));
        }
        let index = self.deps.pii.email_index(&email).await?;
        if !limits
            .allow(
                &format!("privacy-challenge#email#{index}"),
                CHALLENGES_PER_EMAIL,
                CHALLENGE_WINDOW_SECS,
                now,
            )
            .await?
        {
            return Err(Error::rate_limited(
                "too many codes asked for this email address; try again in 10 minutes",
                CHALLENGE_WINDOW_SECS - now % CHALLENGE_WINDOW_SECS,
            ));
        }
        let customer_id = self.deps.customers.find_by_email_index(&index).await?;
        let expires_at = now + CODE_TTL_SECS;
        let challenge_id = crate::model::new_id("chl", self.deps.rng.as_ref());
        // A shredded customer has no readable address: nothing to send.
        let record = match &customer_id {
            Some(id) => self
                .deps
                .customers
                .get_customer(id)
                .await?
                .filter(|r| r.wrapped_key.is_some() && r.email_sealed.is_some()),
            None => None,
        };
        // A code is drawn and its MAC stored either way: the same writes for every address.
        let code = Zeroizing::new(self.new_code());
        let recipient = record.as_ref().map(|r| r.customer_id.as_str());
        let code_mac = self
            .deps
            .pii
            .mac(
                CODE_MAC_PURPOSE,
                &code_mac_input(&challenge_id, &index, recipient, &code),
            )
            .await?;
        self.records
            .put_challenge(&StoredChallenge {
                challenge_id: challenge_id.clone(),
                email_index: index,
                customer_id: recipient.map(str::to_owned),
                code_mac,
                expires_at,
                attempts: 0,
            })
            .await?;
        if let Some(record) = record {
            let key = self.deps.pii.customer_key(&record).await?;
            let email = key.open(
                crate::checkout::EMAIL_FIELD,
                record.email_sealed.as_deref().unwrap_or_default(),
            )?;
            let mut params = BTreeMap::new();
            params.insert("code".to_owned(), code.to_string());
            params.insert("expires_at".to_owned(), expires_at.to_string());
            params.insert("minutes".to_owned(), (CODE_TTL_SECS / 60).to_string());
            let notification = Notification {
                template: CODE_TEMPLATE.to_owned(),
                recipient_email: Zeroizing::new(String::from_utf8_lossy(&email).into_owned()),
                customer_id: record.customer_id.clone(),
                params,
                ..Notification::default()
            };
            self.sender.send(&notification).await?;
            tracing::info!(customer_id = %record.customer_id, "privacy challenge sent");
        }
        Ok(ChallengeResponse {
            challenge: format!("{challenge_id}.{expires_at}"),
            expires_at,
        })
    }

    /// 8 uniformly random digits.
    fn new_code(&self) -> String {
        // Rejection sampling over u32 (bounded: the chance of 16 rejections is negligible).
        let limit = u32::MAX - (u32::MAX % 100_000_000);
        let mut value = 0;
        for _ in 0..16 {
            let mut b = [0u8; 4];
            self.deps.rng.fill(&mut b);
            value = u32::from_le_bytes(b);
            if value < limit {
                break;
            }
        }
        format!("{:08}", value % 100_000_000)
    }

    /// Checks a code: the customer id and the email's blind index if it opens the challenge.
    ///
    /// Every attempt is counted by one conditional write before the code is compared (at most
    /// [`MAX_ATTEMPTS`] per challenge, concurrent ones included); a right code then marks the
    /// challenge used by another conditional write, which exactly one request can win.
    async fn verify(&self, email: &str, challenge: &str, code: &str) -> Result<(String, String)> {
        let challenge_id = parse_challenge(challenge).ok_or(Error::Unauthorized)?;
        if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Unauthorized);
        }
        let index = self.email_index(email).await?;
        let now = self.deps.clock.now();
        let stored = match self
            .records
            .count_attempt(challenge_id, MAX_ATTEMPTS, now)
            .await?
        {
            AttemptOutcome::Counted(stored) => stored,
            AttemptOutcome::Exhausted => {
                return Err(Error::LimitExceeded(
                    "too many attempts for this challenge".into(),
                ))
            }
            AttemptOutcome::Closed => return Err(Error::Unauthorized),
        };
        let expected = self
            .deps
            .pii
            .mac(
                CODE_MAC_PURPOSE,
                &code_mac_input(challenge_id, &index, stored.customer_id.as_deref(), code),
            )
            .await?;
        let right: bool = expected.as_bytes().ct_eq(stored.code_mac.as_bytes()).into();
        let Some(customer_id) = stored.customer_id.filter(|_| right) else {
            tracing::info!("privacy code refused");
            return Err(Error::Unauthorized);
        };
        if !self.records.consume_challenge(challenge_id).await? {
            tracing::info!("privacy code refused: challenge already used");
            return Err(Error::Unauthorized);
        }
        // The address must still lead to the customer (not erased since the code was sent).
        if self.deps.customers.find_by_email_index(&index).await? != Some(customer_id.clone()) {
            return Err(Error::Unauthorized);
        }
        Ok((customer_id, index))
    }

    /// Everything held about the customer.
    pub async fn export(&self, request: &ProofRequest) -> Result<PrivacyExport> {
        let (customer_id, _) = self
            .verify(&request.email, &request.challenge, &request.code)
            .await?;
        let record = self
            .deps
            .customers
            .get_customer(&customer_id)
            .await?
            .ok_or(Error::NotFound)?;
        let key = self.deps.pii.customer_key(&record).await?;
        let email = key.open(
            crate::checkout::EMAIL_FIELD,
            record.email_sealed.as_deref().unwrap_or_default(),
        )?;
        let mut orders = Vec::new();
        for order_id in self.deps.customers.customer_order_ids(&customer_id).await? {
            let Some(o) = self.deps.orders.get_order(&order_id).await? else {
                continue;
            };
            let buyer: Option<BuyerDetails> = key
                .open_json(&format!("order/{order_id}/buyer"), &o.buyer_sealed)
                .ok();
            let tickets = self
                .deps
                .tickets
                .order_tickets(&order_id)
                .await?
                .into_iter()
                .map(|t| ExportedTicket {
                    ticket_id: t.ticket_id,
                    event_id: t.event_id,
                    tier_id: t.tier_id,
                    gates: t.gates,
                    not_before: t.not_before,
                    not_after: t.not_after,
                    issued_at: t.issued_at,
                    device_bound: t.device_key.is_some(),
                })
                .collect();
            orders.push(ExportedOrder {
                order_id: o.order_id,
                event_id: o.event_id,
                tier_id: o.tier_id,
                quantity: o.quantity,
                amount_minor: o.amount_minor,
                currency: o.currency,
                status: o.status.as_str().to_owned(),
                created_at: o.created_at,
                buyer,
                payment: o.paid,
                refund_due: o.refund_due,
                tickets,
            });
        }
        tracing::info!(customer_id = %customer_id, "privacy export");
        Ok(PrivacyExport {
            schema: EXPORT_SCHEMA.to_owned(),
            generated_at: self.deps.clock.now(),
            customer: ExportedCustomer {
                customer_id: customer_id.clone(),
                email: String::from_utf8_lossy(&email).into_owned(),
                created_at: record.created_at,
            },
            orders,
            consents: self.records.consents(&customer_id).await?,
        })
    }

    /// Crypto-shreds the customer.
    pub async fn delete(&self, request: &ProofRequest) -> Result<DeleteResponse> {
        let (customer_id, index) = self
            .verify(&request.email, &request.challenge, &request.code)
            .await?;
        // Logged first, outside the table: a restore of the table from before this moment is
        // followed by a replay of the log (see [`replay_erasures`]).
        self.deps
            .erasures
            .record(&Erasure {
                customer_id: customer_id.clone(),
                email_index: Some(index.clone()),
                at: self.deps.clock.now(),
            })
            .await?;
        self.deps.customers.shred_customer(&customer_id).await?;
        self.records.forget_email_index(&index).await?;
        tracing::warn!(customer_id = %customer_id, "privacy delete: customer data key shredded");
        Ok(DeleteResponse {
            deleted: true,
            customer_id,
        })
    }

    /// Records a marketing consent or opt-out.
    pub async fn set_consents(&self, request: &ConsentRequest) -> Result<ConsentRecord> {
        let (customer_id, _) = self
            .verify(&request.email, &request.challenge, &request.code)
            .await?;
        let record = ConsentRecord {
            kind: "marketing".into(),
            version: None,
            granted: request.marketing,
            at: self.deps.clock.now(),
            order_id: None,
        };
        self.records.put_consent(&customer_id, &record).await?;
        Ok(record)
    }
}

/// What a replay of the erasure log did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Erasures in the log.
    pub logged: usize,
    /// Customers whose key or email index was back (a restore) and is shredded again.
    pub reshredded: usize,
}

/// Most erasures a replay reads (bounded; the log of a large organiser stays far below).
pub const MAX_REPLAYED: usize = 1_000_000;

/// Replays the erasure log over the table: every erased customer's wrapped key, sealed email and
/// email index are removed again. Run after every restore of the table (and by every retention
/// run); idempotent.
///
/// # Errors
/// If the log or the table cannot be read or written.
pub async fn replay_erasures(deps: &Deps, records: &dyn PrivacyRecords) -> Result<ReplayReport> {
    let erasures = deps.erasures.erasures(MAX_REPLAYED).await?;
    let mut report = ReplayReport {
        logged: erasures.len(),
        reshredded: 0,
    };
    for erasure in erasures {
        let back = deps
            .customers
            .get_customer(&erasure.customer_id)
            .await?
            .is_some_and(|c| c.wrapped_key.is_some() || c.email_sealed.is_some());
        let index_back = match &erasure.email_index {
            Some(index) => deps.customers.find_by_email_index(index).await?.is_some(),
            None => false,
        };
        if !back && !index_back {
            continue;
        }
        deps.customers.shred_customer(&erasure.customer_id).await?;
        if let Some(index) = &erasure.email_index {
            records.forget_email_index(index).await?;
        }
        report.reshredded += 1;
        tracing::warn!(customer_id = %erasure.customer_id, "erasure replayed after a restore");
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn post_challenge(
    State(p): State<Arc<Privacy>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = p.deps.config.max_body_bytes;
    let client = client_address(&extensions);
    let result = async {
        if let Some(guard) = &p.guard {
            let route = crate::guard::Route::PrivacyChallenge;
            guard
                .admit(&p.deps, route, &extensions, &headers, None)
                .await?;
        }
        p.challenge(&read_json(&headers, body, limit).await?, &client)
            .await
    };
    respond(StatusCode::ACCEPTED, result.await)
}

async fn post_export(State(p): State<Arc<Privacy>>, headers: HeaderMap, body: Body) -> Response {
    let limit = p.deps.config.max_body_bytes;
    let result = async { p.export(&read_json(&headers, body, limit).await?).await };
    respond(StatusCode::OK, result.await)
}

async fn post_delete(State(p): State<Arc<Privacy>>, headers: HeaderMap, body: Body) -> Response {
    let limit = p.deps.config.max_body_bytes;
    let result = async { p.delete(&read_json(&headers, body, limit).await?).await };
    respond(StatusCode::OK, result.await)
}

async fn put_consents(State(p): State<Arc<Privacy>>, headers: HeaderMap, body: Body) -> Response {
    let limit = p.deps.config.max_body_bytes;
    let result = async {
        p.set_consents(&read_json(&headers, body, limit).await?)
            .await
    };
    respond(StatusCode::OK, result.await)
}

/// The privacy routes.
pub fn router(privacy: Privacy) -> Router {
    Router::new()
        .route("/v1/privacy/challenge", post(post_challenge))
        .route("/v1/privacy/export", post(post_export))
        .route("/v1/privacy/delete", post(post_delete))
        .route("/v1/privacy/consents", put(put_consents))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(privacy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_only_in_their_own_shape() {
        let id = format!("chl_{}", "ab".repeat(16));
        assert_eq!(parse_challenge(&format!("{id}.1800000600")), Some(&*id));
        assert_eq!(parse_challenge(&id), None);
        assert_eq!(parse_challenge("chl_x.1"), None);
        assert_eq!(parse_challenge(&format!("{id}.")), None);
        assert_eq!(parse_challenge(&format!("{id}.-1")), None);
        assert_eq!(parse_challenge(&format!("{id}.+1")), None);
        assert_eq!(parse_challenge(&format!("{id}.99999999999999")), None);
    }

    #[test]
    fn code_macs_bind_challenge_address_customer_and_code() {
        let a = code_mac_input("c1", "e1", Some("cus_1"), "12345678");
        for other in [
            code_mac_input("c2", "e1", Some("cus_1"), "12345678"),
            code_mac_input("c1", "e2", Some("cus_1"), "12345678"),
            code_mac_input("c1", "e1", Some("cus_2"), "12345678"),
            code_mac_input("c1", "e1", None, "12345678"),
            code_mac_input("c1", "e1", Some("cus_1"), "12345679"),
        ] {
            assert_ne!(a, other);
        }
    }
}
