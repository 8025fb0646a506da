//! staff: the back end that issues staff tokens, with role-based access.
//!
//! Roles: `admin` (manages staff, scans, reads reports), `staff` (scans only), `finance`
//! (reads reports only). A token is an ES256 JWT (`{"alg":"ES256","typ":"JWT","kid"}`, claims
//! `aud, events, exp, gates, iat, iss, jti, nbf, role, sub`) signed by an asymmetric KMS key
//! (`STAFF_SIGNING_KEY_ID`, `ECC_NIST_P256` / `SIGN_VERIFY`) with `Sign`, `MessageType::Raw`,
//! `ECDSA_SHA_256`; KMS's DER signature is converted to JOSE `r || s` (low-S) and checked
//! against the public key before the token leaves. The `kid` is the RFC 7638 thumbprint of
//! the public key, so a new KMS key is a new `kid`.
//!
//! Two audiences, never mixed:
//! - **door** (`STAFF_TOKEN_AUDIENCE`, default `karcis-door`, the edge worker's audience): for
//!   `staff` and `admin` only, with the events and gates they may scan. The worker's JWKS secret
//!   `STAFF_JWKS` is [`jwks`] (`staff jwks`, or `GET /v1/staff/jwks`).
//! - **console** (`STAFF_CONSOLE_AUDIENCE`, default `karcis-console`): for `admin` and
//!   `finance`, never with gates; it authenticates callers of this API and of the audit reports.
//!   A finance member can therefore never hold a token the door accepts.
//!
//! Caller authentication (defence in depth, independent of API Gateway): every `/v1/staff/*`
//! route but the JWKS verifies the caller's console token in code (ES256 only, known `kid`,
//! audience, `exp`/`nbf`/`iat` with 30 s leeway, at most 12 h of lifetime) and then looks the
//! caller up: the member must exist, be active and still have the token's role, so demoting or
//! deactivating someone takes effect at once. An admin only manages members and issues tokens
//! within the events it holds (`*` = all). API Gateway's JWT authorizer accepts RSA-signed
//! tokens only, so it cannot check these ES256 tokens: the routes are attached without it (like
//! the webhooks), and the check above is the authentication. The first admin is created with
//! the `staff` binary by an operator whose IAM role may use the signing key (`staff
//! put-member`, `staff issue-token`): IAM is the root of trust, and those actions are audited.
//!
//! Routes: `GET /v1/staff/jwks` (public), `GET`/`PUT /v1/staff/members/{staff_id}`,
//! `POST /v1/staff/members/{staff_id}/tokens`, `POST /v1/staff/members/{staff_id}/revocations`
//! (`{"jti"}` one door token, `{}` all of them), `GET /v1/staff/log?after=&limit=` (the staff
//! log with its links checked; admins of every event).
//!
//! Door tokens are checked by the edge worker, so deactivating a member or revoking a token is
//! sent to the door's deny-list through [`StaffDenyList`] ([`EdgeStaffDenyList`]: the worker's
//! `POST /v1/staff-revocations`, authenticated with a 60-second door token of this service,
//! `sub` [`REVOKER_ID`], admin of every event, signed by the same KMS key). A deactivation is
//! stored first, then sent; if the door cannot be told the caller gets 503 and a retry of the
//! same request sends it again.
//!
//! Every role change and every issued token is a record in the backend's hash-chained staff log
//! (`crate::audit_ingest`, stream `STAFFAUDIT`): a member change is written in the same
//! transaction as its record; a token is returned only after its record is stored (the record
//! holds its `jti`, never the token).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit_ingest::{self, AuditLog, Link, Stream};
use crate::error::{Error, Result};
use crate::http::{bearer_token, json_response, read_json, respond};
use crate::ports::{Clock, Rng};

/// Env: the KMS key that signs staff tokens.
pub const SIGNING_KEY_ENV: &str = "STAFF_SIGNING_KEY_ID";
/// Env: retired signing keys still published in the JWKS and accepted (comma-separated).
pub const PREVIOUS_KEYS_ENV: &str = "STAFF_PREVIOUS_KEY_IDS";
/// Clock skew tolerated on `exp`, `nbf`, `iat` (the worker's).
pub const LEEWAY_SECS: u64 = 30;
/// Longest token lifetime (the worker refuses longer ones).
pub const MAX_LIFETIME_SECS: u64 = 12 * 3600;
/// Default lifetime of a door token (one shift) and of a console token.
pub const DEFAULT_DOOR_TTL_SECS: u64 = 8 * 3600;
pub const DEFAULT_CONSOLE_TTL_SECS: u64 = 3600;
/// Longest token (the worker's `MAX_TOKEN_LEN`).
pub const MAX_TOKEN_LEN: usize = 4096;
/// Most events or gates one member holds.
pub const MAX_SCOPES: usize = 32;
/// Longest staff id (the worker's `MAX_SCAN_ID_LEN`) and event/gate id.
pub const MAX_STAFF_ID_LEN: usize = 128;

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Keys: KMS formats -> JOSE
// ---------------------------------------------------------------------------------------------

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
#[derive(Debug, Clone, Default)]
pub struct VerifyKeys {
    by_kid: BTreeMap<String, VerifyingKey>,
}

