//! Sharded stock: a tier's stock split across N items, each under its own partition key
//! (`STOCK#<event>#<tier>#<k>` / `STOCK`), so that reservations spread over N partitions instead
//! of meeting at one item's write ceiling (DynamoDB documents ~1,000 write units a second per
//! partition; a transactional write costs two).
//!
//! The tier item (`EVENT#<event>` / `TIER#<tier>`) keeps `shards` (N) and `empty`, the number
//! set of shards found empty. A shard joins `empty` in one transaction with a check that it
//! holds nothing (so a concurrent release cannot be hidden), and leaves it in the release's own
//! transaction. Sold out is `|empty| = N`, read from the tier item alone: no scan of the shards.
//! Tiers stored before sharding (no `shards`) keep their stock on the tier item (one shard).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use super::attrs::{get_n, get_n_opt, item_key, n, s, Item};
use super::{keys, DynamoStore, TxError};
use crate::error::{Error, Result};

/// At most this many shards per tier (a `BatchGetItem` reads them all at once).
pub const MAX_SHARDS: u32 = 100;

/// A tier's stock layout, from its tier item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMeta {
    /// `None`: the tier predates sharding, its stock is on the tier item.
    pub shards: Option<u32>,
    pub empty: BTreeSet<u32>,
}

impl StockMeta {
    pub(crate) fn from_item(i: &Item) -> Self {
        let empty = match i.get("empty") {
            Some(AttributeValue::Ns(v)) => v.iter().filter_map(|x| x.parse().ok()).collect(),
            _ => BTreeSet::new(),
        };
        Self {
            shards: get_n_opt(i, "shards"),
            empty,
        }
    }

    /// Every shard found empty: sold out without reading a shard.
    pub fn sold_out(&self) -> bool {
        self.shards
            .is_some_and(|n| u32::try_from(self.empty.len()).unwrap_or(u32::MAX) >= n)
    }
}

/// The key of shard `k` of a tier (`shards`: `None` for a tier before sharding).
pub fn shard_key(event_id: &str, tier_id: &str, shards: Option<u32>, k: u32) -> (String, String) {
    match shards {
        None => (keys::event(event_id), keys::tier(tier_id)),
        Some(_) => (
            format!("STOCK#{event_id}#{tier_id}#{k}"),
            "STOCK".to_owned(),
        ),
    }
}

/// `capacity` split over `shards` as evenly as possible (the first shards take the remainder).
pub fn split(capacity: u32, shards: u32) -> Vec<u32> {
    let shards = shards.max(1);
    (0..shards)
        .map(|k| capacity / shards + u32::from(k < capacity % shards))
        .collect()
}

/// The order in which a reservation tries the shards: from a start drawn from `random`, then
/// round the ring, skipping those known empty.
pub fn try_order(shards: u32, empty: &BTreeSet<u32>, random: u64) -> Vec<u32> {
    let shards = shards.max(1);
    let start = u32::try_from(random % u64::from(shards)).unwrap_or(0);
    (0..shards)
        .map(|i| (start + i) % shards)
        .filter(|k| !empty.contains(k))
        .collect()
}

/// A stable draw from an order id (itself random): which shard a reservation starts at.
pub fn draw_from(order_id: &str) -> u64 {
    use sha2::Digest as _;
    let h = sha2::Sha256::digest(order_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_le_bytes(b)
}

fn update(
    table: &str,
    (pk, sk): (String, String),
    expression: &str,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem> {
    let mut u = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(&pk, &sk)))
        .update_expression(expression)
        .set_condition_expression(condition.map(str::to_owned));
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(Error::internal)?)
        .build())
}

impl DynamoStore {
    pub(crate) async fn stock_meta(&self, event_id: &str, tier_id: &str) -> Result<StockMeta> {
        let tier = self
            .get_item(&keys::event(event_id), &keys::tier(tier_id))
            .await?
            .ok_or(Error::NotFound)?;
        Ok(StockMeta::from_item(&tier))
    }

    /// The stock update of a reservation of `q` on shard `k`.
    pub(crate) fn take_from_shard(
        &self,
        event_id: &str,
        tier_id: &str,
        shards: Option<u32>,
        k: u32,
        q: u32,
    ) -> Result<TransactWriteItem> {
        update(
            self.table(),
            shard_key(event_id, tier_id, shards, k),
            "SET available = available - :q",
            Some("attribute_exists(pk) AND available >= :q"),
            vec![(":q", n(q))],
        )
    }

    /// The stock update returning `q` to shard `k`, and (sharded) the tier's note that `k` is
    /// not empty any more.
    pub(crate) fn return_to_shard(
        &self,
        event_id: &str,
        tier_id: &str,
        shard: Option<u32>,
        q: u32,
    ) -> Result<Vec<TransactWriteItem>> {
        let k = shard.unwrap_or(0);
        let mut items = vec![update(
            self.table(),
            shard_key(event_id, tier_id, shard, k),
            "ADD available :q",
            Some("attribute_exists(pk)"),
            vec![(":q", n(q))],
        )?];
        if shard.is_some() {
            items.push(update(
                self.table(),
                (keys::event(event_id), keys::tier(tier_id)),
                "DELETE #empty :k",
                None,
                vec![(":k", AttributeValue::Ns(vec![k.to_string()]))],
            )?);
            if let Some(TransactWriteItem {
                update: Some(u), ..
            }) = items.last_mut()
            {
                let mut names = std::collections::HashMap::new();
                names.insert("#empty".to_owned(), "empty".to_owned());
                u.expression_attribute_names = Some(names);
            }
        }
        Ok(items)
    }

