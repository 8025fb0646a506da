//! Orders: the checkout transaction, payment, expiry.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};

use super::attrs::{b, get_b, get_json_opt, get_n, get_n_opt, get_s, item_key, json, n, s, Item};
use super::{keys, stock, unless_condition_failed, DynamoStore, TxError};
use crate::aws::describe;
use crate::error::{Error, Result};
use crate::model::{Order, OrderStatus, PaymentRecord, PaymentReference};
use crate::ports::{
    ExpiredReservation, Orders, PaidOutcome, Reservation, ReserveOutcome, ReversedOutcome,
};

pub(crate) fn order_item(o: &Order) -> Result<Item> {
    let mut i = item_key(&keys::order(&o.order_id), keys::ORDER_SK);
    i.insert("type".into(), s("order"));
    i.insert("order_id".into(), s(&o.order_id));
    i.insert("event_id".into(), s(&o.event_id));
    i.insert("tier_id".into(), s(&o.tier_id));
    i.insert("quantity".into(), n(o.quantity));
    i.insert("unit_price_minor".into(), n(o.unit_price_minor));
    i.insert("amount_minor".into(), n(o.amount_minor));
    i.insert("currency".into(), s(&o.currency));
    i.insert("status".into(), s(o.status.as_str()));
    i.insert("customer_id".into(), s(&o.customer_id));
    i.insert("created_at".into(), n(o.created_at));
    i.insert("expires_at".into(), n(o.expires_at));
    i.insert("buyer_sealed".into(), b(&o.buyer_sealed));
    i.insert("access_token_hash".into(), b(&o.access_token_hash));
    i.insert("access_token_sealed".into(), b(&o.access_token_sealed));
    i.insert("consent".into(), json(&o.consent)?);
    i.insert("payment_provider".into(), s(&o.payment_provider));
    if let Some(p) = &o.payment {
        i.insert("payment".into(), json(p)?);
    }
    if let Some(p) = &o.paid {
        i.insert("paid".into(), json(p)?);
    }
    if let Some(p) = &o.refund_due {
        i.insert("refund_due".into(), json(p)?);
    }
    if let Some(t) = o.minted_at {
        i.insert("minted_at".into(), n(t));
    }
    if let Some(r) = &o.reversal {
        i.insert("reversal".into(), json(r)?);
    }
    // An order waiting for its step-up code holds stock too: the sweeper releases it alike.
    if matches!(
        o.status,
        OrderStatus::Reserved | OrderStatus::VerificationRequired
    ) {
        i.insert("gsi1pk".into(), s(keys::RESERVED));
        i.insert(
            "gsi1sk".into(),
            s(keys::reserved_sk(o.expires_at, &o.order_id)),
        );
    }
    Ok(i)
}

pub(crate) fn order_from(i: &Item) -> Result<Order> {
    Ok(Order {
        order_id: get_s(i, "order_id")?,
        event_id: get_s(i, "event_id")?,
        tier_id: get_s(i, "tier_id")?,
        quantity: get_n(i, "quantity")?,
        unit_price_minor: get_n(i, "unit_price_minor")?,
        amount_minor: get_n(i, "amount_minor")?,
        currency: get_s(i, "currency")?,
        status: OrderStatus::parse(&get_s(i, "status")?)?,
        customer_id: get_s(i, "customer_id")?,
        created_at: get_n(i, "created_at")?,
        expires_at: get_n(i, "expires_at")?,
        buyer_sealed: get_b(i, "buyer_sealed")?,
        access_token_hash: get_b(i, "access_token_hash")?,
        access_token_sealed: get_b(i, "access_token_sealed")?,
        consent: get_json_opt(i, "consent")?
            .ok_or_else(|| Error::internal("order without consent"))?,
        payment_provider: get_s(i, "payment_provider")?,
        payment: get_json_opt(i, "payment")?,
        paid: get_json_opt(i, "paid")?,
        refund_due: get_json_opt(i, "refund_due")?,
        minted_at: get_n_opt(i, "minted_at"),
        reversal: get_json_opt(i, "reversal")?,
    })
}

