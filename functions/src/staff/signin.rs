//! Password sign-in: `POST /v1/staff/sign-in` answers a door or console token, as the token
//! route does, to a member who gives their staff id (the username) and password.
//!
//! - Work: a wrong password, an unknown user, a member without a password and a deactivated
//!   member all cost one argon2id verification (against a dummy PHC when there is no hash) and
//!   answer the same `401`.
//! - Lockout: before the password is checked, one conditional write counts the attempt on the
//!   account and one on the client (its source address, hashed): refused while `failures` has
//!   reached the threshold (5 per account, 20 per client) and `locked_until` is ahead. A wrong
//!   password then holds the counter for 30 s × 2^(failures − threshold), at most an hour; the
//!   write that reaches the threshold holds it for 30 s at once, so concurrent attempts cannot
//!   slip past it. A right password clears the account's counter (not the client's). Each failed
//!   password check, with the hold it started, is recorded in the staff log (`sign_in_refused`);
//!   attempts refused while held are not.
//! - Setting a password: an admin issues a one-time setup code (`POST
//!   /v1/staff/members/{staff_id}/password-setup`, 24 h); the member sends it with the new
//!   password (`POST /v1/staff/password`). The code is stored as its SHA-256 and consumed in the
//!   same transaction that stores the PHC, so it works once. Only the PHC string is stored.
//! - Client counters are keyed by the blind index of the address ([`crate::pii::blind_index`]
//!   under the table-wide KMS-wrapped key): the address is personal data, and a plain hash of
//!   an IPv4 address is reversed by trying all 2^32 of them.
//! - Second factor: admins and finance also give a TOTP code (`totp`), checked only after the
//!   password is right; a wrong, missing or replayed code is a failed sign-in (same counters,
//!   same `401`); without an enrolled secret they are refused (`403`): they cannot skip it.
//!   Their sign-in tokens are short-lived (console: 15 min by default, at most an hour).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::password::{check_policy, hash_password, verify_password, MAX_PASSWORD_BYTES};
use super::planning::{Purpose, TokenRequest};
use super::records::{RecordDetail, StaffRecord};
use super::second_factor::{StoredTotp, TotpCheck, TotpEnrolment};
use super::service::{IssuedToken, StaffSecrets, StaffService};
use crate::audit_ingest::{self, Stream};
use crate::error::{Error, Result};
use crate::staff_identity::{valid_staff_id, Role, MAX_STAFF_ID_LEN};

/// Failures per account before it is held.
pub const ACCOUNT_THRESHOLD: u32 = 5;
/// Failures per client (source address) before it is held.
pub const CLIENT_THRESHOLD: u32 = 20;
/// First hold, doubled per further failure, and the longest.
pub const BASE_HOLD_SECS: u64 = 30;
pub const MAX_HOLD_SECS: u64 = 3600;
/// Lifetime of a setup code.
pub const SETUP_TTL_SECS: u64 = 24 * 3600;
/// The actor recorded for tokens issued by sign-in.
pub const SIGN_IN_ACTOR: &str = "sign-in";
/// Console tokens issued by sign-in: default and longest lifetime.
pub const SIGN_IN_CONSOLE_TTL_SECS: u64 = 900;
pub const SIGN_IN_MAX_CONSOLE_TTL_SECS: u64 = 3600;
/// The `otpauth://` issuer label.
pub const TOTP_ISSUER: &str = "karcis";

/// Admins and finance sign in with a second factor.
pub fn needs_second_factor(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Finance)
}

/// How long a counter at `failures` is held (0 below the threshold).
pub fn hold_secs(failures: u32, threshold: u32) -> u64 {
    if failures < threshold {
        return 0;
    }
    let doublings = (failures - threshold).min(7);
    (BASE_HOLD_SECS << doublings).min(MAX_HOLD_SECS)
}

/// The answer of counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: the failures so far, this attempt included.
    Counted(u32),
    /// Held: not counted, not to be checked.
    Locked,
}

