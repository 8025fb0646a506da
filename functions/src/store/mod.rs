//! DynamoDB adapter: the single table of the contract (layouts in `functions/DATA.md`).
//!
//! [`DynamoStore`] implements [`Events`], [`Orders`], [`Customers`], [`Tickets`], [`Dedup`],
//! [`crate::ports::RateLimits`], [`crate::privacy::PrivacyRecords`] and
//! [`crate::sale::stepup::StepUps`].

mod attrs;
pub mod audit_log;
mod backups;
mod erasures;
mod events;
mod fraud;
mod holds;
pub mod incident;
mod limits;
mod one_time;
mod orders;
mod privacy;
pub mod restore;
mod schema;
pub mod snapshot;
mod stepup;
pub mod stock;
mod switch;
mod tickets;

pub use erasures::{create_erasure_log_table, DynamoErasureLog};
pub use schema::create_table;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put};
use aws_sdk_dynamodb::Client;

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::ports::{CustomerRecord, Customers, Dedup};

use attrs::{b, get_b_opt, get_n, get_s, item_key, n, s};

/// Item keys of the single table. See `functions/DATA.md`.
pub mod keys {
    pub fn event(event_id: &str) -> String {
        format!("EVENT#{event_id}")
    }
    pub const EVENT_META: &str = "META";
    pub fn tier(tier_id: &str) -> String {
        format!("TIER#{tier_id}")
    }
    pub fn event_keys(kid: u32) -> String {
        format!("KEYS#{kid:010}")
    }
    pub fn kid(kid: u32) -> String {
        format!("KID#{kid:010}")
    }
    pub fn order(order_id: &str) -> String {
        format!("ORDER#{order_id}")
    }
    pub const ORDER_SK: &str = "ORDER";
    /// `PAYMENT#<provider>#<payment id>`: which order a gateway payment paid.
    pub fn payment(provider: &str, payment_id: &str) -> String {
        format!("PAYMENT#{provider}#{payment_id}")
    }
    pub fn ticket(ticket_id: &str) -> String {
        format!("TICKET#{ticket_id}")
    }
    pub fn customer(customer_id: &str) -> String {
        format!("CUSTOMER#{customer_id}")
    }
    pub const CUSTOMER_KEY_SK: &str = "KEY";
    pub fn customer_limit(event_id: &str) -> String {
        format!("LIMIT#{event_id}")
    }
    pub fn consent(kind: &str, version: &str) -> String {
        format!("CONSENT#{kind}#{version}")
    }
    pub fn email(index: &str) -> String {
        format!("EMAIL#{index}")
    }
    pub fn idempotency(hash: &str) -> String {
        format!("IDEMPOTENCY#{hash}")
    }
    pub const CONFIG: &str = "CONFIG";
    pub const PII_INDEX_KEY: &str = "PII_INDEX_KEY";
    /// The incident kill switch of every sale (pk `CONFIG`).
    pub const SALES_PAUSE: &str = "SALES_PAUSE";
    /// Under `CONFIG`: every staff token issued before its `line` is refused.
    pub const STAFF_TOKENS_NOT_BEFORE: &str = "STAFF_TOKENS_NOT_BEFORE";
    pub fn dedup(key: &str) -> String {
        format!("DEDUP#{key}")
    }
    /// A rate counter of `key` for the window starting at `window_start`.
    pub fn rate(key: &str, window_start: u64) -> String {
        format!("RATE#{key}#{window_start}")
    }
    /// A privacy one-time-code challenge.
    pub fn privacy_challenge(challenge_id: &str) -> String {
        format!("PRIVACY_CHALLENGE#{challenge_id}")
    }
    /// gsi1 partition of live reservations (sparse: removed when the order leaves RESERVED).
    pub const RESERVED: &str = "RESERVED";
    pub fn reserved_sk(expires_at: u64, order_id: &str) -> String {
        format!("{expires_at:012}#{order_id}")
    }
}

/// The DynamoDB adapter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