    /// Notes shard `k` as empty, if it holds nothing (one transaction with that check, so a
    /// release into it meanwhile keeps it out of the set).
    pub(crate) async fn mark_empty(&self, event_id: &str, tier_id: &str, k: u32) -> Result<()> {
        let (pk, sk) = shard_key(event_id, tier_id, Some(k), k);
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(item_key(&pk, &sk)))
            .condition_expression("available < :one")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(Error::internal)?;
        let mut add = update(
            self.table(),
            (keys::event(event_id), keys::tier(tier_id)),
            "ADD #empty :k",
            None,
            vec![(":k", AttributeValue::Ns(vec![k.to_string()]))],
        )?;
        if let Some(u) = add.update.as_mut() {
            let mut names = std::collections::HashMap::new();
            names.insert("#empty".to_owned(), "empty".to_owned());
            u.expression_attribute_names = Some(names);
        }
        match self
            .transact(vec![
                TransactWriteItem::builder().condition_check(check).build(),
                add,
            ])
            .await
        {
            Ok(()) | Err(TxError::Condition(_)) => Ok(()),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// The shard items of a new tier of `capacity` in `shards` shards, and the tier item's
    /// `shards` and `empty` attributes.
    pub(crate) fn new_shards(
        event_id: &str,
        tier_id: &str,
        capacity: u32,
        shards: u32,
        tier: &mut Item,
    ) -> Vec<Item> {
        let portions = split(capacity, shards);
        tier.insert("shards".into(), n(portions.len()));
        let empty: Vec<String> = (0..)
            .zip(&portions)
            .filter(|(_, a)| **a == 0)
            .map(|(k, _): (u32, _)| k.to_string())
            .collect();
        if !empty.is_empty() {
            tier.insert("empty".into(), AttributeValue::Ns(empty));
        }
        (0..)
            .zip(portions)
            .map(|(k, a): (u32, u32)| {
                let (pk, sk) = shard_key(event_id, tier_id, Some(k), k);
                let mut i = item_key(&pk, &sk);
                i.insert("type".into(), s("stock"));
                i.insert("available".into(), n(a));
                i
            })
            .collect()
    }

    /// The live stock of each shard (one `GetItem` per shard, at once; none when the tier
    /// item says sold out). `GetItem` rather than `BatchGetItem`: the functions' roles grant
    /// the former only.
    pub(crate) async fn shard_stock(
        &self,
        event_id: &str,
        tier_id: &str,
        meta: &StockMeta,
    ) -> Result<Vec<u32>> {
        let Some(shards) = meta.shards else {
            return Err(Error::internal("shard_stock of an unsharded tier"));
        };
        if meta.sold_out() {
            return Ok(vec![0; shards as usize]);
        }
        let mut reads = tokio::task::JoinSet::new();
        for k in 0..shards {
            let (pk, sk) = shard_key(event_id, tier_id, Some(k), k);
            let store = self.clone();
            reads.spawn(async move { (k, store.get_item(&pk, &sk).await) });
        }
        let mut found = vec![0; shards as usize];
        while let Some(joined) = reads.join_next().await {
            let (k, item) = joined.map_err(Error::internal)?;
            if let Some(i) = item? {
                found[k as usize] = get_n(&i, "available")?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_keeps_every_ticket_and_differs_by_at_most_one() {
        for (cap, n) in [(10, 3), (2, 5), (0, 4), (50_000, 16), (7, 1)] {
            let s = split(cap, n);
            assert_eq!(s.len(), n as usize);
            assert_eq!(s.iter().sum::<u32>(), cap);
            assert!(s.iter().max().unwrap_or(&0) - s.iter().min().unwrap_or(&0) <= 1);
        }
    }

    #[test]
    fn the_try_order_starts_at_the_draw_goes_round_and_skips_empty_shards() {
        let empty: BTreeSet<u32> = [1].into_iter().collect();
        assert_eq!(try_order(4, &empty, 6), vec![2, 3, 0]);
        assert_eq!(try_order(4, &BTreeSet::new(), 3), vec![3, 0, 1, 2]);
        assert!(try_order(2, &[0, 1].into_iter().collect(), 9).is_empty());
    }

    #[test]
    fn sold_out_is_every_shard_empty_and_never_for_an_unsharded_tier() {
        let meta = |shards, empty: &[u32]| StockMeta {
            shards,
            empty: empty.iter().copied().collect(),
        };
        assert!(meta(Some(2), &[0, 1]).sold_out());
        assert!(!meta(Some(3), &[0, 1]).sold_out());
        assert!(!meta(None, &[]).sold_out());
    }
}
