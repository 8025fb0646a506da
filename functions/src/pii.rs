//! Envelope encryption of customer personal data (invariant 3).
//!
//! Each customer has their own 256-bit data key from KMS `GenerateDataKey` under `PII_KEY_ID`
//! with the encryption context `{"purpose":"customer-pii","customer_id":<id>}`. Only the
//! KMS-wrapped copy is stored (`CUSTOMER#<id>/KEY`); deleting it crypto-shreds every value sealed
//! with it, in the table and in its backups.
//!
//! Sealed value format: `0x01 || nonce(12) || AES-256-GCM(ciphertext || tag)`, with associated
//! data `"karcis-pii-v1" 0x00 customer_id 0x00 field`, so a sealed value cannot be moved to
//! another customer or field.
//!
//! Emails are also looked up (per-buyer limits, privacy requests) through a blind index:
//! HMAC-SHA256 under a table-wide key (`CONFIG/PII_INDEX_KEY`, itself a data key wrapped under
//! `PII_KEY_ID` with `customer_id = "__blind_index__"`), so no plaintext email is stored.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ports::{CustomerRecord, Customers, KeyPurpose, Keys, Rng};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// The pseudo customer id under which the blind-index key is wrapped.
pub const BLIND_INDEX_CUSTOMER: &str = "__blind_index__";

/// A customer's plaintext data key. Zeroized on drop; `Debug` is redacted.
pub struct CustomerKey {
    customer_id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey")
            .field("customer_id", &self.customer_id)
            .finish_non_exhaustive()
    }
}

fn aad(customer_id: &str, field: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(16 + customer_id.len() + field.len());
    a.extend_from_slice(b"karcis-pii-v1\0");
    a.extend_from_slice(customer_id.as_bytes());
    a.push(0);
    a.extend_from_slice(field.as_bytes());
    a
}

impl CustomerKey {
    pub fn new(customer_id: impl Into<String>, key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            customer_id: customer_id.into(),
            key,
        }
    }

    pub fn customer_id(&self) -> &str {
        &self.customer_id
    }

    fn cipher(&self) -> Aes256Gcm {
        let key: &[u8; 32] = &self.key;
        Aes256Gcm::new(key.into())
    }

    /// Seals `plaintext` as `field` of this customer.
    pub fn seal(&self, field: &str, plaintext: &[u8], rng: &dyn Rng) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce);
        self.seal_with_nonce(field, plaintext, nonce)
    }

    fn seal_with_nonce(&self, field: &str, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let aad = aad(&self.customer_id, field);
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // AES-GCM fails only beyond 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a value sealed as `field` of this customer.
    pub fn open(&self, field: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(Error::internal("sealed value: bad format"));
        }
        let nonce = Nonce::from(
            <[u8; NONCE_LEN]>::try_from(&sealed[1..=NONCE_LEN]).map_err(Error::internal)?,
        );
        let aad = aad(&self.customer_id, field);
        self.cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::internal("sealed value: does not open"))
    }

    /// Seals a serialisable value as JSON.
    pub fn seal_json<T: serde::Serialize>(
        &self,
        field: &str,
        value: &T,
        rng: &dyn Rng,
    ) -> Result<Vec<u8>> {
        let json = Zeroizing::new(serde_json::to_vec(value).map_err(Error::internal)?);
        Ok(self.seal(field, &json, rng))
    }

    /// Opens a value sealed with [`Self::seal_json`].
    pub fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        field: &str,
        sealed: &[u8],
    ) -> Result<T> {
        let json = self.open(field, sealed)?;
        serde_json::from_slice(&json).map_err(Error::internal)
    }
}

/// The blind index of a normalised email under `key`: lower-case hex HMAC-SHA256.
pub fn blind_index(key: &[u8; 32], kind: &str, value: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(kind.as_bytes());
    mac.update(&[0]);
    mac.update(value.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(Error::internal("data key is not 32 bytes"));
    }
    k.copy_from_slice(bytes);
    Ok(k)
}

/// Customer keys and the email blind index, over the [`Keys`] and [`Customers`] ports.
/// Build one per cold start: the blind-index key is cached.
pub struct Pii {
    keys: Arc<dyn Keys>,
    customers: Arc<dyn Customers>,
    index_key: tokio::sync::OnceCell<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Pii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pii")
    }
}

impl Pii {
    pub fn new(keys: Arc<dyn Keys>, customers: Arc<dyn Customers>) -> Self {
        Self {
            keys,
            customers,
            index_key: tokio::sync::OnceCell::new(),
        }
    }