/// Password credentials, setup codes and attempt counters.
#[async_trait]
pub trait Credentials: Send + Sync {
    /// The stored PHC string of `staff_id`'s password.
    async fn password_phc(&self, staff_id: &str) -> Result<Option<String>>;
    /// Stores a setup code's SHA-256 (hex), replacing an earlier one.
    async fn put_setup(&self, staff_id: &str, code_sha256: &str, expires_at: u64) -> Result<()>;
    /// One transaction: consumes the setup code (present, same hash, unexpired) and stores
    /// `phc` (and, for admins and finance, a new pending TOTP secret replacing any earlier
    /// one). `Ok(false)` when the code is wrong, used or expired (nothing changes).
    async fn set_password(
        &self,
        staff_id: &str,
        code_sha256: &str,
        phc: &str,
        totp: Option<&StoredTotp>,
        now: u64,
    ) -> Result<bool>;
    /// The member's TOTP secret (sealed), if enrolled.
    async fn totp(&self, staff_id: &str) -> Result<Option<StoredTotp>>;
    /// One conditional write: spends `step` of the secret wrapped as `wrapped_key` (and
    /// confirms the enrolment) if no step at or after it was spent. `Ok(false)`: replayed, or
    /// the secret was replaced meanwhile.
    async fn spend_totp_step(&self, staff_id: &str, wrapped_key: &[u8], step: u64) -> Result<bool>;
    /// One conditional write: counts an attempt on `key` (setting a hold of `provisional` s
    /// that only matters from `threshold` on) unless `key` has reached `threshold` failures
    /// and is held past `now`.
    async fn take_attempt(
        &self,
        key: &str,
        threshold: u32,
        now: u64,
        provisional: u64,
    ) -> Result<Attempt>;
    /// Holds `key` until `until` (never shortens a hold).
    async fn hold(&self, key: &str, until: u64) -> Result<()>;
    /// Forgets `key`'s failures.
    async fn clear(&self, key: &str) -> Result<()>;
    /// One conditional write: marks door token `jti` of `staff_id` refreshed (or revoked)
    /// until `until`. `Ok(false)` when it already was: it refreshes nothing.
    async fn spend_door_token(&self, staff_id: &str, jti: &str, until: u64) -> Result<bool>;
    /// Raises the line before which `staff_id`'s door tokens refresh nothing (never lowers it).
    async fn set_token_line(&self, staff_id: &str, not_before: u64) -> Result<()>;
    /// That line, if any.
    async fn token_line(&self, staff_id: &str) -> Result<Option<u64>>;
}

