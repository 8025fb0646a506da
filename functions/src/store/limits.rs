//! Fixed-window rate counters: one item per key and window (`RATE#<key>#<window start>`), counted
//! with one conditional `ADD`, so that concurrent requests never overshoot the limit. The item
//! expires (TTL) a window after its window ends.

use async_trait::async_trait;

use crate::error::Result;
use crate::ports::RateLimits;

use super::attrs::{item_key, n};
use super::{keys, unless_condition_failed, DynamoStore};

#[async_trait]
impl RateLimits for DynamoStore {
    async fn allow(&self, key: &str, limit: u32, window_secs: u64, now: u64) -> Result<bool> {
        let window = window_secs.max(1);
        let start = now - now % window;
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::rate(key, start), "RATE")))
            .update_expression("ADD uses :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(uses) OR uses < :limit")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(start + 2 * window))
            .send()
            .await;
        Ok(unless_condition_failed("UpdateItem", res)?.is_some())
    }
}
