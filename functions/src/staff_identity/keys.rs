//! Keys: KMS formats -> JOSE (SPKI, DER signatures), the JWKS, the signer port and the verify
//! keys by `kid`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// DER `SubjectPublicKeyInfo` prefix of an uncompressed P-256 key (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// KMS `GetPublicKey` (DER SPKI) -> SEC1 uncompressed point, checked to be on the curve.
pub fn spki_to_sec1(der: &[u8]) -> Result<[u8; 65]> {
    let point = der
        .strip_prefix(&P256_SPKI_PREFIX[..])
        .filter(|p| p.len() == 65 && p[0] == 4)
        .ok_or_else(|| Error::internal("signing key is not an uncompressed P-256 SPKI"))?;
    VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| Error::internal("signing key is not a P-256 point"))?;
    let mut out = [0u8; 65];
    out.copy_from_slice(point);
    Ok(out)
}

/// KMS `Sign` (DER `ECDSA-Sig-Value`) -> JOSE `r || s` with a low S.
pub fn der_to_jose(der: &[u8]) -> Result<[u8; 64]> {
    let sig =
        Signature::from_der(der).map_err(|_| Error::internal("KMS signature is not DER ECDSA"))?;
    let sig = sig.normalize_s().unwrap_or(sig);
    Ok(sig.to_bytes().into())
}

/// A public JWK (P-256, ES256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub kid: String,
    pub x: String,
    pub y: String,
}

/// A JWKS: what ops put in the worker's `STAFF_JWKS` secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// The JWK of a SEC1 uncompressed P-256 key; `kid` = RFC 7638 SHA-256 thumbprint.
pub fn jwk(sec1: &[u8; 65]) -> Jwk {
    let x = URL_SAFE_NO_PAD.encode(&sec1[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&sec1[33..65]);
    // RFC 7638: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    Jwk {
        kty: "EC".to_owned(),
        crv: "P-256".to_owned(),
        alg: "ES256".to_owned(),
        use_: "sig".to_owned(),
        kid,
        x,
        y,
    }
}

/// The JWKS of the current key and the retired ones still accepted.
pub fn jwks(keys: &[[u8; 65]]) -> Jwks {
    Jwks {
        keys: keys.iter().map(jwk).collect(),
    }
}

/// Signs token input with a P-256 key.
#[async_trait]
pub trait TokenSigner: Send + Sync {
    /// SEC1 uncompressed public key.
    fn public_key(&self) -> [u8; 65];
    /// ES256 over `message` (SHA-256 inside), JOSE `r || s`.
    async fn sign(&self, message: &[u8]) -> Result<[u8; 64]>;
}

/// Public keys that verify tokens, by `kid`.
#[derive(Clone, Default)]
pub struct VerifyKeys {
    by_kid: BTreeMap<String, VerifyingKey>,
    /// The same keys for `jsonwebtoken`.
    decoding: BTreeMap<String, jsonwebtoken::DecodingKey>,
}

impl std::fmt::Debug for VerifyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKeys")
            .field("kids", &self.by_kid.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl VerifyKeys {
    /// The key of `kid`, if it is one of ours.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.by_kid.get(kid)
    }

    /// The `jsonwebtoken` key of `kid`, if it is one of ours.
    pub fn decoding_key(&self, kid: &str) -> Option<&jsonwebtoken::DecodingKey> {
        self.decoding.get(kid)
    }

    pub fn new(keys: &[[u8; 65]]) -> Result<Self> {
        let mut by_kid = BTreeMap::new();
        let mut decoding = BTreeMap::new();
        for k in keys {
            let vk = VerifyingKey::from_sec1_bytes(k)
                .map_err(|_| Error::internal("staff key is not a P-256 point"))?;
            let j = jwk(k);
            let dk = jsonwebtoken::DecodingKey::from_ec_components(&j.x, &j.y)
                .map_err(|_| Error::internal("staff key is not a P-256 point"))?;
            by_kid.insert(j.kid.clone(), vk);
            decoding.insert(j.kid, dk);
        }
        Ok(Self { by_kid, decoding })
    }
}

/// A local P-256 signer (tests only; production signs with KMS).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct LocalSigner(pub p256::ecdsa::SigningKey);

#[cfg(any(test, feature = "testing"))]
#[async_trait]
impl TokenSigner for LocalSigner {
    fn public_key(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out.copy_from_slice(self.0.verifying_key().to_encoded_point(false).as_bytes());
        out
    }
    async fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
        use p256::ecdsa::signature::Signer as _;
        let sig: Signature = self.0.sign(message);
        Ok(sig.to_bytes().into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use p256::ecdsa::signature::Verifier as _;

    use super::*;

    #[test]
    fn der_and_spki_convert() {
        use p256::ecdsa::signature::Signer as _;
        let sk = p256::ecdsa::SigningKey::from_slice(&[3u8; 32]).unwrap();
        let sig: Signature = sk.sign(b"hello");
        let der = sig.to_der();
        let jose = der_to_jose(der.as_bytes()).unwrap();
        let back = Signature::from_slice(&jose).unwrap();
        assert!(sk.verifying_key().verify(b"hello", &back).is_ok());
        assert!(back.normalize_s().is_none(), "low S");
        assert!(der_to_jose(&der.as_bytes()[1..]).is_err());
        let point = sk.verifying_key().to_encoded_point(false);
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(point.as_bytes());
        assert_eq!(spki_to_sec1(&spki).unwrap().as_slice(), point.as_bytes());
        spki[30] ^= 1;
        assert!(spki_to_sec1(&spki).is_err());
        assert!(spki_to_sec1(&spki[..90]).is_err());
    }

    #[test]
    fn thumbprint_is_rfc7638() {
        // RFC 7638 defines the input; check it against an independent construction.
        let sk = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
        let mut sec1 = [0u8; 65];
        sec1.copy_from_slice(sk.verifying_key().to_encoded_point(false).as_bytes());
        let j = jwk(&sec1);
        let json = serde_json::json!({"crv": "P-256", "kty": "EC", "x": j.x, "y": j.y});
        let expect = URL_SAFE_NO_PAD.encode(Sha256::digest(json.to_string().as_bytes()));
        assert_eq!(j.kid, expect);
        assert_eq!(j.kid.len(), 43);
    }
}