impl VerifyKeys {
    pub fn new(keys: &[[u8; 65]]) -> Result<Self> {
        let mut by_kid = BTreeMap::new();
        for k in keys {
            let vk = VerifyingKey::from_sec1_bytes(k)
                .map_err(|_| Error::internal("staff key is not a P-256 point"))?;
            by_kid.insert(jwk(k).kid, vk);
        }
        Ok(Self { by_kid })
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

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

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
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
pub fn verify_token(
    token: &str,
    keys: &VerifyKeys,
    issuer: &str,
    audience: &str,
    now: u64,
) -> Result<TokenClaims> {
    let unauthorised = |_| Error::Unauthorized;
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Unauthorized);
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(c64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Unauthorized);
    };
    let header: Header =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h64).map_err(unauthorised)?)
            .map_err(|_| Error::Unauthorized)?;
    if header.alg != "ES256" {
        return Err(Error::Unauthorized);
    }
    let vk = header
        .kid
        .as_deref()
        .and_then(|k| keys.by_kid.get(k))
        .ok_or(Error::Unauthorized)?;
    let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(s64).map_err(unauthorised)?)
        .map_err(|_| Error::Unauthorized)?;
    vk.verify(&token.as_bytes()[..h64.len() + 1 + c64.len()], &sig)
        .map_err(|_| Error::Unauthorized)?;
    let claims: TokenClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c64).map_err(unauthorised)?)
            .map_err(|_| Error::Unauthorized)?;
    let timely = now <= claims.exp.saturating_add(LEEWAY_SECS)
        && claims.iat <= now.saturating_add(LEEWAY_SECS)
        && claims.nbf <= now.saturating_add(LEEWAY_SECS)
        && claims.exp >= claims.iat
        && claims.exp - claims.iat <= MAX_LIFETIME_SECS;
    if claims.iss != issuer || claims.aud != audience || !timely {
        return Err(Error::Unauthorized);
    }
    Ok(claims)
}

// ---------------------------------------------------------------------------------------------
// Members and the token policy (pure)
// ---------------------------------------------------------------------------------------------

/// The worker's id rule: 1..=max of `[A-Za-z0-9._:@-]`.
pub fn valid_staff_id(text: &str, max: usize) -> bool {
    audit_ingest::valid_door_id(text, max)
}

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub staff_id: String,
    pub role: Role,
    /// Events the member acts for; `*` (admins only) = all.
    pub events: Vec<String>,
    /// Gates the member may scan at; `*` = all. Always empty for finance.
    pub gates: Vec<String>,
    pub active: bool,
    /// +1 per change.
    pub version: u64,
    pub updated_at: u64,
    pub updated_by: String,
}

/// `PUT /v1/staff/members/{staff_id}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    pub role: Role,
    pub events: Vec<String>,
    #[serde(default)]
    pub gates: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

fn valid_scopes(list: &[String]) -> bool {
    list.len() <= MAX_SCOPES
        && list
            .iter()
            .all(|v| v == "*" || valid_staff_id(v, ticket::MAX_ID_LEN))
        && list.iter().collect::<std::collections::BTreeSet<_>>().len() == list.len()
}

/// Validates a member (role rules: finance holds no gate; only admins hold every event).
pub fn validate_member(staff_id: &str, spec: &MemberSpec) -> Result<()> {
    if !valid_staff_id(staff_id, MAX_STAFF_ID_LEN) {
        return Err(Error::invalid(
            "staff_id",
            "1-128 characters of [A-Za-z0-9._:@-]",
        ));
    }
    if spec.events.is_empty() || !valid_scopes(&spec.events) {
        return Err(Error::invalid(
            "events",
            "1-32 distinct event ids (or \"*\" for admins)",
        ));
    }
    if !valid_scopes(&spec.gates) {
        return Err(Error::invalid(
            "gates",
            "up to 32 distinct gate ids or \"*\"",
        ));
    }
    if spec.role != Role::Admin && spec.events.iter().any(|e| e == "*") {
        return Err(Error::invalid("events", "only admins may hold every event"));
    }
    match spec.role {
        Role::Finance if !spec.gates.is_empty() => Err(Error::invalid(
            "gates",
            "finance members read reports and hold no gate",
        )),
        Role::Staff if spec.gates.is_empty() => Err(Error::invalid(
            "gates",
            "staff members need at least one gate",
        )),
        _ => Ok(()),
    }
}

/// Which audience a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// The edge worker: scanning.
    Door,
    /// This API and the audit reports.
    Console,
}

/// `POST /v1/staff/members/{staff_id}/tokens` body: narrows the member's own scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub purpose: Purpose,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub gates: Option<Vec<String>>,
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

fn covers(granted: &[String], wanted: &str) -> bool {
    granted.iter().any(|g| g == "*" || g == wanted)
}

/// The claims of a token for `member` (pure policy). `jti` is random, from the caller.
pub fn plan_token(
    member: &Member,
    req: &TokenRequest,
    settings: &Settings,
    now: u64,
    jti: String,
) -> Result<TokenClaims> {
    if !member.active {
        return Err(Error::Conflict("the staff member is deactivated".into()));
    }
    let (aud, default_ttl) = match req.purpose {
        Purpose::Door if member.role.may_scan() => {
            (settings.door_audience.clone(), DEFAULT_DOOR_TTL_SECS)
        }
        Purpose::Door => {
            return Err(Error::Forbidden(format!(
                "a {} member may not scan",
                member.role.as_str()
            )))
        }
        Purpose::Console if member.role.may_use_console() => {
            (settings.console_audience.clone(), DEFAULT_CONSOLE_TTL_SECS)
        }
        Purpose::Console => {
            return Err(Error::Forbidden(format!(
                "a {} member only scans",
                member.role.as_str()
            )))
        }
    };
    let ttl = req.ttl_secs.unwrap_or(default_ttl);
    if !(60..=MAX_LIFETIME_SECS).contains(&ttl) {
        return Err(Error::invalid("ttl_secs", "60..=43200"));
    }
    let events = req.events.clone().unwrap_or_else(|| member.events.clone());
    if events.is_empty() || !valid_scopes(&events) {
        return Err(Error::invalid("events", "1-32 distinct event ids"));
    }
    if let Some(e) = events.iter().find(|e| !covers(&member.events, e)) {
        return Err(Error::Forbidden(format!(
            "event {e} is not granted to the member"
        )));
    }
    let gates = match req.purpose {
        Purpose::Console => {
            if req.gates.as_ref().is_some_and(|g| !g.is_empty()) {
                return Err(Error::invalid("gates", "console tokens hold no gate"));
            }
            Vec::new()
        }
        Purpose::Door => {
            let gates = req.gates.clone().unwrap_or_else(|| member.gates.clone());
            if gates.is_empty() || !valid_scopes(&gates) {
                return Err(Error::invalid("gates", "1-32 distinct gate ids or \"*\""));
            }
            if let Some(g) = gates.iter().find(|g| !covers(&member.gates, g)) {
                return Err(Error::Forbidden(format!(
                    "gate {g} is not granted to the member"
                )));
            }
            gates
        }
    };
    Ok(TokenClaims {
        aud,
        events,
        exp: now + ttl,
        gates,
        iat: now,
        iss: settings.issuer.clone(),
        jti,
        nbf: now,
        role: member.role,
        sub: member.staff_id.clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// The staff log records
// ---------------------------------------------------------------------------------------------

/// A member's grants as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub active: bool,
    pub events: Vec<String>,
    pub gates: Vec<String>,
    pub role: Role,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            active: m.active,
            events: m.events.clone(),
            gates: m.gates.clone(),
            role: m.role,
        }
    }
}

