//! The fraud store on the single table (see `functions/DATA.md`):
//!
//! - blacklist entry: `BLOCK#<blind index>` / `ENTRY`, gsi1 `BLACKLIST` / `<added_at>#<id>`,
//!   TTL at its expiry;
//! - windowed counter or set: `FRAUD#<name>#<blind index>#<window start>` / `COUNT`, counted
//!   with one atomic `ADD` (as [`crate::store`]'s rate limits), TTL a window after its end;
//! - decision: `RISK#<decision id>` / `DECISION`, flagged ones on gsi1 `FRAUD_FLAGGED` /
//!   `<at>#<id>`, TTL 180 days;
//! - an order's client (blind indexes) `ORDER#<id>` / `FRAUD_CLIENT`, and its hold
//!   `ORDER#<id>` / `FRAUD_HOLD` ([`super::holds`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::fraud::blacklist::Entry;
use crate::fraud::ports::{Decision, FraudStore, Hold, OrderClient, Resolved};
use crate::fraud::risk::Outcome;

use super::attrs::{get_json_opt, get_n_opt, item_key, json, n, s, Item};
use super::{keys, unless_condition_failed, DynamoStore};

const BLACKLIST_GSI: &str = "BLACKLIST";
const FLAGGED_GSI: &str = "FRAUD_FLAGGED";
const DECISION_TTL_SECS: u64 = 180 * 86_400;
/// The largest set a counter keeps (a device seen with more emails is over every limit).
const MAX_SET: u64 = 200;

fn block_pk(id: &str) -> String {
    format!("BLOCK#{id}")
}

fn counter_pk(key: &str, window: u64, now: u64) -> (String, u64) {
    let window = window.max(1);
    let start = now - now % window;
    (format!("FRAUD#{key}#{start}"), start + 2 * window)
}

fn data<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T> {
    get_json_opt(item, "data")?.ok_or_else(|| Error::internal("fraud item without data"))
}

impl DynamoStore {
    async fn put_item(&self, item: Item) -> Result<()> {
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {}", describe(&e))))?;
        Ok(())
    }

    async fn query_gsi(&self, partition: &str, limit: u32) -> Result<Vec<Item>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.clamp(1, 500)).unwrap_or(500))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query: {}", describe(&e))))?;
        Ok(out.items.unwrap_or_default())
    }
}

#[async_trait]
impl FraudStore for DynamoStore {
    async fn put_entry(&self, entry: &Entry) -> Result<()> {
        let mut item = item_key(&block_pk(&entry.id), "ENTRY");
        item.insert("gsi1pk".into(), s(BLACKLIST_GSI));
        item.insert(
            "gsi1sk".into(),
            s(format!("{:012}#{}", entry.added_at, entry.id)),
        );
        item.insert("ttl".into(), n(entry.expires_at));
        item.insert("data".into(), json(entry)?);
        self.put_item(item).await
    }

    async fn remove_entry(&self, id: &str) -> Result<Option<Entry>> {
        let out = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item_key(&block_pk(id), "ENTRY")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DeleteItem: {}", describe(&e))))?;
        out.attributes
            .filter(|a| !a.is_empty())
            .map(|a| data(&a))
            .transpose()
    }

