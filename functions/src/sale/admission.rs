//! The waiting room's admissions at checkout: an event in queue mode (`Event::queue_mode`)
//! takes an order only with an admission the edge signed (`edge-worker/src/queue_token.rs`): an
//! ES256 compact JWS, header `{"alg":"ES256","typ":"JWT"}`, claims `iss` [`ISSUER`], `aud`
//! [`AUDIENCE`], `event_id`, `place`, `jti`, `iat`, `exp`, verified with the public key alone
//! (`WAITING_ROOM_PUBLIC_KEY`).
//!
//! An admission is spent by ONE conditional write (`ADMISSION#<jti>`, kept until it expires, by
//! TTL): the first order that presents it holds it, for that buyer and `Idempotency-Key`. A retry
//! of that order (same buyer, same key) passes again, so a reservation that failed (sold out, a
//! timeout) can be retried; any other order with it is refused (`409 admission-used`).
//!
//! [`verify`] is pure: the clock is an argument.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
use serde::Deserialize;

use crate::deps::Deps;
use crate::error::{Admission, Error, Result};
use crate::model::Event;

/// The admission's `iss`.
pub const ISSUER: &str = "karcis-waiting-room";
/// The admission's `aud`.
pub const AUDIENCE: &str = "karcis-checkout";
/// Longer tokens are refused unread.
pub const MAX_ADMISSION_LEN: usize = 1024;
/// Clock skew allowed between the edge and the back end, seconds.
pub const LEEWAY_SECS: u64 = 5;

/// The claims checkout reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub event_id: String,
    pub place: u64,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// A valid uncompressed P-256 point in hex, as its bytes.
#[must_use]
pub fn parse_public_key(hex_text: &str) -> Option<Vec<u8>> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    (bytes.len() == 65 && VerifyingKey::from_sec1_bytes(&bytes).is_ok()).then_some(bytes)
}

/// The claims of `token` if it is an ES256 JWS by `public_key` for `event_id`, unexpired at
/// `now`.
///
/// # Errors
/// `Admission::Invalid` (bad form, signature, issuer, audience, event), `Admission::Expired`.
pub fn verify(public_key: &[u8], token: &str, event_id: &str, now: u64) -> Result<Claims> {
    let invalid = || Error::Admission(Admission::Invalid);
    if token.len() > MAX_ADMISSION_LEN {
        return Err(invalid());
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    // Only ES256: a token naming another algorithm ("none", HS256) is refused before anything.
    let h: Header = URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if h.alg != "ES256" {
        return Err(invalid());
    }
    let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| invalid())?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    // The jti, not the signature's form, makes an admission single use.
    let sig = sig.normalize_s().unwrap_or(sig);
    key.verify(format!("{header}.{claims}").as_bytes(), &sig)
        .map_err(|_| invalid())?;
    let c: Claims = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if c.iss != ISSUER
        || c.aud != AUDIENCE
        || c.event_id != event_id
        || c.jti.is_empty()
        || c.jti.len() > 64
        || !c.jti.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid());
    }
    if now >= c.exp.saturating_add(LEEWAY_SECS) {
        return Err(Error::Admission(Admission::Expired));
    }
    Ok(c)
}

/// Checks the admission of an order for `event` (in queue mode) and spends it for `holder`
/// (the order's buyer-scoped idempotency key hash).
///
/// # Errors
/// `Admission::*` as in [`verify`], `Admission::Required` with none, `Admission::Used` when
/// another order holds it; `Internal` when no public key is configured (fail closed).
pub async fn require(
    d: &Deps,
    admission: Option<&str>,
    event: &Event,
    holder: &str,
    now: u64,
) -> Result<()> {
    let Some(public_key) = d.config.waiting_room_public_key.as_deref() else {
        return Err(Error::internal(
            "an event is in queue mode but WAITING_ROOM_PUBLIC_KEY is not set",
        ));
    };
    let token = admission
        .filter(|a| !a.is_empty())
        .ok_or(Error::Admission(Admission::Required))?;
    let claims = verify(public_key, token, &event.event_id, now)?;
    let expires_at = claims.exp.saturating_add(LEEWAY_SECS);
    if d.dedup
        .spend_admission(&claims.jti, holder, expires_at)
        .await?
    {
        tracing::info!(event_id = %event.event_id, place = claims.place, "admission spent");
        Ok(())
    } else {
        Err(Error::Admission(Admission::Used))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_slice(&[0x5a; 32]).unwrap()
    }

    fn public() -> Vec<u8> {
        key()
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    fn jws(header: &str, claims: &serde_json::Value, signer: &SigningKey) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig: Signature = signer.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "event_id": "fest", "place": 7,
            "jti": "0123456789abcdef0123456789abcdef", "iat": 1_000, "exp": 1_600})
    }

    const ES256: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

    #[test]
    fn a_signed_admission_for_the_event_verifies_until_it_expires() {
        let token = jws(ES256, &claims(), &key());
        let c = verify(&public(), &token, "fest", 1_200).unwrap();
        assert_eq!((c.place, c.exp), (7, 1_600));
        assert_eq!(
            verify(&public(), &token, "other", 1_200),
            Err(Error::Admission(Admission::Invalid))
        );
        assert_eq!(
            verify(&public(), &token, "fest", 1_605),
            Err(Error::Admission(Admission::Expired))
        );
        assert!(verify(&public(), &token, "fest", 1_604).is_ok());
    }

    #[test]
    fn forged_and_confused_tokens_are_invalid() {
        let invalid = Err(Error::Admission(Admission::Invalid));
        let stranger = SigningKey::from_slice(&[0x11; 32]).unwrap();
        assert_eq!(
            verify(&public(), &jws(ES256, &claims(), &stranger), "fest", 1_200),
            invalid
        );
        // Claims edited after signing.
        let token = jws(ES256, &claims(), &key());
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut edited = claims();
        edited["place"] = serde_json::json!(1);
        let edited = URL_SAFE_NO_PAD.encode(edited.to_string());
        parts[1] = &edited;
        assert_eq!(verify(&public(), &parts.join("."), "fest", 1_200), invalid);
        // Another algorithm, another issuer or audience, no signature, junk.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert_eq!(verify(&public(), &none, "fest", 1_200), invalid);
        for (field, value) in [("iss", "karcis"), ("aud", "karcis-door"), ("jti", "")] {
            let mut c = claims();
            c[field] = serde_json::json!(value);
            assert_eq!(
                verify(&public(), &jws(ES256, &c, &key()), "fest", 1_200),
                invalid
            );
        }
        assert_eq!(verify(&public(), "a.b", "fest", 1_200), invalid);
        assert_eq!(
            verify(&public(), &"a".repeat(2_000), "fest", 1_200),
            invalid
        );
    }

    #[test]
    fn public_keys_are_uncompressed_points() {
        assert!(parse_public_key(&hex::encode(public())).is_some());
        assert!(parse_public_key("04").is_none());
        assert!(parse_public_key("zz").is_none());
    }
}
