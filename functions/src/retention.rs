//! retention (schedule, daily): shreds the personal data of customers whose every event ended
//! more than `RETENTION_DAYS` ago. Same crypto-shredding as a privacy delete: the customer's
//! wrapped data key and sealed email go, the email index is forgotten; orders remain as
//! pseudonymised financial records. Idempotent and bounded: at most [`MAX_PER_RUN`] customers per
//! run (the next run continues).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::deps::Deps;
use crate::error::Result;
use crate::privacy::PrivacyRecords;

/// Customers shredded per run at most.
pub const MAX_PER_RUN: usize = 1000;

/// Which events each customer bought for (from the `CUSTOMER#<cid>/ORDER#<oid>` links).
#[async_trait]
pub trait CustomerEvents: Send + Sync {
    /// `(customer_id, event_id)` pairs, at most `limit`.
    async fn customer_events(&self, limit: usize) -> Result<Vec<(String, String)>>;
}

/// Pure: the customers all of whose events ended before `now - retention_secs`. An event whose
/// end is unknown keeps its customers (never shred on missing data).
pub fn customers_past_retention(
    links: &[(String, String)],
    event_ends: &BTreeMap<String, u64>,
    now: u64,
    retention_secs: u64,
) -> Vec<String> {
    let cutoff = now.saturating_sub(retention_secs);
    let mut by_customer: BTreeMap<&str, bool> = BTreeMap::new();
    for (customer, event) in links {
        let past = event_ends.get(event).is_some_and(|end| *end < cutoff);
        let entry = by_customer.entry(customer.as_str()).or_insert(true);
        *entry &= past;
    }
    by_customer
        .into_iter()
        .filter(|&(_, past)| past)
        .map(|(c, _)| c.to_owned())
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub examined: usize,
    pub shredded: usize,
}

/// One retention run.
pub async fn run(
    deps: &Deps,
    links_source: &dyn CustomerEvents,
    records: &Arc<dyn PrivacyRecords>,
) -> Result<RetentionReport> {
    let now = deps.clock.now();
    let retention_secs = deps.config.retention_days.saturating_mul(86_400);
    let links = links_source.customer_events(100_000).await?;
    let events: BTreeSet<&String> = links.iter().map(|(_, e)| e).collect();
    let mut ends = BTreeMap::new();
    for event_id in events {
        if let Some(event) = deps.events.get_event(event_id).await? {
            ends.insert(event_id.clone(), event.ends_at);
        }
    }
    let candidates = customers_past_retention(&links, &ends, now, retention_secs);
    let mut report = RetentionReport {
        examined: candidates.len(),
        shredded: 0,
    };
    for customer_id in candidates.into_iter().take(MAX_PER_RUN) {
        let Some(record) = deps.customers.get_customer(&customer_id).await? else {
            continue;
        };
        if record.wrapped_key.is_none() {
            continue; // already shredded
        }
        // Forget the email index first (it needs the readable address), then the key.
        if let Some(sealed) = record.email_sealed.as_deref() {
            let key = deps.pii.customer_key(&record).await?;
            let email = key.open(crate::checkout::EMAIL_FIELD, sealed)?;
            let index = deps
                .pii
                .email_index(&String::from_utf8_lossy(&email))
                .await?;
            records.forget_email_index(&index).await?;
        }
        deps.customers.shred_customer(&customer_id).await?;
        report.shredded += 1;
        tracing::info!(customer_id = %customer_id, "retention: customer data shredded");
    }
    Ok(report)
}

/// DynamoDB adapter of [`CustomerEvents`]: a bounded, paginated scan of the customer-order
/// links (a daily batch job).
pub mod dynamo {
    use async_trait::async_trait;
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::CustomerEvents;
    use crate::error::{Error, Result};
    use crate::store::DynamoStore;

    #[async_trait]
    impl CustomerEvents for DynamoStore {
        async fn customer_events(&self, limit: usize) -> Result<Vec<(String, String)>> {
            let mut out = Vec::new();
            let mut start = None;
            // Bounded: at most 1000 pages.
            for _ in 0..1000 {
                let page = self
                    .client()
                    .scan()
                    .table_name(self.table())
                    .filter_expression("begins_with(pk, :c) AND begins_with(sk, :o)")
                    .expression_attribute_values(":c", AttributeValue::S("CUSTOMER#".into()))
                    .expression_attribute_values(":o", AttributeValue::S("ORDER#".into()))
                    .projection_expression("pk, event_id")
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| Error::unavailable(format!("dynamodb Scan: {e}")))?;
                for item in page.items() {
                    let customer = item
                        .get("pk")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|pk| pk.strip_prefix("CUSTOMER#"));
                    let event = item.get("event_id").and_then(|v| v.as_s().ok());
                    if let (Some(c), Some(e)) = (customer, event) {
                        out.push((c.to_owned(), e.clone()));
                    }
                }
                if out.len() >= limit {
                    out.truncate(limit);
                    break;
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_customers_whose_every_event_is_past_retention() {
        let links = vec![
            ("c1".to_owned(), "old".to_owned()),
            ("c2".to_owned(), "old".to_owned()),
            ("c2".to_owned(), "new".to_owned()),
            ("c3".to_owned(), "unknown".to_owned()),
            ("c4".to_owned(), "edge".to_owned()),
        ];
        let ends = BTreeMap::from([
            ("old".to_owned(), 1_000),
            ("new".to_owned(), 9_000),
            ("edge".to_owned(), 5_000),
        ]);
        // cutoff = 10_000 - 5_000 = 5_000: "edge" ended exactly at the cutoff and stays.
        assert_eq!(
            customers_past_retention(&links, &ends, 10_000, 5_000),
            vec!["c1".to_owned()]
        );
        assert!(customers_past_retention(&links, &ends, 10_000, 10_000).is_empty());
    }
}