/// What a staff log record is about (keys alphabetical).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RecordDetail {
    Member {
        after: MemberView,
        before: Option<MemberView>,
    },
    Token {
        aud: String,
        events: Vec<String>,
        exp: u64,
        gates: Vec<String>,
        jti: String,
        kid: String,
        role: Role,
    },
    /// Door tokens revoked: one (`jti`), or all issued before `not_before`.
    Revocation {
        jti: Option<String>,
        not_before: Option<u64>,
    },
}

/// One staff log record: its canonical text is this, compact, keys alphabetical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRecord {
    /// `member_changed`, `token_issued` or `tokens_revoked`.
    pub action: String,
    /// Who did it: the admin's staff id, or `cli:<operator>`.
    pub actor: String,
    pub at: u64,
    pub detail: RecordDetail,
    pub seq: u64,
    /// The staff member concerned.
    pub subject: String,
}

impl StaffRecord {
    pub fn canonical(&self) -> Result<String> {
        serde_json::to_string(self).map_err(Error::internal)
    }
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/// Staff members, and member changes written together with their log record.
#[async_trait]
pub trait StaffDirectory: Send + Sync {
    async fn get_member(&self, staff_id: &str) -> Result<Option<Member>>;
    /// Writes `member` (conditional on the stored version being `expected_version`, `None` =
    /// absent) and `record` in the staff log, in one transaction. `Ok(false)` on a lost race.
    async fn put_member_recorded(
        &self,
        member: &Member,
        expected_version: Option<u64>,
        record: &Link,
        now: u64,
    ) -> Result<bool>;
}

/// The door's staff deny-list (the edge worker's `POST /v1/staff-revocations`). A door token is
/// checked by the worker, not by this service: deactivating a member or revoking a token only
/// reaches the door through this port.
#[async_trait]
pub trait StaffDenyList: Send + Sync {
    /// Every door token of `staff_id` issued before `not_before` (unix seconds) is refused.
    async fn revoke_member(&self, staff_id: &str, not_before: u64, reason: &str) -> Result<()>;
    /// The door token `jti` is refused.
    async fn revoke_token(&self, jti: &str, reason: &str) -> Result<()>;
}

// ---------------------------------------------------------------------------------------------
// Console authentication
// ---------------------------------------------------------------------------------------------

/// An authenticated console caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub staff_id: String,
    pub role: Role,
    /// The token's events (within the member's).
    pub events: Vec<String>,
}

impl Caller {
    /// An admin whose token covers every event in `events`.
    pub fn require_admin_for(&self, events: &[String]) -> Result<()> {
        if self.role != Role::Admin {
            return Err(Error::Forbidden("admins only".into()));
        }
        if let Some(e) = events.iter().find(|e| !covers(&self.events, e)) {
            return Err(Error::Forbidden(format!(
                "event {e} is not yours to manage"
            )));
        }
        Ok(())
    }

    /// An admin or finance member of `event_id` (reports).
    pub fn require_reports_for(&self, event_id: &str) -> Result<()> {
        if !self.role.may_use_console() || !covers(&self.events, event_id) {
            return Err(Error::Forbidden(
                "reports of this event are not yours to read".into(),
            ));
        }
        Ok(())
    }
}

