//! An event's ticket key set (issuer P-256 key + AES-256-GCM QR key), stored envelope-encrypted.
//!
//! Stored form ([`WrappedEventKeys`]): a data key from KMS `GenerateDataKey` under
//! `ISSUER_KEY_ID` with the context `{"purpose":"ticket-issuer","event_id":..,"kid":..}` (only
//! its wrapped copy is stored), and `nonce(12) || AES-256-GCM(issuer secret || qr key)` with
//! associated data `"karcis-event-keys-v1" 0 event_id 0 kid`. Decrypted once per cold start per
//! event ([`EventKeyCache`]); never logged (no `Debug` shows key bytes).

use std::collections::HashMap;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ticket::{IssuerKey, QrKey};
use zeroize::Zeroizing;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::ports::{KeyPurpose, RandCore, WrappedEventKeys};

/// A usable key set.
pub struct EventKeySet {
    pub event_id: String,
    pub kid: u32,
    pub issuer: IssuerKey,
    pub qr: QrKey,
}

impl std::fmt::Debug for EventKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventKeySet")
            .field("event_id", &self.event_id)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn aad(event_id: &str, kid: u32) -> Vec<u8> {
    format!("karcis-event-keys-v1\0{event_id}\0{kid}").into_bytes()
}

fn purpose(event_id: &str, kid: u32) -> KeyPurpose {
    KeyPurpose::TicketIssuer {
        event_id: event_id.to_owned(),
        kid,
    }
}

/// Seals a key set under `data_key` (pure).
pub fn seal_key_set(set: &EventKeySet, data_key: &[u8; 32], nonce: [u8; 12]) -> Result<Vec<u8>> {
    let mut plain = Zeroizing::new(Vec::with_capacity(64));
    plain.extend_from_slice(set.issuer.secret_bytes().as_ref());
    plain.extend_from_slice(set.qr.expose_secret());
    let ct = Aes256Gcm::new(data_key.into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plain,
                aad: &aad(&set.event_id, set.kid),
            },
        )
        .map_err(|_| Error::internal("sealing the key set failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a sealed key set (pure).
pub fn open_key_set(
    event_id: &str,
    kid: u32,
    sealed: &[u8],
    data_key: &[u8],
) -> Result<EventKeySet> {
    if sealed.len() < 12 + 64 + 16 || data_key.len() != 32 {
        return Err(Error::internal("key set: bad format"));
    }
    let plain = Zeroizing::new(
        Aes256Gcm::new(data_key.into())
            .decrypt(
                &Nonce::from(<[u8; 12]>::try_from(&sealed[..12]).map_err(Error::internal)?),
                Payload {
                    msg: &sealed[12..],
                    aad: &aad(event_id, kid),
                },
            )
            .map_err(|_| Error::internal("key set: does not open"))?,
    );
    if plain.len() != 64 {
        return Err(Error::internal("key set: wrong length"));
    }
    Ok(EventKeySet {
        event_id: event_id.to_owned(),
        kid,
        issuer: IssuerKey::from_secret_bytes(kid, &plain[..32])
            .map_err(|_| Error::internal("key set: bad issuer key"))?,
        qr: QrKey::from_bytes(&plain[32..]).map_err(|_| Error::internal("key set: bad QR key"))?,
    })
}

/// Generates a key set for an event and wraps it (KMS GenerateDataKey + AES-GCM).
pub async fn generate(
    deps: &Deps,
    event_id: &str,
    kid: u32,
) -> Result<(EventKeySet, WrappedEventKeys)> {
    let mut rng = RandCore(deps.rng.as_ref());
    let set = EventKeySet {
        event_id: event_id.to_owned(),
        kid,
        issuer: IssuerKey::generate(kid, &mut rng),
        qr: QrKey::generate(&mut rng),
    };
    let data_key = deps.keys.generate_data_key(&purpose(event_id, kid)).await?;
    let mut nonce = [0u8; 12];
    deps.rng.fill(&mut nonce);
    let sealed_keys = seal_key_set(&set, &data_key.plaintext, nonce)?;
    let wrapped = WrappedEventKeys {
        kid,
        wrapped_data_key: data_key.wrapped,
        sealed_keys,
        issuer_public_key: set.issuer.public_key_sec1(),
        created_at: deps.clock.now(),
    };
    Ok((set, wrapped))
}

/// Loads and unwraps a stored key set.
pub async fn load(deps: &Deps, event_id: &str, kid: u32) -> Result<EventKeySet> {
    let wrapped = deps
        .events
        .get_event_keys(event_id, kid)
        .await?
        .ok_or_else(|| Error::internal(format!("no key set {kid} for event {event_id}")))?;
    let data_key = deps
        .keys
        .decrypt(&purpose(event_id, kid), &wrapped.wrapped_data_key)
        .await?;
    let set = open_key_set(event_id, kid, &wrapped.sealed_keys, &data_key)?;
    if set.issuer.public_key_sec1() != wrapped.issuer_public_key {
        return Err(Error::internal("key set: public key mismatch"));
    }
    Ok(set)
}

/// Key sets decrypted once per cold start.
#[derive(Default)]
pub struct EventKeyCache {
    sets: tokio::sync::Mutex<HashMap<(String, u32), Arc<EventKeySet>>>,
}

impl std::fmt::Debug for EventKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventKeyCache")
    }
}

impl EventKeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The key set, from the cache or (once) from DynamoDB + KMS.
    pub async fn get(&self, deps: &Deps, event_id: &str, kid: u32) -> Result<Arc<EventKeySet>> {
        let mut sets = self.sets.lock().await;
        if let Some(set) = sets.get(&(event_id.to_owned(), kid)) {
            return Ok(set.clone());
        }
        let set = Arc::new(load(deps, event_id, kid).await?);
        sets.insert((event_id.to_owned(), kid), set.clone());
        Ok(set)
    }

    /// How many key sets are cached (tests check the once-per-cold-start property).
    pub async fn len(&self) -> usize {
        self.sets.lock().await.len()
    }

    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let mut rng = rand_core::OsRng;
        let set = EventKeySet {
            event_id: "fest".into(),
            kid: 7,
            issuer: IssuerKey::generate(7, &mut rng),
            qr: QrKey::generate(&mut rng),
        };
        let dk = [9u8; 32];
        let sealed = seal_key_set(&set, &dk, [3; 12]).unwrap();
        let secret = set.issuer.secret_bytes();
        assert!(!sealed.windows(32).any(|w| w == secret.as_ref()));
        let opened = open_key_set("fest", 7, &sealed, &dk).unwrap();
        assert_eq!(
            opened.issuer.public_key_sec1(),
            set.issuer.public_key_sec1()
        );
        assert_eq!(opened.qr.expose_secret(), set.qr.expose_secret());
        assert!(open_key_set("other", 7, &sealed, &dk).is_err());
        assert!(open_key_set("fest", 8, &sealed, &dk).is_err());
        assert!(open_key_set("fest", 7, &sealed, &[8u8; 32]).is_err());
    }
}
