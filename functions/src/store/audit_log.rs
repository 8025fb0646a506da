//! The audit chains in DynamoDB (`AUDIT#<event_id>` and `STAFFAUDIT`, `SEQ#<seq>`): the
//! adapter behind [`crate::audit_ingest::AuditLog`].

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::audit_ingest::{AuditLog, Link, Stream};
use crate::aws::describe;
use crate::error::{Error, Result};

type Item = HashMap<String, AttributeValue>;

/// Chains in the single table.
#[derive(Debug, Clone)]
pub struct DynamoAuditLog {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

pub(crate) fn sort_key(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn from_item(item: &Item) -> Result<Link> {
    let bad = || Error::internal("stored audit item is malformed");
    let seq = match item.get("seq") {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    let mut hash = [0u8; 32];
    match item.get("hash") {
        Some(AttributeValue::S(h)) => hex::decode_to_slice(h, &mut hash).map_err(|_| bad())?,
        _ => return Err(bad()),
    }
    let canonical = match item.get("canonical") {
        Some(AttributeValue::S(c)) => c.clone(),
        _ => return Err(bad()),
    };
    Ok(Link {
        seq,
        hash,
        canonical,
    })
}

impl DynamoAuditLog {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The conditional put of one link (also used inside the staff transactions).
    pub(crate) fn put(&self, stream: &Stream, link: &Link, now: u64) -> Result<Put> {
        Put::builder()
            .table_name(&self.table)
            .item("pk", s(stream.partition()))
            .item("sk", s(sort_key(link.seq)))
            .item("type", s("audit"))
            .item("seq", AttributeValue::N(link.seq.to_string()))
            .item("hash", s(hex::encode(link.hash)))
            .item("canonical", s(link.canonical.clone()))
            .item("received_at", AttributeValue::N(now.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(Error::internal)
    }

    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }
}

/// Runs a transaction: `Ok(false)` when a condition failed.
pub(crate) async fn transact(
    client: &aws_sdk_dynamodb::Client,
    items: Vec<TransactWriteItem>,
) -> Result<bool> {
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(e))
            if matches!(
                e.err(),
                TransactWriteItemsError::TransactionCanceledException(_)
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(Error::unavailable(describe(&e))),
    }
}

#[async_trait]
impl AuditLog for DynamoAuditLog {
    async fn last(&self, stream: &Stream) -> Result<Option<Link>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(stream.partition()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(describe(&e)))?;
        out.items().first().map(from_item).transpose()
    }

    async fn get(&self, stream: &Stream, seq: u64) -> Result<Option<Link>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(stream.partition()))
            .key("sk", s(sort_key(seq)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(describe(&e)))?;
        out.item().map(from_item).transpose()
    }

    async fn range(&self, stream: &Stream, after: u64, limit: u32) -> Result<Vec<Link>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk > :after")
            .expression_attribute_values(":pk", s(stream.partition()))
            .expression_attribute_values(":after", s(sort_key(after)))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::unavailable(describe(&e)))?;
        out.items().iter().map(from_item).collect()
    }

    async fn append(&self, stream: &Stream, links: &[Link], now: u64) -> Result<bool> {
        if links.is_empty() {
            return Ok(true);
        }
        if links.len() > crate::audit_ingest::MAX_BATCH {
            return Err(Error::internal("audit append over 100 items"));
        }
        let items = links
            .iter()
            .map(|l| {
                Ok(TransactWriteItem::builder()
                    .put(self.put(stream, l, now)?)
                    .build())
            })
            .collect::<Result<Vec<_>>>()?;
        transact(&self.client, items).await
    }
}
