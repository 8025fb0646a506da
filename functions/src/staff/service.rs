//! The staff service: members, tokens, revocations, the JWKS.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

use super::planning::{plan_token, TokenRequest};
use super::records::{MemberView, RecordDetail, StaffDenyList, StaffDirectory, StaffRecord};
use crate::audit_ingest::{self, AuditLog, Stream};
use crate::error::{Error, Result};
use crate::http::bearer_token;
use crate::ports::{Clock, Rng};
use crate::staff_identity::{
    encode_token, jwk, jwks, valid_staff_id, validate_member, Caller, Console, Jwks, Member,
    MemberLookup, MemberSpec, Role, Settings, TokenSigner, VerifyKeys, MAX_STAFF_ID_LEN,
};

/// The directory seen as a member lookup (console authentication).
struct Lookup(Arc<dyn StaffDirectory>);

#[async_trait]
impl MemberLookup for Lookup {
    async fn get_member(&self, staff_id: &str) -> Result<Option<Member>> {
        self.0.get_member(staff_id).await
    }

    async fn tokens_not_before(&self) -> Result<u64> {
        self.0.tokens_not_before().await
    }
}

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
    /// Passwords, setup codes and sign-in counters; `None` = password sign-in off (`503`).
    pub credentials: Option<Arc<dyn super::signin::Credentials>>,
    /// The keys of sign-in: the blind index of client addresses and the TOTP data keys.
    pub secrets: Option<Arc<StaffSecrets>>,
}

/// KMS-held secrets of sign-in (`PII_KEY_ID`): the table-wide blind-index key (the client
/// counters are keyed by the blind index of the address, never a plain hash of it) and the
/// members' TOTP data keys.
pub struct StaffSecrets {
    pub pii: crate::pii::Pii,
    pub keys: Arc<dyn crate::ports::Keys>,
}

impl std::fmt::Debug for StaffSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffSecrets(<redacted>)")
    }
}

impl StaffSecrets {
    pub fn new(
        keys: Arc<dyn crate::ports::Keys>,
        customers: Arc<dyn crate::ports::Customers>,
    ) -> Self {
        Self {
            pii: crate::pii::Pii::new(keys.clone(), customers),
            keys,
        }
    }
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
            directory: Arc::new(Lookup(directory.clone())),
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
            credentials: None,
            secrets: None,
        })
    }

    /// Tells the door about deactivations and revocations through `door`.
    #[must_use]
    pub fn with_door(mut self, door: Arc<dyn StaffDenyList>) -> Self {
        self.door = Some(door);
        self
    }

    /// Password sign-in through `credentials`, with the blind-index and TOTP keys of `secrets`.
    #[must_use]
    pub fn with_credentials(
        mut self,
        credentials: Arc<dyn super::signin::Credentials>,
        secrets: StaffSecrets,
    ) -> Self {
        self.credentials = Some(credentials);
        self.secrets = Some(Arc::new(secrets));
        self
    }

    /// A deactivated (or narrowed) member's door tokens, all of them so far, refused at the
    /// door. `not_before` is the next second: an inactive member is issued no token (see
    /// [`plan_token`]), so nothing legitimate is caught, and a token issued in this very second
    /// is.
    async fn revoke_at_door(&self, staff_id: &str, reason: &str) -> Result<u64> {
        let not_before = self.clock.now() + 1;
        self.refresh_no_more(staff_id, None, not_before).await?;
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

    /// The refresh route's half of a revocation: token `jti` (spent, so it refreshes nothing),
    /// or every token of `staff_id` issued before `not_before`. Nothing without credentials
    /// (then there is no refresh either).
    async fn refresh_no_more(
        &self,
        staff_id: &str,
        jti: Option<&str>,
        not_before: u64,
    ) -> Result<()> {
        let Some(credentials) = self.credentials.as_deref() else {
            return Ok(());
        };
        match jti {
            Some(jti) => {
                let until = self.clock.now() + crate::staff_identity::MAX_LIFETIME_SECS;
                credentials.spend_door_token(staff_id, jti, until).await?;
            }
            None => credentials.set_token_line(staff_id, not_before).await?,
        }
        Ok(())
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
        self.refresh_no_more(staff_id, jti, now + 1).await?;
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

    pub(super) async fn admin(&self, headers: &HeaderMap) -> Result<Caller> {
        self.console
            .authenticate(bearer_token(headers)?, self.clock.now())
            .await
    }

    /// The caller of a route for admins only (finance may use the console, not these).
    pub(super) async fn admin_only(&self, headers: &HeaderMap) -> Result<Caller> {
        let caller = self.admin(headers).await?;
        if caller.role != Role::Admin {
            return Err(Error::Forbidden("admins only".into()));
        }
        Ok(caller)
    }

    /// A member whose whole scope `caller` manages: an event's admin cannot act on an admin of
    /// every event. `NotFound` for a malformed or unknown id.
    pub(super) async fn managed_member(&self, caller: &Caller, staff_id: &str) -> Result<Member> {
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