    async fn find_entries(&self, ids: &[String]) -> Result<Vec<Entry>> {
        let mut found = Vec::new();
        for chunk in ids.chunks(100) {
            let mut keys_left: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| item_key(&block_pk(id), "ENTRY"))
                .collect();
            // Bounded: unprocessed keys are asked again at most 5 times.
            for _ in 0..5 {
                if keys_left.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys_left)))
                    .consistent_read(true)
                    .build()
                    .map_err(Error::internal)?;
                let out = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), request)
                    .send()
                    .await
                    .map_err(|e| {
                        Error::unavailable(format!("dynamodb BatchGetItem: {}", describe(&e)))
                    })?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(self.table()))
                    .unwrap_or_default()
                {
                    found.push(data(&item)?);
                }
                keys_left = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(self.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys_left.is_empty() {
                return Err(Error::unavailable("blacklist lookup throttled"));
            }
        }
        Ok(found)
    }

    async fn list_entries(&self, limit: u32) -> Result<Vec<Entry>> {
        self.query_gsi(BLACKLIST_GSI, limit)
            .await?
            .iter()
            .map(data)
            .collect()
    }

    async fn bump(&self, key: &str, window_secs: u64, now: u64) -> Result<u64> {
        let (pk, ttl) = counter_pk(key, window_secs, now);
        let out = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&pk, "COUNT")))
            .update_expression("ADD uses :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(ttl))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb UpdateItem: {}", describe(&e))))?;
        Ok(out
            .attributes
            .as_ref()
            .and_then(|a| get_n_opt(a, "uses"))
            .unwrap_or(1))
    }

    async fn peek(&self, key: &str, window_secs: u64, now: u64) -> Result<u64> {
        let (pk, _) = counter_pk(key, window_secs, now);
        Ok(self
            .get_item(&pk, "COUNT")
            .await?
            .and_then(|i| get_n_opt(&i, "uses"))
            .unwrap_or(0))
    }

    async fn add_distinct(
        &self,
        key: &str,
        member: &str,
        window_secs: u64,
        now: u64,
    ) -> Result<u64> {
        let (pk, ttl) = counter_pk(key, window_secs, now);
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&pk, "COUNT")))
            .update_expression("ADD members :m SET #ttl = :ttl")
            .condition_expression(
                "attribute_not_exists(members) OR size(members) < :cap OR contains(members, :one)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":m", AttributeValue::Ss(vec![member.to_owned()]))
            .expression_attribute_values(":one", s(member))
            .expression_attribute_values(":cap", n(MAX_SET))
            .expression_attribute_values(":ttl", n(ttl))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        Ok(match unless_condition_failed("UpdateItem", res)? {
            None => MAX_SET,
            Some(out) => out
                .attributes
                .as_ref()
                .and_then(|a| a.get("members"))
                .and_then(|m| m.as_ss().ok())
                .map_or(1, |m| m.len() as u64),
        })
    }

    async fn distinct(&self, key: &str, window_secs: u64, now: u64) -> Result<u64> {
        let (pk, _) = counter_pk(key, window_secs, now);
        Ok(self
            .get_item(&pk, "COUNT")
            .await?
            .as_ref()
            .and_then(|i| i.get("members"))
            .and_then(|m| m.as_ss().ok())
            .map_or(0, |m| m.len() as u64))
    }

    async fn put_decision(&self, decision: &Decision) -> Result<()> {
        let mut item = item_key(&format!("RISK#{}", decision.decision_id), "DECISION");
        if decision.outcome != Outcome::Allow {
            item.insert("gsi1pk".into(), s(FLAGGED_GSI));
            item.insert(
                "gsi1sk".into(),
                s(format!("{:012}#{}", decision.at, decision.decision_id)),
            );
        }
        item.insert("ttl".into(), n(decision.at + DECISION_TTL_SECS));
        item.insert("data".into(), json(decision)?);
        self.put_item(item).await
    }

    async fn flagged(&self, limit: u32) -> Result<Vec<Decision>> {
        self.query_gsi(FLAGGED_GSI, limit)
            .await?
            .iter()
            .map(data)
            .collect()
    }

    async fn put_order_client(
        &self,
        order_id: &str,
        client: &OrderClient,
        expires_at: u64,
    ) -> Result<()> {
        let mut item = item_key(&keys::order(order_id), "FRAUD_CLIENT");
        item.insert("ttl".into(), n(expires_at));
        item.insert("data".into(), json(client)?);
        self.put_item(item).await
    }

    async fn order_client(&self, order_id: &str) -> Result<Option<OrderClient>> {
        self.get_item(&keys::order(order_id), "FRAUD_CLIENT")
            .await?
            .map(|i| data(&i))
            .transpose()
    }

    async fn hold(&self, order_id: &str, decision_id: &str) -> Result<()> {
        self.put_hold(order_id, decision_id).await
    }

    async fn is_held(&self, order_id: &str) -> Result<bool> {
        Ok(self
            .read_hold(order_id)
            .await?
            .is_some_and(|h| h.resolution.is_none()))
    }

    async fn get_hold(&self, order_id: &str) -> Result<Option<Hold>> {
        self.read_hold(order_id).await
    }

    async fn release_hold(&self, order_id: &str, by: &str, now: u64) -> Result<Resolved> {
        self.release_held(order_id, by, now).await
    }

    async fn cancel_hold(&self, order_id: &str, by: &str, now: u64) -> Result<Resolved> {
        self.cancel_held(order_id, by, now).await
    }
}
