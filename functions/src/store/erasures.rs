//! The erasure log: a table of its own (`ERASURE_LOG_TABLE`), never restored over the main
//! table, holding one item per erased customer (pseudonymous ids only: the customer id and the
//! email blind index). A restore of the main table brings back wrapped customer keys from before
//! an erasure; replaying this log ([`crate::privacy::replay_erasures`]) shreds them again.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::ports::{Erasure, ErasureLog};

use super::attrs::{get_n, get_s, get_s_opt, n, s, Item};

/// All erasures share one partition, ordered by time (an erasure is a rare, small write).
const PARTITION: &str = "ERASURE";

/// The DynamoDB adapter of [`ErasureLog`]. Without a table, every use is an error (a function
/// that erases must not run without its log).
#[derive(Debug, Clone)]
pub struct DynamoErasureLog {
    client: Client,
    table: Option<String>,
}

impl DynamoErasureLog {
    pub fn new(client: Client, table: Option<String>) -> Self {
        Self { client, table }
    }

    fn table(&self) -> Result<&str> {
        self.table
            .as_deref()
            .ok_or_else(|| Error::internal("ERASURE_LOG_TABLE is not set"))
    }
}

#[async_trait]
impl ErasureLog for DynamoErasureLog {
    async fn record(&self, erasure: &Erasure) -> Result<()> {
        let mut item = Item::new();
        item.insert("pk".into(), s(PARTITION));
        item.insert(
            "sk".into(),
            s(format!("{:012}#{}", erasure.at, erasure.customer_id)),
        );
        item.insert("customer_id".into(), s(&erasure.customer_id));
        if let Some(index) = &erasure.email_index {
            item.insert("email_index".into(), s(index));
        }
        item.insert("at".into(), n(erasure.at));
        self.client
            .put_item()
            .table_name(self.table()?)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {}", describe(&e))))?;
        Ok(())
    }

    async fn erasures(&self, limit: usize) -> Result<Vec<Erasure>> {
        let table = self.table()?;
        let mut found = Vec::new();
        let mut start = None;
        // Bounded: at most 1000 pages.
        for _ in 0..1000 {
            let page = self
                .client
                .query()
                .table_name(table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(PARTITION))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb Query: {}", describe(&e))))?;
            for item in page.items.unwrap_or_default() {
                found.push(Erasure {
                    customer_id: get_s(&item, "customer_id")?,
                    email_index: get_s_opt(&item, "email_index"),
                    at: get_n(&item, "at")?,
                });
            }
            if found.len() >= limit {
                found.truncate(limit);
                break;
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(found)
    }
}

/// Creates the erasure log table (the harness and the local stack; infra/ in production).
///
/// # Errors
/// If DynamoDB refuses.
pub async fn create_erasure_log_table(client: &Client, table: &str) -> Result<()> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(Error::internal)
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(Error::internal)
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb CreateTable: {}", describe(&e))))?;
    Ok(())
}
