//! DynamoDB adapter of [`PrivacyRecords`]: consent history (`CUSTOMER#<cid>/CONSENT#...`), the
//! email blind index (`EMAIL#<index>`) and one-time-code challenges
//! (`PRIVACY_CHALLENGE#<id>/CHALLENGE`: a keyed MAC of the code, never the code).

use aws_sdk_dynamodb::types::AttributeValue;

use async_trait::async_trait;

use crate::aws::describe;
use crate::error::{Error, Result};
use crate::privacy::{AttemptOutcome, ConsentRecord, PrivacyRecords, StoredChallenge};

use super::attrs::{get_bool, get_n, get_n_opt, get_s, get_s_opt, item_key, n, s, Item};
use super::one_time::Guess;
use super::{keys, unless_condition_failed, DynamoStore};

const CHALLENGE_SK: &str = "CHALLENGE";
/// A challenge item outlives its expiry by a day (TTL deletes it), long enough to answer
/// "expired" rather than "unknown" and to keep the attempt count of a recent challenge.
const CHALLENGE_KEEP_SECS: u64 = 86_400;

fn challenge_from(item: &Item) -> Result<StoredChallenge> {
    Ok(StoredChallenge {
        challenge_id: get_s(item, "challenge_id")?,
        email_index: get_s(item, "email_index")?,
        customer_id: get_s_opt(item, "customer_id"),
        code_mac: get_s(item, "code_mac")?,
        expires_at: get_n(item, "expires_at")?,
        attempts: get_n(item, "attempts")?,
    })
}

#[async_trait]
impl PrivacyRecords for DynamoStore {
    async fn consents(&self, customer_id: &str) -> Result<Vec<ConsentRecord>> {
        let items = self
            .query_prefix(&keys::customer(customer_id), "CONSENT#", 1000)
            .await?;
        let mut records: Vec<ConsentRecord> = items
            .iter()
            .map(|i| {
                let kind = get_s_opt(i, "kind").unwrap_or_default();
                // Checkout writes privacy-policy acceptances (`accepted_at`, always given);
                // this function writes marketing decisions (`at`, `granted`).
                let policy = kind == "privacy_policy";
                let granted = policy || get_bool(i, "granted") == Some(true);
                ConsentRecord {
                    version: get_s_opt(i, "version"),
                    granted,
                    at: get_n_opt(i, if policy { "accepted_at" } else { "at" }).unwrap_or(0),
                    order_id: get_s_opt(i, "order_id"),
                    kind,
                }
            })
            .collect();
        records.sort_by_key(|r| r.at);
        Ok(records)
    }

    async fn put_consent(&self, customer_id: &str, record: &ConsentRecord) -> Result<()> {
        let sk = format!("CONSENT#{}#{:012}", record.kind, record.at);
        let mut item = item_key(&keys::customer(customer_id), &sk);
        item.insert("kind".into(), s(&record.kind));
        item.insert("granted".into(), AttributeValue::Bool(record.granted));
        item.insert("at".into(), n(record.at));
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb PutItem: {}", describe(&e))))?;
        Ok(())
    }

    async fn forget_email_index(&self, email_index: &str) -> Result<()> {
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(item_key(&keys::email(email_index), "EMAIL")))
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("dynamodb DeleteItem: {}", describe(&e))))?;
        Ok(())
    }

    async fn put_challenge(&self, challenge: &StoredChallenge) -> Result<()> {
        let mut item = item_key(
            &keys::privacy_challenge(&challenge.challenge_id),
            CHALLENGE_SK,
        );
        item.insert("challenge_id".into(), s(&challenge.challenge_id));
        item.insert("email_index".into(), s(&challenge.email_index));
        if let Some(customer_id) = &challenge.customer_id {
            item.insert("customer_id".into(), s(customer_id));
        }
        item.insert("code_mac".into(), s(&challenge.code_mac));
        item.insert("expires_at".into(), n(challenge.expires_at));
        item.insert("attempts".into(), n(challenge.attempts));
        item.insert("used".into(), AttributeValue::Bool(false));
        item.insert("ttl".into(), n(challenge.expires_at + CHALLENGE_KEEP_SECS));
        let res = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match unless_condition_failed("PutItem", res)? {
            Some(_) => Ok(()),
            None => Err(Error::internal("challenge id collision")),
        }
    }

    async fn count_attempt(
        &self,
        challenge_id: &str,
        max_attempts: u32,
        now: u64,
    ) -> Result<AttemptOutcome> {
        let key = item_key(&keys::privacy_challenge(challenge_id), CHALLENGE_SK);
        Ok(match self.count_guess(key, max_attempts, now).await? {
            Guess::Counted(item) => AttemptOutcome::Counted(challenge_from(&item)?),
            Guess::Refused(Some(i))
                if get_bool(&i, "used") == Some(false)
                    && get_n_opt::<u64>(&i, "expires_at").is_some_and(|e| e > now)
                    && get_n_opt::<u32>(&i, "attempts").is_some_and(|a| a >= max_attempts) =>
            {
                AttemptOutcome::Exhausted
            }
            Guess::Refused(_) => AttemptOutcome::Closed,
        })
    }

    async fn consume_challenge(&self, challenge_id: &str) -> Result<bool> {
        let res = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(item_key(
                &keys::privacy_challenge(challenge_id),
                CHALLENGE_SK,
            )))
            .update_expression("SET used = :t")
            .condition_expression("used = :f")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .send()
            .await;
        Ok(unless_condition_failed("UpdateItem", res)?.is_some())
    }
}
