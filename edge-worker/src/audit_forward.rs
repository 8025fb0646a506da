//! Credentials of forwarded audit batches, when the worker holds `AUDIT_SIGNING_KEY` (a P-256
//! scalar, hex; its public key is the ingest function's `AUDIT_HEAD_PUBLIC_KEY`):
//!
//! - a per-event ingest token, `Bearer ev1.<base64url r‖s>`: the signature of
//!   `"karcis-audit-token.v1\n" ‖ event_id` (deterministic, RFC 6979), so one event's token is
//!   worth nothing for another event's chain;
//! - a signed head in each batch, `"head": {"seq", "hash", "signature"}`: the signature of
//!   `"karcis-audit-head.v1\n" ‖ event_id ‖ "\n" ‖ seq ‖ "\n" ‖ hash hex` over the batch's last
//!   entry, so a holder of an ingest token alone cannot plant a chain.
//!
//! Without the key the door sends the shared `AUDIT_INGEST_TOKEN` as before (the migration).
//! Pure (no worker bindings): the ingest's tests compile this file natively.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ticket::p256::ecdsa::{signature::Signer, Signature, SigningKey};

pub const TOKEN_LABEL: &str = "karcis-audit-token.v1\n";
pub const HEAD_LABEL: &str = "karcis-audit-head.v1\n";
/// Prefix of a per-event token.
pub const TOKEN_PREFIX: &str = "ev1.";

fn sign(key: &SigningKey, message: &[u8]) -> String {
    let signature: Signature = key.sign(message);
    URL_SAFE_NO_PAD.encode(signature.to_bytes())
}

/// The event's ingest token.
pub fn event_token(key: &SigningKey, event_id: &str) -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        sign(key, format!("{TOKEN_LABEL}{event_id}").as_bytes())
    )
}

/// What a batch head's signature covers.
pub fn head_message(event_id: &str, seq: u64, hash_hex: &str) -> String {
    format!("{HEAD_LABEL}{event_id}\n{seq}\n{hash_hex}")
}

/// The `head` of a batch whose last entry is `seq` with `hash_hex`.
pub fn head(key: &SigningKey, event_id: &str, seq: u64, hash_hex: &str) -> serde_json::Value {
    serde_json::json!({
        "seq": seq,
        "hash": hash_hex,
        "signature": sign(key, head_message(event_id, seq, hash_hex).as_bytes()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The vector shared with the ingest (functions/src/audit_heads.rs).
    #[test]
    fn tokens_are_per_event_and_deterministic() {
        let key = SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(event_token(&key, "evt-a"), event_token(&key, "evt-a"));
        assert_ne!(event_token(&key, "evt-a"), event_token(&key, "evt-b"));
        assert!(event_token(&key, "evt-a").starts_with("ev1."));
        assert_eq!(
            head_message("evt-a", 7, "ab"),
            "karcis-audit-head.v1\nevt-a\n7\nab"
        );
    }
}
