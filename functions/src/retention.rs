//! retention (schedule, daily): shreds the personal data of customers whose every event ended
//! more than `RETENTION_DAYS` ago. Same crypto-shredding as a privacy delete: the customer's
//! wrapped data key and sealed email go, the email index is forgotten; orders remain as
//! pseudonymised financial records. Idempotent and bounded: at most [`MAX_PER_RUN`] customers per
//! run (the next run continues).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Serialize;

use crate::deps::Deps;
use crate::error::Result;
use crate::ports::Erasure;
use crate::privacy::{replay_erasures, PrivacyRecords};

/// Customers shredded per run at most.
pub const MAX_PER_RUN: usize = 1000;
/// Customer-order links read per run at most.
pub const MAX_LINKS: usize = 100_000;

/// What the daily scan of the customer items finds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerLinks {
    /// `(customer_id, event_id)`: which events each customer bought for (from the
    /// `CUSTOMER#<cid>/ORDER#<oid>` links). Every link of a customer that appears is present.
    pub links: Vec<(String, String)>,
    /// Customers already shredded: never candidates again, so a run's work is the new ones.
    pub shredded: BTreeSet<String>,
}

/// Reads the customer-order links and the shredded customers.
#[async_trait]
pub trait CustomerEvents: Send + Sync {
    /// At most `limit` links; when the limit cuts a customer's links, that customer is left out
    /// entirely (never judged on part of their orders).
    async fn customer_events(&self, limit: usize) -> Result<CustomerLinks>;
}

/// Pure: the customers, not yet shredded, all of whose events ended before
/// `now - retention_secs`. An event whose end is unknown keeps its customers (never shred on
/// missing data).
pub fn customers_past_retention(
    found: &CustomerLinks,
    event_ends: &BTreeMap<String, u64>,
    now: u64,
    retention_secs: u64,
) -> Vec<String> {
    let cutoff = now.saturating_sub(retention_secs);
    let mut by_customer: BTreeMap<&str, bool> = BTreeMap::new();
    for (customer, event) in &found.links {
        let past = event_ends.get(event).is_some_and(|end| *end < cutoff);
        let entry = by_customer.entry(customer.as_str()).or_insert(true);
        *entry &= past;
    }
    by_customer
        .into_iter()
        .filter(|&(c, past)| past && !found.shredded.contains(c))
        .map(|(c, _)| c.to_owned())
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Customers past retention and not yet shredded.
    pub examined: usize,
    pub shredded: usize,
    /// Erased customers found back (a restore) and shredded again by the replay of the log.
    pub reshredded: usize,
}

/// One retention run: one scan, one read per distinct event, then at most [`MAX_PER_RUN`]
/// customers shredded (the next run continues with the rest).
pub async fn run(
    deps: &Deps,
    links_source: &dyn CustomerEvents,
    records: &dyn PrivacyRecords,
) -> Result<RetentionReport> {
    let now = deps.clock.now();
    // A restore since the last run brought erased customers back: shred them again first.
    let replay = replay_erasures(deps, records).await?;
    let retention_secs = deps.config.retention_days.saturating_mul(86_400);
    let found = links_source.customer_events(MAX_LINKS).await?;
    let events: BTreeSet<&String> = found.links.iter().map(|(_, e)| e).collect();
    let mut ends = BTreeMap::new();
    for event_id in events {
        if let Some(event) = deps.events.get_event(event_id).await? {
            ends.insert(event_id.clone(), event.ends_at);
        }
    }
    let candidates = customers_past_retention(&found, &ends, now, retention_secs);
    let mut report = RetentionReport {
        examined: candidates.len(),
        shredded: 0,
        reshredded: replay.reshredded,
    };
    for customer_id in candidates.into_iter().take(MAX_PER_RUN) {
        let Some(record) = deps.customers.get_customer(&customer_id).await? else {
            continue;
        };
        if record.wrapped_key.is_none() {
            continue; // shredded since the scan (a privacy delete)
        }
        // The email index needs the readable address: read it before anything goes.
        let index = match record.email_sealed.as_deref() {
            Some(sealed) => {
                let key = deps.pii.customer_key(&record).await?;
                let email = key.open(crate::checkout::EMAIL_FIELD, sealed)?;
                Some(
                    deps.pii
                        .email_index(&String::from_utf8_lossy(&email))
                        .await?,
                )
            }
            None => None,
        };
        deps.erasures
            .record(&Erasure {
                customer_id: customer_id.clone(),
                email_index: index.clone(),
                at: now,
            })
            .await?;
        if let Some(index) = &index {
            records.forget_email_index(index).await?;
        }
        deps.customers.shred_customer(&customer_id).await?;
        report.shredded += 1;
        tracing::info!(customer_id = %customer_id, "retention: customer data shredded");
    }
    Ok(report)
}