/// Bounded attempts of a transaction that DynamoDB cancelled for a conflict with another
/// in-flight transaction, throttled, or whose answer was lost (not a condition failure). Each
/// attempt is one SDK call, which itself retries throttling and transport failures up to the
/// client's `max_attempts` (standard retry mode).
pub const TRANSACTION_ATTEMPTS: u32 = 8;

/// Why a transaction did not commit.
#[derive(Debug)]
pub(crate) enum TxError {
    /// The condition of the item at this index failed.
    Condition(usize),
    Other(Error),
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The client, for the operations' adapters (exports and restores).
    pub fn client_for_ops(&self) -> &Client {
        &self.client
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) async fn get_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb GetItem: {}", describe(&e))))?;
        Ok(out.item)
    }

    /// Queries a partition for sort keys starting with `prefix` (strongly consistent, all pages,
    /// at most `max_items`).
    pub(crate) async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        max_items: usize,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        // Bounded: at most 100 pages.
        for _ in 0..100 {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":p", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb Query: {}", describe(&e))))?;
            items.extend(out.items.unwrap_or_default());
            if items.len() >= max_items {
                items.truncate(max_items);
                break;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Runs a transaction, retrying (bounded, with backoff) while DynamoDB reports a conflict
    /// with another transaction, throttling or a transport failure. Every attempt carries the
    /// same `ClientRequestToken`, so a retry of an attempt that did commit (its answer lost to a
    /// timeout) succeeds as that commit instead of failing its conditions (DynamoDB remembers a
    /// token for 10 minutes).
    pub(crate) async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> std::result::Result<(), TxError> {
        let mut token = [0u8; 16];
        crate::ports::Rng::fill(&crate::ports::OsRng, &mut token);
        let request = self
            .client
            .transact_write_items()
            .client_request_token(hex::encode(token))
            .set_transact_items(Some(items));
        let mut delay_ms = 20u64;
        for attempt in 1..=TRANSACTION_ATTEMPTS {
            let Err(err) = request.clone().send().await else {
                return Ok(());
            };
            // Conflicts with other transactions, throttling and transport failures are retried.
            let retry = match &err {
                SdkError::ServiceError(se) => match se.err() {
                    TransactWriteItemsError::TransactionCanceledException(tc) => {
                        let reasons = tc.cancellation_reasons();
                        if let Some(i) = reasons
                            .iter()
                            .position(|r| r.code() == Some("ConditionalCheckFailed"))
                        {
                            return Err(TxError::Condition(i));
                        }
                        reasons.iter().any(|r| {
                            matches!(
                                r.code(),
                                Some(
                                    "TransactionConflict"
                                        | "ThrottlingError"
                                        | "ProvisionedThroughputExceeded"
                                )
                            )
                        })
                    }
                    TransactWriteItemsError::TransactionInProgressException(_)
                    | TransactWriteItemsError::ThrottlingException(_)
                    | TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                    | TransactWriteItemsError::RequestLimitExceeded(_)
                    | TransactWriteItemsError::InternalServerError(_) => true,
                    _ => false,
                },
                _ => true,
            };
            if !retry || attempt == TRANSACTION_ATTEMPTS {
                return Err(TxError::Other(Error::unavailable(format!(
                    "dynamodb TransactWriteItems: {}",
                    describe(&err)
                ))));
            }
            tokio::time::sleep(Duration::from_millis(delay_ms + jitter(delay_ms))).await;
            delay_ms = (delay_ms * 2).min(1000);
        }
        Err(TxError::Other(Error::unavailable(
            "dynamodb TransactWriteItems: retries exhausted",
        )))
    }

    /// Puts `item` unless an item with its key exists: `true` if this call wrote it.
    async fn put_new(&self, item: HashMap<String, AttributeValue>) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed("PutItem", res)?.is_some())
    }

    pub(crate) fn put(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: Option<&str>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(Error::internal)?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .put(put)
            .build())
    }
}