/// Verifies console tokens and checks the caller's current membership.
pub struct Console {
    pub keys: VerifyKeys,
    /// The `iss` the tokens must carry.
    pub issuer: String,
    pub audience: String,
    pub directory: Arc<dyn StaffDirectory>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Console {
    pub async fn authenticate(&self, token: &str, now: u64) -> Result<Caller> {
        let claims = verify_token(token, &self.keys, &self.issuer, &self.audience, now)?;
        let member = self
            .directory
            .get_member(&claims.sub)
            .await?
            .ok_or(Error::Unauthorized)?;
        if !member.active || member.role != claims.role || !claims.role.may_use_console() {
            return Err(Error::Unauthorized);
        }
        // The token may name events the member has since lost: keep only the granted ones.
        let events = claims
            .events
            .into_iter()
            .filter(|e| covers(&member.events, e))
            .collect();
        Ok(Caller {
            staff_id: member.staff_id,
            role: member.role,
            events,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/// An issued token. `Debug` leaves the bearer token out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub token_type: String,
    pub kid: String,
    pub jti: String,
    pub role: Role,
    pub aud: String,
    pub events: Vec<String>,
    pub gates: Vec<String>,
    pub expires_at: u64,
    /// The staff log record of the issuance.
    pub audit_seq: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("kid", &self.kid)
            .field("jti", &self.jti)
            .field("role", &self.role)
            .field("aud", &self.aud)
            .field("events", &self.events)
            .field("gates", &self.gates)
            .field("expires_at", &self.expires_at)
            .field("audit_seq", &self.audit_seq)
            .finish_non_exhaustive()
    }
}

/// True when `after` takes something away from `before`: another role, or an event or gate
/// `before` had (a `*` counts as one grant: replacing it with a list narrows).
fn narrows(before: &Member, after: &MemberSpec) -> bool {
    before.role != after.role
        || before.events.iter().any(|e| !after.events.contains(e))
        || before.gates.iter().any(|g| !after.gates.contains(g))
}

/// `POST /v1/staff/members/{staff_id}/revocations` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationDone {
    pub staff_id: String,
    pub jti: Option<String>,
    pub not_before: Option<u64>,
    pub audit_seq: u64,
}

/// `POST /v1/staff/members/{staff_id}/revocations` body: `{"jti"}` for one token, `{}` for all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationRequest {
    #[serde(default)]
    pub jti: Option<String>,
}

/// The staff service: members, tokens, JWKS.
#[derive(Clone)]
pub struct StaffService {
    pub settings: Settings,
    pub signer: Arc<dyn TokenSigner>,
    /// Public keys published and accepted: the signer's first, then retired ones.
    pub public_keys: Vec<[u8; 65]>,
    pub directory: Arc<dyn StaffDirectory>,
    pub log: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub console: Arc<Console>,
    /// The door's deny-list; `None` = not configured (deactivation then cannot reach the door,
    /// which is logged; an explicit revocation answers 503).
    pub door: Option<Arc<dyn StaffDenyList>>,
}

impl std::fmt::Debug for StaffService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl StaffService {
    /// Wires the service; `retired` are public keys still accepted and published.
    pub fn new(
        settings: Settings,
        signer: Arc<dyn TokenSigner>,
        retired: Vec<[u8; 65]>,
        directory: Arc<dyn StaffDirectory>,
        log: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Result<Self> {
        let mut public_keys = vec![signer.public_key()];
        public_keys.extend(retired);
        let console = Arc::new(Console {
            keys: VerifyKeys::new(&public_keys)?,
            issuer: settings.issuer.clone(),
            audience: settings.console_audience.clone(),
            directory: directory.clone(),
        });
        Ok(Self {
            settings,
            signer,
            public_keys,
            directory,
            log,
            clock,
            rng,
            console,
            door: None,
        })
    }

    /// Tells the door about deactivations and revocations through `door`.
    #[must_use]
    pub fn with_door(mut self, door: Arc<dyn StaffDenyList>) -> Self {
        self.door = Some(door);
        self
    }

    /// A deactivated (or narrowed) member's door tokens, all of them so far, refused at the
    /// door. `not_before` is the next second: an inactive member is issued no token (see
    /// [`plan_token`]), so nothing legitimate is caught, and a token issued in this very second
    /// is.
    async fn revoke_at_door(&self, staff_id: &str, reason: &str) -> Result<u64> {
        let not_before = self.clock.now() + 1;
        if let Some(door) = &self.door {
            door.revoke_member(staff_id, not_before, reason).await?;
        } else {
            tracing::warn!(
                staff_id,
                "no door revocation adapter: this member's door tokens stay valid until they expire"
            );
        }
        Ok(not_before)
    }

    /// Revokes one door token (`jti`) or every door token of `staff_id` issued so far, at the
    /// door first, then in the staff log.
    pub async fn revoke_tokens(
        &self,
        actor: &str,
        staff_id: &str,
        jti: Option<&str>,
    ) -> Result<RevocationDone> {
        if jti.is_some_and(|j| !valid_staff_id(j, MAX_STAFF_ID_LEN)) {
            return Err(Error::invalid("jti", "a token id"));
        }
        let door = self
            .door
            .as_ref()
            .ok_or_else(|| Error::unavailable("door revocations are not configured"))?;
        let now = self.clock.now();
        let not_before = if let Some(jti) = jti {
            door.revoke_token(jti, "revoked").await?;
            None
        } else {
            door.revoke_member(staff_id, now + 1, "revoked").await?;
            Some(now + 1)
        };
        let detail = RecordDetail::Revocation {
            jti: jti.map(str::to_owned),
            not_before,
        };
        let link = audit_ingest::append_record(self.log.as_ref(), &Stream::Staff, now, |seq| {
            StaffRecord {
                action: "tokens_revoked".into(),
                actor: actor.to_owned(),
                at: now,
                detail: detail.clone(),
                seq,
                subject: staff_id.to_owned(),
            }
            .canonical()
        })
        .await?;
        tracing::info!(
            staff_id,
            jti,
            actor,
            audit_seq = link.seq,
            "door tokens revoked"
        );
        Ok(RevocationDone {
            staff_id: staff_id.to_owned(),
            jti: jti.map(str::to_owned),
            not_before,
            audit_seq: link.seq,
        })
    }

    pub fn jwks(&self) -> Jwks {
        jwks(&self.public_keys)
    }

    /// Creates or changes a member; `actor` is the admin's id (or `cli:<name>`). A repeated
    /// identical request changes nothing and records nothing.
    pub async fn put_member(
        &self,
        actor: &str,
        staff_id: &str,
        spec: &MemberSpec,
    ) -> Result<Member> {
        validate_member(staff_id, spec)?;
        for _ in 0..5 {
            let now = self.clock.now();
            let before = self.directory.get_member(staff_id).await?;
            let after_view = MemberView {
                active: spec.active,
                events: spec.events.clone(),
                gates: spec.gates.clone(),
                role: spec.role,
            };
            if let Some(b) = &before {
                if MemberView::from(b) == after_view {
                    // A retry of a deactivation whose door call failed reaches the door now.
                    if !b.active {
                        self.revoke_at_door(staff_id, "deactivated").await?;
                    }
                    return Ok(b.clone());
                }
            }
            // Narrowed while staying active (a role, event or gate taken away): the tokens issued
            // so far still carry the old grants, so the door refuses them first; nothing is
            // stored if it cannot be told, and a retry does both.
            if spec.active
                && before
                    .as_ref()
                    .is_some_and(|b| b.active && narrows(b, spec))
            {
                self.revoke_at_door(staff_id, "narrowed").await?;
            }
            let member = Member {
                staff_id: staff_id.to_owned(),
                role: spec.role,
                events: spec.events.clone(),
                gates: spec.gates.clone(),
                active: spec.active,
                version: before.as_ref().map_or(1, |b| b.version + 1),
                updated_at: now,
                updated_by: actor.to_owned(),
            };
            let (seq, previous) = match self.log.last(&Stream::Staff).await? {
                Some(l) => (l.seq + 1, l.hash),
                None => (1, audit_ingest::GENESIS),
            };
            let record = StaffRecord {
                action: "member_changed".into(),
                actor: actor.to_owned(),
                at: now,
                detail: RecordDetail::Member {
                    after: after_view,
                    before: before.as_ref().map(MemberView::from),
                },
                seq,
                subject: staff_id.to_owned(),
            };
            let link = audit_ingest::next_link(seq, &previous, record.canonical()?);
            if self
                .directory
                .put_member_recorded(&member, before.as_ref().map(|b| b.version), &link, now)
                .await?
            {
                tracing::info!(
                    staff_id,
                    role = member.role.as_str(),
                    actor,
                    audit_seq = seq,
                    "staff member changed"
                );
                // Deactivated (or created inactive): the door refuses its tokens from now. If
                // the door cannot be told, the caller gets the error and retries the same PUT.
                if !member.active {
                    self.revoke_at_door(staff_id, "deactivated").await?;
                }
                return Ok(member);
            }
        }
        Err(Error::Conflict(
            "the member or the staff log changed meanwhile; retry".into(),
        ))
    }

    /// Issues a token for `staff_id` (see [`plan_token`]); recorded before it is returned.
    pub async fn issue_token(
        &self,
        actor: &str,
        staff_id: &str,
        req: &TokenRequest,
    ) -> Result<IssuedToken> {
        if !valid_staff_id(staff_id, MAX_STAFF_ID_LEN) {
            return Err(Error::NotFound);
        }
        let member = self
            .directory
            .get_member(staff_id)
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.clock.now();
        let mut id = [0u8; 16];
        self.rng.fill(&mut id);
        let claims = plan_token(&member, req, &self.settings, now, hex::encode(id))?;
        let token = encode_token(&claims, self.signer.as_ref()).await?;
        let kid = jwk(&self.signer.public_key()).kid;
        let detail = RecordDetail::Token {
            aud: claims.aud.clone(),
            events: claims.events.clone(),
            exp: claims.exp,
            gates: claims.gates.clone(),
            jti: claims.jti.clone(),
            kid: kid.clone(),
            role: claims.role,
        };
        let link = audit_ingest::append_record(self.log.as_ref(), &Stream::Staff, now, |seq| {
            StaffRecord {
                action: "token_issued".into(),
                actor: actor.to_owned(),
                at: now,
                detail: detail.clone(),
                seq,
                subject: staff_id.to_owned(),
            }
            .canonical()
        })
        .await?;
        tracing::info!(staff_id, role = claims.role.as_str(), jti = %claims.jti, actor, audit_seq = link.seq, "staff token issued");
        Ok(IssuedToken {
            token,
            token_type: "Bearer".into(),
            kid,
            jti: claims.jti,
            role: claims.role,
            aud: claims.aud,
            events: claims.events,
            gates: claims.gates,
            expires_at: claims.exp,
            audit_seq: link.seq,
        })
    }

    async fn admin(&self, headers: &HeaderMap) -> Result<Caller> {
        self.console
            .authenticate(bearer_token(headers)?, self.clock.now())
            .await
    }

    /// The caller of a route for admins only (finance may use the console, not these).
    async fn admin_only(&self, headers: &HeaderMap) -> Result<Caller> {
        let caller = self.admin(headers).await?;
        if caller.role != Role::Admin {
            return Err(Error::Forbidden("admins only".into()));
        }
        Ok(caller)
    }

    /// A member whose whole scope `caller` manages: an event's admin cannot act on an admin of
    /// every event. `NotFound` for a malformed or unknown id.
    async fn managed_member(&self, caller: &Caller, staff_id: &str) -> Result<Member> {
        if !valid_staff_id(staff_id, MAX_STAFF_ID_LEN) {
            return Err(Error::NotFound);
        }
        let member = self
            .directory
            .get_member(staff_id)
            .await?
            .ok_or(Error::NotFound)?;
        caller.require_admin_for(&member.events)?;
        Ok(member)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

async fn get_jwks(State(s): State<Arc<StaffService>>) -> Response {
    json_response(StatusCode::OK, &s.jwks())
}

async fn put_member(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin(&headers).await?;
            let spec: MemberSpec = read_json(&headers, body, 16 * 1024).await?;
            caller.require_admin_for(&spec.events)?;
            if let Some(existing) = s.directory.get_member(&staff_id).await? {
                caller.require_admin_for(&existing.events)?;
            }
            s.put_member(&caller.staff_id, &staff_id, &spec).await
        }
        .await,
    )
}

async fn get_member(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            s.managed_member(&caller, &staff_id).await
        }
        .await,
    )
}

