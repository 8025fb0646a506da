//! The DynamoDB adapter of [`Credentials`], in the single table under the staff partitions
//! (`STAFF#*`, which the staff function's policy already covers):
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `STAFF#<staff_id>` | `PASSWORD` | `phc` (argon2id PHC string), `set_at` |
//! | `STAFF#<staff_id>` | `SETUP` | `code_sha256`, `expires_at`, `ttl` |
//! | `STAFF#<staff_id>` | `TOTP` | `sealed` (AES-256-GCM), `wrapped_key` (KMS), `confirmed`, `last_step` |
//! | `STAFF#<staff_id>` | `LOCK` | `failures`, `last_at`, `locked_until`, `ttl` (the account) |
//! | `STAFF#client#<blind index>` | `LOCK` | the same, per client (`#` is not in a staff id) |
//! | `STAFF#<staff_id>` | `SPENT#<jti>` | `ttl`: the door token was refreshed or revoked |
//! | `STAFF#<staff_id>` | `TOKENLINE` | `not_before`: tokens issued earlier refresh nothing |
//!
//! Counters expire through the table's `ttl` a day after their last attempt.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};

use async_trait::async_trait;

use super::second_factor::StoredTotp;
use super::signin::{Attempt, Credentials};
use crate::error::{Error, Result};
use crate::store::unless_condition_failed;

/// How long a counter outlives its last attempt (DynamoDB TTL).
const COUNTER_TTL_SECS: u64 = 24 * 3600;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Credentials in the single table.
#[derive(Debug, Clone)]
pub struct DynamoCredentials {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCredentials {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// `account#<id>` -> `STAFF#<id>`; `client#<hash>` -> `STAFF#client#<hash>`.
    fn counter_pk(key: &str) -> String {
        match key.strip_prefix("account#") {
            Some(id) => format!("STAFF#{id}"),
            None => format!("STAFF#{key}"),
        }
    }

    fn unavailable<E, R>(op: &str, e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> Error
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Error::unavailable(format!("dynamodb {op}: {}", crate::aws::describe(e)))
    }
}

#[async_trait]
impl Credentials for DynamoCredentials {
    async fn password_phc(&self, staff_id: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("PASSWORD"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::unavailable("get password", &e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("phc"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    async fn put_setup(&self, staff_id: &str, code_sha256: &str, expires_at: u64) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("STAFF#{staff_id}")))
            .item("sk", s("SETUP"))
            .item("type", s("staff_setup"))
            .item("code_sha256", s(code_sha256))
            .item("expires_at", n(expires_at))
            .item("ttl", n(expires_at))
            .send()
            .await
            .map_err(|e| Self::unavailable("put setup", &e))?;
        Ok(())
    }

    async fn set_password(
        &self,
        staff_id: &str,
        code_sha256: &str,
        phc: &str,
        totp: Option<&StoredTotp>,
        now: u64,
    ) -> Result<bool> {
        let pk = format!("STAFF#{staff_id}");
        let consume = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("SETUP"))
            .condition_expression("code_sha256 = :h AND expires_at > :now")
            .expression_attribute_values(":h", s(code_sha256))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(Error::internal)?;
        let store = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item("sk", s("PASSWORD"))
            .item("type", s("staff_password"))
            .item("phc", s(phc))
            .item("set_at", n(now))
            .build()
            .map_err(Error::internal)?;
        let mut items = vec![
            TransactWriteItem::builder().delete(consume).build(),
            TransactWriteItem::builder().put(store).build(),
        ];
        if let Some(t) = totp {
            let secret = Put::builder()
                .table_name(&self.table)
                .item("pk", s(format!("STAFF#{staff_id}")))
                .item("sk", s("TOTP"))
                .item("type", s("staff_totp"))
                .item("sealed", AttributeValue::B(Blob::new(t.sealed.clone())))
                .item(
                    "wrapped_key",
                    AttributeValue::B(Blob::new(t.wrapped_key.clone())),
                )
                .item("confirmed", AttributeValue::Bool(t.confirmed))
                .item("last_step", n(t.last_step))
                .item("set_at", n(now))
                .build()
                .map_err(Error::internal)?;
            items.push(TransactWriteItem::builder().put(secret).build());
        }
        crate::audit_ingest::transact(&self.client, items).await
    }

