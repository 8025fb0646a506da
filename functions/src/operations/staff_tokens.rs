//! Incident command: revoke every staff token at once (a signing key or the staff directory
//! may be out). Two halves, both needed:
//!
//! - a line in the table (`CONFIG`/`STAFF_TOKENS_NOT_BEFORE`, only moving forward): every
//!   console caller with a token issued before it is refused by the functions from the next
//!   request, whatever key signed the token;
//! - a new signing key: the worker's `STAFF_JWKS` with the new key's JWK alone (the old `kid`
//!   dropped), so the door refuses every token of the old key as an unknown key once
//!   `set-keys.sh` has uploaded it, and the functions sign with the new key once deployed with
//!   `STAFF_SIGNING_KEY_ID` = the new key and `StaffPreviousKeyIds` empty.
//!
//! Recorded in the staff chain (who, when, why, the new key's kid).

use crate::audit_ingest::{append_record, AuditLog, Stream};
use crate::error::Result;
use crate::operations::pause::{action_record, check_text};
use crate::staff_identity::{jwk, jwks, Jwks};
use crate::store::DynamoStore;

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revocation {
    /// Tokens issued before this time are refused.
    pub not_before: u64,
    /// The worker's new `STAFF_JWKS`: the new signing key alone.
    pub jwks: Jwks,
    pub new_kid: String,
}

/// Draws the line at `now + 1` (a token issued in this very second is refused too) and makes
/// the JWKS of `new_public_key` (SEC1, from KMS `GetPublicKey` of the new key).
///
/// # Errors
/// `Invalid` for a bad actor or reason; the table's failures.
pub async fn revoke_all_staff_tokens(
    store: &DynamoStore,
    audit: &dyn AuditLog,
    new_public_key: &[u8; 65],
    actor: &str,
    reason: &str,
    now: u64,
) -> Result<Revocation> {
    check_text("actor", actor)?;
    check_text("reason", reason)?;
    let not_before = now + 1;
    store
        .set_staff_tokens_not_before(not_before, reason)
        .await?;
    let new_kid = jwk(new_public_key).kid;
    let detail =
        format!("every staff token before {not_before}; new signing kid {new_kid}: {reason}");
    append_record(audit, &Stream::Staff, now, |seq| {
        action_record("staff_tokens_revoked", actor, now, "*", &detail, seq)
    })
    .await?;
    tracing::info!(not_before, new_kid = %new_kid, "every staff token revoked");
    Ok(Revocation {
        not_before,
        jwks: jwks(&[*new_public_key]),
        new_kid,
    })
}
