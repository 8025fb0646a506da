//! Incident command: rotate the audit ingest token and the gateway webhook secrets with an
//! overlap. Each lives in the functions' configuration (a template parameter: the token's
//! SHA-256 list `AuditIngestTokenSha256`, the KMS ciphertext `GatewaySecretsCiphertext`), and
//! each verifier already accepts any of a list, so a rotation is two deploys:
//!
//! - **start**: the new value first, the current one kept (old and new accepted while the
//!   worker's `AUDIT_INGEST_TOKEN` secret, or the provider's endpoint secret, is switched);
//! - **finish**: the new value alone (the old one refused from then on).
//!
//! The ciphertext is decrypted, changed and encrypted again with the config key under its
//! purpose (`gateway-secrets`), and checked to parse as the functions parse it; no secret is
//! printed except the new ingest token, once, for the worker.

use base64::Engine as _;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::gateway::GatewaySecrets;
use crate::ports::{KeyPurpose, Keys};

/// Which half of a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// New first, the current one still accepted.
    Start,
    /// The new (first) one alone.
    Finish,
}

/// The next `AUDIT_INGEST_TOKEN_SHA256` list (pure). Start: `new_hash` then the current first
/// hash (older ones were finished before); finish: the current first hash alone.
///
/// # Errors
/// `Invalid` if a hash is not 64 hex digits, or start is given no new hash.
pub fn ingest_hashes(current: &str, new_hash: Option<&str>, phase: Phase) -> Result<String> {
    let valid = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
    let list: Vec<&str> = current
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if list.is_empty() || !list.iter().all(|h| valid(h)) {
        return Err(Error::invalid(
            "current",
            "comma-separated hex SHA-256 hashes",
        ));
    }
    match (phase, new_hash) {
        (Phase::Start, Some(new)) if valid(new) => Ok(format!("{new},{}", list[0])),
        (Phase::Start, _) => Err(Error::invalid("new", "a hex SHA-256 hash")),
        (Phase::Finish, _) => Ok(list[0].to_owned()),
    }
}

/// The gateway secrets document with Stripe's webhook secrets rotated (pure): start puts
/// `new` first and keeps the current first one; finish keeps the first alone.
///
/// # Errors
/// `Invalid` if the document has no Stripe secrets, or the result does not parse as the
/// functions parse it.
pub fn rotate_stripe_webhook_secret(
    document: &[u8],
    new: Option<&str>,
    phase: Phase,
) -> Result<Zeroizing<Vec<u8>>> {
    let bad = || Error::invalid("gateway_secrets", "not the documented gateway secrets JSON");
    let mut doc: Value = serde_json::from_slice(document).map_err(|_| bad())?;
    let list = doc
        .get_mut("stripe")
        .and_then(|s| s.get_mut("webhook_secrets"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::invalid("gateway_secrets", "no stripe.webhook_secrets"))?;
    let first = list.first().cloned().ok_or_else(bad)?;
    *list = match (phase, new) {
        (Phase::Start, Some(new)) if !new.is_empty() && new.len() <= 4096 => {
            vec![Value::from(new), first]
        }
        (Phase::Start, _) => return Err(Error::invalid("new", "the new secret (1-4096 bytes)")),
        (Phase::Finish, _) => vec![first],
    };
    let out = Zeroizing::new(serde_json::to_vec(&doc).map_err(Error::internal)?);
    GatewaySecrets::from_json(&out).map_err(|_| bad())?;
    Ok(out)
}

/// [`rotate_stripe_webhook_secret`] on the base64 KMS ciphertext of the configuration.
///
/// # Errors
/// KMS's failures; a ciphertext that is not base64 or not of this purpose; a bad document.
pub async fn rotate_gateway_ciphertext(
    keys: &dyn Keys,
    ciphertext_b64: &str,
    new: Option<&str>,
    phase: Phase,
) -> Result<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let ciphertext = b64
        .decode(ciphertext_b64.trim())
        .map_err(|_| Error::invalid("ciphertext", "base64"))?;
    let plain = keys
        .decrypt(&KeyPurpose::GatewaySecrets, &ciphertext)
        .await?;
    let next = rotate_stripe_webhook_secret(&plain, new, phase)?;
    let sealed = keys.encrypt(&KeyPurpose::GatewaySecrets, &next).await?;
    Ok(b64.encode(sealed))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ingest_hash_lists() {
        let (a, b, c) = ("a".repeat(64), "b".repeat(64), "c".repeat(64));
        assert_eq!(
            ingest_hashes(&a, Some(&b), Phase::Start).unwrap(),
            format!("{b},{a}")
        );
        assert_eq!(
            ingest_hashes(&format!("{b},{a}"), None, Phase::Finish).unwrap(),
            b
        );
        assert_eq!(
            ingest_hashes(&format!("{b}, {a}"), Some(&c), Phase::Start).unwrap(),
            format!("{c},{b}")
        );
        assert!(ingest_hashes("", Some(&b), Phase::Start).is_err());
        assert!(ingest_hashes("xyz", Some(&b), Phase::Start).is_err());
        assert!(ingest_hashes(&a, Some("short"), Phase::Start).is_err());
        assert!(ingest_hashes(&a, None, Phase::Start).is_err());
    }
}
