//! Incident command: rotate an event's ticket keys (issuer and QR key) when they may be out.
//!
//! 1. [`rotate_event_keys`]: a new key set under a new random kid (KMS envelope, as
//!    `admin create-event` makes them), made the event's signing set in one transaction that
//!    holds only if the event still signs with the old kid (two operators at once: one wins).
//!    From then on the mint function issues under the new kid. Recorded in the staff chain.
//! 2. [`remint_event`]: every ticket still under an older kid is re-issued under the event's kid
//!    (same ticket id, gates, window and device key; `issued_at` moves on), each with one
//!    conditional write on its version and kid, and its order's buyer is sent the tickets again
//!    (`tickets_ready`, deduplicated per new kid and order). Resumable: a re-run re-issues only
//!    what is left, and `max_tickets` bounds a run.
//! 3. [`edge_event_keys`]: the worker's `EVENT_KEYS` document with the new kid and the old kid
//!    carrying `not_after` (the end of the grace period): the door refuses the old kid's codes
//!    after it (`edge-worker/src/config.rs`). Merged into the current document so other events
//!    keep their keys. It holds QR keys: written to a file for `edge-worker/scripts/set-keys.sh`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use ticket::{Claims, DevicePublicKey, TicketId};

use crate::audit_ingest::{append_record, AuditLog, Stream};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::eventkeys::{EventKeyCache, EventKeySet};
use crate::mint::issue_credential;
use crate::operations::pause::{action_record, check_text};
use crate::ports::{NotifyMessage, TicketRecord, Topic};
use crate::store::DynamoStore;

/// A rotation's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    pub old_kid: u32,
    pub new_kid: u32,
    /// The old kid is refused at the door after this time (unix seconds).
    pub old_not_after: u64,
}

/// What a re-issue run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Remint {
    pub reissued: usize,
    /// Changed while re-issued (a device binding): left for the next run.
    pub changed: usize,
    /// Left for the next run (`max_tickets` reached).
    pub remaining: usize,
    /// Orders sent their tickets again.
    pub orders_notified: usize,
}

/// Makes a new key set the event's (see the module's comment).
///
/// # Errors
/// `NotFound` for an unknown event; `Invalid` for a bad actor or reason; `Conflict` if the event
/// was rotated meanwhile; KMS's and the table's failures.
#[allow(clippy::too_many_arguments)]
pub async fn rotate_event_keys(
    deps: &Deps,
    store: &DynamoStore,
    audit: &dyn AuditLog,
    event_id: &str,
    grace_secs: u64,
    actor: &str,
    reason: &str,
) -> Result<Rotation> {
    check_text("actor", actor)?;
    check_text("reason", reason)?;
    let event = deps
        .events
        .get_event(event_id)
        .await?
        .ok_or(Error::NotFound)?;
    let now = deps.clock.now();
    // A random kid, as at creation; a taken one (the KID# item) is drawn again (bounded).
    for _ in 0..3 {
        let mut b = [0u8; 4];
        deps.rng.fill(&mut b);
        let kid = u32::from_be_bytes(b) | 1;
        if kid == event.kid {
            continue;
        }
        let (_set, wrapped) = crate::eventkeys::generate(deps, event_id, kid).await?;
        match store
            .rotate_event_kid(event_id, event.kid, &wrapped, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::Conflict(
                    "the event's keys were rotated meanwhile".into(),
                ))
            }
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
        let rotation = Rotation {
            old_kid: event.kid,
            new_kid: kid,
            old_not_after: now + grace_secs,
        };
        let detail = format!(
            "kid {} -> {}, old kid refused after {}: {reason}",
            rotation.old_kid, rotation.new_kid, rotation.old_not_after
        );
        append_record(audit, &Stream::Staff, now, |seq| {
            action_record("event_keys_rotated", actor, now, event_id, &detail, seq)
        })
        .await?;
        tracing::info!(
            event_id,
            old_kid = rotation.old_kid,
            new_kid = kid,
            "event keys rotated"
        );
        return Ok(rotation);
    }
    Err(Error::unavailable("could not allocate a kid"))
}

/// `ticket`'s claims under `set` at `now` (pure): as stored, with the device key once bound.
///
/// # Errors
/// A malformed stored ticket.
pub fn reissued_claims(ticket: &TicketRecord, set: &EventKeySet, now: u64) -> Result<Claims> {
    let device_key = match (&ticket.device_key, ticket.bind_pending) {
        // A pending binding's credential is still the unbound one; the mint function's
        // re-issue binds it (under the new kid) when it runs.
        (Some(key), false) => Some(
            DevicePublicKey::from_sec1(key)
                .map_err(|_| Error::internal("stored device key is malformed"))?,
        ),
        _ => None,
    };
    Ok(Claims {
        kid: set.kid,
        ticket_id: TicketId::from_hex(&ticket.ticket_id)
            .map_err(|_| Error::internal("stored ticket id is malformed"))?,
        event_id: ticket.event_id.clone(),
        gates: ticket.gates.clone(),
        not_before: ticket.not_before,
        not_after: ticket.not_after,
        // Strictly after the credential it replaces (the door's "not issued before" line).
        issued_at: now.max(ticket.issued_at.saturating_add(1)),
        device_key,
    })
}

