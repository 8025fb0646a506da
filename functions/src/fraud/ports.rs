//! The fraud store port ([`crate::store`] implements it on the single table) and the records
//! it keeps: blacklist entries, windowed counters, decisions, holds. Every value that names a
//! person, a card, an address or a device is a keyed blind index.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::blacklist::Entry;
use super::risk::{Outcome, Reason};
use crate::error::Result;

/// Where a decision was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Checkout,
    Payment,
}

/// One stored risk decision (no personal data: reasons are rule codes and counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub decision_id: String,
    /// The order, when one exists (a blocked checkout creates none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub event_id: String,
    pub stage: Stage,
    pub at: u64,
    pub score: u32,
    pub outcome: Outcome,
    pub reasons: Vec<Reason>,
}

/// The blind indexes of an order's client, kept so a payment notification can count a failure
/// or a card against them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderClient {
    pub email: String,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

/// How a reviewer resolved a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Let through: the order is minted.
    Released,
    /// Refused: the order is cancelled, its seats back in stock, its payment owed back.
    Cancelled,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Released => "released",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An order's hold (`None` resolution: still held).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub order_id: String,
    pub decision_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<u64>,
}

/// What resolving a hold did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Resolved by this call.
    Now(Hold),
    /// Resolved the same way before (a retry): nothing changed.
    Before(Hold),
}

/// Storage of the fraud defences.
#[async_trait]
pub trait FraudStore: Send + Sync {
    /// Writes `entry` (replacing an entry with its id).
    async fn put_entry(&self, entry: &Entry) -> Result<()>;
    /// Deletes the entry `id`: the deleted entry, `None` if there was none.
    async fn remove_entry(&self, id: &str) -> Result<Option<Entry>>;
    /// The stored entries among `ids` (expired ones included: the caller checks).
    async fn find_entries(&self, ids: &[String]) -> Result<Vec<Entry>>;
    /// Entries, newest first (at most `limit`).
    async fn list_entries(&self, limit: u32) -> Result<Vec<Entry>>;
    /// Adds one to the counter `key` of the window holding `now`: the new count.
    async fn bump(&self, key: &str, window_secs: u64, now: u64) -> Result<u64>;
    /// The counter `key` of the window holding `now`.
    async fn peek(&self, key: &str, window_secs: u64, now: u64) -> Result<u64>;
    /// Adds `member` to the set `key` of the window holding `now`: the set's size (capped).
    async fn add_distinct(
        &self,
        key: &str,
        member: &str,
        window_secs: u64,
        now: u64,
    ) -> Result<u64>;
    /// The size of the set `key` of the window holding `now`.
    async fn distinct(&self, key: &str, window_secs: u64, now: u64) -> Result<u64>;
    /// Stores a decision (replacing one with its id); a flagged one (not `allow`) is listed by
    /// [`FraudStore::flagged`].
    async fn put_decision(&self, decision: &Decision) -> Result<()>;
    /// Flagged decisions, newest first (at most `limit`).
    async fn flagged(&self, limit: u32) -> Result<Vec<Decision>>;
    /// Remembers an order's client until `expires_at`.
    async fn put_order_client(
        &self,
        order_id: &str,
        client: &OrderClient,
        expires_at: u64,
    ) -> Result<()>;
    async fn order_client(&self, order_id: &str) -> Result<Option<OrderClient>>;
    /// Puts the order on hold (its tickets are not minted: the minting transaction checks
    /// it). Idempotent, and never undoes a resolution.
    async fn hold(&self, order_id: &str, decision_id: &str) -> Result<()>;
    /// On hold and not resolved.
    async fn is_held(&self, order_id: &str) -> Result<bool>;
    async fn get_hold(&self, order_id: &str) -> Result<Option<Hold>>;
    /// Marks the hold released (one conditional write). `NotFound` without a hold,
    /// `Conflict` if it was cancelled.
    async fn release_hold(&self, order_id: &str, by: &str, now: u64) -> Result<Resolved>;
    /// One transaction: the hold marked cancelled, the paid order `Cancelled` with its
    /// payment recorded as owed back, its seats returned to stock and to the buyer's limit.
    /// `NotFound` without a hold, `Conflict` if it was released or the order is not paid.
    async fn cancel_hold(&self, order_id: &str, by: &str, now: u64) -> Result<Resolved>;
}
