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
//! One-time codes: only `SHA-256(challenge, customer, code)` is stored, as a `Dedup` claim that
//! expires with the challenge (10 minutes); a code opens once; a challenge allows 5 attempts.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{post, put};
use axum::Router;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::{read_json, respond};
use crate::model::{normalise_email, BuyerDetails, PaymentRecord};
use crate::ports::{Notification, NotificationSender};

/// How long a one-time code is valid.
pub const CODE_TTL_SECS: u64 = 600;
/// Attempts per challenge.
pub const MAX_ATTEMPTS: u32 = 5;
/// Notification template of the code.
pub const CODE_TEMPLATE: &str = "privacy_code";
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
}

/// DynamoDB adapter of [`PrivacyRecords`] (items `CUSTOMER#<cid>/CONSENT#...`, `EMAIL#<index>`).
pub mod dynamo {
    use async_trait::async_trait;

    use super::{ConsentRecord, PrivacyRecords};
    use crate::error::{Error, Result};
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use crate::store::{keys, DynamoStore};

    type Item = HashMap<String, AttributeValue>;

    fn s(v: impl Into<String>) -> AttributeValue {
        AttributeValue::S(v.into())
    }
    fn n(v: u64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }
    fn item_key(pk: &str, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
    }
    fn get_s_opt(i: &Item, name: &str) -> Option<String> {
        i.get(name).and_then(|v| v.as_s().ok()).cloned()
    }
    fn get_n_opt(i: &Item, name: &str) -> Option<u64> {
        i.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
    }

    #[async_trait]
    impl PrivacyRecords for DynamoStore {
        async fn consents(&self, customer_id: &str) -> Result<Vec<ConsentRecord>> {
            let items = self
                .query_prefix(&keys::customer(customer_id), "CONSENT#", 1000)
                .await?;
            let mut records: Vec<ConsentRecord> = items
                .iter()
                .map(|i| {
                    let kind = get_s_opt(i, "kind").unwrap_or_default();
                    // Checkout writes privacy-policy acceptances (`accepted_at`, always given);
                    // this function writes marketing decisions (`at`, `granted`).
                    let policy = kind == "privacy_policy";
                    let granted =
                        policy || i.get("granted").and_then(|v| v.as_bool().ok()) == Some(&true);
                    ConsentRecord {
                        version: get_s_opt(i, "version"),
                        granted,
                        at: get_n_opt(i, if policy { "accepted_at" } else { "at" }).unwrap_or(0),
                        order_id: get_s_opt(i, "order_id"),
                        kind,
                    }
                })
                .collect();
            records.sort_by_key(|r| r.at);
            Ok(records)
        }

        async fn put_consent(&self, customer_id: &str, record: &ConsentRecord) -> Result<()> {
            let sk = format!("CONSENT#{}#{:012}", record.kind, record.at);
            let mut item = item_key(&keys::customer(customer_id), &sk);
            item.insert("kind".into(), s(&record.kind));
            item.insert("granted".into(), AttributeValue::Bool(record.granted));
            item.insert("at".into(), n(record.at));
            self.client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {e}")))?;
            Ok(())
        }

        async fn forget_email_index(&self, email_index: &str) -> Result<()> {
            self.client()
                .delete_item()
                .table_name(self.table())
                .set_key(Some(item_key(&keys::email(email_index), "EMAIL")))
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb DeleteItem: {e}")))?;
            Ok(())
        }
    }
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
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Privacy")
    }
}

fn code_claim(challenge: &str, customer_id: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{challenge}\0{customer_id}\0{code}").as_bytes());
    format!("privacy-code#{challenge}#{}", hex::encode(digest))
}

