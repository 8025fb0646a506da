//! Staff tokens: JWTs signed ES256 by the backend, and nothing else.
//!
//! The parser accepts exactly one algorithm. `alg` other than `ES256` (`none`, `HS256` with the
//! public key as the secret, `RS256`...) is refused before any key is looked up, so algorithm
//! confusion cannot happen by construction. The signature check itself is a
//! [`ticket::SignatureCheck`] that the caller performs (WebCrypto or `p256`), like a ticket's.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use ticket::SignatureCheck;

use crate::api::{valid_id, MAX_ID_LEN, MAX_SCAN_ID_LEN};

/// Longest token read.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 30;
/// Staff tokens are short-lived: a longer one is refused even when signed.
pub const MAX_LIFETIME_SECS: u64 = 12 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    UnsupportedAlgorithm,
    UnknownKey,
    BadSignature,
    Expired,
    NotYetValid,
    WrongAudience,
    WrongIssuer,
    LifetimeTooLong,
    /// The token's `jti`, or every token of its holder issued before a line, is on the
    /// staff deny-list (see `revocations.rs`).
    Revoked,
    /// The deny-list could not be read: refused, never waved through.
    RevocationsUnavailable,
    /// A device-bound token (`cnf`) came without a `DPoP` proof.
    DpopRequired,
    /// The proof is malformed, not ES256 `dpop+jwt`, or its signature fails.
    DpopInvalid,
    /// The proof's key is not the one the token is bound to (a copied token).
    DpopKeyMismatch,
    /// The proof is for another method, route or token.
    DpopWrongRequest,
    /// The proof's `iat` is outside the window.
    DpopStale,
    /// The proof's `jti` was used before.
    DpopReplayed,
    /// The proofs' memory could not be reached: refused.
    DpopUnavailable,
    /// A token with no `cnf` while unbound door tokens are not allowed.
    UnboundToken,
}

impl AuthError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Malformed => "malformed_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired_token",
            Self::NotYetValid => "token_not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Revoked => "revoked_token",
            Self::RevocationsUnavailable => "revocations_unavailable",
            Self::LifetimeTooLong => "token_lifetime_too_long",
            Self::DpopRequired => "dpop_proof_required",
            Self::DpopInvalid => "invalid_dpop_proof",
            Self::DpopKeyMismatch => "dpop_key_mismatch",
            Self::DpopWrongRequest => "dpop_wrong_request",
            Self::DpopStale => "dpop_proof_stale",
            Self::DpopReplayed => "dpop_proof_replayed",
            Self::DpopUnavailable => "dpop_unavailable",
            Self::UnboundToken => "unbound_token",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Staff,
    Finance,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Staff => "staff",
            Self::Finance => "finance",
        }
    }

    /// Only door staff and admins scan.
    pub fn may_scan(self) -> bool {
        matches!(self, Self::Admin | Self::Staff)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawClaims {
    sub: String,
    role: Role,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    gates: Vec<String>,
    aud: Audience,
    iss: String,
    jti: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    nbf: Option<u64>,
    /// RFC 9449 confirmation: the thumbprint of the device key the token is bound to.
    #[serde(default)]
    cnf: Option<Confirmation>,
}

#[derive(Debug, Deserialize)]
struct Confirmation {
    jkt: String,
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: String,
    pub role: Role,
    /// Events the bearer may act for; `*` = every event.
    pub events: Vec<String>,
    /// Gates the bearer may scan at; `*` = every gate.
    pub gates: Vec<String>,
    pub expires_at: u64,
    pub issued_at: u64,
    /// The token's id: what a single-token revocation names.
    pub jti: String,
    /// `cnf.jkt`: the device key every request must prove (see `dpop.rs`); `None` for an
    /// unbound token.
    pub jkt: Option<String>,
}

impl Staff {
    pub fn may_act_for(&self, event_id: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_id)
    }

    pub fn may_scan_at(&self, gate_id: &str) -> bool {
        self.gates.iter().any(|g| g == "*" || g == gate_id)
    }

    /// The event to scan for when the request names none: the token's only one.
    pub fn only_event(&self) -> Option<&str> {
        match self.events.as_slice() {
            [one] if one != "*" => Some(one),
            _ => None,
        }
    }
}

