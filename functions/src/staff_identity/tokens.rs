//! Staff tokens: the settings (audiences, issuer), roles, claims, and the compact ES256 JWS
//! encode (through a [`TokenSigner`]) and verify (the worker's rules).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::keys::{jwk, TokenSigner, VerifyKeys};
use crate::error::{Error, Result};

/// Env: the KMS key that signs staff tokens.
pub const SIGNING_KEY_ENV: &str = "STAFF_SIGNING_KEY_ID";
/// Env: retired signing keys still published in the JWKS and accepted (comma-separated).
pub const PREVIOUS_KEYS_ENV: &str = "STAFF_PREVIOUS_KEY_IDS";
/// Clock skew tolerated on `exp`, `nbf`, `iat` (the worker's).
pub const LEEWAY_SECS: u64 = 30;
/// Longest token lifetime (the worker refuses longer ones).
pub const MAX_LIFETIME_SECS: u64 = 12 * 3600;
/// Default and longest lifetime of a door token (device-bound, refreshed by the scanner with a
/// proof of its key) and the default of a console token.
pub const DEFAULT_DOOR_TTL_SECS: u64 = 15 * 60;
pub const MAX_DOOR_TTL_SECS: u64 = 3600;
pub const DEFAULT_CONSOLE_TTL_SECS: u64 = 3600;
/// Longest token (the worker's `MAX_TOKEN_LEN`).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most events or gates one member holds.
pub const MAX_SCOPES: usize = 32;
/// Longest staff id (the worker's `MAX_SCAN_ID_LEN`) and event/gate id.
pub const MAX_STAFF_ID_LEN: usize = 128;

/// Audiences and issuer, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `STAFF_TOKEN_AUDIENCE`: the edge worker's audience.
    pub door_audience: String,
    /// `STAFF_CONSOLE_AUDIENCE`: this API's and the reports' audience.
    pub console_audience: String,
    /// `STAFF_TOKEN_ISSUER`: the `iss` claim.
    pub issuer: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            door_audience: "karcis-door".to_owned(),
            console_audience: "karcis-console".to_owned(),
            issuer: "karcis".to_owned(),
        }
    }
}

impl Settings {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let d = Self::default();
        let get = |k: &str, default: String| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or(default)
        };
        let s = Self {
            door_audience: get("STAFF_TOKEN_AUDIENCE", d.door_audience),
            console_audience: get("STAFF_CONSOLE_AUDIENCE", d.console_audience),
            issuer: get("STAFF_TOKEN_ISSUER", d.issuer),
        };
        if s.door_audience == s.console_audience {
            return Err(Error::internal(
                "STAFF_TOKEN_AUDIENCE and STAFF_CONSOLE_AUDIENCE must differ",
            ));
        }
        Ok(s)
    }

    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Door tokens: staff and admin only (the worker's `Role::may_scan`).
    pub fn may_scan(self) -> bool {
        matches!(self, Self::Admin | Self::Staff)
    }
    /// Console tokens (reports; for admins also staff management).
    pub fn may_use_console(self) -> bool {
        matches!(self, Self::Admin | Self::Finance)
    }
}

/// The claims of a staff token, in serialisation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub aud: String,
    /// Door tokens from sign-in: the device key they are bound to (RFC 9449 `cnf.jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<super::dpop::Cnf>,
    pub events: Vec<String>,
    pub exp: u64,
    pub gates: Vec<String>,
    pub iat: u64,
    pub iss: String,
    pub jti: String,
    pub nbf: u64,
    pub role: Role,
    pub sub: String,
}

/// Signs `claims` as a compact JWS.
pub async fn encode_token(claims: &TokenClaims, signer: &dyn TokenSigner) -> Result<String> {
    let kid = jwk(&signer.public_key()).kid;
    let header = format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#);
    let body = serde_json::to_vec(claims).map_err(Error::internal)?;
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.as_bytes()),
        URL_SAFE_NO_PAD.encode(&body)
    );
    // Base64 grows 4/3: keep room for the 86-character signature.
    if input.len() + 87 > MAX_TOKEN_LEN {
        return Err(Error::invalid(
            "events",
            "too many events or gates for one token",
        ));
    }
    let signature = signer.sign(input.as_bytes()).await?;
    // Never hand out a token that does not verify (a KMS or conversion fault).
    let vk = VerifyingKey::from_sec1_bytes(&signer.public_key())
        .map_err(|_| Error::internal("signing key is not a P-256 point"))?;
    let sig = Signature::from_slice(&signature)
        .map_err(|_| Error::internal("signature is not r || s"))?;
    vk.verify(input.as_bytes(), &sig)
        .map_err(|_| Error::internal("KMS signature does not verify"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Verifies a staff token for `audience` at `now` with the worker's rules (ES256 only, known
/// `kid`, leeway, lifetime). Every failure is `401` and says nothing more.
///
/// The JWS itself (the header's `alg`, the signature, `aud`, `iss` and the required claims) is
/// checked by `jsonwebtoken` (RustCrypto backend), restricted to ES256; the times are checked
/// here against `now` (the caller's clock, not the library's system time), with the leeway and
/// the maximum lifetime the library does not know.
pub fn verify_token(
    token: &str,
    keys: &VerifyKeys,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<TokenClaims> {
    verify_token_with_grace(token, keys, issuer, audience, now, 0)
}

/// [`verify_token`], accepting a token expired up to `grace` seconds (beyond the leeway) ago:
/// the refresh route's rule, for a scanner that was asleep when its token ran out.
pub fn verify_token_with_grace(
    token: &str,
    keys: &VerifyKeys,
    issuer: &str,
    audience: &str,
    now: u64,
    grace: u64,
) -> Result<TokenClaims> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthorized);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Error::Unauthorized)?;
    if header.alg != jsonwebtoken::Algorithm::ES256 {
        return Err(Error::Unauthorized);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|k| keys.decoding_key(k))
        .ok_or(Error::Unauthorized)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    // Times against `now` below, not the library's system clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<TokenClaims>(token, key, &validation)
        .map_err(|_| Error::Unauthorized)?
        .claims;
    let timely = now <= claims.exp.saturating_add(LEEWAY_SECS).saturating_add(grace)
        && claims.iat <= now.saturating_add(LEEWAY_SECS)
        && claims.nbf <= now.saturating_add(LEEWAY_SECS)
        && claims.exp >= claims.iat
        && claims.exp - claims.iat <= MAX_LIFETIME_SECS;
    // Belt and braces: the library compared these too.
    if claims.iss != issuer || claims.aud != audience || !timely {
        return Err(Error::Unauthorized);
    }
    Ok(claims)
}
