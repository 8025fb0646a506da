//! Key material: the issuer's signing key, the QR sealing key, and the verifier's key ring.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use p256::ecdsa::{signature::Signer, Signature, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::claims::TicketId;

/// Why key bytes were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not a valid P-256 private scalar.
    BadIssuerSecret,
    /// Not a valid P-256 public key in SEC1 form.
    BadIssuerPublicKey,
    /// A QR key is exactly 32 bytes.
    BadQrKey,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadIssuerSecret => "issuer secret key is not a valid P-256 scalar",
            Self::BadIssuerPublicKey => "issuer public key is not a valid P-256 SEC1 point",
            Self::BadQrKey => "QR key must be 32 bytes",
        })
    }
}

impl std::error::Error for KeyError {}

/// An event's ticket-signing key (ECDSA P-256). Only minting holds it; the door never does.
/// The secret scalar is zeroized when dropped.
#[derive(Clone)]
pub struct IssuerKey {
    kid: u32,
    signing: SigningKey,
}

impl IssuerKey {
    /// A fresh key pair named `kid`.
    pub fn generate(kid: u32, rng: &mut impl CryptoRngCore) -> Self {
        Self {
            kid,
            signing: SigningKey::random(rng),
        }
    }

    /// Loads a key from its 32-byte big-endian secret scalar.
    pub fn from_secret_bytes(kid: u32, secret: &[u8]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_slice(secret).map_err(|_| KeyError::BadIssuerSecret)?;
        Ok(Self { kid, signing })
    }

    /// The secret scalar, for envelope encryption before storage. Zeroized on drop.
    #[must_use]
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.signing.to_bytes());
        out
    }

    /// The public key, uncompressed SEC1 (65 bytes), for the verifiers' key ring.
    #[must_use]
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    #[must_use]
    pub fn kid(&self) -> u32 {
        self.kid
    }

    /// ECDSA P-256 with SHA-256, deterministic nonces (RFC 6979), `r || s` with low S.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        low_s(self.signing.sign(message)).to_bytes().into()
    }
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The low-S form of a signature (`s <= n / 2`): the one of `(r, s)` and `(r, n - s)`, both
/// valid, that verifiers accept (FORMAT.md), so that a signed code has a single encoding.
#[must_use]
pub fn low_s(signature: Signature) -> Signature {
    signature.normalize_s().unwrap_or(signature)
}

/// Whether `r || s` has its S in the lower half (`s <= n / 2`); false when it does not parse.
#[must_use]
pub fn is_low_s(signature: &[u8; 64]) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| s.normalize_s().is_none())
}

/// An event's AES-256-GCM key that seals credentials inside QR codes. Zeroized on drop.
#[derive(Clone)]
pub struct QrKey(Zeroizing<[u8; 32]>);

impl QrKey {
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadQrKey)?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// The raw key, for envelope encryption before storage or for handing to the door.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for QrKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QrKey(..)")
    }
}

/// The public half of an event key set, plus its QR key, as a verifier holds it.
#[derive(Clone)]
pub(crate) struct VerifierKeys {
    /// The event this key set belongs to: it admits to that event only.
    pub(crate) event_id: String,
    pub(crate) issuer_sec1: Vec<u8>,
    pub(crate) qr: QrKey,
}

/// What a verifier needs: each event's issuer public keys and QR keys by `kid`, and revoked
/// tickets.
/// Holds no signing key, so a stolen verifier cannot mint tickets.
#[derive(Clone, Default)]
pub struct KeyRing {
    events: BTreeMap<u32, VerifierKeys>,
    revoked: BTreeSet<TicketId>,
}

impl KeyRing {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the key set named `kid`, which belongs to event `event_id`: a code
    /// it signed admits to that event only, whatever event its claims name.
    pub fn add_event_keys(
        &mut self,
        kid: u32,
        event_id: &str,
        issuer_public_sec1: &[u8],
        qr_key: QrKey,
    ) -> Result<(), KeyError> {
        let issuer = VerifyingKey::from_sec1_bytes(issuer_public_sec1)
            .map_err(|_| KeyError::BadIssuerPublicKey)?;
        let issuer_sec1 = issuer.to_encoded_point(false).as_bytes().to_vec();
        self.events.insert(
            kid,
            VerifierKeys {
                event_id: event_id.to_owned(),
                issuer_sec1,
                qr: qr_key,
            },
        );
        Ok(())
    }

    pub fn revoke(&mut self, ticket_id: TicketId) {
        self.revoked.insert(ticket_id);
    }

    #[must_use]
    pub fn is_revoked(&self, ticket_id: &TicketId) -> bool {
        self.revoked.contains(ticket_id)
    }

    /// The event the key set `kid` belongs to.
    #[must_use]
    pub fn event_of(&self, kid: u32) -> Option<&str> {
        self.events.get(&kid).map(|k| k.event_id.as_str())
    }

    #[must_use]
    pub fn kids(&self) -> Vec<u32> {
        self.events.keys().copied().collect()
    }

    pub(crate) fn get(&self, kid: u32) -> Option<&VerifierKeys> {
        self.events.get(&kid)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.kids())
            .field("revoked", &self.revoked.len())
            .finish_non_exhaustive()
    }
}