/// The staff deny-list as every isolate caches it: revoked token ids, and per staff id the line
/// before which its tokens are revoked (a token with `iat < line` is refused; one issued at or
/// after the line, for a re-activated member, is not).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct DenyList {
    pub jti: std::collections::BTreeSet<String>,
    pub sub: BTreeMap<String, u64>,
}

impl DenyList {
    pub fn denies(&self, staff: &Staff) -> bool {
        self.jti.contains(&staff.jti)
            || self
                .sub
                .get(&staff.id)
                .is_some_and(|line| staff.issued_at < *line)
    }
}

/// A token whose signature is still to be checked.
#[derive(Debug)]
pub struct UnverifiedToken {
    pub check: SignatureCheck,
    claims: RawClaims,
}

/// Staff public keys by `kid`, from a JWKS (`{"keys":[{"kty":"EC","crv":"P-256","kid","x","y"}]}`).
#[derive(Debug, Clone, Default)]
pub struct StaffKeys {
    by_kid: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    kid: String,
    x: String,
    y: String,
    #[serde(default)]
    alg: Option<String>,
}

impl StaffKeys {
    /// Parses a JWKS; every key must be a valid P-256 point.
    pub fn from_jwks(json: &str) -> Result<Self, String> {
        let jwks: Jwks = serde_json::from_str(json).map_err(|e| format!("staff JWKS: {e}"))?;
        let mut by_kid = BTreeMap::new();
        for jwk in jwks.keys {
            if jwk.kty != "EC"
                || jwk.crv != "P-256"
                || jwk.alg.as_deref().is_some_and(|a| a != "ES256")
            {
                return Err(format!(
                    "staff key {}: only EC P-256 / ES256 keys are accepted",
                    jwk.kid
                ));
            }
            let x = URL_SAFE_NO_PAD
                .decode(&jwk.x)
                .map_err(|_| format!("staff key {}: x", jwk.kid))?;
            let y = URL_SAFE_NO_PAD
                .decode(&jwk.y)
                .map_err(|_| format!("staff key {}: y", jwk.kid))?;
            if x.len() != 32 || y.len() != 32 {
                return Err(format!(
                    "staff key {}: coordinates must be 32 bytes",
                    jwk.kid
                ));
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(4);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            ticket::p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                .map_err(|_| format!("staff key {}: not a P-256 point", jwk.kid))?;
            by_kid.insert(jwk.kid, sec1);
        }
        Ok(Self { by_kid })
    }

    pub fn get(&self, kid: &str) -> Option<&[u8]> {
        self.by_kid.get(kid).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }
}

/// The token in an `Authorization: Bearer ...` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Malformed)?
        .trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

/// First phase: parse the token and say which signature to check. Refuses every algorithm but
/// ES256 and every unknown `kid` before anything else.
pub fn parse(token: &str, keys: &StaffKeys) -> Result<UnverifiedToken, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| AuthError::Malformed)?;
    if header.alg != "ES256" {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let kid = header.kid.ok_or(AuthError::UnknownKey)?;
    let public_key = keys.get(&kid).ok_or(AuthError::UnknownKey)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| AuthError::Malformed)?
        .try_into()
        .map_err(|_| AuthError::Malformed)?;
    let claims_json = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| AuthError::Malformed)?;
    let claims: RawClaims =
        serde_json::from_slice(&claims_json).map_err(|_| AuthError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    Ok(UnverifiedToken {
        check: SignatureCheck {
            public_key_sec1: public_key.to_vec(),
            message: signing_input.as_bytes().to_vec(),
            signature,
            // ES256 tokens come from KMS, which does not normalise S; the token is not the
            // ticket, so both forms of its signature count.
            low_s_only: false,
        },
        claims,
    })
}

