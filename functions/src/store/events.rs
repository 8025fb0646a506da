//! Events, tiers and key sets.

use async_trait::async_trait;

use super::attrs::{b, get_b, get_bool, get_n, get_s, get_ss, item_key, list, n, s, Item};
use super::stock::StockMeta;
use super::{keys, DynamoStore, TxError};
use crate::error::{Error, Result};
use crate::model::{Event, Tier};
use crate::ports::{Events, WrappedEventKeys};

fn event_item(e: &Event) -> Item {
    let mut i = item_key(&keys::event(&e.event_id), keys::EVENT_META);
    i.insert("type".into(), s("event"));
    i.insert("event_id".into(), s(&e.event_id));
    i.insert("name".into(), s(&e.name));
    i.insert("currency".into(), s(&e.currency));
    i.insert("starts_at".into(), n(e.starts_at));
    i.insert("ends_at".into(), n(e.ends_at));
    i.insert("time_zone".into(), s(&e.time_zone));
    i.insert("max_per_order".into(), n(e.max_per_order));
    i.insert("max_per_buyer".into(), n(e.max_per_buyer));
    i.insert("kid".into(), n(e.kid));
    i.insert(
        "on_sale".into(),
        aws_sdk_dynamodb::types::AttributeValue::Bool(e.on_sale),
    );
    if e.queue_mode {
        i.insert(
            "queue_mode".into(),
            aws_sdk_dynamodb::types::AttributeValue::Bool(true),
        );
    }
    i
}

fn tier_item(event_id: &str, t: &Tier) -> Item {
    let mut i = item_key(&keys::event(event_id), &keys::tier(&t.tier_id));
    i.insert("type".into(), s("tier"));
    i.insert("tier_id".into(), s(&t.tier_id));
    i.insert("name".into(), s(&t.name));
    i.insert("price_minor".into(), n(t.price_minor));
    i.insert("capacity".into(), n(t.capacity));
    i.insert("sold".into(), n(0));
    i.insert("gates".into(), list(&t.gates));
    i
}

/// A tier from its item; `available` from the tier item (unsharded) or its shards.
async fn tier_from(store: &DynamoStore, event_id: &str, i: &Item) -> Result<Tier> {
    let tier_id = get_s(i, "tier_id")?;
    let meta = StockMeta::from_item(i);
    let (available, stock_shards) = match meta.shards {
        None => (get_n(i, "available")?, 1),
        Some(shards) => (
            store
                .shard_stock(event_id, &tier_id, &meta)
                .await?
                .iter()
                .sum(),
            shards,
        ),
    };
    Ok(Tier {
        tier_id,
        name: get_s(i, "name")?,
        price_minor: get_n(i, "price_minor")?,
        capacity: get_n(i, "capacity")?,
        available,
        gates: get_ss(i, "gates"),
        stock_shards,
    })
}

#[async_trait]
impl Events for DynamoStore {
    async fn get_event(&self, event_id: &str) -> Result<Option<Event>> {
        let pk = keys::event(event_id);
        let Some(meta) = self.get_item(&pk, keys::EVENT_META).await? else {
            return Ok(None);
        };
        let mut tiers = Vec::new();
        for i in &self.query_prefix(&pk, "TIER#", 1000).await? {
            tiers.push(tier_from(self, event_id, i).await?);
        }
        Ok(Some(Event {
            event_id: get_s(&meta, "event_id")?,
            name: get_s(&meta, "name")?,
            currency: get_s(&meta, "currency")?,
            starts_at: get_n(&meta, "starts_at")?,
            ends_at: get_n(&meta, "ends_at")?,
            // Events stored before zones were kept are in the default zone.
            time_zone: get_s(&meta, "time_zone")
                .unwrap_or_else(|_| crate::model::DEFAULT_TIME_ZONE.to_owned()),
            max_per_order: get_n(&meta, "max_per_order")?,
            max_per_buyer: get_n(&meta, "max_per_buyer")?,
            kid: get_n(&meta, "kid")?,
            on_sale: get_bool(&meta, "on_sale").unwrap_or(false),
            queue_mode: get_bool(&meta, "queue_mode").unwrap_or(false),
            tiers,
        }))
    }

    async fn create_event(&self, event: &Event, k: &WrappedEventKeys) -> Result<bool> {
        if event.tiers.len() > 90 {
            return Err(Error::invalid("tiers", "at most 90 tiers"));
        }
        let new = Some("attribute_not_exists(pk)");
        let mut kid_item = item_key(&keys::kid(k.kid), "KID");
        kid_item.insert("event_id".into(), s(&event.event_id));
        let mut keys_item = item_key(&keys::event(&event.event_id), &keys::event_keys(k.kid));
        keys_item.insert("type".into(), s("event_keys"));
        keys_item.insert("kid".into(), n(k.kid));
        keys_item.insert("wrapped_data_key".into(), b(&k.wrapped_data_key));
        keys_item.insert("sealed_keys".into(), b(&k.sealed_keys));
        keys_item.insert("issuer_public_key".into(), b(&k.issuer_public_key));
        keys_item.insert("created_at".into(), n(k.created_at));
        let mut items = vec![
            self.put(kid_item, new)?,
            self.put(event_item(event), new)?,
            self.put(keys_item, new)?,
        ];
        let shards: u32 = event.tiers.iter().map(|t| t.stock_shards.max(1)).sum();
        if event.tiers.len() + shards as usize + items.len() > 100 {
            return Err(Error::invalid(
                "stock_shards",
                "tiers and their stock shards together at most 97",
            ));
        }
        for t in &event.tiers {
            let mut tier = tier_item(&event.event_id, t);
            let stock = DynamoStore::new_shards(
                &event.event_id,
                &t.tier_id,
                t.available,
                t.stock_shards.max(1),
                &mut tier,
            );
            items.push(self.put(tier, new)?);
            for shard in stock {
                items.push(self.put(shard, new)?);
            }
        }
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Condition(0)) => Ok(false),
            Err(TxError::Condition(_)) => Err(Error::Conflict("event already exists".into())),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn sales_paused(&self) -> Result<bool> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(item_key(keys::CONFIG, keys::SALES_PAUSE)))
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!("dynamodb GetItem: {}", crate::aws::describe(&e)))
            })?;
        Ok(out
            .item
            .is_some_and(|i| get_bool(&i, "paused").unwrap_or(false)))
    }

    async fn get_event_keys(&self, event_id: &str, kid: u32) -> Result<Option<WrappedEventKeys>> {
        let item = self
            .get_item(&keys::event(event_id), &keys::event_keys(kid))
            .await?;
        item.map(|i| {
            Ok(WrappedEventKeys {
                kid: get_n(&i, "kid")?,
                wrapped_data_key: get_b(&i, "wrapped_data_key")?,
                sealed_keys: get_b(&i, "sealed_keys")?,
                issuer_public_key: get_b(&i, "issuer_public_key")?,
                created_at: get_n(&i, "created_at")?,
            })
        })
        .transpose()
    }
}