pub(super) fn update(
    store: &DynamoStore,
    pk: &str,
    sk: &str,
    expression: &str,
    condition: Option<&str>,
    values: Vec<(&str, AttributeValue)>,
    names: Vec<(&str, &str)>,
) -> Result<TransactWriteItem> {
    let mut u = Update::builder()
        .table_name(store.table())
        .set_key(Some(item_key(pk, sk)))
        .update_expression(expression)
        .set_condition_expression(condition.map(str::to_owned));
    for (k, v) in values {
        u = u.expression_attribute_values(k, v);
    }
    for (k, v) in names {
        u = u.expression_attribute_names(k, v);
    }
    Ok(TransactWriteItem::builder()
        .update(u.build().map_err(Error::internal)?)
        .build())
}

impl DynamoStore {
    /// The writes that give a reservation's seats back: to its stock shard and off the buyer's
    /// per-event count (with the order's own conditional change, in one transaction).
    pub(super) fn seats_back(&self, r: &ExpiredReservation) -> Result<Vec<TransactWriteItem>> {
        let mut items = vec![update(
            self,
            &keys::customer(&r.customer_id),
            &keys::customer_limit(&r.event_id),
            "ADD held :neg",
            None,
            vec![(":neg", n(-i64::from(r.quantity)))],
            vec![],
        )?];
        items.extend(self.return_to_shard(&r.event_id, &r.tier_id, r.stock_shard, r.quantity)?);
        Ok(items)
    }

    /// One attempt of the checkout transaction (the stock shard at index 1, the order at 3).
    async fn reserve_on(
        &self,
        r: &Reservation,
        items: Vec<TransactWriteItem>,
    ) -> Result<ReserveOutcome> {
        match self.transact(items).await {
            Ok(()) => Ok(ReserveOutcome::Created),
            Err(TxError::Condition(0)) => {
                let rec = self
                    .get_item(&keys::idempotency(&r.idempotency_key_hash), "IDEMPOTENCY")
                    .await?
                    .ok_or_else(|| Error::unavailable("idempotency record not readable yet"))?;
                Ok(ReserveOutcome::Replayed {
                    order_id: get_s(&rec, "order_id")?,
                    request_hash: get_s(&rec, "request_hash")?,
                })
            }
            Err(TxError::Condition(1)) => Err(Error::SoldOut),
            Err(TxError::Condition(2)) => Err(Error::LimitExceeded(format!(
                "at most {} tickets per buyer for this event",
                r.max_per_buyer
            ))),
            Err(TxError::Condition(6 | 7)) => Ok(ReserveOutcome::CustomerExists),
            Err(TxError::Condition(i)) => Err(Error::internal(format!(
                "checkout transaction: condition {i} failed"
            ))),
            Err(TxError::Other(e)) => Err(e),
        }
    }
}