/// Re-issues `event_id`'s tickets under its current kid (see the module's comment).
///
/// # Errors
/// `NotFound` for an unknown event; KMS's, the table's and the queue's failures (a re-run
/// resumes).
pub async fn remint_event(
    deps: &Deps,
    store: &DynamoStore,
    keys: &EventKeyCache,
    event_id: &str,
    max_tickets: usize,
) -> Result<Remint> {
    let event = deps
        .events
        .get_event(event_id)
        .await?
        .ok_or(Error::NotFound)?;
    let set = keys.get(deps, event_id, event.kid).await?;
    let mut out = Remint::default();
    let mut orders: BTreeMap<String, bool> = BTreeMap::new();
    for t in store.event_tickets(event_id).await? {
        if t.kid == event.kid {
            continue;
        }
        if out.reissued == max_tickets {
            out.remaining += 1;
            orders.insert(t.order_id.clone(), false);
            continue;
        }
        let claims = reissued_claims(&t, &set, deps.clock.now())?;
        let mut next = t.clone();
        next.kid = set.kid;
        next.issued_at = claims.issued_at;
        next.credential = issue_credential(&set, &claims, deps.rng.as_ref())?;
        if store.replace_credential(&next, t.version, t.kid).await? {
            out.reissued += 1;
            orders.entry(t.order_id.clone()).or_insert(true);
        } else {
            out.changed += 1;
            orders.insert(t.order_id.clone(), false);
        }
    }
    // An order is sent its tickets again once all of them are under the new kid.
    let complete: BTreeSet<&String> = orders
        .iter()
        .filter_map(|(id, done)| done.then_some(id))
        .collect();
    for order_id in complete {
        let Some(order) = deps.orders.get_order(order_id).await? else {
            continue;
        };
        let msg = NotifyMessage {
            template: "tickets_ready".into(),
            customer_id: order.customer_id,
            order_id: Some(order_id.clone()),
            dedupe_id: format!("tickets_rekeyed:{}:{order_id}", event.kid),
            params: BTreeMap::from([("event_id".to_owned(), event_id.to_owned())]),
        };
        deps.queue
            .send(
                Topic::Notify,
                &serde_json::to_string(&msg).map_err(Error::internal)?,
            )
            .await?;
        out.orders_notified += 1;
    }
    Ok(out)
}

/// One `EVENT_KEYS` entry of a key set (pure): public issuer key, QR key, and `not_after` for a
/// retiring kid.
pub fn edge_entry(set: &EventKeySet, not_after: Option<u64>) -> Value {
    let mut entry = json!({
        "kid": set.kid,
        "event_id": set.event_id,
        "issuer_public_key": hex::encode(set.issuer.public_key_sec1()),
        "qr_key": hex::encode(set.qr.expose_secret()),
    });
    if let Some(t) = not_after {
        entry["not_after"] = json!(t);
    }
    entry
}

/// `current` (the worker's `EVENT_KEYS`, if given) with `event_id`'s entries replaced by
/// `entries` (pure). Other events' entries are kept as they are.
///
/// # Errors
/// `Invalid` if `current` is not an `EVENT_KEYS` document.
pub fn merge_edge_keys(
    current: Option<&Value>,
    event_id: &str,
    entries: Vec<Value>,
) -> Result<Value> {
    let mut events: Vec<Value> = match current {
        None => Vec::new(),
        Some(doc) => doc
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("event_keys", "not {\"events\": [...]}"))?
            .iter()
            .filter(|e| e.get("event_id").and_then(Value::as_str) != Some(event_id))
            .cloned()
            .collect(),
    };
    events.extend(entries);
    Ok(json!({ "events": events }))
}

/// The worker's `EVENT_KEYS` after `rotation` (unwraps both key sets with KMS).
///
/// # Errors
/// KMS's and the table's failures; a bad `current` document.
pub async fn edge_event_keys(
    deps: &Deps,
    event_id: &str,
    rotation: &Rotation,
    current: Option<&Value>,
) -> Result<Value> {
    let new = crate::eventkeys::load(deps, event_id, rotation.new_kid).await?;
    let old = crate::eventkeys::load(deps, event_id, rotation.old_kid).await?;
    merge_edge_keys(
        current,
        event_id,
        vec![
            edge_entry(&new, None),
            edge_entry(&old, Some(rotation.old_not_after)),
        ],
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_other_events_and_replaces_this_ones() {
        let current = json!({"events": [
            {"kid": 1, "event_id": "fest"}, {"kid": 2, "event_id": "other"},
            {"kid": 5, "event_id": "fest"}
        ]});
        let merged = merge_edge_keys(
            Some(&current),
            "fest",
            vec![
                json!({"kid": 7, "event_id": "fest"}),
                json!({"kid": 5, "event_id": "fest", "not_after": 9}),
            ],
        )
        .unwrap();
        let kids: Vec<u64> = merged["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kid"].as_u64().unwrap())
            .collect();
        assert_eq!(kids, vec![2, 7, 5]);
        assert!(merge_edge_keys(Some(&json!({"x": 1})), "fest", vec![]).is_err());
    }
}
