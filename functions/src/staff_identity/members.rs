//! Staff members: the stored model, the id and scope rules, and the lookup port.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::tokens::{Role, MAX_SCOPES, MAX_STAFF_ID_LEN};
use crate::error::{Error, Result};

/// The worker's id rule (`edge-worker/src/api.rs::valid_id`): 1..=max of `[A-Za-z0-9._:@-]`.
pub fn valid_staff_id(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
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

pub fn valid_scopes(list: &[String]) -> bool {
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

/// True when `granted` (ids or `*`) covers `wanted`.
pub fn covers(granted: &[String], wanted: &str) -> bool {
    granted.iter().any(|g| g == "*" || g == wanted)
}

/// Reads staff members (what console authentication needs).
#[async_trait]
pub trait MemberLookup: Send + Sync {
    async fn get_member(&self, staff_id: &str) -> Result<Option<Member>>;
    /// Every staff token issued before this time (unix seconds) is refused: the line an
    /// operator draws when revoking every staff token (`admin revoke-staff-tokens`).
    async fn tokens_not_before(&self) -> Result<u64>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
}
