//! Device-bound door tokens, in the manner of DPoP (RFC 9449).
//!
//! A door token issued by sign-in carries `cnf: {"jkt"}`, the RFC 7638 SHA-256 thumbprint of the
//! scanner's P-256 public key (made, non-extractable, before sign-in). Every request with such a
//! token carries `DPoP: <compact JWS>`: header `typ: "dpop+jwt"`, `alg: "ES256"`, `jwk` (the
//! public key, no private part), claims `htm` (the method), `htu` (the route's URL), `iat`, `jti`
//! and `ath` (base64url SHA-256 of the access token). The edge checks, in order: the proof's
//! form, the thumbprint of its `jwk` against the token's `cnf.jkt`, `htm`, `htu`, `iat` within
//! `DPOP_WINDOW_SECS` (default 60) either side of now, `ath`, the signature, and last (one
//! atomic insert in the member's `StaffDevices` Durable Object) that the `jti` was not used
//! before within the window.
//!
//! `htu` is compared by path only ([`htu_matches`]): the scheme, host and query are not
//! compared (the worker answers under several names: a custom domain, workers.dev, a local
//! proxy), and a mount prefix is allowed (the scanner's `/edge/v1/scan` reaches the worker as
//! `/v1/scan` through a reverse proxy). The proof is still bound to one route (`/v1/scan` is
//! not `/v1/sync`), one method, one token (`ath`) and one use (`jti`).
//!
//! Tokens without `cnf` (issued before binding, or pasted from an admin) are refused with
//! `unbound_token` unless `ALLOW_UNBOUND_DOOR_TOKENS = "true"` (a migration switch;
//! `wrangler.toml` ships `"false"`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use ticket::SignatureCheck;

use crate::api::{valid_id, MAX_SCAN_ID_LEN};
use crate::auth::AuthError;

/// Longest proof read.
pub const MAX_PROOF_LEN: usize = 2048;
/// Default and ceiling of `DPOP_WINDOW_SECS`: how far `iat` may be from now.
pub const DEFAULT_WINDOW_SECS: u64 = 60;
pub const MAX_WINDOW_SECS: u64 = 300;

/// The RFC 7638 thumbprint (SHA-256, base64url) of a JWK given its *required* members, in any
/// order: they are sorted and serialised with no whitespace, as the RFC says.
pub fn thumbprint(members: &[(&str, &str)]) -> String {
    let mut sorted = members.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| {
            format!(
                "{}:{}",
                serde_json::Value::from(*k),
                serde_json::Value::from(*v)
            )
        })
        .collect();
    let json = format!("{{{}}}", body.join(","));
    URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()))
}

/// The thumbprint of a P-256 public key given as an uncompressed SEC1 point.
pub fn thumbprint_of_sec1(sec1: &[u8]) -> Option<String> {
    if sec1.len() != 65 || sec1[0] != 4 {
        return None;
    }
    let x = URL_SAFE_NO_PAD.encode(&sec1[1..33]);
    let y = URL_SAFE_NO_PAD.encode(&sec1[33..]);
    Some(thumbprint(&[
        ("crv", "P-256"),
        ("kty", "EC"),
        ("x", &x),
        ("y", &y),
    ]))
}

#[derive(Deserialize)]
struct ProofJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    /// A private key in the header is refused (RFC 9449 §4.3 step 6... and common sense).
    #[serde(default)]
    d: Option<String>,
}

#[derive(Deserialize)]
struct ProofHeader {
    typ: String,
    alg: String,
    jwk: ProofJwk,
}

#[derive(Deserialize)]
struct ProofClaims {
    htm: String,
    htu: String,
    iat: u64,
    jti: String,
    ath: String,
}

/// A proof whose signature is still to be checked.
#[derive(Debug)]
pub struct UnverifiedProof {
    pub check: SignatureCheck,
    /// The thumbprint of the key in the header.
    pub jkt: String,
    htm: String,
    htu: String,
    iat: u64,
    jti: String,
    ath: String,
}

/// What the request the proof came with must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
    pub now: u64,
    pub window_secs: u64,
}

/// A proof that checked: the key under which its `jti` is remembered, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub replay_key: String,
    pub remember_until: u64,
}

fn b64_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::DpopInvalid)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::DpopInvalid)
}

