//! `POST /v1/staff/refresh`: a scanner's device-bound door token (RFC 9449 `cnf.jkt`) for a new
//! one bound to the same key, before (or shortly after) it expires.
//!
//! The request carries the current token (`Authorization: DPoP <token>`, or `Bearer`) and a
//! proof by the bound key (`DPoP: <JWS>`, `htm` POST, `htu` this route, `ath` the token). The
//! rules, in order: the token verifies as a door token, expired at most [`REFRESH_GRACE_SECS`]
//! ago; it is bound; the proof checks against its `cnf.jkt` (a copied token without the key
//! refreshes nothing); it was issued after the member's last revocation line; the member is
//! active and still holds the token's events and gates (a narrowed member is refused: sign in
//! again); and, last, one conditional write spends the token: each token is refreshed once (a
//! replayed request, or a burst of copies, gets one new token at most). A revoked token id is
//! spent at revocation, so it refreshes nothing either.

use super::planning::{Purpose, TokenRequest};
use super::service::{IssuedToken, StaffService};
use crate::error::{Error, Result};
use crate::staff_identity::dpop::{verify_proof, ProofFor};
use crate::staff_identity::{covers, verify_token_with_grace, LEEWAY_SECS};

/// How long after its expiry a door token can still be refreshed (a scanner back from sleep).
pub const REFRESH_GRACE_SECS: u64 = 300;
/// The route's path: the proof's `htu` must name it.
pub const REFRESH_PATH: &str = "/v1/staff/refresh";
/// The actor recorded for refreshed tokens.
pub const REFRESH_ACTOR: &str = "refresh";

impl StaffService {
    /// A new door token for `token`, bound to the same key, given a `proof` by that key.
    pub async fn refresh(&self, token: &str, proof: &str) -> Result<IssuedToken> {
        let credentials = self.credentials()?;
        let now = self.clock.now();
        let claims = verify_token_with_grace(
            token,
            &self.console.keys,
            &self.settings.issuer,
            &self.settings.door_audience,
            now,
            REFRESH_GRACE_SECS,
        )?;
        let jkt = claims.cnf.as_ref().ok_or(Error::Unauthorized)?.jkt.clone();
        verify_proof(
            proof,
            &ProofFor {
                method: "POST",
                path: REFRESH_PATH,
                token,
                jkt: &jkt,
                now,
            },
        )?;
        let jwk = crate::staff_identity::dpop::proof_jwk(proof).ok_or(Error::Unauthorized)?;
        if credentials
            .token_line(&claims.sub)
            .await?
            .is_some_and(|line| claims.iat < line)
        {
            return Err(Error::Unauthorized);
        }
        let member = self
            .directory
            .get_member(&claims.sub)
            .await?
            .filter(|m| m.active && m.role == claims.role && m.role.may_scan())
            .ok_or(Error::Unauthorized)?;
        let still_granted = claims.events.iter().all(|e| covers(&member.events, e))
            && claims.gates.iter().all(|g| covers(&member.gates, g));
        if !still_granted {
            return Err(Error::Unauthorized);
        }
        let keep_until = claims.exp + REFRESH_GRACE_SECS + LEEWAY_SECS;
        if !credentials
            .spend_door_token(&claims.sub, &claims.jti, keep_until)
            .await?
        {
            return Err(Error::Unauthorized);
        }
        let request = TokenRequest {
            purpose: Purpose::Door,
            events: Some(claims.events.clone()),
            gates: Some(claims.gates.clone()),
            ttl_secs: Some(claims.exp.saturating_sub(claims.iat)),
            jwk: Some(jwk),
        };
        self.issue_token(REFRESH_ACTOR, &claims.sub, &request).await
    }
}
