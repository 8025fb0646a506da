//! Ops: create an event with its tiers, capacity and prices, and generate and store its ticket
//! key set (envelope-encrypted under `ISSUER_KEY_ID`). Used by the `admin` binary and tests.

use serde::{Deserialize, Serialize};

use crate::config::{DEFAULT_MAX_PER_BUYER, DEFAULT_MAX_PER_ORDER, HARD_MAX_PER_ORDER};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{
    valid_id, validate_currency, validate_time_zone, Event, Tier, DEFAULT_TIME_ZONE,
};

/// An event to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub event_id: String,
    pub name: String,
    pub currency: String,
    pub starts_at: u64,
    pub ends_at: u64,
    /// The venue's IANA zone, one of [`crate::model::TIME_ZONES`] (default `Asia/Jakarta`).
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub max_per_order: Option<u32>,
    #[serde(default)]
    pub max_per_buyer: Option<u32>,
    #[serde(default = "yes")]
    pub on_sale: bool,
    /// The on-sale goes through the waiting room: checkout requires an admission.
    #[serde(default)]
    pub queue_mode: bool,
    pub tiers: Vec<TierSpec>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    pub tier_id: String,
    pub name: String,
    pub price_minor: u64,
    pub capacity: u32,
    #[serde(default)]
    pub gates: Vec<String>,
    /// How many items the tier's stock is split across, from the expected demand: each takes
    /// about 500 reservations a second on DynamoDB (default 1; see `store::stock`).
    #[serde(default)]
    pub stock_shards: Option<u32>,
}

/// What was created: the event and its public key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedEvent {
    pub event_id: String,
    pub kid: u32,
    /// Uncompressed SEC1, hex: scanners verify ticket signatures with it.
    pub issuer_public_key_hex: String,
}

