//! Incident command: notify the affected customers. One `incident_notice` (the templated
//! message of `senders/templates`, in the buyer's language and channel as the notify function
//! chooses) per order of the event that was paid for, through the notification queue.
//!
//! Idempotent per (incident, order): an order recorded as notified ([`marker`], a conditional
//! write after the send) is skipped by a re-run, and the message's `dedupe_id` is the same
//! (incident, order), so even a send whose record was lost is delivered once by the notify
//! function. Erased buyers (shredded or unknown customers) are skipped and counted, never queued.
//! Rate-limited: at most `per_second` messages a second (a pause after each `per_second`), and
//! at most `max_orders` a run.

use std::collections::BTreeMap;
use std::future::Future;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::OrderStatus;
use crate::operations::mass_revoke::{check_incident_id, RECORD_SECS};
use crate::ports::{NotifyMessage, Topic};
use crate::store::DynamoStore;

/// The template sent.
pub const TEMPLATE: &str = "incident_notice";

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Messages queued by this run.
    pub queued: usize,
    /// Orders notified by an earlier run.
    pub already: usize,
    /// Orders whose buyer was erased.
    pub erased: usize,
    /// Orders left for the next run.
    pub remaining: usize,
}

/// The record of (incident, order) notified.
pub fn marker(incident_id: &str, order_id: &str) -> String {
    format!("incident-notice:{incident_id}:{order_id}")
}

/// Whether an order in `status` was paid for (its buyer is affected).
fn was_paid(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Paid | OrderStatus::Minted | OrderStatus::Refunded | OrderStatus::Disputed
    )
}

/// Notifies the buyers of `event_id`'s paid orders about `incident_id`. `pause` is awaited
/// after every `per_second` messages (a second in the CLI).
///
/// # Errors
/// `Invalid` for a bad incident id or rate; `NotFound` for an unknown event; the table's and
/// queue's failures (a re-run resumes).
pub async fn notify_customers<P, F>(
    deps: &Deps,
    store: &DynamoStore,
    incident_id: &str,
    event_id: &str,
    max_orders: usize,
    per_second: usize,
    pause: P,
) -> Result<Report>
where
    P: Fn() -> F,
    F: Future<Output = ()>,
{
    check_incident_id(incident_id)?;
    if per_second == 0 {
        return Err(Error::invalid("per_second", "at least 1"));
    }
    if deps.events.get_event(event_id).await?.is_none() {
        return Err(Error::NotFound);
    }
    let now = deps.clock.now();
    let mut report = Report::default();
    for order in store.event_orders(event_id).await? {
        if !was_paid(order.status) {
            continue;
        }
        let key = marker(incident_id, &order.order_id);
        if deps.dedup.is_claimed(&key).await? {
            report.already += 1;
            continue;
        }
        let erased = deps
            .customers
            .get_customer(&order.customer_id)
            .await?
            .is_none_or(|c| c.wrapped_key.is_none());
        if erased {
            report.erased += 1;
            continue;
        }
        if report.queued == max_orders {
            report.remaining += 1;
            continue;
        }
        if report.queued > 0 && report.queued % per_second == 0 {
            pause().await;
        }
        let msg = NotifyMessage {
            template: TEMPLATE.into(),
            customer_id: order.customer_id.clone(),
            order_id: Some(order.order_id.clone()),
            dedupe_id: format!("{TEMPLATE}:{incident_id}:{}", order.order_id),
            params: BTreeMap::from([("event_id".to_owned(), event_id.to_owned())]),
        };
        deps.queue
            .send(
                Topic::Notify,
                &serde_json::to_string(&msg).map_err(Error::internal)?,
            )
            .await?;
        deps.dedup.claim(&key, now + RECORD_SECS).await?;
        report.queued += 1;
    }
    tracing::info!(
        incident_id,
        event_id,
        queued = report.queued,
        already = report.already,
        erased = report.erased,
        remaining = report.remaining,
        "incident notices queued"
    );
    Ok(report)
}