async fn post_token(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            let req: TokenRequest = read_json(&headers, body, 16 * 1024).await?;
            s.managed_member(&caller, &staff_id).await?;
            s.issue_token(&caller.staff_id, &staff_id, &req).await
        }
        .await,
    )
}

async fn post_revocation(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            let req: RevocationRequest = read_json(&headers, body, 4 * 1024).await?;
            s.managed_member(&caller, &staff_id).await?;
            s.revoke_tokens(&caller.staff_id, &staff_id, req.jti.as_deref())
                .await
        }
        .await,
    )
}

/// `GET /v1/staff/log` query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_log_limit")]
    pub limit: u32,
}

fn default_log_limit() -> u32 {
    100
}

/// The staff log (every role change and issued token), each link checked: admins of every
/// event only, since the log spans all events.
async fn get_log(
    State(s): State<Arc<StaffService>>,
    query: std::result::Result<
        axum::extract::Query<LogQuery>,
        axum::extract::rejection::QueryRejection,
    >,
    headers: HeaderMap,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin(&headers).await?;
            caller.require_admin_for(&["*".to_owned()])?;
            let axum::extract::Query(q) =
                query.map_err(|_| Error::Malformed("query: after, limit".into()))?;
            audit_ingest::page(s.log.as_ref(), &Stream::Staff, q.after, q.limit).await
        }
        .await,
    )
}

