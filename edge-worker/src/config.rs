//! Configuration from Worker bindings, parsed once per isolate.
//!
//! `EVENT_KEYS` (secret, JSON) holds each event's verifier keys: the issuer's P-256 public key
//! and the AES-256-GCM QR key, by `kid`. Never an issuer private key: a stolen worker cannot
//! mint tickets.
//!
//! ```json
//! {"events":[{"kid":1,"event_id":"evt-1","issuer_public_key":"04..(130 hex)","qr_key":"..(64 hex)"}]}
//! ```
//!
//! A key set may carry `"not_after": <unix seconds>`: after it the door refuses its codes as an
//! unknown key and offline bundles leave it out. `admin rotate-event-keys` writes the rotated-out
//! kid with the end of its grace period there.

use std::collections::BTreeMap;

use serde::Deserialize;
use ticket::{KeyRing, Opened, QrKey, Rejection};
use zeroize::Zeroizing;

use crate::api::{valid_id, MAX_ID_LEN};
use crate::auth::StaffKeys;

#[derive(Deserialize)]
struct EventKeysJson {
    events: Vec<EventKeyJson>,
}

#[derive(Deserialize)]
struct EventKeyJson {
    kid: u32,
    event_id: String,
    issuer_public_key: String,
    qr_key: String,
    #[serde(default)]
    not_after: Option<u64>,
}

/// One event's verifier keys, as handed to an offline scanner.
#[derive(Debug, Clone)]
pub struct EventKeySet {
    pub kid: u32,
    pub event_id: String,
    pub issuer_public_sec1: Vec<u8>,
    /// For offline bundles only (see `offline.rs`).
    pub qr_key: QrKey,
    /// Refused after this time (a rotated-out key set's grace period).
    pub not_after: Option<u64>,
}

/// Everything parsed from the bindings.
#[derive(Debug)]
pub struct Config {
    pub ring: KeyRing,
    /// `kid` -> event, from the trusted configuration (never from a code's content).
    pub key_sets: BTreeMap<u32, EventKeySet>,
    pub staff_keys: StaffKeys,
}