/// DynamoDB adapter of [`CustomerEvents`]: a bounded, paginated scan of the customer items
/// (the order links, and the key items marked `shredded`; a daily batch job).
pub mod dynamo {
    use async_trait::async_trait;
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::{CustomerEvents, CustomerLinks};
    use crate::error::{Error, Result};
    use crate::store::{keys, DynamoStore};

    #[async_trait]
    impl CustomerEvents for DynamoStore {
        async fn customer_events(&self, limit: usize) -> Result<CustomerLinks> {
            let mut found = CustomerLinks::default();
            let mut start = None;
            let mut complete = false;
            // Bounded: at most 1000 pages.
            for _ in 0..1000 {
                let page = self
                    .client()
                    .scan()
                    .table_name(self.table())
                    .filter_expression(
                        "begins_with(pk, :c) AND (begins_with(sk, :o) OR (sk = :k AND shredded = :t))",
                    )
                    .expression_attribute_values(":c", AttributeValue::S("CUSTOMER#".into()))
                    .expression_attribute_values(":o", AttributeValue::S("ORDER#".into()))
                    .expression_attribute_values(":k", AttributeValue::S(keys::CUSTOMER_KEY_SK.into()))
                    .expression_attribute_values(":t", AttributeValue::Bool(true))
                    .projection_expression("pk, sk, event_id")
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| Error::unavailable(format!("dynamodb Scan: {e}")))?;
                for item in page.items() {
                    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
                    let Some(customer) = text("pk").and_then(|pk| pk.strip_prefix("CUSTOMER#"))
                    else {
                        continue;
                    };
                    if text("sk").map(String::as_str) == Some(keys::CUSTOMER_KEY_SK) {
                        found.shredded.insert(customer.to_owned());
                    } else if let Some(event) = text("event_id") {
                        found.links.push((customer.to_owned(), event.clone()));
                    }
                }
                if found.links.len() >= limit {
                    break;
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => {
                        complete = true;
                        break;
                    }
                }
            }
            if !complete {
                // A scan returns a partition key's items together: only the last customer read
                // may have links beyond the cut. Leave them to a later run rather than judge
                // them on part of their orders.
                found.links.truncate(limit);
                if let Some((last, _)) = found.links.last().cloned() {
                    found.links.retain(|(c, _)| *c != last);
                }
            }
            Ok(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_customers_whose_every_event_is_past_retention() {
        let mut found = CustomerLinks {
            links: [
                ("c1", "old"),
                ("c2", "old"),
                ("c2", "new"),
                ("c3", "unknown"),
                ("c4", "edge"),
                ("c5", "old"),
            ]
            .into_iter()
            .map(|(c, e)| (c.to_owned(), e.to_owned()))
            .collect(),
            shredded: BTreeSet::from(["c5".to_owned()]),
        };
        let ends = BTreeMap::from([
            ("old".to_owned(), 1_000),
            ("new".to_owned(), 9_000),
            ("edge".to_owned(), 5_000),
        ]);
        // cutoff = 10_000 - 5_000 = 5_000: "edge" ended exactly at the cutoff and stays; c5 is
        // shredded already.
        assert_eq!(
            customers_past_retention(&found, &ends, 10_000, 5_000),
            vec!["c1".to_owned()]
        );
        assert!(customers_past_retention(&found, &ends, 10_000, 10_000).is_empty());
        found.shredded.clear();
        assert_eq!(
            customers_past_retention(&found, &ends, 10_000, 5_000),
            vec!["c1".to_owned(), "c5".to_owned()]
        );
    }
}