/// The staff routes.
pub fn router(service: StaffService) -> Router {
    Router::new()
        .route("/v1/staff/jwks", get(get_jwks))
        .route("/v1/staff/log", get(get_log))
        .route(
            "/v1/staff/members/{staff_id}",
            get(get_member).put(put_member),
        )
        .route("/v1/staff/members/{staff_id}/tokens", post(post_token))
        .route(
            "/v1/staff/members/{staff_id}/revocations",
            post(post_revocation),
        )
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}

// ---------------------------------------------------------------------------------------------
// Adapters: KMS signer, DynamoDB directory
// ---------------------------------------------------------------------------------------------

pub use adapters::{
    create_signing_key, previous_public_keys, public_key_of, DynamoDirectory, KmsSigner,
};

mod adapters {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};

    use super::{der_to_jose, spki_to_sec1, Member, Role, StaffDirectory, TokenSigner};
    use crate::audit_ingest::{DynamoAuditLog, Link, Stream};
    use crate::error::{Error, Result};

    fn kms_err<E, R>(err: &aws_sdk_kms::error::SdkError<E, R>) -> Error
    where
        E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match err {
            aws_sdk_kms::error::SdkError::ServiceError(s) => Error::internal(format!(
                "KMS: {}: {}",
                s.err().code().unwrap_or("ServiceError"),
                s.err().message().unwrap_or("")
            )),
            _ => Error::unavailable("KMS unreachable"),
        }
    }

    /// The public key of a KMS signing key, checked to be ECC_NIST_P256 / SIGN_VERIFY.
    pub async fn public_key_of(client: &aws_sdk_kms::Client, key_id: &str) -> Result<[u8; 65]> {
        let out = client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| kms_err(&e))?;
        // The SPKI prefix below pins the curve (prime256v1); KeySpec is not in every KMS answer
        // (moto sends only the deprecated CustomerMasterKeySpec).
        if out.key_usage() != Some(&KeyUsageType::SignVerify)
            || !out
                .signing_algorithms()
                .contains(&SigningAlgorithmSpec::EcdsaSha256)
        {
            return Err(Error::internal(
                "staff signing key must be ECC_NIST_P256 / SIGN_VERIFY",
            ));
        }
        let der = out
            .public_key()
            .ok_or_else(|| Error::internal("KMS returned no public key"))?;
        spki_to_sec1(der.as_ref())
    }

    /// The public keys of the retired signing keys named in `STAFF_PREVIOUS_KEY_IDS`
    /// (comma-separated; unset = none), read once per cold start.
    pub async fn previous_public_keys(client: &aws_sdk_kms::Client) -> Result<Vec<[u8; 65]>> {
        let ids = std::env::var(super::PREVIOUS_KEYS_ENV).unwrap_or_default();
        let mut keys = Vec::new();
        for id in ids.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            keys.push(public_key_of(client, id).await?);
        }
        Ok(keys)
    }

    /// Signs with KMS (`MessageType::Raw`, `ECDSA_SHA_256`: KMS hashes the message).
    #[derive(Debug, Clone)]
    pub struct KmsSigner {
        client: aws_sdk_kms::Client,
        key_id: String,
        public: [u8; 65],
    }

    impl KmsSigner {
        /// Fetches the public key once (per cold start).
        pub async fn load(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self> {
            let public = public_key_of(&client, key_id).await?;
            Ok(Self {
                client,
                key_id: key_id.to_owned(),
                public,
            })
        }
    }

    #[async_trait]
    impl TokenSigner for KmsSigner {
        fn public_key(&self) -> [u8; 65] {
            self.public
        }

        async fn sign(&self, message: &[u8]) -> Result<[u8; 64]> {
            let out = self
                .client
                .sign()
                .key_id(&self.key_id)
                .message(Blob::new(message))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
                .map_err(|e| kms_err(&e))?;
            let der = out
                .signature()
                .ok_or_else(|| Error::internal("KMS returned no signature"))?;
            der_to_jose(der.as_ref())
        }
    }

    /// Creates an ECC_NIST_P256 SIGN_VERIFY key (tests, local stacks); returns its id.
    pub async fn create_signing_key(
        client: &aws_sdk_kms::Client,
        description: &str,
    ) -> Result<String> {
        let out = client
            .create_key()
            .description(description)
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .map_err(|e| kms_err(&e))?;
        out.key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| Error::internal("KMS returned no key metadata"))
    }

    type Item = HashMap<String, AttributeValue>;

    fn s(v: impl Into<String>) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn list(v: &[String]) -> AttributeValue {
        AttributeValue::L(v.iter().map(|x| s(x.clone())).collect())
    }

    fn member_from(item: &Item) -> Result<Member> {
        let bad = || Error::internal("stored staff member is malformed");
        let text = |k: &str| match item.get(k) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            _ => Err(bad()),
        };
        let num = |k: &str| match item.get(k) {
            Some(AttributeValue::N(v)) => v.parse::<u64>().map_err(|_| bad()),
            _ => Err(bad()),
        };
        let strings = |k: &str| match item.get(k) {
            Some(AttributeValue::L(v)) => v
                .iter()
                .map(|a| match a {
                    AttributeValue::S(x) => Ok(x.clone()),
                    _ => Err(bad()),
                })
                .collect::<Result<Vec<_>>>(),
            _ => Err(bad()),
        };
        let role: Role =
            serde_json::from_value(serde_json::Value::String(text("role")?)).map_err(|_| bad())?;
        Ok(Member {
            staff_id: text("staff_id")?,
            role,
            events: strings("events")?,
            gates: strings("gates")?,
            active: matches!(item.get("active"), Some(AttributeValue::Bool(true))),
            version: num("version")?,
            updated_at: num("updated_at")?,
            updated_by: text("updated_by")?,
        })
    }

    /// Staff members in the single table: `STAFF#<staff_id>` / `MEMBER`.
    #[derive(Debug, Clone)]
    pub struct DynamoDirectory {
        log: DynamoAuditLog,
    }

    impl DynamoDirectory {
        pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
            Self {
                log: DynamoAuditLog::new(client, table),
            }
        }
    }

    #[async_trait]
    impl StaffDirectory for DynamoDirectory {
        async fn get_member(&self, staff_id: &str) -> Result<Option<Member>> {
            let out = self
                .log
                .client()
                .get_item()
                .table_name(self.log.table())
                .key("pk", s(format!("STAFF#{staff_id}")))
                .key("sk", s("MEMBER"))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| Error::unavailable(crate::aws::describe(&e)))?;
            out.item().map(member_from).transpose()
        }

        async fn put_member_recorded(
            &self,
            member: &Member,
            expected_version: Option<u64>,
            record: &Link,
            now: u64,
        ) -> Result<bool> {
            let mut put = Put::builder()
                .table_name(self.log.table())
                .item("pk", s(format!("STAFF#{}", member.staff_id)))
                .item("sk", s("MEMBER"))
                .item("type", s("staff_member"))
                .item("staff_id", s(member.staff_id.clone()))
                .item("role", s(member.role.as_str()))
                .item("events", list(&member.events))
                .item("gates", list(&member.gates))
                .item("active", AttributeValue::Bool(member.active))
                .item("version", AttributeValue::N(member.version.to_string()))
                .item(
                    "updated_at",
                    AttributeValue::N(member.updated_at.to_string()),
                )
                .item("updated_by", s(member.updated_by.clone()));
            put = match expected_version {
                None => put.condition_expression("attribute_not_exists(pk)"),
                Some(v) => put
                    .condition_expression("version = :v")
                    .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
            };
            let items = vec![
                TransactWriteItem::builder()
                    .put(put.build().map_err(Error::internal)?)
                    .build(),
                TransactWriteItem::builder()
                    .put(self.log.put(&Stream::Staff, record, now)?)
                    .build(),
            ];
            crate::audit_ingest::transact(self.log.client(), items).await
        }
    }
}

