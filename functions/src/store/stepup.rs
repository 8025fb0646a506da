//! DynamoDB adapter of [`StepUps`]: `ORDER#<id>/STEPUP`, a keyed MAC of the order's current
//! one-time code (never the code), its expiry, the guesses and sends counted.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::attrs::{get_bool, get_n, get_n_opt, get_s, item_key, n, s, Item};
use super::one_time::Guess;
use super::{keys, unless_condition_failed, DynamoStore, TxError};
use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::ports::{Channel, Lang};
use crate::sale::stepup::{StepUpAttempt, StepUps, StoredStepUp};

const STEPUP_SK: &str = "STEPUP";
/// A step-up item outlives its code by a day (TTL deletes it): long enough to answer "expired"
/// and to keep the guesses of a live order counted.
const KEEP_SECS: u64 = 86_400;

fn step_up_from(item: &Item) -> Result<StoredStepUp> {
    Ok(StoredStepUp {
        order_id: get_s(item, "order_id")?,
        customer_id: get_s(item, "customer_id")?,
        code_mac: get_s(item, "code_mac")?,
        channel: Channel::parse(&get_s(item, "channel")?)
            .ok_or_else(|| Error::internal("step-up: unknown channel"))?,
        lang: Lang::parse(&get_s(item, "lang")?)
            .ok_or_else(|| Error::internal("step-up: unknown language"))?,
        expires_at: get_n(item, "expires_at")?,
        attempts: get_n(item, "attempts")?,
        sends: get_n(item, "sends")?,
        sent_at: get_n(item, "sent_at")?,
    })
}

fn key(order_id: &str) -> Item {
    item_key(&keys::order(order_id), STEPUP_SK)
}

#[async_trait]
impl StepUps for DynamoStore {
    async fn put_step_up(&self, st: &StoredStepUp) -> Result<bool> {
        let mut item = key(&st.order_id);
        item.insert("type".into(), s("step_up"));
        item.insert("order_id".into(), s(&st.order_id));
        item.insert("customer_id".into(), s(&st.customer_id));
        item.insert("code_mac".into(), s(&st.code_mac));
        item.insert("channel".into(), s(st.channel.as_str()));
        item.insert("lang".into(), s(st.lang.as_str()));
        item.insert("expires_at".into(), n(st.expires_at));
        item.insert("attempts".into(), n(st.attempts));
        item.insert("sends".into(), n(st.sends));
        item.insert("sent_at".into(), n(st.sent_at));
        item.insert("used".into(), AttributeValue::Bool(false));
        item.insert("ttl".into(), n(st.expires_at + KEEP_SECS));
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        Ok(unless_condition_failed("PutItem", res)?.is_some())
    }

    async fn count_step_up_attempt(
        &self,
        order_id: &str,
        max_attempts: u32,
        now: u64,
    ) -> Result<StepUpAttempt> {
        let item = match self.count_guess(key(order_id), max_attempts, now).await? {
            Guess::Counted(item) => return Ok(StepUpAttempt::Counted(step_up_from(&item)?)),
            Guess::Refused(None) => return Ok(StepUpAttempt::Closed),
            Guess::Refused(Some(item)) => item,
        };
        if get_bool(&item, "used") != Some(false) {
            return Ok(StepUpAttempt::Closed);
        }
        if get_n_opt::<u32>(&item, "attempts").is_some_and(|a| a >= max_attempts) {
            return Ok(StepUpAttempt::Exhausted);
        }
        Ok(StepUpAttempt::Expired)
    }

    async fn complete_step_up(&self, order_id: &str, now: u64) -> Result<bool> {
        let used = aws_sdk_dynamodb::types::Update::builder()
            .table_name(self.table())
            .set_key(Some(key(order_id)))
            .update_expression("SET used = :t")
            .condition_expression("used = :f AND expires_at > :now")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(Error::internal)?;
        let order = aws_sdk_dynamodb::types::Update::builder()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::order(order_id), keys::ORDER_SK)))
            .update_expression("SET #st = :reserved")
            .condition_expression("#st = :verifying AND expires_at > :now")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":reserved", s(OrderStatus::Reserved.as_str()))
            .expression_attribute_values(
                ":verifying",
                s(OrderStatus::VerificationRequired.as_str()),
            )
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(Error::internal)?;
        let items = [used, order]
            .into_iter()
            .map(|u| {
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .update(u)
                    .build()
            })
            .collect();
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(TxError::Condition(_)) => Ok(false),
            Err(TxError::Other(e)) => Err(e),
        }
    }

    async fn replace_step_up_code(
        &self,
        order_id: &str,
        code_mac: &str,
        expires_at: u64,
        max_sends: u32,
        latest_sent_at: u64,
        now: u64,
    ) -> Result<Option<StoredStepUp>> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(order_id)))
            .update_expression(
                "SET code_mac = :mac, expires_at = :exp, sends = sends + :one, sent_at = :now, \
                 #ttl = :ttl",
            )
            .condition_expression(
                "attribute_exists(pk) AND used = :f AND sends < :max AND sent_at <= :latest",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":mac", s(code_mac))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":ttl", n(expires_at + KEEP_SECS))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":max", n(max_sends))
            .expression_attribute_values(":latest", n(latest_sent_at))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match unless_condition_failed("UpdateItem", res)? {
            Some(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?;
                Ok(Some(step_up_from(&item)?))
            }
            None => Ok(None),
        }
    }
}
