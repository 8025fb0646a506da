//! Reads a whole table into an [`operations::drill::Snapshot`] for the restore drill: a
//! paginated Scan, bounded, keeping only ids, counters and audit links (no personal data).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::Client;

use crate::audit_ingest::Link;
use crate::aws::describe;
use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::operations::drill::{OrderRow, Snapshot, TierRow};

use super::attrs::{get_b_opt, get_n, get_n_opt, get_s, get_s_opt, Item};

/// Most Scan pages read (1 MB each: a 100 GB table).
const MAX_PAGES: u32 = 100_000;

/// Scans `table` (strongly consistent) into a snapshot.
///
/// # Errors
/// If DynamoDB refuses, or an item the drill checks is malformed.
pub async fn scan_snapshot(client: &Client, table: &str) -> Result<Snapshot> {
    let mut snap = Snapshot::default();
    let mut audit: BTreeMap<String, Vec<Link>> = BTreeMap::new();
    // Sharded tiers (`store::stock`): their stock is the sum of their shards' `available`.
    let mut shard_stock: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut sharded: BTreeSet<(String, String)> = BTreeSet::new();
    let mut start = None;
    for _ in 0..MAX_PAGES {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Scan: {}", describe(&e))))?;
        for item in page.items.unwrap_or_default() {
            snap.items += 1;
            take(&mut snap, &mut audit, &item)?;
            take_stock(&mut shard_stock, &mut sharded, &item)?;
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    snap.audit = audit;
    for t in &mut snap.tiers {
        let key = (t.event_id.clone(), t.tier_id.clone());
        if sharded.contains(&key) {
            t.available = shard_stock.get(&key).copied().unwrap_or(0);
        }
    }
    Ok(snap)
}

/// Notes sharded tiers and adds up their shards' stock (`STOCK#<event>#<tier>#<k>`).
fn take_stock(
    sums: &mut BTreeMap<(String, String), u64>,
    sharded: &mut BTreeSet<(String, String)>,
    item: &Item,
) -> Result<()> {
    let pk = get_s(item, "pk")?;
    match get_s_opt(item, "type").as_deref() {
        Some("tier") if item.contains_key("shards") => {
            sharded.insert((
                pk.trim_start_matches("EVENT#").to_owned(),
                get_s(item, "tier_id")?,
            ));
        }
        Some("stock") => {
            let mut parts = pk.trim_start_matches("STOCK#").rsplitn(3, '#');
            let (_k, tier, event) = (parts.next(), parts.next(), parts.next());
            let (Some(tier), Some(event)) = (tier, event) else {
                return Err(Error::internal(format!(
                    "stock item {pk}: not STOCK#<event>#<tier>#<k>"
                )));
            };
            *sums.entry((event.to_owned(), tier.to_owned())).or_insert(0) +=
                get_n::<u64>(item, "available")?;
        }
        _ => {}
    }
    Ok(())
}

fn take(snap: &mut Snapshot, audit: &mut BTreeMap<String, Vec<Link>>, item: &Item) -> Result<()> {
    let pk = get_s(item, "pk")?;
    let sk = get_s(item, "sk")?;
    match get_s_opt(item, "type").as_deref() {
        Some("tier") => snap.tiers.push(TierRow {
            event_id: pk.trim_start_matches("EVENT#").to_owned(),
            tier_id: get_s(item, "tier_id")?,
            capacity: get_n(item, "capacity")?,
            // Sharded tiers keep no `available` here: filled from their shards below.
            available: get_n_opt(item, "available").unwrap_or(0),
            sold: get_n_opt(item, "sold").unwrap_or(0),
        }),
        Some("order") => snap.orders.push(OrderRow {
            order_id: get_s(item, "order_id")?,
            event_id: get_s(item, "event_id")?,
            tier_id: get_s(item, "tier_id")?,
            quantity: get_n(item, "quantity")?,
            status: OrderStatus::parse(&get_s(item, "status")?)?,
            minted: item.contains_key("minted_at"),
        }),
        Some("ticket") => snap
            .tickets
            .push((get_s(item, "order_id")?, get_s(item, "ticket_id")?)),
        Some("audit") => {
            // A malformed hash cannot match its chain: the check reports the link.
            let mut hash = [0u8; 32];
            if let Ok(bytes) = hex::decode(get_s(item, "hash")?) {
                if bytes.len() == 32 {
                    hash.copy_from_slice(&bytes);
                }
            }
            audit.entry(pk).or_default().push(Link {
                seq: get_n(item, "seq")?,
                hash,
                canonical: get_s(item, "canonical")?,
            });
        }
        Some("customer") if get_b_opt(item, "wrapped_key").is_some() => {
            snap.customers_with_key.insert(get_s(item, "customer_id")?);
        }
        _ if pk.starts_with("EMAIL#") && sk == "EMAIL" => {
            snap.email_links.insert(get_s(item, "customer_id")?);
        }
        _ => {}
    }
    Ok(())
}
