//! Tickets: minting (one transaction with the order's status change) and device binding in two
//! conditional writes (the tickets function claims a key; the mint function stores the
//! credential it re-issued for that key).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use super::attrs::{b, get_b, get_b_opt, get_n, get_s, get_ss, item_key, list, n, s, Item};
use super::{keys, unless_condition_failed, DynamoStore, TxError};
use crate::aws::describe;
use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::ports::{MintOutcome, Orders, TicketRecord, Tickets};

fn ticket_item(t: &TicketRecord) -> Item {
    let mut i = item_key(&keys::order(&t.order_id), &keys::ticket(&t.ticket_id));
    i.insert("type".into(), s("ticket"));
    i.insert("ticket_id".into(), s(&t.ticket_id));
    i.insert("order_id".into(), s(&t.order_id));
    i.insert("event_id".into(), s(&t.event_id));
    i.insert("tier_id".into(), s(&t.tier_id));
    i.insert("kid".into(), n(t.kid));
    i.insert("gates".into(), list(&t.gates));
    i.insert("not_before".into(), n(t.not_before));
    i.insert("not_after".into(), n(t.not_after));
    i.insert("issued_at".into(), n(t.issued_at));
    i.insert("credential".into(), b(&t.credential));
    if let Some(d) = &t.device_key {
        i.insert("device_key".into(), b(d));
    }
    i.insert("version".into(), n(t.version));
    i.insert("gsi1pk".into(), s(keys::ticket(&t.ticket_id)));
    i.insert("gsi1sk".into(), s("TICKET"));
    i
}

pub(super) fn ticket_from(i: &Item) -> Result<TicketRecord> {
    Ok(TicketRecord {
        ticket_id: get_s(i, "ticket_id")?,
        order_id: get_s(i, "order_id")?,
        event_id: get_s(i, "event_id")?,
        tier_id: get_s(i, "tier_id")?,
        kid: get_n(i, "kid")?,
        gates: get_ss(i, "gates"),
        not_before: get_n(i, "not_before")?,
        not_after: get_n(i, "not_after")?,
        issued_at: get_n(i, "issued_at")?,
        credential: get_b(i, "credential")?,
        device_key: get_b_opt(i, "device_key"),
        version: get_n(i, "version")?,
        bind_pending: matches!(i.get("bind_pending"), Some(AttributeValue::Bool(true))),
    })
}

#[async_trait]
impl Tickets for DynamoStore {
    async fn mint(
        &self,
        order_id: &str,
        tickets: &[TicketRecord],
        now: u64,
    ) -> Result<MintOutcome> {
        if tickets.is_empty() || tickets.len() > 98 {
            return Err(Error::internal("mint: 1..=98 tickets per transaction"));
        }
        let order_update = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
            .update_expression("SET #st = :minted, minted_at = :now")
            .condition_expression("#st = :paid")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":minted", s(OrderStatus::Minted.as_str()))
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(Error::internal)?;
        let first = &tickets[0];
        let sold = Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::event(&first.event_id),
                &keys::tier(&first.tier_id),
            )))
            .update_expression("ADD sold :q")
            .expression_attribute_values(":q", n(tickets.len()))
            .build()
            .map_err(Error::internal)?;
        // Not on hold for review (or the hold released), in the same transaction: a hold that
        // lands after a mint was queued still stops it (see `crate::store::fraud`).
        let not_held = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::order(order_id),
                super::holds::HOLD_SK,
            )))
            .condition_expression("attribute_not_exists(pk) OR #res = :released")
            .expression_attribute_names("#res", "resolution")
            .expression_attribute_values(":released", s(super::holds::RELEASED))
            .build()
            .map_err(Error::internal)?;
        let mut items = vec![
            TransactWriteItem::builder().update(order_update).build(),
            TransactWriteItem::builder()
                .condition_check(not_held)
                .build(),
            TransactWriteItem::builder().update(sold).build(),
        ];
        for t in tickets {
            items.push(self.put(ticket_item(t), Some("attribute_not_exists(pk)"))?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(MintOutcome::Minted),
            Err(TxError::Condition(0)) => {
                let order = self.get_order(order_id).await?.ok_or(Error::NotFound)?;
                match order.status {
                    OrderStatus::Minted => Ok(MintOutcome::AlreadyMinted),
                    other => Err(Error::Conflict(format!(
                        "order is {} and cannot be minted",
                        other.as_str()
                    ))),
                }
            }
            Err(TxError::Condition(1)) => Ok(MintOutcome::Held),
            Err(TxError::Condition(i)) => Err(Error::internal(format!(
                "mint transaction: condition {i} failed"
            ))),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn order_tickets(&self, order_id: &str) -> Result<Vec<TicketRecord>> {
        self.query_prefix(&keys::order(order_id), "TICKET#", 1000)
            .await?
            .iter()
            .map(ticket_from)
            .collect()
    }

    async fn get_ticket(&self, ticket_id: &str) -> Result<Option<TicketRecord>> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :t")
            .expression_attribute_values(":t", s(keys::ticket(ticket_id)))
            .limit(1)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb Query: {}", describe(&e))))?;
        let Some(found) = out.items.unwrap_or_default().into_iter().next() else {
            return Ok(None);
        };
        // The index is eventually consistent: read the item itself.
        let order_id = get_s(&found, "order_id")?;
        self.get_item(&keys::order(&order_id), &keys::ticket(ticket_id))
            .await?
            .map(|i| ticket_from(&i))
            .transpose()
    }

    async fn get_order_ticket(
        &self,
        order_id: &str,
        ticket_id: &str,
    ) -> Result<Option<TicketRecord>> {
        self.get_item(&keys::order(order_id), &keys::ticket(ticket_id))
            .await?
            .map(|i| ticket_from(&i))
            .transpose()
    }

    async fn request_binding(&self, t: &TicketRecord, device_key: &[u8]) -> Result<TicketRecord> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::order(&t.order_id),
                &keys::ticket(&t.ticket_id),
            )))
            .update_expression("SET device_key = :d, bind_pending = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(device_key)")
            .expression_attribute_values(":d", b(device_key))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        if let Some(out) = unless_condition_failed("UpdateItem", res)? {
            return ticket_from(
                &out.attributes
                    .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?,
            );
        }
        // Claimed before (by this key or another): the stored record decides.
        self.get_order_ticket(&t.order_id, &t.ticket_id)
            .await?
            .ok_or(Error::NotFound)
    }

    async fn complete_binding(
        &self,
        t: &TicketRecord,
        expected_version: u32,
    ) -> Result<TicketRecord> {
        let device_key = t
            .device_key
            .as_deref()
            .ok_or_else(|| Error::internal("complete_binding without a device key"))?;
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::order(&t.order_id),
                &keys::ticket(&t.ticket_id),
            )))
            .update_expression(
                "SET credential = :c, version = :next, issued_at = :at REMOVE bind_pending",
            )
            .condition_expression("version = :v AND device_key = :d AND bind_pending = :t")
            .expression_attribute_values(":c", b(&t.credential))
            .expression_attribute_values(":d", b(device_key))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":next", n(expected_version + 1))
            .expression_attribute_values(":v", n(expected_version))
            .expression_attribute_values(":at", n(t.issued_at))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        if let Some(out) = unless_condition_failed("UpdateItem", res)? {
            return ticket_from(
                &out.attributes
                    .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?,
            );
        }
        // Completed meanwhile (a redelivery): the stored record.
        self.get_order_ticket(&t.order_id, &t.ticket_id)
            .await?
            .ok_or(Error::NotFound)
    }
}