/// The output of a conditional single-item write, or `None` if its condition failed (nothing
/// was written). Any other failure is `Unavailable`.
pub(crate) fn unless_condition_failed<T, E, R>(
    op: &str,
    res: std::result::Result<T, SdkError<E, R>>,
) -> Result<Option<T>>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match res {
        Ok(out) => Ok(Some(out)),
        Err(SdkError::ServiceError(se))
            if aws_sdk_dynamodb::error::ProvideErrorMetadata::code(se.err())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::unavailable(format!(
            "dynamodb {op}: {}",
            describe(&e)
        ))),
    }
}

fn jitter(max: u64) -> u64 {
    let mut b = [0u8; 8];
    crate::ports::Rng::fill(&crate::ports::OsRng, &mut b);
    u64::from_le_bytes(b) % max.max(1)
}

#[async_trait]
impl Customers for DynamoStore {
    async fn find_by_email_index(&self, email_index: &str) -> Result<Option<String>> {
        let key = keys::email(email_index);
        let item = self.get_item(&key, "EMAIL").await?;
        item.map(|i| get_s(&i, "customer_id")).transpose()
    }

    async fn get_customer(&self, customer_id: &str) -> Result<Option<CustomerRecord>> {
        let item = self
            .get_item(&keys::customer(customer_id), keys::CUSTOMER_KEY_SK)
            .await?;
        item.map(|i| {
            Ok(CustomerRecord {
                customer_id: get_s(&i, "customer_id")?,
                wrapped_key: get_b_opt(&i, "wrapped_key"),
                email_sealed: get_b_opt(&i, "email_sealed"),
                created_at: get_n(&i, "created_at")?,
            })
        })
        .transpose()
    }

    async fn customer_order_ids(&self, customer_id: &str) -> Result<Vec<String>> {
        let items = self
            .query_prefix(&keys::customer(customer_id), "ORDER#", 10_000)
            .await?;
        items.iter().map(|i| get_s(i, "order_id")).collect()
    }

    async fn shred_customer(&self, customer_id: &str) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item_key(
                &keys::customer(customer_id),
                keys::CUSTOMER_KEY_SK,
            )))
            .update_expression("REMOVE wrapped_key, email_sealed SET shredded = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await;
        // A failed condition: unknown customer, nothing to shred.
        unless_condition_failed("UpdateItem", res)?;
        Ok(())
    }

    async fn get_index_key(&self) -> Result<Option<Vec<u8>>> {
        let item = self.get_item(keys::CONFIG, keys::PII_INDEX_KEY).await?;
        Ok(item.and_then(|i| get_b_opt(&i, "wrapped_key")))
    }

    async fn put_index_key(&self, wrapped: &[u8]) -> Result<Vec<u8>> {
        let mut item = item_key(keys::CONFIG, keys::PII_INDEX_KEY);
        item.insert("wrapped_key".into(), b(wrapped));
        if self.put_new(item).await? {
            return Ok(wrapped.to_vec());
        }
        self.get_index_key()
            .await?
            .ok_or_else(|| Error::internal("index key vanished"))
    }
}

#[async_trait]
impl Dedup for DynamoStore {
    async fn claim(&self, key: &str, expires_at: u64) -> Result<bool> {
        let mut item = item_key(&keys::dedup(key), "DEDUP");
        item.insert("ttl".into(), n(expires_at));
        self.put_new(item).await
    }

    async fn release_claim(&self, key: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item_key(&keys::dedup(key), "DEDUP")))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DeleteItem: {}", describe(&e))))?;
        Ok(())
    }

    async fn spend_admission(&self, jti: &str, holder: &str, expires_at: u64) -> Result<bool> {
        let mut item = item_key(&format!("ADMISSION#{jti}"), "ADMISSION");
        item.insert("type".into(), s("admission"));
        item.insert("holder".into(), s(holder));
        item.insert("ttl".into(), n(expires_at));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // Free, or held by this very order (its retry): check and spend in one write.
            .condition_expression("attribute_not_exists(pk) OR holder = :h")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        Ok(unless_condition_failed("PutItem", res)?.is_some())
    }

    async fn is_claimed(&self, key: &str) -> Result<bool> {
        Ok(self.get_item(&keys::dedup(key), "DEDUP").await?.is_some())
    }
}
