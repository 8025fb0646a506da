//! The second factor of admins and finance: TOTP (RFC 6238, [`super::totp`]).
//!
//! - Enrolment: when an admin or finance member sets a password with a setup code (`POST
//!   /v1/staff/password`), a fresh 160-bit secret is generated here, sealed under the member's
//!   own data key (KMS `GenerateDataKey` under `PII_KEY_ID`, context
//!   `{"purpose":"staff-totp","staff_id"}`, AES-256-GCM as [`crate::pii`] seals customer data)
//!   and stored, pending, in the same transaction that consumes the setup code and stores the
//!   password hash. The answer shows it once (`otpauth://` URI and Base32); it is never
//!   returned again. A new setup code (a reset) enrols a new secret.
//! - Confirmation and use: the first sign-in with a valid code confirms the enrolment; every
//!   sign-in spends the code's time step with one conditional write (`last_step < step`), so a
//!   code (or an earlier one) works once even when sent many times at once.
//! - Admins and finance without a second factor are refused (they cannot skip it).

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::service::StaffService;
use super::totp::{base32, matching_step, otpauth_uri, DIGITS, SECRET_LEN, STEP_SECS};
use crate::error::{Error, Result};
use crate::pii::CustomerKey;
use crate::ports::KeyPurpose;

/// The sealed field name (associated data) of a TOTP secret.
const FIELD: &str = "totp";

/// A member's TOTP secret as stored: sealed, with its KMS-wrapped data key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredTotp {
    pub sealed: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub confirmed: bool,
    /// The last time step spent (0: none yet).
    pub last_step: u64,
}

impl std::fmt::Debug for StoredTotp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTotp")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// The enrolment shown once to the member (in the `POST /v1/staff/password` answer).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    pub otpauth_uri: String,
    /// Base32 (RFC 4648, no padding), for typing into an app.
    pub secret: String,
    pub digits: u32,
    pub period: u64,
    pub algorithm: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

/// What a code is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The member has no second factor.
    NotEnrolled,
    /// Wrong, malformed, out of the window, or its step already spent.
    Refused,
    /// Right, and its step spent now.
    Accepted,
}

fn purpose(staff_id: &str) -> KeyPurpose {
    KeyPurpose::StaffTotp {
        staff_id: staff_id.to_owned(),
    }
}

/// The sealing key's "customer" (associated data): `#` is not in a staff id or customer id.
fn owner(staff_id: &str) -> String {
    format!("staff#{staff_id}")
}

impl StaffService {
    /// A fresh secret for `staff_id`: the record to store and the enrolment to show once.
    pub(super) async fn new_totp(
        &self,
        issuer: &str,
        staff_id: &str,
    ) -> Result<(StoredTotp, TotpEnrolment)> {
        let secrets = self.secrets()?;
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        self.rng.fill(secret.as_mut());
        let dk = secrets.keys.generate_data_key(&purpose(staff_id)).await?;
        let key = CustomerKey::new(owner(staff_id), dk.plaintext);
        let stored = StoredTotp {
            sealed: key.seal(FIELD, secret.as_ref(), self.rng.as_ref()),
            wrapped_key: dk.wrapped,
            confirmed: false,
            last_step: 0,
        };
        let enrolment = TotpEnrolment {
            otpauth_uri: otpauth_uri(issuer, staff_id, secret.as_ref()),
            secret: base32(secret.as_ref()),
            digits: DIGITS,
            period: STEP_SECS,
            algorithm: "SHA1".into(),
        };
        Ok((stored, enrolment))
    }

    /// Checks `code` for `staff_id` at `now` and spends its step (one conditional write).
    pub(super) async fn check_totp(
        &self,
        staff_id: &str,
        code: &str,
        now: u64,
    ) -> Result<TotpCheck> {
        let credentials = self.credentials()?;
        let secrets = self.secrets()?;
        let Some(stored) = credentials.totp(staff_id).await? else {
            return Ok(TotpCheck::NotEnrolled);
        };
        let plain = secrets
            .keys
            .decrypt(&purpose(staff_id), &stored.wrapped_key)
            .await?;
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::internal("TOTP data key is not 32 bytes"))?;
        let key = CustomerKey::new(owner(staff_id), Zeroizing::new(key));
        let secret = key.open(FIELD, &stored.sealed)?;
        let Some(step) = matching_step(&secret, code, now) else {
            return Ok(TotpCheck::Refused);
        };
        if step <= stored.last_step {
            return Ok(TotpCheck::Refused);
        }
        Ok(
            if credentials
                .spend_totp_step(staff_id, &stored.wrapped_key, step)
                .await?
            {
                TotpCheck::Accepted
            } else {
                TotpCheck::Refused
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let e = TotpEnrolment {
            otpauth_uri: "otpauth://totp/k:a?secret=ABC".into(),
            secret: "ABCDEFGH".into(),
            digits: 6,
            period: 30,
            algorithm: "SHA1".into(),
        };
        assert!(!format!("{e:?}").contains("ABC"));
        let s = StoredTotp {
            sealed: vec![1, 2, 3],
            wrapped_key: vec![4, 5],
            confirmed: true,
            last_step: 9,
        };
        assert!(!format!("{s:?}").contains("[1, 2, 3]"));
    }
}
