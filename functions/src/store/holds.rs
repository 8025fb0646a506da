//! Holds for review on the single table: `ORDER#<id>` / `FRAUD_HOLD` with the decision that
//! placed it and, once a reviewer decided, `resolution` (`released` or `cancelled`), who and
//! when. The minting transaction checks this item ([`crate::store::tickets`]): an order is
//! minted only without a hold or with a released one.

use aws_sdk_dynamodb::types::ReturnValue;

use super::attrs::{get_n_opt, get_s, get_s_opt, item_key, json, n, s, Item};
use super::orders::{order_from, update};
use super::{keys, unless_condition_failed, DynamoStore, TxError};
use crate::error::{Error, Result};
use crate::fraud::ports::{Hold, Resolution, Resolved};
use crate::model::OrderStatus;
use crate::ports::ExpiredReservation;

pub(crate) const HOLD_SK: &str = "FRAUD_HOLD";
pub(crate) const RELEASED: &str = "released";
const CANCELLED: &str = "cancelled";

fn hold_from(order_id: &str, i: &Item) -> Result<Hold> {
    let resolution = match get_s_opt(i, "resolution").as_deref() {
        None => None,
        Some(RELEASED) => Some(Resolution::Released),
        Some(CANCELLED) => Some(Resolution::Cancelled),
        Some(other) => return Err(Error::internal(format!("unknown hold resolution {other}"))),
    };
    Ok(Hold {
        order_id: order_id.to_owned(),
        decision_id: get_s(i, "decision_id")?,
        resolution,
        resolved_by: get_s_opt(i, "resolved_by"),
        resolved_at: get_n_opt(i, "resolved_at"),
    })
}

/// The answer to a resolution whose condition failed: what the stored hold says.
fn after_refusal(hold: Option<Hold>, wanted: Resolution) -> Result<Resolved> {
    match hold {
        None => Err(Error::NotFound),
        Some(h) if h.resolution == Some(wanted) => Ok(Resolved::Before(h)),
        Some(h) => Err(Error::Conflict(format!(
            "the hold was {} before",
            h.resolution.map_or("left", Resolution::as_str)
        ))),
    }
}

impl DynamoStore {
    pub(crate) async fn put_hold(&self, order_id: &str, decision_id: &str) -> Result<()> {
        let mut item = item_key(&keys::order(order_id), HOLD_SK);
        item.insert("decision_id".into(), s(decision_id));
        // Only if absent: a later notification of the same payment must not undo a release.
        self.put_new(item).await?;
        Ok(())
    }

    pub(crate) async fn read_hold(&self, order_id: &str) -> Result<Option<Hold>> {
        self.get_item(&keys::order(order_id), HOLD_SK)
            .await?
            .map(|i| hold_from(order_id, &i))
            .transpose()
    }

    pub(crate) async fn release_held(
        &self,
        order_id: &str,
        by: &str,
        now: u64,
    ) -> Result<Resolved> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), HOLD_SK)))
            .update_expression("SET #res = :res, resolved_by = :by, resolved_at = :now")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#res)")
            .expression_attribute_names("#res", "resolution")
            .expression_attribute_values(":res", s(RELEASED))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        if let Some(out) = unless_condition_failed("UpdateItem", res)? {
            let item = out
                .attributes
                .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?;
            return Ok(Resolved::Now(hold_from(order_id, &item)?));
        }
        after_refusal(self.read_hold(order_id).await?, Resolution::Released)
    }

    pub(crate) async fn cancel_held(&self, order_id: &str, by: &str, now: u64) -> Result<Resolved> {
        let item = self
            .get_item(&keys::order(order_id), keys::ORDER_SK)
            .await?
            .ok_or(Error::NotFound)?;
        let order = order_from(&item)?;
        let paid = match (&order.paid, order.status) {
            (Some(p), OrderStatus::Paid) => p.clone(),
            _ => {
                return match self.read_hold(order_id).await? {
                    Some(h) if h.resolution == Some(Resolution::Cancelled) => {
                        Ok(Resolved::Before(h))
                    }
                    None => Err(Error::NotFound),
                    Some(_) => Err(Error::Conflict(format!(
                        "order is {} and cannot be cancelled",
                        order.status.as_str()
                    ))),
                }
            }
        };
        let hold = update(
            self,
            &keys::order(order_id),
            HOLD_SK,
            "SET #res = :res, resolved_by = :by, resolved_at = :now",
            Some("attribute_exists(pk) AND attribute_not_exists(#res)"),
            vec![(":res", s(CANCELLED)), (":by", s(by)), (":now", n(now))],
            vec![("#res", "resolution")],
        )?;
        // The payment recorded as owed back, as for a payment that arrives after expiry.
        let cancelled = update(
            self,
            &keys::order(order_id),
            keys::ORDER_SK,
            "SET #st = :cancelled, refund_due = :rec, cancelled_at = :now",
            Some("#st = :paid AND paid = :rec AND attribute_not_exists(refund_due)"),
            vec![
                (":cancelled", s(OrderStatus::Cancelled.as_str())),
                (":paid", s(OrderStatus::Paid.as_str())),
                (":rec", json(&paid)?),
                (":now", n(now)),
            ],
            vec![("#st", "status")],
        )?;
        let mut items = vec![hold, cancelled];
        items.extend(self.seats_back(&ExpiredReservation {
            order_id: order.order_id.clone(),
            event_id: order.event_id.clone(),
            tier_id: order.tier_id.clone(),
            customer_id: order.customer_id.clone(),
            quantity: order.quantity,
            expires_at: order.expires_at,
            stock_shard: get_n_opt(&item, "stock_shard"),
        })?);
        match self.transact(items).await {
            Ok(()) => {
                Ok(Resolved::Now(self.read_hold(order_id).await?.ok_or_else(
                    || Error::internal("cancelled hold vanished"),
                )?))
            }
            Err(TxError::Condition(0)) => {
                after_refusal(self.read_hold(order_id).await?, Resolution::Cancelled)
            }
            Err(TxError::Condition(1)) => Err(Error::Conflict(
                "the order changed while it was being cancelled".into(),
            )),
            Err(TxError::Condition(i)) => Err(Error::internal(format!(
                "cancel transaction: condition {i} failed"
            ))),
            Err(TxError::Other(e)) => Err(e),
        }
    }
}
