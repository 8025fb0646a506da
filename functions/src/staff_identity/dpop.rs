//! Device binding of door tokens (RFC 9449, DPoP), the back end's half: the scanner's public
//! key (a P-256 JWK sent with sign-in) becomes the token's `cnf.jkt` (its RFC 7638 thumbprint),
//! and the refresh route checks a proof signed by that key. The edge worker checks the proofs of
//! door requests itself (`edge-worker/src/dpop.rs`, the same rules).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// How far a proof's `iat` may be from now (the edge's `DPOP_WINDOW_SECS` default).
pub const PROOF_WINDOW_SECS: u64 = 60;
/// Longest proof read.
pub const MAX_PROOF_LEN: usize = 2048;

/// The token's confirmation claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cnf {
    pub jkt: String,
}

/// A device's public key as sent with sign-in: exactly the four public members of a P-256 JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceJwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
}

impl DeviceJwk {
    /// The uncompressed SEC1 point, once the JWK is a valid P-256 public key.
    pub fn sec1(&self) -> Result<Vec<u8>> {
        let bad = || Error::invalid("jwk", "a P-256 public key (kty EC, crv P-256, x, y)");
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(bad());
        }
        let coordinate = |v: &str| {
            URL_SAFE_NO_PAD
                .decode(v)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(bad)
        };
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&coordinate(&self.x)?);
        sec1.extend_from_slice(&coordinate(&self.y)?);
        VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| bad())?;
        Ok(sec1)
    }

    /// The RFC 7638 SHA-256 thumbprint (base64url) of a valid key: the `kid` that
    /// [`super::jwk`] gives the staff signing keys.
    pub fn thumbprint(&self) -> Result<String> {
        let sec1: [u8; 65] = self
            .sec1()?
            .try_into()
            .map_err(|_| Error::invalid("jwk", "a P-256 public key"))?;
        Ok(super::jwk(&sec1).kid)
    }

    /// The JWK of a key.
    pub fn of(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(false);
        Self {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: point
                .x()
                .map(|x| URL_SAFE_NO_PAD.encode(x))
                .unwrap_or_default(),
            y: point
                .y()
                .map(|y| URL_SAFE_NO_PAD.encode(y))
                .unwrap_or_default(),
        }
    }
}

/// `ath`: base64url SHA-256 of the access token.
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A proof by `key` for `htm` `htu` and `token` at `iat` (the back end's own calls to the edge).
pub fn sign_proof(
    key: &SigningKey,
    htm: &str,
    htu: &str,
    token: &str,
    iat: u64,
    jti: &str,
) -> String {
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": DeviceJwk::of(key.verifying_key())});
    let claims =
        serde_json::json!({"htm": htm, "htu": htu, "iat": iat, "jti": jti, "ath": ath(token)});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature: Signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// What a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofFor<'a> {
    pub method: &'a str,
    /// The route's path; `htu` is compared by path only (as at the edge).
    pub path: &'a str,
    pub token: &'a str,
    pub jkt: &'a str,
    pub now: u64,
}

#[derive(Deserialize)]
struct RawHeader {
    typ: String,
    alg: String,
    jwk: DeviceJwk,
}

/// The claims of a checked proof.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProofClaims {
    pub htm: String,
    pub htu: String,
    pub iat: u64,
    pub jti: String,
    pub ath: String,
}

/// The path of an absolute http(s) URL, without query or fragment.
pub fn htu_path(htu: &str) -> Option<&str> {
    let rest = htu
        .strip_prefix("https://")
        .or_else(|| htu.strip_prefix("http://"))?;
    let path = &rest[rest.find('/')?..];
    Some(&path[..path.find(['?', '#']).unwrap_or(path.len())])
}

/// Whether a proof's `htu` names the route at `path`: the same path, or the path under a mount
/// prefix (a reverse proxy that serves the route at `/edge/v1/scan` and forwards `/v1/scan`).
/// Scheme, host and query are not compared.
pub fn htu_matches(htu: &str, path: &str) -> bool {
    htu_path(htu).is_some_and(|p| p == path || (path.starts_with('/') && p.ends_with(path)))
}