/// The staff id of this service's own door tokens (the ones that call the worker's deny-list).
pub const REVOKER_ID: &str = "svc:staff-revocations";
/// Lifetime of such a token: one call.
const REVOKER_TTL_SECS: u64 = 60;

/// [`StaffDenyList`] over HTTP: `POST {edge}/v1/staff-revocations`, authenticated with a
/// door token minted for the call (admin of every event, 60 s, its own `jti`). The edge URL is
/// HTTPS, or plain HTTP to a loopback address (local stacks and tests).
pub struct EdgeStaffDenyList<T = crate::gateway::transport::HyperTransport> {
    base_url: String,
    signer: Arc<dyn TokenSigner>,
    settings: Settings,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    transport: T,
}

impl<T> std::fmt::Debug for EdgeStaffDenyList<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeStaffDenyList")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl EdgeStaffDenyList {
    /// Env: the edge worker's base URL (`https://door.example.org`).
    pub const URL_ENV: &'static str = "EDGE_BASE_URL";

    pub fn new(
        base_url: &str,
        signer: Arc<dyn TokenSigner>,
        settings: Settings,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
    ) -> Result<Self> {
        let transport = crate::gateway::transport::HyperTransport::new(
            crate::gateway::transport::DEFAULT_TIMEOUT,
        )
        .map_err(Error::internal)?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            signer,
            settings,
            clock,
            rng,
            transport,
        })
    }
}