    async fn load_index_key(&self) -> Result<Zeroizing<[u8; 32]>> {
        let purpose = KeyPurpose::CustomerPii {
            customer_id: BLIND_INDEX_CUSTOMER.to_owned(),
        };
        let wrapped = if let Some(w) = self.customers.get_index_key().await? {
            w
        } else {
            let fresh = self.keys.generate_data_key(&purpose).await?;
            let stored = self.customers.put_index_key(&fresh.wrapped).await?;
            if stored == fresh.wrapped {
                return Ok(fresh.plaintext);
            }
            stored // another instance won the race: use its key
        };
        to_key(&self.keys.decrypt(&purpose, &wrapped).await?)
    }

    /// The blind-index key itself, for [`blind_index`] of other kinds (sign-in client
    /// addresses): loaded once, never logged.
    pub async fn index_key(&self) -> Result<&[u8; 32]> {
        let key = self
            .index_key
            .get_or_try_init(|| self.load_index_key())
            .await?;
        Ok(key)
    }

    /// The blind index of an already normalised email address.
    pub async fn email_index(&self, normalised_email: &str) -> Result<String> {
        let key = self
            .index_key
            .get_or_try_init(|| self.load_index_key())
            .await?;
        Ok(blind_index(key, "email", normalised_email))
    }

    /// A MAC of `value` for `purpose` (lower-case hex) under the blind-index key, domain-separated
    /// from the email index: a keyed hash of a short secret (a one-time code) that a table read
    /// cannot brute-force.
    pub async fn mac(&self, purpose: &str, value: &str) -> Result<String> {
        let key = self
            .index_key
            .get_or_try_init(|| self.load_index_key())
            .await?;
        Ok(blind_index(key, &format!("mac/{purpose}"), value))
    }

    /// A fresh data key for a new customer: the key and its wrapped copy (to store).
    pub async fn new_customer_key(&self, customer_id: &str) -> Result<(CustomerKey, Vec<u8>)> {
        let dk = self
            .keys
            .generate_data_key(&KeyPurpose::CustomerPii {
                customer_id: customer_id.to_owned(),
            })
            .await?;
        Ok((CustomerKey::new(customer_id, dk.plaintext), dk.wrapped))
    }

    /// Unwraps a customer's data key. `NotFound` if the customer was shredded.
    pub async fn customer_key(&self, customer: &CustomerRecord) -> Result<CustomerKey> {
        let wrapped = customer.wrapped_key.as_deref().ok_or(Error::NotFound)?;
        let plain = self
            .keys
            .decrypt(
                &KeyPurpose::CustomerPii {
                    customer_id: customer.customer_id.clone(),
                },
                wrapped,
            )
            .await?;
        Ok(CustomerKey::new(
            customer.customer_id.clone(),
            to_key(&plain)?,
        ))
    }

    /// Looks a customer up and unwraps their key.
    pub async fn customer_key_by_id(&self, customer_id: &str) -> Result<CustomerKey> {
        let customer = self
            .customers
            .get_customer(customer_id)
            .await?
            .ok_or(Error::NotFound)?;
        self.customer_key(&customer).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(id: &str, b: u8) -> CustomerKey {
        CustomerKey::new(id, Zeroizing::new([b; 32]))
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = key("cus_a", 7);
        let sealed = k.seal_with_nonce("buyer", b"ana@example.com", [1; 12]);
        assert_eq!(sealed[0], 1);
        assert!(!sealed.windows(3).any(|w| w == b"ana"));
        assert_eq!(&**k.open("buyer", &sealed).unwrap(), b"ana@example.com");
        // another field, another customer, another key: refused
        assert!(k.open("email", &sealed).is_err());
        assert!(key("cus_b", 7).open("buyer", &sealed).is_err());
        assert!(key("cus_a", 8).open("buyer", &sealed).is_err());
        // tampering and truncation: refused
        let mut t = sealed.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(k.open("buyer", &t).is_err());
        assert!(k.open("buyer", &sealed[..10]).is_err());
    }

    #[test]
    fn blind_index_is_keyed_and_deterministic() {
        let a = blind_index(&[1; 32], "email", "ana@example.com");
        assert_eq!(a, blind_index(&[1; 32], "email", "ana@example.com"));
        assert_ne!(a, blind_index(&[2; 32], "email", "ana@example.com"));
        assert_ne!(a, blind_index(&[1; 32], "phone", "ana@example.com"));
        assert_eq!(a.len(), 64);
    }
}
