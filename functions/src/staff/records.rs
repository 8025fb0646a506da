//! The staff log records, and the ports that store members with their record and tell the door.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit_ingest::Link;
use crate::error::{Error, Result};
use crate::staff_identity::{Member, MemberLookup, Role};

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
    /// A sign-in refused: `failures` counted on the account so far, `locked_until` when the
    /// account is held. Before `Revocation`, whose fields are all optional.
    SignIn {
        failures: u32,
        locked_until: Option<u64>,
        outcome: String,
    },
    /// A password credential changed: `setup_issued` (with the code's expiry) or `password_set`.
    Credential {
        change: String,
        expires_at: Option<u64>,
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
    /// `member_changed`, `token_issued`, `tokens_revoked`, `credential_changed` or
    /// `sign_in_refused`.
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

/// Staff members, and member changes written together with their log record.
#[async_trait]
pub trait StaffDirectory: MemberLookup {
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