/// `chl_<32 hex>.<expires_at>`.
fn parse_challenge(challenge: &str) -> Option<u64> {
    let (id, expires) = challenge.split_once('.')?;
    if !crate::model::is_id("chl", id) || expires.len() > 12 {
        return None;
    }
    expires.parse().ok()
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
        }
    }

    async fn customer_by_email(&self, email: &str) -> Result<(String, Option<String>)> {
        let email = normalise_email(email)
            .map_err(|_| Error::invalid("email", "must be an email address"))?;
        let index = self.deps.pii.email_index(&email).await?;
        let customer = self.deps.customers.find_by_email_index(&index).await?;
        Ok((index, customer))
    }

    /// Starts a proof of ownership of `email`.
    pub async fn challenge(&self, request: &ChallengeRequest) -> Result<ChallengeResponse> {
        let (_, customer_id) = self.customer_by_email(&request.email).await?;
        let now = self.deps.clock.now();
        let expires_at = now + CODE_TTL_SECS;
        let challenge = format!(
            "{}.{expires_at}",
            crate::model::new_id("chl", self.deps.rng.as_ref())
        );
        if let Some(customer_id) = customer_id {
            let record = self.deps.customers.get_customer(&customer_id).await?;
            // A shredded customer has no readable address: nothing to send.
            if let Some(record) =
                record.filter(|r| r.wrapped_key.is_some() && r.email_sealed.is_some())
            {
                let key = self.deps.pii.customer_key(&record).await?;
                let email = key.open(
                    crate::checkout::EMAIL_FIELD,
                    record.email_sealed.as_deref().unwrap_or_default(),
                )?;
                let code = Zeroizing::new(self.new_code());
                self.deps
                    .dedup
                    .claim(&code_claim(&challenge, &customer_id, &code), expires_at)
                    .await?;
                let mut params = BTreeMap::new();
                params.insert("code".to_owned(), code.to_string());
                params.insert("expires_at".to_owned(), expires_at.to_string());
                let notification = Notification {
                    template: CODE_TEMPLATE.to_owned(),
                    recipient_email: Zeroizing::new(String::from_utf8_lossy(&email).into_owned()),
                    customer_id: customer_id.clone(),
                    params,
                };
                self.sender.send(&notification).await?;
                tracing::info!(customer_id = %customer_id, "privacy challenge sent");
            }
        }
        Ok(ChallengeResponse {
            challenge,
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

    /// Checks a code: the customer id and the email's blind index if it opens the challenge
    /// (once).
    async fn verify(&self, email: &str, challenge: &str, code: &str) -> Result<(String, String)> {
        let expires_at = parse_challenge(challenge).ok_or(Error::Unauthorized)?;
        let now = self.deps.clock.now();
        if now > expires_at || code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Unauthorized);
        }
        let (index, customer_id) = self.customer_by_email(email).await?;
        let customer_id = customer_id.ok_or(Error::Unauthorized)?;
        // Bounded attempts per challenge.
        let mut slot = false;
        for n in 0..MAX_ATTEMPTS {
            if self
                .deps
                .dedup
                .claim(&format!("privacy-attempt#{challenge}#{n}"), expires_at)
                .await?
            {
                slot = true;
                break;
            }
        }
        if !slot {
            return Err(Error::LimitExceeded(
                "too many attempts for this challenge".into(),
            ));
        }
        let key = code_claim(challenge, &customer_id, code);
        // The code's claim exists only if the code is right: claiming it succeeds only when it
        // does not. Either way the claim is removed: a code opens once.
        let wrong = self.deps.dedup.claim(&key, expires_at).await?;
        self.deps.dedup.release_claim(&key).await?;
        if wrong {
            tracing::info!("privacy code refused");
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

// ---------------------------------------------------------------------------------------------
// HTTP

async fn post_challenge(State(p): State<Arc<Privacy>>, headers: HeaderMap, body: Body) -> Response {
    let limit = p.deps.config.max_body_bytes;
    let result = async { p.challenge(&read_json(&headers, body, limit).await?).await };
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
        assert_eq!(
            parse_challenge(&format!("{id}.1800000600")),
            Some(1_800_000_600)
        );
        assert_eq!(parse_challenge(&id), None);
        assert_eq!(parse_challenge("chl_x.1"), None);
        assert_eq!(parse_challenge(&format!("{id}.-1")), None);
        assert_eq!(parse_challenge(&format!("{id}.99999999999999")), None);
    }

    #[test]
    fn code_claims_bind_challenge_customer_and_code() {
        let a = code_claim("c1", "cus_1", "12345678");
        assert_ne!(a, code_claim("c2", "cus_1", "12345678"));
        assert_ne!(a, code_claim("c1", "cus_2", "12345678"));
        assert_ne!(a, code_claim("c1", "cus_1", "12345679"));
        assert!(!a.contains("12345678"), "only a hash of the code is stored");
    }
}
