//! The waiting room's two tokens, without I/O.
//!
//! - A **place** in line: `base64url(JSON {"e": event, "p": position, "j": joined_ms})` `.`
//!   `base64url(HMAC-SHA256)`, keyed by a key derived from `WAITING_ROOM_SIGNING_KEY`. Only the
//!   edge reads it back; the MAC stops a client from polling (and taking the admission of)
//!   another place by its number.
//! - An **admission**: an ES256 compact JWS (`{"alg":"ES256","typ":"JWT"}`) signed with the
//!   P-256 scalar `WAITING_ROOM_SIGNING_KEY`, claims `iss` [`ISSUER`], `aud` [`AUDIENCE`],
//!   `event_id`, `place`, `jti` (one per place: the back end spends it once), `iat`, `exp`.
//!   Checkout verifies it with the public key only (`WAITING_ROOM_PUBLIC_KEY`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::{signature::Signer, Signature, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// The admission's `iss`.
pub const ISSUER: &str = "karcis-waiting-room";
/// The admission's `aud`.
pub const AUDIENCE: &str = "karcis-checkout";
const PLACE_LABEL: &[u8] = b"karcis-queue-place.v1\n";

/// The keys, from the signing scalar.
pub struct QueueKeys {
    signing: SigningKey,
    place_mac: Zeroizing<[u8; 32]>,
    client_mac: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for QueueKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueKeys")
    }
}

fn derive(scalar: &[u8], label: &str) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0]);
    h.update(scalar);
    Zeroizing::new(h.finalize().into())
}

fn mac(key: &[u8; 32]) -> HmacSha256 {
    // HMAC takes a key of any length.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

impl QueueKeys {
    /// From the hex scalar; `None` if it is not a valid P-256 private key.
    pub fn from_hex(secret: &str) -> Option<Self> {
        let bytes = Zeroizing::new(hex::decode(secret.trim()).ok()?);
        let signing = SigningKey::from_slice(&bytes).ok()?;
        Some(Self {
            signing,
            place_mac: derive(&bytes, "karcis-queue-place"),
            client_mac: derive(&bytes, "karcis-queue-client"),
        })
    }

    /// The public key, uncompressed SEC1 hex (the back end's `WAITING_ROOM_PUBLIC_KEY`).
    pub fn public_key_hex(&self) -> String {
        hex::encode(
            self.signing
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes(),
        )
    }

    /// A keyed hash of a client's identifiers: stored for the join limit instead of the address.
    pub fn client_key(&self, parts: &[&str]) -> String {
        let mut m = mac(&self.client_mac);
        for part in parts {
            m.update(part.as_bytes());
            m.update(&[0]);
        }
        hex::encode(&m.finalize().into_bytes()[..16])
    }
}

/// A place in line, as the token names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    #[serde(rename = "e")]
    pub event_id: String,
    #[serde(rename = "p")]
    pub position: u64,
    #[serde(rename = "j")]
    pub joined_ms: u64,
}

/// The token of `place`.
pub fn place_token(keys: &QueueKeys, place: &Place) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(place).unwrap_or_default());
    let mut m = mac(&keys.place_mac);
    m.update(PLACE_LABEL);
    m.update(payload.as_bytes());
    format!(
        "{payload}.{}",
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// The place a token names, if its MAC checks (constant time) and it is for `event_id`.
pub fn open_place(keys: &QueueKeys, event_id: &str, token: &str) -> Option<Place> {
    let (payload, tag) = token.split_once('.')?;
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    let mut m = mac(&keys.place_mac);
    m.update(PLACE_LABEL);
    m.update(payload.as_bytes());
    m.verify_slice(&tag).ok()?;
    let place: Place = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    (place.event_id == event_id).then_some(place)
}

/// The admission's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    pub iss: String,
    pub aud: String,
    pub event_id: String,
    pub place: u64,
    pub jti: String,
    pub iat: u64,
    pub exp: u64,
}

impl Admission {
    /// The admission of `place`, admitted at `admitted_s`, valid `ttl_secs`.
    pub fn of(keys: &QueueKeys, place: &Place, admitted_s: u64, ttl_secs: u64) -> Self {
        let mut m = mac(&keys.place_mac);
        m.update(b"jti\0");
        m.update(place.event_id.as_bytes());
        m.update(&place.position.to_be_bytes());
        m.update(&place.joined_ms.to_be_bytes());
        Self {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            event_id: place.event_id.clone(),
            place: place.position,
            jti: hex::encode(&m.finalize().into_bytes()[..16]),
            iat: admitted_s,
            exp: admitted_s.saturating_add(ttl_secs),
        }
    }

    /// The compact JWS (ES256, signature `r‖s`). RFC 6979: the same claims sign the same.
    pub fn sign(&self, keys: &QueueKeys) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let input = format!("{header}.{claims}");
        let sig: Signature = keys.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::Verifier, VerifyingKey};

    fn keys() -> QueueKeys {
        QueueKeys::from_hex(&"07".repeat(32)).unwrap()
    }

    fn place() -> Place {
        Place {
            event_id: "evt-a".into(),
            position: 42,
            joined_ms: 1_000,
        }
    }

    #[test]
    fn a_place_opens_for_its_event_only_and_unedited() {
        let k = keys();
        let token = place_token(&k, &place());
        assert_eq!(open_place(&k, "evt-a", &token), Some(place()));
        assert_eq!(open_place(&k, "evt-b", &token), None);
        // Another position with the first one's MAC.
        let other = place_token(
            &k,
            &Place {
                position: 1,
                ..place()
            },
        );
        let forged = format!(
            "{}.{}",
            other.split_once('.').unwrap().0,
            token.split_once('.').unwrap().1
        );
        assert_eq!(open_place(&k, "evt-a", &forged), None);
        let stranger = QueueKeys::from_hex(&"08".repeat(32)).unwrap();
        assert_eq!(open_place(&stranger, "evt-a", &token), None);
        assert_eq!(open_place(&k, "evt-a", "junk"), None);
    }

    #[test]
    fn an_admission_verifies_with_the_public_key() {
        let k = keys();
        let admission = Admission::of(&k, &place(), 100, 600);
        assert_eq!((admission.iat, admission.exp), (100, 700));
        let jws = admission.sign(&k);
        let (input, sig) = jws.rsplit_once('.').unwrap();
        let public =
            VerifyingKey::from_sec1_bytes(&hex::decode(k.public_key_hex()).unwrap()).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        assert!(public.verify(input.as_bytes(), &sig).is_ok());
        let claims: Admission = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split_once('.').unwrap().1)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims, admission);
        // One jti per place, whatever the time it is signed at.
        assert_eq!(Admission::of(&k, &place(), 999, 600).jti, admission.jti);
        let next = Place {
            position: 43,
            ..place()
        };
        assert_ne!(Admission::of(&k, &next, 100, 600).jti, admission.jti);
    }

    #[test]
    fn bad_scalars_are_refused_and_clients_are_hashed() {
        assert!(QueueKeys::from_hex("zz").is_none());
        assert!(QueueKeys::from_hex(&"00".repeat(32)).is_none());
        let k = keys();
        assert_eq!(k.client_key(&["1.2.3.4"]).len(), 32);
        assert_ne!(k.client_key(&["1.2.3.4"]), k.client_key(&["1.2.3.5"]));
        assert_ne!(k.client_key(&["a", "bc"]), k.client_key(&["ab", "c"]));
        assert!(!k.client_key(&["1.2.3.4"]).contains("1.2.3.4"));
    }
}