    async fn totp(&self, staff_id: &str) -> Result<Option<StoredTotp>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("TOTP"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::unavailable("get totp", &e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let blob = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().to_vec())
                .ok_or_else(|| Error::internal("totp item without its secret"))
        };
        Ok(Some(StoredTotp {
            sealed: blob("sealed")?,
            wrapped_key: blob("wrapped_key")?,
            confirmed: item
                .get("confirmed")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            last_step: item
                .get("last_step")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }))
    }

    async fn spend_totp_step(&self, staff_id: &str, wrapped_key: &[u8], step: u64) -> Result<bool> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("TOTP"))
            .update_expression("SET last_step = :step, confirmed = :yes")
            .condition_expression("last_step < :step AND wrapped_key = :key")
            .expression_attribute_values(":step", n(step))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":key", AttributeValue::B(Blob::new(wrapped_key)))
            .send()
            .await;
        Ok(unless_condition_failed("spend totp step", res)?.is_some())
    }

    async fn take_attempt(
        &self,
        key: &str,
        threshold: u32,
        now: u64,
        provisional: u64,
    ) -> Result<Attempt> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::counter_pk(key)))
            .key("sk", s("LOCK"))
            .update_expression(
                "ADD failures :one SET last_at = :now, locked_until = :hold, #ttl = :ttl, #type = :type",
            )
            .condition_expression(
                "attribute_not_exists(failures) OR failures < :threshold OR locked_until <= :now",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":hold", n(now + provisional))
            .expression_attribute_values(":ttl", n(now + COUNTER_TTL_SECS))
            .expression_attribute_values(":type", s("staff_sign_in_counter"))
            .expression_attribute_values(":threshold", n(u64::from(threshold)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let Some(out) = unless_condition_failed("count attempt", res)? else {
            return Ok(Attempt::Locked);
        };
        let failures = out
            .attributes()
            .and_then(|a| a.get("failures"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| Error::internal("attempt counter without failures"))?;
        Ok(Attempt::Counted(failures))
    }

    async fn hold(&self, key: &str, until: u64) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(Self::counter_pk(key)))
            .key("sk", s("LOCK"))
            .update_expression("SET locked_until = :until")
            .condition_expression("attribute_exists(pk) AND locked_until < :until")
            .expression_attribute_values(":until", n(until))
            .send()
            .await;
        unless_condition_failed("hold attempts", res)?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(Self::counter_pk(key)))
            .key("sk", s("LOCK"))
            .send()
            .await
            .map_err(|e| Self::unavailable("clear attempts", &e))?;
        Ok(())
    }

    async fn spend_door_token(&self, staff_id: &str, jti: &str, until: u64) -> Result<bool> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("STAFF#{staff_id}")))
            .item("sk", s(format!("SPENT#{jti}")))
            .item("type", s("staff_door_token_spent"))
            .item("ttl", n(until))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed("spend door token", res)?.is_some())
    }

    async fn set_token_line(&self, staff_id: &str, not_before: u64) -> Result<()> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("TOKENLINE"))
            .update_expression("SET not_before = :nb, #type = :type")
            .condition_expression("attribute_not_exists(not_before) OR not_before < :nb")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":nb", n(not_before))
            .expression_attribute_values(":type", s("staff_token_line"))
            .send()
            .await;
        unless_condition_failed("set token line", res)?;
        Ok(())
    }

    async fn token_line(&self, staff_id: &str) -> Result<Option<u64>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("STAFF#{staff_id}")))
            .key("sk", s("TOKENLINE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::unavailable("get token line", &e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("not_before"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok()))
    }
}
