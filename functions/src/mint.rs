//! mint: a paid order becomes tickets (SQS, partial batch failures).
//!
//! Idempotent under redelivery and concurrency: the tickets and the order's `Paid -> Minted`
//! change are one conditional transaction, so an order gets exactly one set of tickets. The
//! event's key set is decrypted once per cold start ([`EventKeyCache`]). After minting, a
//! `tickets_ready` notification is enqueued (notify deduplicates by `dedupe_id`, so enqueueing
//! again on a redelivery is harmless). The same queue carries device-binding re-issues
//! ([`crate::reissue`]): the issuer keys are unwrapped here and nowhere else.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ticket::{Claims, TicketId};

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::eventkeys::{EventKeyCache, EventKeySet};
use crate::model::{is_id, Event, Order, OrderStatus};
use crate::ports::{
    MintMessage, MintOutcome, NotifyMessage, RandCore, ReissueMessage, TicketRecord, Topic,
};

/// Tickets admit from this long before the event starts.
pub const ADMIT_EARLY_SECS: u64 = 6 * 3600;

/// The order a queue message names (a mint or a revoke message, `{order_id, event_id}`):
/// `NotFound` if unknown, `Conflict` if the message names an event that is not the order's.
///
/// # Errors
/// Those, a malformed order id, or the store's.
pub async fn order_of_message(
    orders: &dyn crate::ports::Orders,
    order_id: &str,
    event_id: &str,
) -> Result<Order> {
    if !is_id("ord", order_id) {
        return Err(Error::invalid("order_id", "not an order id"));
    }
    let order = orders.get_order(order_id).await?.ok_or(Error::NotFound)?;
    if order.event_id != event_id {
        return Err(Error::Conflict("message names another event".into()));
    }
    Ok(order)
}

/// What the mint queue carries: orders to mint, and tickets to re-issue for their device.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum MintQueueMessage {
    Mint(MintMessage),
    Reissue(ReissueMessage),
}

/// The mint handler (build once per cold start).
#[derive(Debug)]
pub struct Minter {
    pub deps: Deps,
    pub keys: Arc<EventKeyCache>,
}

/// Issues one sealed credential (pure apart from the RNG).
pub fn issue_credential(
    set: &EventKeySet,
    claims: &Claims,
    rng: &dyn crate::ports::Rng,
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 12];
    rng.fill(&mut nonce);
    ticket::issue(claims, &set.issuer, &set.qr, nonce)
        .map(|c| c.as_bytes().to_vec())
        .map_err(|e| Error::internal(format!("issue: {e:?}")))
}

/// The claims of a new ticket of `order` (no device key yet).
pub fn claims_for(order: &Order, event: &Event, ticket_id: TicketId, now: u64) -> Result<Claims> {
    let tier = event
        .tier(&order.tier_id)
        .ok_or_else(|| Error::internal("order names an unknown tier"))?;
    let gates = if tier.gates.is_empty() {
        vec!["*".to_owned()]
    } else {
        tier.gates.clone()
    };
    Ok(Claims {
        kid: event.kid,
        ticket_id,
        event_id: event.event_id.clone(),
        gates,
        not_before: event.starts_at.saturating_sub(ADMIT_EARLY_SECS),
        not_after: event.ends_at,
        issued_at: now,
        device_key: None,
    })
}

impl Minter {
    pub fn new(deps: Deps) -> Self {
        Self {
            deps,
            keys: Arc::new(EventKeyCache::new()),
        }
    }