/// First phase: the proof's form and its key. Anything but an ES256 `dpop+jwt` with a public
/// P-256 `jwk` is refused before any signature work.
pub fn parse(proof: &str) -> Result<UnverifiedProof, AuthError> {
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(AuthError::DpopInvalid);
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::DpopInvalid);
    };
    let header: ProofHeader = b64_json(h)?;
    if header.typ != "dpop+jwt" || header.alg != "ES256" {
        return Err(AuthError::DpopInvalid);
    }
    let jwk = header.jwk;
    if jwk.kty != "EC" || jwk.crv != "P-256" || jwk.d.is_some() {
        return Err(AuthError::DpopInvalid);
    }
    let coordinate = |v: &str| {
        URL_SAFE_NO_PAD
            .decode(v)
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or(AuthError::DpopInvalid)
    };
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(4);
    sec1.extend_from_slice(&coordinate(&jwk.x)?);
    sec1.extend_from_slice(&coordinate(&jwk.y)?);
    let jkt = thumbprint_of_sec1(&sec1).ok_or(AuthError::DpopInvalid)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| AuthError::DpopInvalid)?
        .try_into()
        .map_err(|_| AuthError::DpopInvalid)?;
    let claims: ProofClaims = b64_json(c)?;
    Ok(UnverifiedProof {
        check: SignatureCheck {
            public_key_sec1: sec1,
            message: proof.as_bytes()[..h.len() + 1 + c.len()].to_vec(),
            signature,
            // WebCrypto signs with either S; the proof is single-use by its jti anyway.
            low_s_only: false,
        },
        jkt,
        htm: claims.htm,
        htu: claims.htu,
        iat: claims.iat,
        jti: claims.jti,
        ath: claims.ath,
    })
}

