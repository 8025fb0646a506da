//! The incident commands' reads and writes (`crate::operations`): an event's tickets and orders
//! (a filtered, bounded Scan: an operator's command, never a request path), an event's key
//! rotation (one transaction) and a ticket's credential replaced under a new key (one
//! conditional write).

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::attrs::{b, item_key, n, s, Item};
use super::orders::order_from;
use super::tickets::ticket_from;
use super::{keys, unless_condition_failed, DynamoStore, TxError};
use crate::aws::describe;
use crate::error::{Error, Result};
use crate::model::Order;
use crate::ports::{TicketRecord, WrappedEventKeys};

/// The line before which every staff token is refused (0 if none was drawn). Read by the
/// staff directory on each console authentication.
///
/// # Errors
/// DynamoDB's failures.
pub async fn staff_tokens_not_before(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<u64> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(item_key(keys::CONFIG, keys::STAFF_TOKENS_NOT_BEFORE)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb GetItem: {}", describe(&e))))?;
    Ok(out
        .item
        .and_then(|i| super::attrs::get_n::<u64>(&i, "line").ok())
        .unwrap_or(0))
}

/// Most Scan pages read per listing (1 MB each).
pub const MAX_SCAN_PAGES: u32 = 100_000;

impl DynamoStore {
    /// Every item whose `sk` starts with `sk_prefix` and whose `event_id` is `event_id`.
    async fn scan_event_items(&self, sk_prefix: &str, event_id: &str) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let mut start = None;
        for _ in 0..MAX_SCAN_PAGES {
            let page = self
                .client()
                .scan()
                .table_name(self.table())
                .consistent_read(true)
                .filter_expression("begins_with(sk, :p) AND event_id = :e")
                .expression_attribute_values(":p", s(sk_prefix))
                .expression_attribute_values(":e", s(event_id))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb Scan: {}", describe(&e))))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
        Err(Error::unavailable("dynamodb Scan: too many pages"))
    }

    /// Every ticket of `event_id`, sorted by order then ticket id (a stable order to resume).
    ///
    /// # Errors
    /// If DynamoDB refuses or a ticket item is malformed.
    pub async fn event_tickets(&self, event_id: &str) -> Result<Vec<TicketRecord>> {
        let mut tickets = self
            .scan_event_items("TICKET#", event_id)
            .await?
            .iter()
            .map(ticket_from)
            .collect::<Result<Vec<_>>>()?;
        tickets.sort_by(|a, b| (&a.order_id, &a.ticket_id).cmp(&(&b.order_id, &b.ticket_id)));
        Ok(tickets)
    }

    /// Every order of `event_id`, sorted by id.
    ///
    /// # Errors
    /// If DynamoDB refuses or an order item is malformed.
    pub async fn event_orders(&self, event_id: &str) -> Result<Vec<Order>> {
        let mut orders = self
            .scan_event_items(keys::ORDER_SK, event_id)
            .await?
            .iter()
            .filter(|i| matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk == keys::ORDER_SK))
            .map(order_from)
            .collect::<Result<Vec<_>>>()?;
        orders.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        Ok(orders)
    }

    /// Draws the staff tokens' line at `line` (it only moves forward: an older line changes
    /// nothing). `true` if this call moved it.
    ///
    /// # Errors
    /// DynamoDB's failures.
    pub async fn set_staff_tokens_not_before(&self, line: u64, reason: &str) -> Result<bool> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(keys::CONFIG, keys::STAFF_TOKENS_NOT_BEFORE)))
            .update_expression("SET line = :l, reason = :r")
            .condition_expression("attribute_not_exists(line) OR line < :l")
            .expression_attribute_values(":l", n(line))
            .expression_attribute_values(":r", s(reason))
            .send()
            .await;
        Ok(unless_condition_failed("UpdateItem", res)?.is_some())
    }

    /// Makes `new` the event's signing key set if its key set is still `old_kid`: the new
    /// `KID#` and `KEYS#` items and the event's `kid` in one transaction. `false` if the event
    /// no longer signs with `old_kid` (rotated meanwhile: nothing written).
    ///
    /// # Errors
    /// `Conflict` if the new kid is taken; DynamoDB's failures.
    pub async fn rotate_event_kid(
        &self,
        event_id: &str,
        old_kid: u32,
        new: &WrappedEventKeys,
        now: u64,
    ) -> Result<bool> {
        let meta = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::event(event_id), keys::EVENT_META)))
            .update_expression("SET kid = :new, rotated_at = :now")
            .condition_expression("kid = :old")
            .expression_attribute_values(":new", n(new.kid))
            .expression_attribute_values(":old", n(old_kid))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(Error::internal)?;
        let mut kid_item = item_key(&keys::kid(new.kid), "KID");
        kid_item.insert("event_id".into(), s(event_id));
        let mut keys_item = item_key(&keys::event(event_id), &keys::event_keys(new.kid));
        keys_item.insert("type".into(), s("event_keys"));
        keys_item.insert("kid".into(), n(new.kid));
        keys_item.insert("wrapped_data_key".into(), b(&new.wrapped_data_key));
        keys_item.insert("sealed_keys".into(), b(&new.sealed_keys));
        keys_item.insert("issuer_public_key".into(), b(&new.issuer_public_key));
        keys_item.insert("created_at".into(), n(new.created_at));
        let items = vec![
            aws_sdk_dynamodb::types::TransactWriteItem::builder()
                .update(meta)
                .build(),
            self.put(kid_item, Some("attribute_not_exists(pk)"))?,
            self.put(keys_item, Some("attribute_not_exists(pk)"))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Condition(0)) => Ok(false),
            Err(TxError::Condition(_)) => Err(Error::Conflict("the new kid is taken".into())),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    /// Stores `t`'s credential re-issued under `t.kid` if the stored ticket is still at
    /// `expected_version` under `old_kid` (one conditional write; the version moves on, so a
    /// concurrent device binding retries on the new credential). `false` if it changed.
    ///
    /// # Errors
    /// DynamoDB's failures.
    pub async fn replace_credential(
        &self,
        t: &TicketRecord,
        expected_version: u32,
        old_kid: u32,
    ) -> Result<bool> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::order(&t.order_id),
                &keys::ticket(&t.ticket_id),
            )))
            .update_expression("SET credential = :c, version = :next, issued_at = :at, kid = :kid")
            .condition_expression("version = :v AND kid = :old")
            .expression_attribute_values(":c", b(&t.credential))
            .expression_attribute_values(":next", n(expected_version + 1))
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":at", n(t.issued_at))
            .expression_attribute_values(":kid", n(t.kid))
            .expression_attribute_values(":old", n(old_kid))
            .send()
            .await;
        Ok(unless_condition_failed("UpdateItem", res)?.is_some())
    }
}
