//! Console authentication: a console token verified in code, then the caller's current
//! membership (exists, active, same role) looked up.

use std::sync::Arc;

use super::keys::VerifyKeys;
use super::members::{covers, MemberLookup};
use super::tokens::{verify_token, Role};
use crate::error::{Error, Result};

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
    pub directory: Arc<dyn MemberLookup>,
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
        // Revoked all at once (an incident): whatever key signed it.
        if claims.iat < self.directory.tokens_not_before().await? {
            return Err(Error::Unauthorized);
        }
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