    /// The Lambda entry point.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        crate::sqs::process_batch(event, |m| async move {
            match serde_json::from_str::<MintQueueMessage>(&m.body) {
                Ok(MintQueueMessage::Mint(msg)) => self.mint_order(&msg).await.map(|_| ()),
                Ok(MintQueueMessage::Reissue(msg)) => {
                    crate::reissue::reissue(&self.deps, &self.keys, &msg)
                        .await
                        .map(|_| ())
                }
                Err(_) => Err(Error::Malformed(
                    "mint message is neither {order_id, event_id} nor a reissue".into(),
                )),
            }
        })
        .await
    }

    /// Mints the tickets of a paid order (or notices they exist).
    pub async fn mint_order(&self, msg: &MintMessage) -> Result<MintOutcome> {
        let d = &self.deps;
        let order = order_of_message(d.orders.as_ref(), &msg.order_id, &msg.event_id).await?;
        let outcome = match order.status {
            OrderStatus::Minted => MintOutcome::AlreadyMinted,
            OrderStatus::Refunded | OrderStatus::Disputed => {
                // Refunded or disputed before its mint: no tickets, nothing to retry.
                tracing::info!(order_id = %order.order_id, status = order.status.as_str(), "mint skipped");
                return Ok(MintOutcome::Reversed);
            }
            OrderStatus::Paid => {
                let event = d
                    .events
                    .get_event(&order.event_id)
                    .await?
                    .ok_or_else(|| Error::internal("order names an unknown event"))?;
                let set = self.keys.get(d, &event.event_id, event.kid).await?;
                let now = d.clock.now();
                let mut records = Vec::with_capacity(order.quantity as usize);
                for _ in 0..order.quantity {
                    let ticket_id = TicketId::random(&mut RandCore(d.rng.as_ref()));
                    let claims = claims_for(&order, &event, ticket_id, now)?;
                    records.push(TicketRecord {
                        ticket_id: ticket_id.to_hex(),
                        order_id: order.order_id.clone(),
                        event_id: order.event_id.clone(),
                        tier_id: order.tier_id.clone(),
                        kid: claims.kid,
                        gates: claims.gates.clone(),
                        not_before: claims.not_before,
                        not_after: claims.not_after,
                        issued_at: now,
                        credential: issue_credential(&set, &claims, d.rng.as_ref())?,
                        device_key: None,
                        version: 1,
                        bind_pending: false,
                    });
                }
                d.tickets.mint(&order.order_id, &records, now).await?
            }
            other => {
                return Err(Error::Conflict(format!(
                    "order is {} and cannot be minted",
                    other.as_str()
                )))
            }
        };
        tracing::info!(order_id = %order.order_id, outcome = ?outcome, quantity = order.quantity, "mint");
        if outcome == MintOutcome::Held {
            // Nothing to retry: releasing the hold queues the mint again.
            return Ok(outcome);
        }
        let notify = NotifyMessage {
            template: "tickets_ready".into(),
            customer_id: order.customer_id.clone(),
            order_id: Some(order.order_id.clone()),
            dedupe_id: format!("tickets_ready:{}", order.order_id),
            params: std::collections::BTreeMap::from([(
                "event_id".to_owned(),
                order.event_id.clone(),
            )]),
        };
        d.queue
            .send(
                Topic::Notify,
                &serde_json::to_string(&notify).map_err(Error::internal)?,
            )
            .await?;
        Ok(outcome)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Tier;

    #[test]
    fn claims_window_and_gates() {
        let event = Event {
            event_id: "fest".into(),
            name: "Fest".into(),
            currency: "IDR".into(),
            starts_at: 100_000,
            ends_at: 200_000,
            time_zone: "Asia/Jakarta".into(),
            max_per_order: 4,
            max_per_buyer: 4,
            kid: 3,
            on_sale: true,
            queue_mode: false,
            tiers: vec![Tier {
                tier_id: "ga".into(),
                name: "GA".into(),
                price_minor: 1,
                capacity: 1,
                available: 1,
                gates: vec![],
                stock_shards: 1,
            }],
        };
        let order = Order::sample("ord_x", OrderStatus::Paid);
        let c = claims_for(&order, &event, TicketId([1; 16]), 5).unwrap();
        assert_eq!(c.gates, vec!["*".to_owned()]);
        assert_eq!(c.not_before, 100_000 - ADMIT_EARLY_SECS);
        assert_eq!(c.not_after, 200_000);
        assert_eq!(c.kid, 3);
        c.validate().unwrap();
        let mut o = order;
        o.tier_id = "vip".into();
        assert!(claims_for(&o, &event, TicketId([1; 16]), 5).is_err());
    }
}