impl UnverifiedToken {
    /// Second phase: given the signature's outcome, check the claims at time `now`.
    pub fn decide(
        self,
        signature_valid: bool,
        now: u64,
        audience: &str,
        issuer: &str,
    ) -> Result<Staff, AuthError> {
        if !signature_valid {
            return Err(AuthError::BadSignature);
        }
        let c = self.claims;
        if c.iss != issuer {
            return Err(AuthError::WrongIssuer);
        }
        let audience_ok = match &c.aud {
            Audience::One(a) => a == audience,
            Audience::Many(list) => list.iter().any(|a| a == audience),
        };
        if !audience_ok {
            return Err(AuthError::WrongAudience);
        }
        if now > c.exp.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Expired);
        }
        if c.iat > now.saturating_add(LEEWAY_SECS)
            || c.nbf
                .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
        {
            return Err(AuthError::NotYetValid);
        }
        if c.exp < c.iat || c.exp - c.iat > MAX_LIFETIME_SECS {
            return Err(AuthError::LifetimeTooLong);
        }
        let ids_ok = valid_id(&c.sub, MAX_SCAN_ID_LEN)
            && valid_id(&c.jti, MAX_SCAN_ID_LEN)
            && c.events.len() <= 64
            && c.gates.len() <= 64
            && c.events.iter().all(|e| e == "*" || valid_id(e, MAX_ID_LEN))
            && c.gates.iter().all(|g| g == "*" || valid_id(g, MAX_ID_LEN))
            && c.cnf.as_ref().is_none_or(|cnf| {
                cnf.jkt.len() == 43
                    && cnf
                        .jkt
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !ids_ok {
            return Err(AuthError::Malformed);
        }
        Ok(Staff {
            id: c.sub,
            role: c.role,
            events: c.events,
            gates: c.gates,
            expires_at: c.exp,
            issued_at: c.iat,
            jti: c.jti,
            jkt: c.cnf.map(|cnf| cnf.jkt),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::float_cmp)]
mod tests {
    use super::*;
    use ticket::p256::ecdsa::{signature::Signer, Signature, SigningKey};

    const AUD: &str = "karcis-door";
    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn jwks(kid: &str, key: &SigningKey) -> String {
        let point = key.verifying_key().to_encoded_point(false);
        format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"{kid}","alg":"ES256","x":"{}","y":"{}"}}]}}"#,
            URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            URL_SAFE_NO_PAD.encode(point.y().unwrap())
        )
    }

    fn token(header: &str, claims: &str, key: &SigningKey) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }

    fn claims(role: &str, aud: &str, iat: u64, exp: u64) -> String {
        format!(
            r#"{{"sub":"staff-7","role":"{role}","events":["evt-1"],"gates":["A"],"aud":"{aud}","iss":"karcis","jti":"j-1","iat":{iat},"exp":{exp}}}"#
        )
    }

    fn check(token: &str) -> Result<Staff, AuthError> {
        let keys = StaffKeys::from_jwks(&jwks("k1", &key())).unwrap();
        let unverified = parse(token, &keys)?;
        let valid = unverified.check.verify_with_p256();
        unverified.decide(valid, NOW, AUD, ISS)
    }

    const ISS: &str = "karcis";

    const ES256: &str = r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#;

    #[test]
    fn a_good_token_verifies() {
        let staff = check(&token(
            ES256,
            &claims("staff", AUD, NOW - 60, NOW + 600),
            &key(),
        ))
        .unwrap();
        assert_eq!(staff.id, "staff-7");
        assert_eq!(staff.role, Role::Staff);
        assert!(staff.may_act_for("evt-1") && !staff.may_act_for("evt-2"));
        assert!(staff.may_scan_at("A") && !staff.may_scan_at("B"));
        assert_eq!(staff.only_event(), Some("evt-1"));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let good = claims("staff", AUD, NOW - 60, NOW + 600);
        assert_eq!(
            check(&token(
                ES256,
                &claims("staff", AUD, NOW - 900, NOW - 600),
                &key()
            )),
            Err(AuthError::Expired)
        );
        assert_eq!(
            check(&token(
                ES256,
                &claims("staff", "other", NOW - 60, NOW + 600),
                &key()
            )),
            Err(AuthError::WrongAudience)
        );
        assert_eq!(
            check(&token(
                ES256,
                &claims("staff", AUD, NOW, NOW + 86_400),
                &key()
            )),
            Err(AuthError::LifetimeTooLong)
        );
        assert_eq!(
            check(&token(
                ES256,
                &claims("staff", AUD, NOW + 600, NOW + 900),
                &key()
            )),
            Err(AuthError::NotYetValid)
        );
        // Signed by the right key for the right audience, but another issuer's, or none.
        assert_eq!(
            check(&token(
                ES256,
                &good.replace(r#""iss":"karcis""#, r#""iss":"someone-else""#),
                &key()
            )),
            Err(AuthError::WrongIssuer)
        );
        assert_eq!(
            check(&token(
                ES256,
                &good.replace(r#""iss":"karcis","#, ""),
                &key()
            )),
            Err(AuthError::Malformed)
        );
        // No jti: nothing to revoke it by, so not accepted.
        assert_eq!(
            check(&token(ES256, &good.replace(r#""jti":"j-1","#, ""), &key())),
            Err(AuthError::Malformed)
        );
        let other_key = SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert_eq!(
            check(&token(ES256, &good, &other_key)),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            check(&token(r#"{"alg":"ES256","kid":"k2"}"#, &good, &key())),
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            check(&token(r#"{"alg":"ES256"}"#, &good, &key())),
            Err(AuthError::UnknownKey)
        );
        // alg none: no signature at all.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(&good)
        );
        assert_eq!(check(&none), Err(AuthError::UnsupportedAlgorithm));
        // HS256 keyed with the public key: refused on the header alone.
        assert_eq!(
            check(&token(r#"{"alg":"HS256","kid":"k1"}"#, &good, &key())),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(check("a.b"), Err(AuthError::Malformed));
        assert_eq!(check("a.b.c.d"), Err(AuthError::Malformed));
        let bad_sub = claims("staff", AUD, NOW - 60, NOW + 600).replace("staff-7", "staff 7");
        assert_eq!(
            check(&token(ES256, &bad_sub, &key())),
            Err(AuthError::Malformed)
        );
        let finance = check(&token(
            ES256,
            &claims("finance", AUD, NOW - 60, NOW + 600),
            &key(),
        ))
        .unwrap();
        assert!(!finance.role.may_scan());
    }

    #[test]
    fn the_deny_list_names_tokens_and_lines() {
        let staff = check(&token(
            ES256,
            &claims("staff", AUD, NOW - 60, NOW + 600),
            &key(),
        ))
        .unwrap();
        let mut deny = DenyList::default();
        assert!(!deny.denies(&staff));
        deny.jti.insert("j-2".into());
        assert!(!deny.denies(&staff));
        deny.jti.insert("j-1".into());
        assert!(deny.denies(&staff));
        let mut by_sub = DenyList::default();
        by_sub.sub.insert("staff-7".into(), NOW - 60);
        assert!(
            !by_sub.denies(&staff),
            "issued at the line: a re-activated member"
        );
        by_sub.sub.insert("staff-7".into(), NOW - 59);
        assert!(by_sub.denies(&staff));
        by_sub.sub.insert("staff-8".into(), NOW);
        by_sub.sub.remove("staff-7");
        assert!(!by_sub.denies(&staff));
    }

    #[test]
    fn bearer_header_is_parsed() {
        assert_eq!(bearer(None), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(bearer(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(bearer(Some("Bearer x.y.z")), Ok("x.y.z"));
    }

    #[test]
    fn jwks_rejects_other_curves() {
        assert!(StaffKeys::from_jwks(
            r#"{"keys":[{"kty":"RSA","crv":"P-256","kid":"a","x":"","y":""}]}"#
        )
        .is_err());
        assert!(StaffKeys::from_jwks("nope").is_err());
        assert_eq!(StaffKeys::from_jwks(&jwks("k", &key())).unwrap().len(), 1);
    }
}