impl<T: crate::gateway::hosted::HttpTransport + Send + Sync> EdgeStaffDenyList<T> {
    async fn post(&self, body: serde_json::Value) -> Result<()> {
        let now = self.clock.now();
        let mut id = [0u8; 16];
        self.rng.fill(&mut id);
        let claims = TokenClaims {
            aud: self.settings.door_audience.clone(),
            events: vec!["*".into()],
            exp: now + REVOKER_TTL_SECS,
            gates: vec!["*".into()],
            iat: now,
            iss: self.settings.issuer.clone(),
            jti: hex::encode(id),
            nbf: now,
            role: Role::Admin,
            sub: REVOKER_ID.into(),
        };
        let token = encode_token(&claims, self.signer.as_ref()).await?;
        let request = crate::gateway::hosted::HttpRequest {
            method: "POST",
            url: format!("{}/v1/staff-revocations", self.base_url),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("authorization".into(), format!("Bearer {token}")),
            ],
            body: body.to_string().into_bytes(),
        };
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| Error::unavailable(format!("door revocations: {e}")))?;
        if response.status != 200 {
            return Err(Error::unavailable(format!(
                "door revocations: the edge answered {}",
                response.status
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl<T: crate::gateway::hosted::HttpTransport + Send + Sync> StaffDenyList
    for EdgeStaffDenyList<T>
{
    async fn revoke_member(&self, staff_id: &str, not_before: u64, reason: &str) -> Result<()> {
        self.post(serde_json::json!({"sub": staff_id, "not_before": not_before, "reason": reason}))
            .await
    }

    async fn revoke_token(&self, jti: &str, reason: &str) -> Result<()> {
        self.post(serde_json::json!({"jti": jti, "reason": reason}))
            .await
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
    use super::*;

    fn member(role: Role, events: &[&str], gates: &[&str]) -> Member {
        Member {
            staff_id: "m-1".into(),
            role,
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            gates: gates.iter().map(|s| (*s).to_owned()).collect(),
            active: true,
            version: 1,
            updated_at: 0,
            updated_by: "t".into(),
        }
    }

    fn req(purpose: Purpose) -> TokenRequest {
        TokenRequest {
            purpose,
            events: None,
            gates: None,
            ttl_secs: None,
        }
    }

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

    #[test]
    fn the_policy_keeps_roles_apart() {
        let s = Settings::default();
        let finance = member(Role::Finance, &["evt-1"], &[]);
        assert!(matches!(
            plan_token(&finance, &req(Purpose::Door), &s, 100, "j".into()),
            Err(Error::Forbidden(_))
        ));
        let c = plan_token(&finance, &req(Purpose::Console), &s, 100, "j".into()).unwrap();
        assert_eq!((c.aud.as_str(), c.gates.len()), ("karcis-console", 0));
        let mut with_gate = req(Purpose::Console);
        with_gate.gates = Some(vec!["A".into()]);
        assert!(plan_token(&finance, &with_gate, &s, 100, "j".into()).is_err());

        let staff = member(Role::Staff, &["evt-1"], &["A"]);
        assert!(matches!(
            plan_token(&staff, &req(Purpose::Console), &s, 100, "j".into()),
            Err(Error::Forbidden(_))
        ));
        let d = plan_token(&staff, &req(Purpose::Door), &s, 100, "j".into()).unwrap();
        assert_eq!(d.aud, "karcis-door");
        assert_eq!(d.exp - d.iat, DEFAULT_DOOR_TTL_SECS);
        let mut wider = req(Purpose::Door);
        wider.gates = Some(vec!["B".into()]);
        assert!(matches!(
            plan_token(&staff, &wider, &s, 100, "j".into()),
            Err(Error::Forbidden(_))
        ));
        let mut other_event = req(Purpose::Door);
        other_event.events = Some(vec!["evt-2".into()]);
        assert!(plan_token(&staff, &other_event, &s, 100, "j".into()).is_err());
        let mut long = req(Purpose::Door);
        long.ttl_secs = Some(MAX_LIFETIME_SECS + 1);
        assert!(matches!(
            plan_token(&staff, &long, &s, 100, "j".into()),
            Err(Error::Invalid { .. })
        ));
        let mut off = staff.clone();
        off.active = false;
        assert!(plan_token(&off, &req(Purpose::Door), &s, 100, "j".into()).is_err());
    }

    #[test]
    fn members_are_validated() {
        let spec = |role, events: &[&str], gates: &[&str]| MemberSpec {
            role,
            events: events.iter().map(|s| (*s).to_owned()).collect(),
            gates: gates.iter().map(|s| (*s).to_owned()).collect(),
            active: true,
        };
        assert!(validate_member("ops-1", &spec(Role::Admin, &["*"], &["*"])).is_ok());
        assert!(validate_member("f-1", &spec(Role::Finance, &["evt-1"], &["A"])).is_err());
        assert!(validate_member("s-1", &spec(Role::Staff, &["*"], &["A"])).is_err());
        assert!(validate_member("s-1", &spec(Role::Staff, &["evt-1"], &[])).is_err());
        assert!(validate_member("s 1", &spec(Role::Staff, &["evt-1"], &["A"])).is_err());
        assert!(validate_member("s-1", &spec(Role::Staff, &["evt-1", "evt-1"], &["A"])).is_err());
    }

    #[tokio::test]
    async fn tokens_round_trip_and_bad_ones_fail() {
        let signer = LocalSigner(p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap());
        let keys = VerifyKeys::new(&[signer.public_key()]).unwrap();
        let s = Settings::default();
        let staff = member(Role::Staff, &["evt-1"], &["A"]);
        let claims = plan_token(&staff, &req(Purpose::Door), &s, 1000, "j1".into()).unwrap();
        let token = encode_token(&claims, &signer).await.unwrap();
        assert_eq!(
            verify_token(&token, &keys, "karcis", "karcis-door", 1000).unwrap(),
            claims
        );
        assert!(verify_token(&token, &keys, "karcis", "karcis-console", 1000).is_err());
        assert!(verify_token(&token, &keys, "karcis", "karcis-door", claims.exp + 31).is_err());
        let other = LocalSigner(p256::ecdsa::SigningKey::from_slice(&[8u8; 32]).unwrap());
        // A token of another issuer (same key, same audience) is refused.
        assert!(verify_token(&token, &keys, "someone-else", "karcis-door", 1000).is_err());
        assert!(verify_token(
            &token,
            &VerifyKeys::new(&[other.public_key()]).unwrap(),
            "karcis",
            "karcis-door",
            1000
        )
        .is_err());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[0] = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"x"}"#);
        assert!(verify_token(&parts.join("."), &keys, "karcis", "karcis-door", 1000).is_err());

        // An issued token can be debug-printed without handing out the bearer token.
        let issued = IssuedToken {
            token: token.clone(),
            token_type: "Bearer".into(),
            kid: jwk(&signer.public_key()).kid,
            jti: claims.jti.clone(),
            role: claims.role,
            aud: claims.aud.clone(),
            events: claims.events.clone(),
            gates: claims.gates.clone(),
            expires_at: claims.exp,
            audit_seq: 1,
        };
        let debug = format!("{issued:?}");
        assert!(
            debug.contains("j1") && !debug.contains(parts[2].as_str()),
            "{debug}"
        );
    }
}