/// The path of an absolute `http(s)` URL, without query or fragment.
pub fn htu_path(htu: &str) -> Option<&str> {
    let rest = htu
        .strip_prefix("https://")
        .or_else(|| htu.strip_prefix("http://"))?;
    let path = &rest[rest.find('/')?..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    Some(&path[..end])
}

/// Whether a proof's `htu` names the route at `path`: the same path, or the path under a mount
/// prefix (a reverse proxy that serves the route at `/edge/v1/scan` and forwards `/v1/scan`).
/// Scheme, host and query are not compared.
pub fn htu_matches(htu: &str, path: &str) -> bool {
    htu_path(htu).is_some_and(|p| p == path || (path.starts_with('/') && p.ends_with(path)))
}

/// The base64url SHA-256 of an access token (`ath`).
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

impl UnverifiedProof {
    /// The claim checks that need no signature (cheap; done before it so a wrong proof costs
    /// no verification). The key is the token's, the route and method are this request's, the
    /// time is within the window, the proof is for this token.
    pub fn check_claims(&self, want: &Expected<'_>) -> Result<(), AuthError> {
        if !constant_time_eq(self.jkt.as_bytes(), want.jkt.as_bytes()) {
            return Err(AuthError::DpopKeyMismatch);
        }
        if !self.htm.eq_ignore_ascii_case(want.method) || !htu_matches(&self.htu, want.path) {
            return Err(AuthError::DpopWrongRequest);
        }
        if self.iat.abs_diff(want.now) > want.window_secs {
            return Err(AuthError::DpopStale);
        }
        if !constant_time_eq(self.ath.as_bytes(), ath(want.access_token).as_bytes()) {
            return Err(AuthError::DpopWrongRequest);
        }
        if !valid_id(&self.jti, MAX_SCAN_ID_LEN) {
            return Err(AuthError::DpopInvalid);
        }
        Ok(())
    }

    /// Second phase: given the signature's outcome, the claims again and what to remember.
    pub fn decide(self, signature_valid: bool, want: &Expected<'_>) -> Result<Accepted, AuthError> {
        self.check_claims(want)?;
        if !signature_valid {
            return Err(AuthError::DpopInvalid);
        }
        Ok(Accepted {
            // Per key: two devices of one member never collide on a jti they each chose.
            replay_key: format!("{}:{}", self.jkt, self.jti),
            // Past this the iat check refuses the proof anyway.
            remember_until: self.iat.saturating_add(want.window_secs).saturating_add(1),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `DPOP_WINDOW_SECS` as configured, within 1..=[`MAX_WINDOW_SECS`].
pub fn window_secs(setting: Option<&str>) -> u64 {
    setting
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_WINDOW_SECS)
        .clamp(1, MAX_WINDOW_SECS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ticket::p256::ecdsa::{signature::Signer, Signature, SigningKey};

    const NOW: u64 = 1_800_000_000;
    const TOKEN: &str = "eyJ.token.sig";

    #[test]
    fn thumbprints_match_rfc_7638_and_9449() {
        // RFC 7638 §3.1, the RSA example.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(&[("kty", "RSA"), ("n", n), ("e", "AQAB")]),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // RFC 9449 §6.1, the EC key of its examples and its jkt.
        assert_eq!(
            thumbprint(&[
                ("kty", "EC"),
                ("x", "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"),
                ("y", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"),
                ("crv", "P-256"),
            ]),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    fn jkt_of(k: &SigningKey) -> String {
        thumbprint_of_sec1(k.verifying_key().to_encoded_point(false).as_bytes()).unwrap()
    }

    fn proof_with(
        k: &SigningKey,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig: Signature = k.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn header(k: &SigningKey) -> serde_json::Value {
        let p = k.verifying_key().to_encoded_point(false);
        serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(p.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(p.y().unwrap()),
        }})
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"htm": "POST", "htu": "https://door.example/v1/scan?x=1", "iat": NOW,
            "jti": "p-1", "ath": ath(TOKEN)})
    }

    fn run(proof: &str, jkt: &str, method: &str, path: &str) -> Result<Accepted, AuthError> {
        let want = Expected {
            method,
            path,
            access_token: TOKEN,
            jkt,
            now: NOW,
            window_secs: 60,
        };
        let p = parse(proof)?;
        let valid = p.check.verify_with_p256();
        p.decide(valid, &want)
    }

    #[test]
    fn a_good_proof_passes_and_names_its_replay_key() {
        let k = key(3);
        let a = run(
            &proof_with(&k, &header(&k), &claims()),
            &jkt_of(&k),
            "POST",
            "/v1/scan",
        )
        .unwrap();
        assert_eq!(a.replay_key, format!("{}:p-1", jkt_of(&k)));
        assert_eq!(a.remember_until, NOW + 61);
    }

    #[test]
    #[allow(clippy::too_many_lines)] // a flat table of attacks
    fn every_wrong_claim_is_refused() {
        let k = key(3);
        let jkt = jkt_of(&k);
        let with = |field: &str, v: serde_json::Value| {
            let mut c = claims();
            c[field] = v;
            proof_with(&k, &header(&k), &c)
        };
        let good = proof_with(&k, &header(&k), &claims());
        // Another device's key signing its own proof for a copied token.
        let other = key(4);
        assert_eq!(
            run(
                &proof_with(&other, &header(&other), &claims()),
                &jkt,
                "POST",
                "/v1/scan"
            ),
            Err(AuthError::DpopKeyMismatch)
        );
        // The right key in the header, signed by another: the signature fails.
        assert_eq!(
            run(
                &proof_with(&other, &header(&k), &claims()),
                &jkt,
                "POST",
                "/v1/scan"
            ),
            Err(AuthError::DpopInvalid)
        );
        assert_eq!(
            run(&good, &jkt, "GET", "/v1/scan"),
            Err(AuthError::DpopWrongRequest)
        );
        assert_eq!(
            run(&good, &jkt, "POST", "/v1/sync"),
            Err(AuthError::DpopWrongRequest)
        );
        assert!(run(&good, &jkt, "post", "/v1/scan").is_ok(), "method case");
        assert!(run(
            &with("htu", "http://127.0.0.1:8787/v1/scan".into()),
            &jkt,
            "POST",
            "/v1/scan"
        )
        .is_ok());
        assert_eq!(
            run(&with("htu", "/v1/scan".into()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopWrongRequest)
        );
        assert_eq!(
            run(
                &with("ath", ath("another.token.x").into()),
                &jkt,
                "POST",
                "/v1/scan"
            ),
            Err(AuthError::DpopWrongRequest)
        );
        assert_eq!(
            run(&with("iat", (NOW - 61).into()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopStale)
        );
        assert_eq!(
            run(&with("iat", (NOW + 61).into()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopStale)
        );
        assert!(run(&with("iat", (NOW - 60).into()), &jkt, "POST", "/v1/scan").is_ok());
        assert_eq!(
            run(&with("jti", "a b".into()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        assert_eq!(
            run(&with("iat", "soon".into()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        let mut h = header(&k);
        h["typ"] = "JWT".into();
        assert_eq!(
            run(&proof_with(&k, &h, &claims()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        let mut h = header(&k);
        h["alg"] = "HS256".into();
        assert_eq!(
            run(&proof_with(&k, &h, &claims()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        let mut h = header(&k);
        h["jwk"]["d"] = "AAAA".into();
        assert_eq!(
            run(&proof_with(&k, &h, &claims()), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        // An edited claim after signing.
        let parts: Vec<&str> = good.split('.').collect();
        let mut edited = claims();
        edited["htu"] = "https://door.example/v1/sync".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(edited.to_string()),
            parts[2]
        );
        assert_eq!(
            run(&forged, &jkt, "POST", "/v1/sync"),
            Err(AuthError::DpopInvalid)
        );
        assert_eq!(
            run("a.b", &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
        assert_eq!(
            run(&"a".repeat(3000), &jkt, "POST", "/v1/scan"),
            Err(AuthError::DpopInvalid)
        );
    }

    #[test]
    fn htu_paths_and_windows() {
        assert_eq!(htu_path("https://x.example/v1/scan?a#b"), Some("/v1/scan"));
        assert_eq!(htu_path("http://127.0.0.1:1/v1/sync"), Some("/v1/sync"));
        assert_eq!(htu_path("ftp://x/v1/scan"), None);
        assert_eq!(htu_path("https://x.example"), None);
        assert!(htu_matches("https://x.example/edge/v1/scan", "/v1/scan"));
        assert!(htu_matches("http://127.0.0.1:9/v1/scan?q", "/v1/scan"));
        assert!(!htu_matches("https://x.example/v1/scanner", "/v1/scan"));
        assert!(!htu_matches("https://x.example/v1/scan/x", "/v1/scan"));
        assert!(!htu_matches("https://x.example/v1/sync", "/v1/scan"));
        assert_eq!(window_secs(None), 60);
        assert_eq!(window_secs(Some("10")), 10);
        assert_eq!(window_secs(Some("0")), 1);
        assert_eq!(window_secs(Some("99999")), MAX_WINDOW_SECS);
    }
}