/// Checks a proof (signature through `jsonwebtoken`, ES256 only, key from its header) against
/// the request and the token's binding. Every failure is `401` and says nothing more.
pub fn verify_proof(proof: &str, want: &ProofFor<'_>) -> Result<ProofClaims> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(Error::Unauthorized);
    }
    let header_b64 = proof.split('.').next().unwrap_or_default();
    let header: RawHeader = URL_SAFE_NO_PAD
        .decode(header_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Error::Unauthorized)?;
    if header.typ != "dpop+jwt" || header.alg != "ES256" {
        return Err(Error::Unauthorized);
    }
    let jkt = header.jwk.thumbprint().map_err(|_| Error::Unauthorized)?;
    if !constant_time_eq(jkt.as_bytes(), want.jkt.as_bytes()) {
        return Err(Error::Unauthorized);
    }
    let key = jsonwebtoken::DecodingKey::from_ec_components(&header.jwk.x, &header.jwk.y)
        .map_err(|_| Error::Unauthorized)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims::<&str>(&[]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<ProofClaims>(proof, &key, &validation)
        .map_err(|_| Error::Unauthorized)?
        .claims;
    let fits = claims.htm.eq_ignore_ascii_case(want.method)
        && htu_matches(&claims.htu, want.path)
        && claims.iat.abs_diff(want.now) <= PROOF_WINDOW_SECS
        && constant_time_eq(claims.ath.as_bytes(), ath(want.token).as_bytes())
        && !claims.jti.is_empty()
        && claims.jti.len() <= 128;
    if !fits {
        return Err(Error::Unauthorized);
    }
    Ok(claims)
}

/// The key in a proof's header (the caller checked the proof first).
pub fn proof_jwk(proof: &str) -> Option<DeviceJwk> {
    let header_b64 = proof.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header_b64).ok()?;
    serde_json::from_slice::<RawHeader>(&bytes)
        .ok()
        .map(|h| h.jwk)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn the_thumbprint_is_rfc_9449s() {
        let jwk = DeviceJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        let mut off_curve = jwk.clone();
        off_curve.y = URL_SAFE_NO_PAD.encode([1u8; 32]);
        assert!(off_curve.thumbprint().is_err());
        let mut rsa = jwk;
        rsa.kty = "RSA".into();
        assert!(rsa.thumbprint().is_err());
        assert!(serde_json::from_str::<DeviceJwk>(
            r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"secret"}"#
        )
        .is_err());
    }

    #[test]
    fn proofs_check_key_route_time_and_token() {
        let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
        let jkt = DeviceJwk::of(key.verifying_key()).thumbprint().unwrap();
        let want = ProofFor {
            method: "POST",
            path: "/v1/staff/refresh",
            token: "a.b.c",
            jkt: &jkt,
            now: NOW,
        };
        let good = sign_proof(
            &key,
            "POST",
            "https://api.example/v1/staff/refresh",
            "a.b.c",
            NOW,
            "j1",
        );
        assert_eq!(verify_proof(&good, &want).unwrap().jti, "j1");
        let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
        let refused = [
            sign_proof(
                &other,
                "POST",
                "https://api.example/v1/staff/refresh",
                "a.b.c",
                NOW,
                "j1",
            ),
            sign_proof(
                &key,
                "GET",
                "https://api.example/v1/staff/refresh",
                "a.b.c",
                NOW,
                "j1",
            ),
            sign_proof(
                &key,
                "POST",
                "https://api.example/v1/scan",
                "a.b.c",
                NOW,
                "j1",
            ),
            sign_proof(
                &key,
                "POST",
                "https://api.example/v1/staff/refresh",
                "x.y.z",
                NOW,
                "j1",
            ),
            sign_proof(
                &key,
                "POST",
                "https://api.example/v1/staff/refresh",
                "a.b.c",
                NOW - 61,
                "j1",
            ),
            sign_proof(
                &key,
                "POST",
                "https://api.example/v1/staff/refresh",
                "a.b.c",
                NOW + 61,
                "j1",
            ),
            "x.y.z".to_owned(),
        ];
        for p in refused {
            assert!(verify_proof(&p, &want).is_err(), "{p}");
        }
        // The right key in the header, signed by another.
        let parts: Vec<&str> = good.split('.').collect();
        let forged_sig = sign_proof(
            &other,
            "POST",
            "https://api.example/v1/staff/refresh",
            "a.b.c",
            NOW,
            "j1",
        );
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            forged_sig.split('.').nth(2).unwrap()
        );
        assert!(verify_proof(&forged, &want).is_err());
    }
}
