//! Verification at the door: one decision procedure, two ways to check signatures.

use core::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload as AeadPayload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};

use crate::base45;
use crate::claims::{Claims, ClaimsError};
use crate::keys::{is_low_s, KeyRing};
use crate::wire::{
    credential_signing_message, decode_payload, device_proof_message, qr_associated_data,
    PayloadError, Presentation, DEFAULT_FRESHNESS_SECS, MAX_QR_TEXT_LEN, QR_PREFIX, SIGNATURE_LEN,
};

/// The event's admission policy, as the verifier applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The event being admitted; a ticket for any other event is refused.
    pub event_id: String,
    /// The gate scanning, if entitlement should be checked.
    pub gate: Option<String>,
    /// Whether printable (not device-bound) tickets admit.
    pub accept_static: bool,
    /// How far a device proof's timestamp may be from the verifier's clock, either way.
    pub freshness_secs: u64,
}

impl Policy {
    /// Device-bound tickets only, any gate, a ±30 s freshness window.
    #[must_use]
    pub fn new(event_id: impl Into<String>) -> Self {
        Self {
            event_id: event_id.into(),
            gate: None,
            accept_static: false,
            freshness_secs: DEFAULT_FRESHNESS_SECS,
        }
    }
}

/// Why a code was refused. `code()` gives the stable name used in APIs and test vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Not a karcis code, or its bytes do not parse.
    Malformed,
    /// A karcis code of a format version this verifier does not know.
    UnsupportedVersion,
    /// Sealed under a key set this verifier does not hold.
    UnknownKey,
    /// The AEAD tag does not check: altered, truncated, or sealed with another key.
    Undecryptable,
    /// The issuer's signature does not check: forged by someone holding only the QR key.
    BadIssuerSignature,
    /// A device-bound ticket presented without a device proof (a printed or copied credential).
    DeviceProofRequired,
    /// The device proof is not signed by the ticket's device key.
    BadDeviceProof,
    /// The device proof is outside the freshness window: a screenshot or a replay.
    StaleProof,
    NotYetValid,
    Expired,
    WrongEvent,
    Revoked,
    /// A static code where the event admits device-bound tickets only.
    StaticNotAllowed,
    /// The ticket is not entitled to this gate.
    GateNotAllowed,
}

impl Rejection {
    /// Every rejection, for exhaustive tests and documentation.
    pub const ALL: [Self; 14] = [
        Self::Malformed,
        Self::UnsupportedVersion,
        Self::UnknownKey,
        Self::Undecryptable,
        Self::BadIssuerSignature,
        Self::DeviceProofRequired,
        Self::BadDeviceProof,
        Self::StaleProof,
        Self::NotYetValid,
        Self::Expired,
        Self::WrongEvent,
        Self::Revoked,
        Self::StaticNotAllowed,
        Self::GateNotAllowed,
    ];

    /// The stable snake_case name.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownKey => "unknown_key",
            Self::Undecryptable => "undecryptable",
            Self::BadIssuerSignature => "bad_issuer_signature",
            Self::DeviceProofRequired => "device_proof_required",
            Self::BadDeviceProof => "bad_device_proof",
            Self::StaleProof => "stale_proof",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::WrongEvent => "wrong_event",
            Self::Revoked => "revoked",
            Self::StaticNotAllowed => "static_not_allowed",
            Self::GateNotAllowed => "gate_not_allowed",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for Rejection {}

/// A ticket that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTicket {
    pub claims: Claims,
    /// The device proof's timestamp, for device-bound tickets.
    pub proof_timestamp: Option<u64>,
}

/// One ECDSA P-256 / SHA-256 verification for the caller to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    /// Uncompressed SEC1 public key (65 bytes): WebCrypto's `raw` import format.
    pub public_key_sec1: Vec<u8>,
    /// The message (the verifier hashes it with SHA-256).
    pub message: Vec<u8>,
    /// `r || s`, 32 bytes each (IEEE P1363, WebCrypto's format).
    pub signature: [u8; SIGNATURE_LEN],
    /// Only a low-S signature (`s <= n / 2`) counts: true for the ticket's signatures
    /// (FORMAT.md), so `(r, n - s)`, valid too, cannot make a second code. A caller that
    /// checks with another implementation must refuse when [`Self::has_acceptable_form`] is false.
    pub low_s_only: bool,
}

impl SignatureCheck {
    /// False for a high-S signature where only low S counts: fails without any curve arithmetic.
    #[must_use]
    pub fn has_acceptable_form(&self) -> bool {
        !self.low_s_only || is_low_s(&self.signature)
    }

    /// Performs the check with the `p256` crate.
    #[must_use]
    pub fn verify_with_p256(&self) -> bool {
        if !self.has_acceptable_form() {
            return false;
        }
        let Ok(key) = VerifyingKey::from_sec1_bytes(&self.public_key_sec1) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&self.signature) else {
            return false;
        };
        key.verify(&self.message, &signature).is_ok()
    }
}

/// A code that decrypted and parsed, with its signature checks still to do.
/// Nothing in it may be trusted until [`Opened::decide`] accepts it.
#[derive(Debug, Clone)]
pub struct Opened {
    claims: Claims,
    proof_timestamp: Option<u64>,
    pub issuer_check: SignatureCheck,
    pub device_check: Option<SignatureCheck>,
}

