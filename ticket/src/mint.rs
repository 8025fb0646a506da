//! Minting: sign claims, seal the credential, and present it as QR text.

use core::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload as AeadPayload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};

use crate::base45;
use crate::claims::{Claims, ClaimsError, TicketId};
use crate::keys::{low_s, IssuerKey, QrKey};
use crate::wire::{
    credential_signing_message, device_proof_message, encode_payload, qr_associated_data,
    split_sealed, Presentation, NONCE_LEN, QR_PREFIX, SIGNATURE_LEN,
};

/// Why a ticket could not be issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueError {
    Claims(ClaimsError),
    /// The claims name a different key set than the issuer key.
    KidMismatch,
    /// Bytes that are not a sealed credential.
    NotSealed,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Claims(e) => write!(f, "invalid claims: {e}"),
            Self::KidMismatch => f.write_str("claims.kid differs from the issuer key's kid"),
            Self::NotSealed => f.write_str("not a sealed credential"),
        }
    }
}

impl std::error::Error for IssueError {}

impl From<ClaimsError> for IssueError {
    fn from(e: ClaimsError) -> Self {
        Self::Claims(e)
    }
}

/// A signed credential sealed under the event's QR key: `kid || nonce || ciphertext`.
/// Opaque to everyone without the QR key, the buyer's phone included.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredential(Vec<u8>);

impl SealedCredential {
    /// Wraps stored bytes, checking only their shape.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, IssueError> {
        split_sealed(&bytes).map_err(|_| IssueError::NotSealed)?;
        Ok(Self(bytes))
    }

    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key set that sealed it.
    #[must_use]
    pub fn kid(&self) -> u32 {
        split_sealed(&self.0).map_or(0, |p| p.kid)
    }

    /// The printable form: valid only where the event accepts static tickets, and never for
    /// a device-bound credential.
    #[must_use]
    pub fn to_static_qr(&self) -> String {
        to_qr_text(&encode_payload(&Presentation::Static, &self.0))
    }
}

impl fmt::Debug for SealedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedCredential({} bytes)", self.0.len())
    }
}

fn to_qr_text(payload: &[u8]) -> String {
    let mut text = String::from(QR_PREFIX);
    text.push_str(&base45::encode(payload));
    text
}

/// Signs `claims` with `issuer` and seals the credential with `qr_key` under `nonce`.
///
/// The nonce must be fresh random bytes for every call (AES-GCM breaks if a nonce repeats
/// under one key); the caller supplies it so that this crate stays free of global randomness.
pub fn issue(
    claims: &Claims,
    issuer: &IssuerKey,
    qr_key: &QrKey,
    nonce: [u8; NONCE_LEN],
) -> Result<SealedCredential, IssueError> {
    if claims.kid != issuer.kid() {
        return Err(IssueError::KidMismatch);
    }
    let mut credential = claims.encode()?;
    let signature = issuer.sign(&credential_signing_message(&credential));
    credential.extend_from_slice(&signature);

    // A 32-byte key always fits AES-256.
    let cipher =
        Aes256Gcm::new_from_slice(qr_key.expose_secret()).map_err(|_| IssueError::NotSealed)?;
    let aad = qr_associated_data(claims.kid);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            AeadPayload {
                msg: &credential,
                aad: &aad,
            },
        )
        // AES-GCM encryption fails only for plaintexts beyond 64 GiB.
        .map_err(|_| IssueError::NotSealed)?;

    let mut sealed = Vec::with_capacity(4 + NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&claims.kid.to_be_bytes());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(SealedCredential(sealed))
}

/// The rotating code from its parts: what a phone builds after signing
/// [`device_proof_message`] with its own key (for instance with WebCrypto).
#[must_use]
pub fn rotating_qr(
    sealed: &SealedCredential,
    timestamp: u64,
    device_signature: &[u8; SIGNATURE_LEN],
) -> String {
    to_qr_text(&encode_payload(
        &Presentation::Rotating {
            timestamp,
            device_signature: *device_signature,
        },
        &sealed.0,
    ))
}

/// Signs a device proof for `timestamp` with `device` and builds the rotating code.
#[must_use]
pub fn present_with_device(
    sealed: &SealedCredential,
    ticket_id: &TicketId,
    event_id: &str,
    timestamp: u64,
    device: &SigningKey,
) -> String {
    let signature: Signature = device.sign(&device_proof_message(ticket_id, event_id, timestamp));
    rotating_qr(sealed, timestamp, &low_s(signature).to_bytes().into())
}