/// Reads `EVENT_KEYS`.
pub fn parse_event_keys(json: &str) -> Result<(KeyRing, BTreeMap<u32, EventKeySet>), String> {
    // Only the position of a JSON error: its message can quote the value, a QR key say, and
    // this text is logged.
    let parsed: EventKeysJson = serde_json::from_str(json).map_err(|e| {
        format!(
            "EVENT_KEYS: {:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    let mut ring = KeyRing::new();
    let mut sets = BTreeMap::new();
    for event in parsed.events {
        if !valid_id(&event.event_id, MAX_ID_LEN) {
            return Err(format!("EVENT_KEYS kid {}: bad event_id", event.kid));
        }
        let issuer = hex::decode(&event.issuer_public_key)
            .map_err(|_| format!("EVENT_KEYS kid {}: issuer_public_key is not hex", event.kid))?;
        let qr_bytes = Zeroizing::new(
            hex::decode(Zeroizing::new(event.qr_key).as_bytes())
                .map_err(|_| format!("EVENT_KEYS kid {}: qr_key is not hex", event.kid))?,
        );
        let qr = QrKey::from_bytes(&qr_bytes)
            .map_err(|e| format!("EVENT_KEYS kid {}: qr_key: {e}", event.kid))?;
        ring.add_event_keys(event.kid, &event.event_id, &issuer, qr.clone())
            .map_err(|e| format!("EVENT_KEYS kid {}: {e}", event.kid))?;
        let uncompressed = ticket::p256::PublicKey::from_sec1_bytes(&issuer)
            .map_err(|_| format!("EVENT_KEYS kid {}: issuer key", event.kid))?;
        let uncompressed = ticket::p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &uncompressed,
            false,
        );
        if sets
            .insert(
                event.kid,
                EventKeySet {
                    kid: event.kid,
                    event_id: event.event_id,
                    issuer_public_sec1: uncompressed.as_bytes().to_vec(),
                    qr_key: qr,
                    not_after: event.not_after,
                },
            )
            .is_some()
        {
            return Err(format!("EVENT_KEYS: kid {} appears twice", event.kid));
        }
    }
    Ok((ring, sets))
}

impl Config {
    pub fn parse(event_keys: &str, staff_jwks: &str) -> Result<Self, String> {
        let (ring, key_sets) = parse_event_keys(event_keys)?;
        let staff_keys = StaffKeys::from_jwks(staff_jwks)?;
        Ok(Self {
            ring,
            key_sets,
            staff_keys,
        })
    }

    /// The event a `kid` belongs to, by configuration.
    pub fn event_of_kid(&self, kid: u32) -> Option<&str> {
        self.key_sets.get(&kid).map(|s| s.event_id.as_str())
    }

    /// The QR key of a key set, hex, for an offline bundle.
    pub fn ring_qr_key_hex(&self, kid: u32) -> Option<Zeroizing<String>> {
        self.key_sets
            .get(&kid)
            .map(|s| Zeroizing::new(hex::encode(s.qr_key.expose_secret())))
    }

    /// Whether key set `kid` is past its `not_after` at `now`.
    pub fn kid_retired(&self, kid: u32, now: u64) -> bool {
        self.key_sets
            .get(&kid)
            .and_then(|s| s.not_after)
            .is_some_and(|end| now > end)
    }

    /// Opens a code with the ring at `now`: a code of a key set past its `not_after` is an
    /// unknown key.
    pub fn open_at(&self, qr: &str, now: u64) -> Result<Opened, Rejection> {
        let opened = ticket::open(qr, &self.ring)?;
        if self.kid_retired(opened.claims().kid, now) {
            return Err(Rejection::UnknownKey);
        }
        Ok(opened)
    }

    pub fn is_known_event(&self, event_id: &str) -> bool {
        self.key_sets.values().any(|s| s.event_id == event_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;

    fn keys_json(event: &str, qr: &str) -> String {
        let issuer = ticket::IssuerKey::from_secret_bytes(1, &[3u8; 32]).unwrap();
        format!(
            r#"{{"events":[{{"kid":1,"event_id":"{event}","issuer_public_key":"{}","qr_key":"{qr}"}}]}}"#,
            hex::encode(issuer.public_key_sec1())
        )
    }

    #[test]
    fn event_keys_parse_into_a_ring() {
        let (ring, sets) = parse_event_keys(&keys_json("evt-1", &"ab".repeat(32))).unwrap();
        assert_eq!(ring.kids(), vec![1]);
        assert_eq!(sets[&1].event_id, "evt-1");
        assert_eq!(sets[&1].issuer_public_sec1.len(), 65);
    }

    #[test]
    fn a_key_set_past_its_not_after_is_retired() {
        let issuer = ticket::IssuerKey::from_secret_bytes(1, &[3u8; 32]).unwrap();
        let json = format!(
            r#"{{"events":[{{"kid":1,"event_id":"evt-1","issuer_public_key":"{}","qr_key":"{}","not_after":100}},{{"kid":2,"event_id":"evt-1","issuer_public_key":"{}","qr_key":"{}"}}]}}"#,
            hex::encode(issuer.public_key_sec1()),
            "ab".repeat(32),
            hex::encode(issuer.public_key_sec1()),
            "cd".repeat(32)
        );
        let (ring, sets) = parse_event_keys(&json).unwrap();
        let cfg = Config {
            ring,
            key_sets: sets,
            staff_keys: StaffKeys::from_jwks(r#"{"keys":[]}"#).unwrap(),
        };
        assert!(!cfg.kid_retired(1, 100));
        assert!(cfg.kid_retired(1, 101));
        assert!(!cfg.kid_retired(2, u64::MAX));
        assert!(!cfg.kid_retired(9, 101));
    }

    #[test]
    fn bad_event_keys_are_refused() {
        assert!(parse_event_keys(&keys_json("evt 1", &"ab".repeat(32))).is_err());
        assert!(parse_event_keys(&keys_json("evt-1", "abcd")).is_err());
        assert!(parse_event_keys(&keys_json("evt-1", &"zz".repeat(32))).is_err());
        assert!(parse_event_keys("{}").is_err());
        // A JSON error never quotes the secret it read.
        let secret = "ab".repeat(32);
        let wrong_type = format!(r#"{{"events":[{{"kid":"{secret}"}}]}}"#);
        let error = parse_event_keys(&wrong_type).unwrap_err();
        assert!(error.starts_with("EVENT_KEYS: Data error"), "{error}");
        assert!(!error.contains(&secret), "{error}");
    }
}