/// First phase: decode, decrypt and parse a QR text, and say which signatures to check.
pub fn open(qr: &str, ring: &KeyRing) -> Result<Opened, Rejection> {
    if qr.len() > MAX_QR_TEXT_LEN {
        return Err(Rejection::Malformed);
    }
    let Some(encoded) = qr.strip_prefix(QR_PREFIX) else {
        // "KC" and another version digit: a karcis code from another format version.
        let other_version = qr.len() > QR_PREFIX.len()
            && qr.starts_with("KC")
            && qr.as_bytes()[2].is_ascii_digit()
            && qr.as_bytes()[3] == b':';
        return Err(if other_version {
            Rejection::UnsupportedVersion
        } else {
            Rejection::Malformed
        });
    };
    let bytes = base45::decode(encoded).map_err(|_| Rejection::Malformed)?;
    let payload = decode_payload(&bytes).map_err(|e| match e {
        PayloadError::Malformed => Rejection::Malformed,
        PayloadError::UnsupportedVersion => Rejection::UnsupportedVersion,
    })?;
    let keys = ring.get(payload.kid).ok_or(Rejection::UnknownKey)?;

    let cipher =
        Aes256Gcm::new_from_slice(keys.qr.expose_secret()).map_err(|_| Rejection::UnknownKey)?;
    let aad = qr_associated_data(payload.kid);
    let credential = cipher
        .decrypt(
            &Nonce::from(payload.nonce),
            AeadPayload {
                msg: payload.ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| Rejection::Undecryptable)?;

    // From here on the bytes are authentic to whoever holds the QR key: parse, but trust
    // nothing until the issuer's signature checks.
    let split = credential
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(Rejection::Malformed)?;
    let (encoded_claims, signature) = credential.split_at(split);
    let claims = Claims::decode(encoded_claims).map_err(|e| match e {
        ClaimsError::UnsupportedVersion => Rejection::UnsupportedVersion,
        _ => Rejection::Malformed,
    })?;
    if claims.kid != payload.kid {
        return Err(Rejection::Malformed);
    }
    let mut issuer_signature = [0u8; SIGNATURE_LEN];
    issuer_signature.copy_from_slice(signature);
    let issuer_check = SignatureCheck {
        public_key_sec1: keys.issuer_sec1.clone(),
        message: credential_signing_message(encoded_claims),
        signature: issuer_signature,
        low_s_only: true,
    };

    let (proof_timestamp, device_check) = match (payload.presentation, &claims.device_key) {
        (
            Presentation::Rotating {
                timestamp,
                device_signature,
            },
            Some(device_key),
        ) => (
            Some(timestamp),
            Some(SignatureCheck {
                public_key_sec1: device_key.to_sec1_uncompressed(),
                message: device_proof_message(&claims.ticket_id, &claims.event_id, timestamp),
                signature: device_signature,
                low_s_only: true,
            }),
        ),
        (Presentation::Rotating { timestamp, .. }, None) => (Some(timestamp), None),
        (Presentation::Static, _) => (None, None),
    };

    Ok(Opened {
        claims,
        proof_timestamp,
        issuer_check,
        device_check,
    })
}

impl Opened {
    /// The claims, not yet trustworthy: for logging a ticket id after a rejection, say.
    #[must_use]
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// Second phase: the whole admission decision, given the outcome of the signature checks.
    /// `device_valid` is the outcome of `device_check` (`None` when there was none to do).
    /// A high-S signature is refused here whatever the caller's implementation said.
    pub fn decide(
        self,
        issuer_valid: bool,
        device_valid: Option<bool>,
        now: u64,
        ring: &KeyRing,
        policy: &Policy,
    ) -> Result<VerifiedTicket, Rejection> {
        if !issuer_valid || !self.issuer_check.has_acceptable_form() {
            return Err(Rejection::BadIssuerSignature);
        }
        let claims = &self.claims;
        match (&claims.device_key, self.proof_timestamp) {
            (Some(_), None) => return Err(Rejection::DeviceProofRequired),
            // A device proof for a ticket with no device: nothing to check it against.
            (None, Some(_)) => return Err(Rejection::BadDeviceProof),
            (Some(_), Some(timestamp)) => {
                let form_ok = self
                    .device_check
                    .as_ref()
                    .is_some_and(SignatureCheck::has_acceptable_form);
                if !form_ok || device_valid != Some(true) {
                    return Err(Rejection::BadDeviceProof);
                }
                if now.abs_diff(timestamp) > policy.freshness_secs {
                    return Err(Rejection::StaleProof);
                }
            }
            (None, None) => {
                if !policy.accept_static {
                    return Err(Rejection::StaticNotAllowed);
                }
            }
        }
        // The claims name the event, and the key set that signed them must be that event's:
        // a leaked key set of one event mints for no other.
        if claims.event_id != policy.event_id
            || ring.event_of(claims.kid) != Some(policy.event_id.as_str())
        {
            return Err(Rejection::WrongEvent);
        }
        if ring.is_revoked(&claims.ticket_id) {
            return Err(Rejection::Revoked);
        }
        if now < claims.not_before {
            return Err(Rejection::NotYetValid);
        }
        if now > claims.not_after {
            return Err(Rejection::Expired);
        }
        if let Some(gate) = &policy.gate {
            if !claims.admits_gate(gate) {
                return Err(Rejection::GateNotAllowed);
            }
        }
        Ok(VerifiedTicket {
            claims: self.claims,
            proof_timestamp: self.proof_timestamp,
        })
    }
}

/// Verifies a QR text at time `now` (unix seconds): the single entry point at the door,
/// with both signatures checked by the `p256` crate.
pub fn verify(
    qr: &str,
    now: u64,
    ring: &KeyRing,
    policy: &Policy,
) -> Result<VerifiedTicket, Rejection> {
    let opened = open(qr, ring)?;
    let issuer_valid = opened.issuer_check.verify_with_p256();
    let device_valid = opened
        .device_check
        .as_ref()
        .map(SignatureCheck::verify_with_p256);
    opened.decide(issuer_valid, device_valid, now, ring, policy)
}