#[async_trait]
impl Orders for DynamoStore {
    async fn idempotent_order(
        &self,
        idempotency_key_hash: &str,
    ) -> Result<Option<(String, String)>> {
        let Some(rec) = self
            .get_item(&keys::idempotency(idempotency_key_hash), "IDEMPOTENCY")
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((
            get_s(&rec, "order_id")?,
            get_s(&rec, "request_hash")?,
        )))
    }

    async fn reserve(&self, r: &Reservation) -> Result<ReserveOutcome> {
        let o = &r.order;
        let q = o.quantity;
        if q == 0 || q > r.max_per_buyer {
            return Err(Error::LimitExceeded(format!(
                "at most {} tickets per buyer for this event",
                r.max_per_buyer
            )));
        }
        let new = Some("attribute_not_exists(pk)");
        let customer_pk = keys::customer(&o.customer_id);

        // 0: idempotency record
        let mut idem = item_key(&keys::idempotency(&r.idempotency_key_hash), "IDEMPOTENCY");
        idem.insert("order_id".into(), s(&o.order_id));
        idem.insert("request_hash".into(), s(&r.request_hash));
        idem.insert("ttl".into(), n(r.idempotency_expires_at));
        // 1: stock (a shard, chosen below)
        // 2: per-buyer counter
        let limit = update(
            self,
            &customer_pk,
            &keys::customer_limit(&o.event_id),
            "ADD held :q SET event_id = :e",
            Some("attribute_not_exists(held) OR held <= :max"),
            vec![
                (":q", n(q)),
                (":e", s(&o.event_id)),
                (":max", n(r.max_per_buyer - q)),
            ],
            vec![],
        )?;
        // 3: the order
        let order = order_item(o)?;
        // 4: customer -> order link
        let mut link = item_key(&customer_pk, &format!("ORDER#{}", o.order_id));
        link.insert("order_id".into(), s(&o.order_id));
        link.insert("event_id".into(), s(&o.event_id));
        link.insert("created_at".into(), n(o.created_at));
        // 5: consent record (latest acceptance of this policy version)
        let mut consent = item_key(
            &customer_pk,
            &keys::consent("privacy_policy", &o.consent.privacy_policy_version),
        );
        consent.insert("kind".into(), s("privacy_policy"));
        consent.insert("version".into(), s(&o.consent.privacy_policy_version));
        consent.insert("accepted_at".into(), n(o.consent.accepted_at));
        consent.insert(
            "marketing".into(),
            AttributeValue::Bool(o.consent.marketing),
        );
        consent.insert("order_id".into(), s(&o.order_id));

        let mut items = vec![
            self.put(idem, new)?,
            limit,
            self.put(link, None)?,
            self.put(consent, None)?,
        ];
        if let Some(c) = &r.new_customer {
            let mut key = item_key(&customer_pk, keys::CUSTOMER_KEY_SK);
            key.insert("type".into(), s("customer"));
            key.insert("customer_id".into(), s(&o.customer_id));
            key.insert("wrapped_key".into(), b(&c.wrapped_key));
            key.insert("email_sealed".into(), b(&c.email_sealed));
            key.insert("created_at".into(), n(o.created_at));
            let mut index = item_key(&keys::email(&c.email_index), "EMAIL");
            index.insert("customer_id".into(), s(&o.customer_id));
            items.push(self.put(key, new)?);
            items.push(self.put(index, new)?);
        }
        // Sold out from the tier item alone; else the shards from a random start (the order id
        // is random), moving on while a shard lacks the quantity.
        let meta = self.stock_meta(&o.event_id, &o.tier_id).await?;
        if meta.sold_out() {
            return Err(Error::SoldOut);
        }
        let shards = match meta.shards {
            None => vec![0],
            Some(n) => stock::try_order(n, &meta.empty, stock::draw_from(&o.order_id)),
        };
        for k in shards {
            let mut attempt = items.clone();
            let mut order = order.clone();
            if meta.shards.is_some() {
                order.insert("stock_shard".into(), n(k));
            }
            attempt.insert(
                1,
                self.take_from_shard(&o.event_id, &o.tier_id, meta.shards, k, q)?,
            );
            attempt.insert(3, self.put(order, new)?);
            match self.reserve_on(r, attempt).await {
                Err(Error::SoldOut) if meta.shards.is_some() => {
                    self.mark_empty(&o.event_id, &o.tier_id, k).await?;
                }
                other => return other,
            }
        }
        Err(Error::SoldOut)
    }

    async fn get_order(&self, order_id: &str) -> Result<Option<Order>> {
        self.get_item(&keys::order(order_id), keys::ORDER_SK)
            .await?
            .map(|i| order_from(&i))
            .transpose()
    }

    async fn set_payment_reference(
        &self,
        order_id: &str,
        payment: &PaymentReference,
    ) -> Result<bool> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
            .update_expression("SET payment = :p")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(payment)")
            .expression_attribute_values(":p", json(payment)?)
            .send()
            .await;
        Ok(unless_condition_failed("UpdateItem", res)?.is_some())
    }

    async fn mark_paid(&self, order_id: &str, payment: &PaymentRecord) -> Result<PaidOutcome> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
            .update_expression("SET #st = :paid, paid = :rec REMOVE gsi1pk, gsi1sk")
            .condition_expression(
                "#st = :reserved AND amount_minor = :amount AND currency = :currency \
                 AND payment_provider = :provider",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":reserved", s(OrderStatus::Reserved.as_str()))
            .expression_attribute_values(":rec", json(payment)?)
            .expression_attribute_values(":amount", n(payment.amount_minor))
            .expression_attribute_values(":currency", s(&payment.currency))
            .expression_attribute_values(":provider", s(&payment.provider))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        if let Some(out) = unless_condition_failed("UpdateItem", res)? {
            let item = out
                .attributes
                .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?;
            return Ok(PaidOutcome::Paid(order_from(&item)?));
        }
        let order = self.get_order(order_id).await?.ok_or(Error::NotFound)?;
        if order.amount_minor != payment.amount_minor || order.currency != payment.currency {
            return Err(Error::Conflict(
                "payment amount or currency does not match the order".into(),
            ));
        }
        if order.payment_provider != payment.provider {
            return Err(Error::Conflict(
                "payment is not from the order's payment provider".into(),
            ));
        }
        match order.status {
            OrderStatus::Paid
            | OrderStatus::Minted
            | OrderStatus::Refunded
            | OrderStatus::Disputed
                if order.paid.as_ref().is_some_and(|p| {
                    p.provider == payment.provider && p.provider_ref == payment.provider_ref
                }) =>
            {
                Ok(PaidOutcome::AlreadyPaid(order))
            }
            // A different payment for a paid order, or any payment for an expired/cancelled
            // order: owed back. Recorded once.
            OrderStatus::Paid
            | OrderStatus::Minted
            | OrderStatus::Refunded
            | OrderStatus::Disputed
            | OrderStatus::Expired
            | OrderStatus::Cancelled => {
                let res = self
                    .client()
                    .update_item()
                    .table_name(self.table())
                    .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
                    .update_expression("SET refund_due = :rec")
                    .condition_expression("attribute_not_exists(refund_due)")
                    .expression_attribute_values(":rec", json(payment)?)
                    .send()
                    .await;
                // A failed condition: the refund was recorded before.
                unless_condition_failed("UpdateItem", res)?;
                let order = self.get_order(order_id).await?.ok_or(Error::NotFound)?;
                Ok(PaidOutcome::RefundDue(order))
            }
            OrderStatus::Reserved => Err(Error::unavailable("order changed during payment; retry")),
            // No payment session exists before the step-up code: a payment cannot be this
            // order's.
            OrderStatus::VerificationRequired => Err(Error::Conflict(
                "payment for an order still waiting for verification".into(),
            )),
        }
    }

    async fn mark_reversed(
        &self,
        order_id: &str,
        paid: &PaymentRecord,
        status: OrderStatus,
        reversal: &crate::model::Reversal,
    ) -> Result<ReversedOutcome> {
        let partial = !matches!(status, OrderStatus::Refunded | OrderStatus::Disputed);
        // The paid record is compared whole (provider, reference, amount, currency, time): the
        // reversal applies to exactly the payment the handler checked.
        let (expression, condition) = if partial {
            (
                "SET reversal = :rev",
                "#st IN (:paid, :minted) AND paid = :rec AND payment_provider = :provider \
                 AND currency = :currency AND amount_minor >= :amount",
            )
        } else {
            (
                "SET #st = :new, reversal = :rev",
                "#st IN (:paid, :minted) AND paid = :rec AND payment_provider = :provider \
                 AND currency = :currency AND amount_minor >= :amount",
            )
        };
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":minted", s(OrderStatus::Minted.as_str()))
            .expression_attribute_values(":rec", json(paid)?)
            .expression_attribute_values(":rev", json(reversal)?)
            .expression_attribute_values(":provider", s(&reversal.provider))
            .expression_attribute_values(":currency", s(&reversal.currency))
            .expression_attribute_values(":amount", n(reversal.amount_minor))
            .return_values(ReturnValue::AllNew);
        if !partial {
            req = req.expression_attribute_values(":new", s(status.as_str()));
        }
        if let Some(out) = unless_condition_failed("UpdateItem", req.send().await)? {
            let item = out
                .attributes
                .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?;
            let order = order_from(&item)?;
            return Ok(if partial {
                ReversedOutcome::PartialRecorded(order)
            } else {
                ReversedOutcome::Reversed(order)
            });
        }
        let order = self.get_order(order_id).await?.ok_or(Error::NotFound)?;
        match order.status {
            OrderStatus::Refunded | OrderStatus::Disputed => Ok(ReversedOutcome::Already(order)),
            OrderStatus::Paid | OrderStatus::Minted => Err(Error::Conflict(
                "the reversal does not match the order's payment".into(),
            )),
            other => Err(Error::Conflict(format!(
                "order is {} and cannot be refunded or disputed",
                other.as_str()
            ))),
        }
    }

    async fn link_payment(&self, provider: &str, payment_id: &str, order_id: &str) -> Result<()> {
        let mut item = item_key(&keys::payment(provider, payment_id), "PAYMENT");
        item.insert("type".into(), s("payment_link"));
        item.insert("order_id".into(), s(order_id));
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            // Never repoint a payment at another order.
            .condition_expression("attribute_not_exists(pk) OR order_id = :o")
            .expression_attribute_values(":o", s(order_id))
            .send()
            .await;
        if unless_condition_failed("PutItem", res)?.is_none() {
            return Err(Error::Conflict("payment is linked to another order".into()));
        }
        Ok(())
    }

    async fn order_of_payment(&self, provider: &str, payment_id: &str) -> Result<Option<String>> {
        self.get_item(&keys::payment(provider, payment_id), "PAYMENT")
            .await?
            .map(|i| get_s(&i, "order_id"))
            .transpose()
    }

    async fn expired_reservations(&self, now: u64, limit: u32) -> Result<Vec<ExpiredReservation>> {
        let mut found = Vec::new();
        let mut start = None;
        let upper = format!("{now:012}#~");
        for _ in 0..100 {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :r AND gsi1sk <= :upper")
                .expression_attribute_values(":r", s(keys::RESERVED))
                .expression_attribute_values(":upper", s(&upper))
                .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::unavailable(format!("dynamodb Query: {}", describe(&e))))?;
            for i in out.items.unwrap_or_default() {
                found.push(ExpiredReservation {
                    order_id: get_s(&i, "order_id")?,
                    event_id: get_s(&i, "event_id")?,
                    tier_id: get_s(&i, "tier_id")?,
                    customer_id: get_s(&i, "customer_id")?,
                    quantity: get_n(&i, "quantity")?,
                    expires_at: get_n(&i, "expires_at")?,
                    stock_shard: get_n_opt(&i, "stock_shard"),
                });
            }
            if found.len() >= limit as usize {
                found.truncate(limit as usize);
                break;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(found)
    }

    async fn release(&self, r: &ExpiredReservation, now: u64) -> Result<bool> {
        let order = update(
            self,
            &keys::order(&r.order_id),
            keys::ORDER_SK,
            "SET #st = :expired, released_at = :now REMOVE gsi1pk, gsi1sk",
            Some(
                "#st IN (:reserved, :verifying) AND expires_at <= :now AND quantity = :q \
                 AND tier_id = :t",
            ),
            vec![
                (":expired", s(OrderStatus::Expired.as_str())),
                (":reserved", s(OrderStatus::Reserved.as_str())),
                (":verifying", s(OrderStatus::VerificationRequired.as_str())),
                (":now", n(now)),
                (":q", n(r.quantity)),
                (":t", s(&r.tier_id)),
            ],
            vec![("#st", "status")],
        )?;
        let mut items = vec![order];
        items.extend(self.seats_back(r)?);
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Condition(0)) => Ok(false),
            Err(TxError::Condition(i)) => Err(Error::internal(format!(
                "release transaction: condition {i} failed"
            ))),
            Err(TxError::Other(e)) => Err(e),
        }
    }
}