/// `POST /v1/staff/sign-in` body. `Debug` leaves the password out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    pub password: String,
    pub purpose: Purpose,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub gates: Option<Vec<String>>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// The TOTP code (admins and finance).
    #[serde(default)]
    pub totp: Option<String>,
    /// The scanner's public key, made before sign-in: a door token is bound to it.
    #[serde(default)]
    pub jwk: Option<crate::staff_identity::dpop::DeviceJwk>,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("username", &self.username)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/staff/password` body. `Debug` leaves the code and password out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    pub username: String,
    pub setup_code: String,
    pub password: String,
}

impl std::fmt::Debug for SetPasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPasswordRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A setup code, shown once to the admin who asked for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupCode {
    pub staff_id: String,
    pub setup_code: String,
    pub expires_at: u64,
    pub audit_seq: u64,
}

impl std::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupCode")
            .field("staff_id", &self.staff_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/staff/password` answer; `totp` (admins and finance) is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordSet {
    pub staff_id: String,
    pub audit_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpEnrolment>,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The blind-index kind of sign-in client addresses.
pub const CLIENT_INDEX_KIND: &str = "staff-sign-in-client";

/// The counter key of a client: the keyed blind index of its address (length-bounded).
pub fn client_key(index_key: &[u8; 32], client: &str) -> String {
    let client: String = client.chars().take(64).collect();
    format!(
        "client#{}",
        crate::pii::blind_index(index_key, CLIENT_INDEX_KIND, &client)
    )
}

impl StaffService {
    pub(super) fn credentials(&self) -> Result<&dyn Credentials> {
        self.credentials
            .as_deref()
            .ok_or_else(|| Error::unavailable("password sign-in is not configured"))
    }

    pub(super) fn secrets(&self) -> Result<&StaffSecrets> {
        self.secrets
            .as_deref()
            .ok_or_else(|| Error::unavailable("password sign-in is not configured"))
    }

    /// The counter key of `client` (see [`client_key`]).
    async fn client_counter(&self, client: &str) -> Result<String> {
        let key = self.secrets()?.pii.index_key().await?;
        Ok(client_key(key, client))
    }

    async fn record(
        &self,
        action: &str,
        actor: &str,
        subject: &str,
        detail: RecordDetail,
    ) -> Result<u64> {
        let now = self.clock.now();
        let link = audit_ingest::append_record(self.log.as_ref(), &Stream::Staff, now, |seq| {
            StaffRecord {
                action: action.to_owned(),
                actor: actor.to_owned(),
                at: now,
                detail: detail.clone(),
                seq,
                subject: subject.to_owned(),
            }
            .canonical()
        })
        .await?;
        Ok(link.seq)
    }

    /// Issues a one-time setup code for `staff_id` (a first password or a reset).
    pub async fn issue_setup_code(&self, actor: &str, staff_id: &str) -> Result<SetupCode> {
        let credentials = self.credentials()?;
        if !valid_staff_id(staff_id, MAX_STAFF_ID_LEN)
            || self.directory.get_member(staff_id).await?.is_none()
        {
            return Err(Error::NotFound);
        }
        let mut raw = [0u8; 16];
        self.rng.fill(&mut raw);
        let code = hex::encode(raw);
        let expires_at = self.clock.now() + SETUP_TTL_SECS;
        credentials
            .put_setup(staff_id, &sha256_hex(&code), expires_at)
            .await?;
        let detail = RecordDetail::Credential {
            change: "setup_issued".into(),
            expires_at: Some(expires_at),
        };
        let audit_seq = self
            .record("credential_changed", actor, staff_id, detail)
            .await?;
        tracing::info!(staff_id, actor, audit_seq, "password setup code issued");
        Ok(SetupCode {
            staff_id: staff_id.to_owned(),
            setup_code: code,
            expires_at,
            audit_seq,
        })
    }

    /// Sets a password with a setup code (the policy first; the code works once).
    pub async fn set_password(&self, req: &SetPasswordRequest) -> Result<PasswordSet> {
        let credentials = self.credentials()?;
        if !valid_staff_id(&req.username, MAX_STAFF_ID_LEN)
            || req.setup_code.len() != 32
            || !req.setup_code.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(Error::Unauthorized);
        }
        check_policy(&req.username, &req.password)?;
        let Some(member) = self.directory.get_member(&req.username).await? else {
            return Err(Error::Unauthorized);
        };
        // Admins and finance enrol a second factor with every new password.
        let totp = if needs_second_factor(member.role) {
            Some(self.new_totp(TOTP_ISSUER, &req.username).await?)
        } else {
            None
        };
        let password = zeroize::Zeroizing::new(req.password.clone());
        let rng = self.rng.clone();
        let phc = tokio::task::spawn_blocking(move || hash_password(&password, rng.as_ref()))
            .await
            .map_err(Error::internal)??;
        let now = self.clock.now();
        if !credentials
            .set_password(
                &req.username,
                &sha256_hex(&req.setup_code),
                &phc,
                totp.as_ref().map(|(stored, _)| stored),
                now,
            )
            .await?
        {
            return Err(Error::Unauthorized);
        }
        let detail = RecordDetail::Credential {
            change: if totp.is_some() {
                "password_and_totp_set".into()
            } else {
                "password_set".into()
            },
            expires_at: None,
        };
        let audit_seq = self
            .record("credential_changed", &req.username, &req.username, detail)
            .await?;
        tracing::info!(staff_id = %req.username, audit_seq, "staff password set");
        Ok(PasswordSet {
            staff_id: req.username.clone(),
            audit_seq,
            totp: totp.map(|(_, enrolment)| enrolment),
        })
    }

    /// Signs a member in from `client` (its source address) and issues the token asked for.
    pub async fn sign_in(&self, req: &SignInRequest, client: &str) -> Result<IssuedToken> {
        let credentials = self.credentials()?;
        if !valid_staff_id(&req.username, MAX_STAFF_ID_LEN)
            || req.password.len() > MAX_PASSWORD_BYTES
        {
            return Err(Error::Unauthorized);
        }
        let now = self.clock.now();
        let (client_key, account_key) = (
            self.client_counter(client).await?,
            format!("account#{}", req.username),
        );
        let held =
            || Error::rate_limited("too many failed sign-ins; try again later", BASE_HOLD_SECS);
        let Attempt::Counted(client_failures) = credentials
            .take_attempt(&client_key, CLIENT_THRESHOLD, now, BASE_HOLD_SECS)
            .await?
        else {
            return Err(held());
        };
        let Attempt::Counted(failures) = credentials
            .take_attempt(&account_key, ACCOUNT_THRESHOLD, now, BASE_HOLD_SECS)
            .await?
        else {
            return Err(held());
        };
        let member = self.directory.get_member(&req.username).await?;
        let phc = credentials.password_phc(&req.username).await?;
        let password = zeroize::Zeroizing::new(req.password.clone());
        let right = tokio::task::spawn_blocking(move || verify_password(phc.as_deref(), &password))
            .await
            .map_err(Error::internal)?;
        let member = member.filter(|m| right && m.active);
        let Some(member) = member else {
            self.refused(
                &req.username,
                &account_key,
                failures,
                &client_key,
                client_failures,
            )
            .await?;
            return Err(Error::Unauthorized);
        };
        let mut ttl_secs = req.ttl_secs;
        if needs_second_factor(member.role) {
            let code = req.totp.as_deref().unwrap_or_default();
            match self.check_totp(&member.staff_id, code, now).await? {
                TotpCheck::Accepted => {}
                TotpCheck::NotEnrolled => {
                    return Err(Error::Forbidden(
                        "no second factor is enrolled: ask an admin for a new setup code".into(),
                    ))
                }
                TotpCheck::Refused => {
                    self.refused(
                        &req.username,
                        &account_key,
                        failures,
                        &client_key,
                        client_failures,
                    )
                    .await?;
                    return Err(Error::Unauthorized);
                }
            }
            if req.purpose == Purpose::Console {
                let ttl = ttl_secs.unwrap_or(SIGN_IN_CONSOLE_TTL_SECS);
                if ttl > SIGN_IN_MAX_CONSOLE_TTL_SECS {
                    return Err(Error::invalid("ttl_secs", "60..=3600"));
                }
                ttl_secs = Some(ttl);
            }
        }
        credentials.clear(&account_key).await?;
        let token_request = TokenRequest {
            purpose: req.purpose,
            events: req.events.clone(),
            gates: req.gates.clone(),
            ttl_secs,
            jwk: req.jwk.clone(),
        };
        self.issue_token(SIGN_IN_ACTOR, &req.username, &token_request)
            .await
    }

    /// A failed sign-in: holds the counters that reached their threshold, and records it
    /// (the subject is the username as typed: an id, never the password).
    async fn refused(
        &self,
        username: &str,
        account_key: &str,
        failures: u32,
        client_key: &str,
        client_failures: u32,
    ) -> Result<()> {
        let credentials = self.credentials()?;
        let now = self.clock.now();
        let hold = hold_secs(failures, ACCOUNT_THRESHOLD);
        if hold > 0 {
            credentials.hold(account_key, now + hold).await?;
        }
        let client_hold = hold_secs(client_failures, CLIENT_THRESHOLD);
        if client_hold > 0 {
            credentials.hold(client_key, now + client_hold).await?;
        }
        let detail = RecordDetail::SignIn {
            failures,
            locked_until: (hold > 0).then_some(now + hold),
            outcome: "wrong_credentials".into(),
        };
        let audit_seq = self
            .record("sign_in_refused", SIGN_IN_ACTOR, username, detail)
            .await?;
        tracing::info!(
            failures,
            held = hold > 0,
            audit_seq,
            "staff sign-in refused"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_double_from_the_threshold_up_to_an_hour() {
        assert_eq!(hold_secs(4, 5), 0);
        assert_eq!(hold_secs(5, 5), 30);
        assert_eq!(hold_secs(6, 5), 60);
        assert_eq!(hold_secs(11, 5), 1920);
        assert_eq!(hold_secs(12, 5), 3600);
        assert_eq!(hold_secs(400, 5), 3600);
        let key = client_key(&[1; 32], "203.0.113.9");
        assert!(key.starts_with("client#"));
        assert!(!key.contains("203"));
        // Keyed: another key, another counter; not the plain SHA-256 of the address.
        assert_ne!(key, client_key(&[2; 32], "203.0.113.9"));
        assert!(!key.contains(&sha256_hex("203.0.113.9")[..32]));
    }
}
