//! Incident command: mass revocation. Every ticket of an event (or of one tier, or of a list of
//! orders) is revoked at the door through the existing path: an [`IncidentRevokeMessage`] per
//! order on the revoke queue, which the revoke function turns into the edge's
//! `POST /v1/revocations` calls for the order's tickets (reason `incident`).
//!
//! Per order the command first records (incident, order) in the table ([`marker`], a claim),
//! then queues the message, then records it queued. The revoke function acts only on orders with
//! the record, so the queue's other producers cannot revoke by forging this message. Idempotent
//! and resumable: a re-run queues only the orders not recorded as queued (a crash between the
//! send and its record re-sends one order, and revoking twice is harmless). At most `max_orders`
//! orders per run: a run that stops short says how many remain.

use std::collections::BTreeSet;

use crate::audit_ingest::{append_record, AuditLog, Stream};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::is_id;
use crate::operations::pause::{action_record, check_text};
use crate::ports::{IncidentRevokeMessage, RevokeQueueMessage, Topic};
use crate::store::DynamoStore;

/// How long the records of a mass revocation are kept (a year: evidence).
pub const RECORD_SECS: u64 = 365 * 24 * 3600;

/// What to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every order with a ticket of `event_id` (of `tier`, if given).
    Event {
        event_id: String,
        tier: Option<String>,
    },
    /// These orders of `event_id` (from a file: one order id a line).
    Orders {
        event_id: String,
        order_ids: Vec<String>,
    },
}

impl Selection {
    fn event_id(&self) -> &str {
        match self {
            Self::Event { event_id, .. } | Self::Orders { event_id, .. } => event_id,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Orders selected.
    pub orders: usize,
    /// Orders queued by this run.
    pub queued: usize,
    /// Orders queued by an earlier run (skipped).
    pub already: usize,
    /// Orders left for the next run (`max_orders` reached).
    pub remaining: usize,
}

/// The record that authorises the revoke function to revoke `order_id`'s tickets.
pub fn marker(incident_id: &str, order_id: &str) -> String {
    format!("incident-revoke:{incident_id}:{order_id}")
}

fn queued_marker(incident_id: &str, order_id: &str) -> String {
    format!("incident-revoke-queued:{incident_id}:{order_id}")
}

/// An incident id: 1-64 of `[a-z0-9-]` (it names records and messages).
///
/// # Errors
/// `Invalid` otherwise.
pub fn check_incident_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::invalid("incident_id", "1-64 of a-z, 0-9 and -"));
    }
    Ok(())
}

/// Order ids from a file's text: one a line, blank lines and `#` comments ignored.
///
/// # Errors
/// `Invalid` naming the first line that is not an order id.
pub fn parse_order_list(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !is_id("ord", line) {
            return Err(Error::invalid("orders", "a line is not an order id"));
        }
        out.push(line.to_owned());
    }
    Ok(out)
}

/// The orders `selection` names, sorted, each checked to be of the event.
async fn selected_orders(deps: &Deps, store: &DynamoStore, sel: &Selection) -> Result<Vec<String>> {
    let event_id = sel.event_id();
    if deps.events.get_event(event_id).await?.is_none() {
        return Err(Error::NotFound);
    }
    let orders: BTreeSet<String> = match sel {
        Selection::Event { tier, .. } => store
            .event_tickets(event_id)
            .await?
            .into_iter()
            .filter(|t| tier.as_ref().is_none_or(|tier| &t.tier_id == tier))
            .map(|t| t.order_id)
            .collect(),
        Selection::Orders { order_ids, .. } => {
            for id in order_ids {
                let order = deps.orders.get_order(id).await?.ok_or(Error::NotFound)?;
                if order.event_id != event_id {
                    return Err(Error::invalid("orders", "an order is of another event"));
                }
            }
            order_ids.iter().cloned().collect()
        }
    };
    Ok(orders.into_iter().collect())
}

/// Revokes the tickets of `selection` for `incident_id` (see the module's comment).
///
/// # Errors
/// `Invalid` for a bad incident id, actor or order list; `NotFound` for an unknown event or
/// order; the table's and queue's failures (a re-run resumes).
pub async fn mass_revoke(
    deps: &Deps,
    store: &DynamoStore,
    audit: &dyn AuditLog,
    incident_id: &str,
    selection: &Selection,
    max_orders: usize,
    actor: &str,
) -> Result<Report> {
    check_incident_id(incident_id)?;
    check_text("actor", actor)?;
    let orders = selected_orders(deps, store, selection).await?;
    let now = deps.clock.now();
    let mut report = Report {
        orders: orders.len(),
        queued: 0,
        already: 0,
        remaining: 0,
    };
    for order_id in &orders {
        if deps
            .dedup
            .is_claimed(&queued_marker(incident_id, order_id))
            .await?
        {
            report.already += 1;
            continue;
        }
        if report.queued == max_orders {
            report.remaining += 1;
            continue;
        }
        // The authorisation first (kept if it exists), then the message, then "queued".
        deps.dedup
            .claim(&marker(incident_id, order_id), now + RECORD_SECS)
            .await?;
        let msg = RevokeQueueMessage::Incident(IncidentRevokeMessage {
            order_id: order_id.clone(),
            event_id: selection.event_id().to_owned(),
            incident_id: incident_id.to_owned(),
        });
        deps.queue
            .send(
                Topic::Revoke,
                &serde_json::to_string(&msg).map_err(Error::internal)?,
            )
            .await?;
        deps.dedup
            .claim(&queued_marker(incident_id, order_id), now + RECORD_SECS)
            .await?;
        report.queued += 1;
    }
    let scope = match selection {
        Selection::Event {
            tier: Some(tier), ..
        } => format!("tier {tier}"),
        Selection::Event { tier: None, .. } => "event".to_owned(),
        Selection::Orders { .. } => "order list".to_owned(),
    };
    let detail = format!(
        "incident {incident_id}: {scope}, {} orders queued, {} before, {} remaining",
        report.queued, report.already, report.remaining
    );
    let subject = selection.event_id().to_owned();
    append_record(audit, &Stream::Staff, now, |seq| {
        action_record("tickets_revoked", actor, now, &subject, &detail, seq)
    })
    .await?;
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_and_order_lists() {
        assert!(check_incident_id("inc-2026-11-30").is_ok());
        for bad in ["", "INC", "a b", "a:b", &"x".repeat(65)] {
            assert!(check_incident_id(bad).is_err(), "{bad:?}");
        }
        let id = format!("ord_{}", "a".repeat(32));
        let list = parse_order_list(&format!("# refunds\n\n{id}\n  {id}  \n")).unwrap();
        assert_eq!(list, vec![id.clone(), id]);
        assert!(parse_order_list("ord_x\n").is_err());
    }
}
