//! Per-event ingest tokens and signed batch heads for `POST /v1/audit/batches`, when this
//! function has `AUDIT_HEAD_PUBLIC_KEY` (uncompressed SEC1 hex of the worker's
//! `AUDIT_SIGNING_KEY`; a public key, no secret). The worker's side is
//! `edge-worker/src/audit_forward.rs`.
//!
//! - The bearer token must be `ev1.<base64url r‖s>`, the key's signature of
//!   `"karcis-audit-token.v1\n" ‖ event_id` for the batch's own event: one event's token plants
//!   nothing in another event's chain.
//! - The batch must carry `head` `{seq, hash, signature}` naming its last entry, signed over
//!   `"karcis-audit-head.v1\n" ‖ event_id ‖ "\n" ‖ seq ‖ "\n" ‖ hash`: a holder of an ingest token
//!   without the signing key cannot plant a chain.
//!
//! Without the key the shared `AUDIT_INGEST_TOKEN_SHA256` check applies as before (migration).

use base64::Engine as _;
use ticket::p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};

use crate::audit_ingest::Batch;
use crate::error::{Error, Result};

/// Env var: the worker's audit signing public key (hex SEC1).
pub const HEAD_KEY_ENV: &str = "AUDIT_HEAD_PUBLIC_KEY";
const TOKEN_LABEL: &str = "karcis-audit-token.v1\n";
const HEAD_LABEL: &str = "karcis-audit-head.v1\n";
const TOKEN_PREFIX: &str = "ev1.";

/// The worker's audit signing public key.
#[derive(Debug, Clone)]
pub struct HeadKey {
    key: VerifyingKey,
}

impl HeadKey {
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = hex::decode(text.trim())
            .map_err(|_| Error::internal(format!("{HEAD_KEY_ENV}: not hex")))?;
        let key = VerifyingKey::from_sec1_bytes(&bytes)
            .map_err(|_| Error::internal(format!("{HEAD_KEY_ENV}: not a P-256 point")))?;
        Ok(Self { key })
    }

    /// `None` when the variable is unset or empty (heads not required yet).
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(HEAD_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::from_hex(&v).map(Some),
            _ => Ok(None),
        }
    }

    fn checks(&self, message: &str, signature_b64: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature_b64)
        else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        let sig = sig.normalize_s().unwrap_or(sig);
        self.key.verify(message.as_bytes(), &sig).is_ok()
    }

    /// Whether `token` is `event_id`'s ingest token.
    pub fn token_is_for(&self, token: &str, event_id: &str) -> bool {
        token
            .strip_prefix(TOKEN_PREFIX)
            .is_some_and(|sig| self.checks(&format!("{TOKEN_LABEL}{event_id}"), sig))
    }

    /// Whether the batch's token is its event's and its head names its last entry, signed.
    pub fn accepts(&self, token: &str, batch: &Batch) -> bool {
        let (Some(head), Some(last)) = (&batch.head, batch.entries.last()) else {
            return false;
        };
        self.token_is_for(token, &batch.event_id)
            && head.seq == last.seq
            && head.hash == last.hash
            && self.checks(
                &format!(
                    "{HEAD_LABEL}{}\n{}\n{}",
                    batch.event_id, head.seq, head.hash
                ),
                &head.signature,
            )
    }
}