/// Validates a spec into an event (without a kid yet).
pub fn event_from_spec(spec: &EventSpec) -> Result<Event> {
    if !valid_id(&spec.event_id) {
        return Err(Error::invalid(
            "event_id",
            "1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    if spec.name.trim().is_empty() || spec.name.len() > 200 {
        return Err(Error::invalid("name", "1-200 characters"));
    }
    validate_currency(&spec.currency)?;
    if spec.starts_at >= spec.ends_at {
        return Err(Error::invalid("ends_at", "must be after starts_at"));
    }
    let time_zone = spec.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
    validate_time_zone(time_zone)?;
    if spec.tiers.is_empty() || spec.tiers.len() > 90 {
        return Err(Error::invalid("tiers", "1-90 tiers"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &spec.tiers {
        if !valid_id(&t.tier_id) || !seen.insert(t.tier_id.as_str()) {
            return Err(Error::invalid(
                "tiers.tier_id",
                "unique ids of [A-Za-z0-9._-]",
            ));
        }
        if t.capacity == 0 {
            return Err(Error::invalid("tiers.capacity", "must be at least 1"));
        }
        if t.gates.len() > ticket::MAX_GATES || !t.gates.iter().all(|g| g == "*" || valid_id(g)) {
            return Err(Error::invalid("tiers.gates", "up to 16 gate ids or \"*\""));
        }
    }
    let max_per_order = spec.max_per_order.unwrap_or(DEFAULT_MAX_PER_ORDER);
    if max_per_order == 0 || max_per_order > HARD_MAX_PER_ORDER {
        return Err(Error::invalid("max_per_order", "1..=50"));
    }
    let max_per_buyer = spec.max_per_buyer.unwrap_or(DEFAULT_MAX_PER_BUYER);
    if max_per_buyer == 0 {
        return Err(Error::invalid("max_per_buyer", "at least 1"));
    }
    if spec
        .tiers
        .iter()
        .filter_map(|t| t.stock_shards)
        .any(|n| n == 0 || n > crate::store::stock::MAX_SHARDS)
    {
        return Err(Error::invalid("stock_shards", "1..=100"));
    }
    Ok(Event {
        event_id: spec.event_id.clone(),
        name: spec.name.trim().to_owned(),
        currency: spec.currency.clone(),
        starts_at: spec.starts_at,
        ends_at: spec.ends_at,
        time_zone: time_zone.to_owned(),
        max_per_order,
        max_per_buyer,
        kid: 0,
        on_sale: spec.on_sale,
        queue_mode: spec.queue_mode,
        tiers: spec
            .tiers
            .iter()
            .map(|t| Tier {
                tier_id: t.tier_id.clone(),
                name: t.name.clone(),
                price_minor: t.price_minor,
                capacity: t.capacity,
                available: t.capacity,
                gates: if t.gates.is_empty() {
                    vec!["*".to_owned()]
                } else {
                    t.gates.clone()
                },
                stock_shards: t.stock_shards.unwrap_or(1),
            })
            .collect(),
    })
}

/// Creates the event, its tiers and a fresh key set (one transaction).
pub async fn create_event(deps: &Deps, spec: &EventSpec) -> Result<CreatedEvent> {
    let mut event = event_from_spec(spec)?;
    // A random kid; the KID# item makes a collision fail, then another is drawn (bounded).
    for _ in 0..3 {
        let mut b = [0u8; 4];
        deps.rng.fill(&mut b);
        let kid = u32::from_be_bytes(b) | 1;
        event.kid = kid;
        let (set, wrapped) = crate::eventkeys::generate(deps, &event.event_id, kid).await?;
        if deps.events.create_event(&event, &wrapped).await? {
            tracing::info!(event_id = %event.event_id, kid, "event created");
            return Ok(CreatedEvent {
                event_id: event.event_id,
                kid,
                issuer_public_key_hex: hex::encode(set.issuer.public_key_sec1()),
            });
        }
    }
    Err(Error::unavailable("could not allocate a kid"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> EventSpec {
        serde_json::from_value(serde_json::json!({
            "event_id": "fest-2026", "name": "Fest", "currency": "IDR",
            "starts_at": 10, "ends_at": 20,
            "tiers": [{"tier_id": "ga", "name": "GA", "price_minor": 150_000, "capacity": 50}]
        }))
        .unwrap()
    }

    #[test]
    fn spec_validation() {
        let e = event_from_spec(&spec()).unwrap();
        assert_eq!(e.tiers[0].available, 50);
        assert_eq!(e.tiers[0].gates, vec!["*".to_owned()]);
        assert_eq!(e.max_per_order, DEFAULT_MAX_PER_ORDER);
        let mut s = spec();
        s.ends_at = 5;
        assert!(event_from_spec(&s).is_err());
        let mut s = spec();
        s.currency = "rp".into();
        assert!(event_from_spec(&s).is_err());
        let mut s = spec();
        s.tiers.push(s.tiers[0].clone());
        assert!(event_from_spec(&s).is_err());
        let mut s = spec();
        s.max_per_order = Some(51);
        assert!(event_from_spec(&s).is_err());
    }

    #[test]
    fn time_zone_defaults_to_jakarta_and_is_one_of_the_list() {
        assert_eq!(event_from_spec(&spec()).unwrap().time_zone, "Asia/Jakarta");
        for zone in [
            "Asia/Jakarta",
            "Asia/Pontianak",
            "Asia/Makassar",
            "Asia/Jayapura",
        ] {
            let mut s = spec();
            s.time_zone = Some(zone.into());
            assert_eq!(event_from_spec(&s).unwrap().time_zone, zone);
        }
        for bad in [
            "",
            "WIB",
            "asia/jakarta",
            "Asia/Jakarta ",
            "Europe/London",
            "UTC+7",
            "Mars/Olympus",
        ] {
            let mut s = spec();
            s.time_zone = Some(bad.into());
            let err = event_from_spec(&s).unwrap_err();
            assert_eq!(err.problem().field.as_deref(), Some("time_zone"), "{bad:?}");
        }
    }
}
