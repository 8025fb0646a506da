//! Device binding, second step: the mint function re-issues a claimed ticket's credential.
//!
//! The issuer keys sign tickets, so only the mint function may unwrap them (the key policy names
//! its role alone). The public tickets function claims a ticket for a device key with one
//! conditional write (`bind_pending`) and sends a [`ReissueMessage`] on the mint queue; here the
//! credential is re-issued with that key in its claims and stored by a second conditional write
//! (`version`, key and `bind_pending` unchanged). Idempotent: a redelivery, or a message for a
//! ticket already re-issued, changes nothing. A compromised tickets function can at most bind
//! unbound tickets to keys of its choosing; it cannot sign claims.

use ticket::{Claims, DevicePublicKey, TicketId};

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::eventkeys::EventKeyCache;
use crate::mint::issue_credential;
use crate::model::is_id;
use crate::ports::{ReissueMessage, TicketRecord};

/// What a re-issue message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReissueOutcome {
    /// The device-bound credential was stored now.
    Reissued,
    /// Nothing pending (re-issued before: a redelivery or a repeated request).
    NothingPending,
    /// No such ticket: dropped (logged), nothing to retry.
    UnknownTicket,
}

/// The claims of `ticket` re-issued for `device` at `now` (pure).
pub fn bound_claims(
    ticket: &TicketRecord,
    event_ends_at: u64,
    device: DevicePublicKey,
    now: u64,
) -> Result<Claims> {
    Ok(Claims {
        kid: ticket.kid,
        ticket_id: TicketId::from_hex(&ticket.ticket_id)
            .map_err(|_| Error::internal("stored ticket id is malformed"))?,
        event_id: ticket.event_id.clone(),
        gates: ticket.gates.clone(),
        not_before: ticket.not_before,
        not_after: ticket.not_after.max(event_ends_at),
        issued_at: now,
        device_key: Some(device),
    })
}

/// Handles one [`ReissueMessage`].
///
/// # Errors
/// A malformed message (`Malformed`/`Invalid`), a message naming another event (`Conflict`), or
/// the store's and KMS's errors (retried by the queue).
pub async fn reissue(
    deps: &Deps,
    keys: &EventKeyCache,
    msg: &ReissueMessage,
) -> Result<ReissueOutcome> {
    if !is_id("ord", &msg.order_id) || TicketId::from_hex(&msg.reissue_ticket_id).is_err() {
        return Err(Error::invalid(
            "reissue_ticket_id",
            "not an order and ticket id",
        ));
    }
    let Some(ticket) = deps
        .tickets
        .get_order_ticket(&msg.order_id, &msg.reissue_ticket_id)
        .await?
    else {
        tracing::warn!(order_id = %msg.order_id, ticket_id = %msg.reissue_ticket_id, "reissue: no such ticket; dropped");
        return Ok(ReissueOutcome::UnknownTicket);
    };
    if ticket.event_id != msg.event_id {
        return Err(Error::Conflict("message names another event".into()));
    }
    let (true, Some(device_sec1)) = (ticket.bind_pending, ticket.device_key.as_deref()) else {
        return Ok(ReissueOutcome::NothingPending);
    };
    let device = DevicePublicKey::from_sec1(device_sec1)
        .map_err(|_| Error::internal("stored device key is malformed"))?;
    let event = deps
        .events
        .get_event(&ticket.event_id)
        .await?
        .ok_or_else(|| Error::internal("ticket names an unknown event"))?;
    let set = keys.get(deps, &ticket.event_id, ticket.kid).await?;
    // Strictly after the credential it replaces, so that the door's "not issued before" line
    // retires the old one even when both were issued within one second.
    let now = deps.clock.now().max(ticket.issued_at.saturating_add(1));
    let claims = bound_claims(&ticket, event.ends_at, device, now)?;
    let mut bound = ticket.clone();
    bound.credential = issue_credential(&set, &claims, deps.rng.as_ref())?;
    bound.issued_at = now;
    bound.not_after = claims.not_after;
    let stored = deps
        .tickets
        .complete_binding(&bound, ticket.version)
        .await?;
    if stored.bind_pending {
        return Err(Error::internal(
            "reissue: the binding is still pending after its write",
        ));
    }
    tracing::info!(ticket_id = %stored.ticket_id, order_id = %stored.order_id, version = stored.version, "ticket re-issued for its device");
    Ok(ReissueOutcome::Reissued)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bound_claims_keep_the_ticket_and_add_the_device() {
        let device = ticket::p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let public =
            DevicePublicKey::from_sec1(device.verifying_key().to_encoded_point(false).as_bytes())
                .unwrap();
        let t = TicketRecord {
            ticket_id: "00112233445566778899aabbccddeeff".into(),
            order_id: "ord_x".into(),
            event_id: "fest".into(),
            tier_id: "ga".into(),
            kid: 3,
            gates: vec!["A".into()],
            not_before: 100,
            not_after: 200,
            issued_at: 50,
            credential: vec![],
            device_key: None,
            version: 1,
            bind_pending: true,
        };
        let c = bound_claims(&t, 300, public, 120).unwrap();
        assert_eq!(c.kid, 3);
        assert_eq!(c.ticket_id.to_hex(), t.ticket_id);
        assert_eq!(c.gates, vec!["A".to_owned()]);
        assert_eq!((c.not_before, c.not_after, c.issued_at), (100, 300, 120));
        assert_eq!(c.device_key, Some(public));
        let mut bad = t;
        bad.ticket_id = "zz".into();
        assert!(bound_claims(&bad, 300, c.device_key.unwrap(), 120).is_err());
    }
}
