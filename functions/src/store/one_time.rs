//! The one-time codes' shared write: counting a guess. Privacy challenges
//! (`PRIVACY#<id>/CHALLENGE`) and step-up codes (`ORDER#<id>/STEPUP`) keep the same attributes
//! (`code_mac`, `attempts`, `used`, `expires_at`), so one conditional write serves both.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::attrs::{n, Item};
use super::{unless_condition_failed, DynamoStore};
use crate::error::{Error, Result};

/// The outcome of counting one guess at a code.
pub(super) enum Guess {
    /// Counted; the item after the count (the caller compares the code).
    Counted(Item),
    /// Not counted; the item as read after the refusal (`None`: no such code), from which the
    /// caller words its answer (only the wording depends on this read).
    Refused(Option<Item>),
}

impl DynamoStore {
    /// Counts a guess at the code item `key` with ONE conditional write: concurrent guesses are
    /// each counted, none past `max_attempts`, after use, or at or after `expires_at`.
    pub(super) async fn count_guess(
        &self,
        key: Item,
        max_attempts: u32,
        now: u64,
    ) -> Result<Guess> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key.clone()))
            .update_expression("SET attempts = attempts + :one")
            .condition_expression(
                "attribute_exists(pk) AND used = :f AND attempts < :max AND expires_at > :now",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":max", n(max_attempts))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        if let Some(out) = unless_condition_failed("UpdateItem", res)? {
            let item = out
                .attributes
                .ok_or_else(|| Error::internal("UpdateItem returned no attributes"))?;
            return Ok(Guess::Counted(item));
        }
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
            (key.get("pk"), key.get("sk"))
        else {
            return Err(Error::internal("count_guess: key without pk/sk"));
        };
        Ok(Guess::Refused(self.get_item(pk, sk).await?))
    }
}
