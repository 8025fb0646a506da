//! The request-time half of device binding (the pure rules are [`crate::dpop`]): reads the
//! `DPoP` header, checks the proof against the token and the request, and spends its `jti` in
//! the member's [`crate::devices::StaffDevices`] Durable Object with one atomic
//! insert-if-absent (a replayed proof, even in a burst of copies at once, passes at most once).

use worker::{Method, Request};

use crate::api::{Problem, ScanResult};
use crate::auth::{AuthError, Staff};
use crate::dpop::{self, Expected};
use crate::routes::Ctx;
use crate::sig;

/// Longest lifetime of a device-bound door token (the back end's `MAX_DOOR_TTL_SECS`).
pub(crate) const MAX_BOUND_LIFETIME_SECS: u64 = 3600;

/// Whether `staff`'s token may be used for `req`: a bound token needs a valid, unused proof by
/// its key; an unbound one passes only while `ALLOW_UNBOUND_DOOR_TOKENS` is `"true"`.
pub(crate) async fn require(ctx: &Ctx, req: &Request, staff: &Staff) -> Result<(), AuthError> {
    let Some(jkt) = staff.jkt.as_deref() else {
        return if ctx.var("ALLOW_UNBOUND_DOOR_TOKENS").as_deref() == Some("true") {
            Ok(())
        } else {
            Err(AuthError::UnboundToken)
        };
    };
    // A bound token is a short one (the back end issues at most an hour): a longer one is
    // refused even when signed.
    if staff.expires_at.saturating_sub(staff.issued_at) > MAX_BOUND_LIFETIME_SECS {
        return Err(AuthError::LifetimeTooLong);
    }
    let proof = req
        .headers()
        .get("dpop")
        .ok()
        .flatten()
        .ok_or(AuthError::DpopRequired)?;
    let authorization = req.headers().get("authorization").ok().flatten();
    let token = crate::auth::bearer(authorization.as_deref())?;
    let method = req.inner().method();
    let path = req.path();
    let want = Expected {
        method: &method,
        path: &path,
        access_token: token,
        jkt,
        now: ctx.now(),
        window_secs: dpop::window_secs(ctx.var("DPOP_WINDOW_SECS").as_deref()),
    };
    let unverified = dpop::parse(proof.trim())?;
    unverified.check_claims(&want)?;
    let valid = sig::verify_all(ctx.backend, &[&unverified.check])
        .await
        .map_err(|_| AuthError::DpopInvalid)?
        .first()
        .copied()
        .unwrap_or(false);
    let accepted = unverified.decide(valid, &want)?;
    spend(ctx, &staff.id, &accepted).await
}

/// Remembers the proof's `jti`; `DpopReplayed` when it was already there.
async fn spend(ctx: &Ctx, staff_id: &str, accepted: &dpop::Accepted) -> Result<(), AuthError> {
    let body = serde_json::json!({
        "key": accepted.replay_key,
        "expires_at": accepted.remember_until,
    })
    .to_string();
    let answer = crate::devices::devices_request(
        &ctx.env,
        staff_id,
        "https://devices/proof",
        Method::Post,
        Some(body),
    )
    .await
    .map_err(|_| AuthError::DpopUnavailable)?;
    match answer.status_code() {
        200 => Ok(()),
        409 => Err(AuthError::DpopReplayed),
        _ => Err(AuthError::DpopUnavailable),
    }
}

/// The 401 (503 when the memory is down) for a binding failure, with its own `type`, or
/// `None` for the other token failures.
pub(crate) fn problem(e: AuthError) -> Option<Problem> {
    let mut p = match e {
        AuthError::DpopRequired => Problem::new(
            401,
            "dpop_proof_required",
            "Device proof required",
            "this token is bound to a device key: send a DPoP proof signed by it",
        ),
        AuthError::UnboundToken => Problem::new(
            401,
            "unbound_token",
            "Unbound token",
            "door tokens must be bound to the scanner's device key: sign in on the scanner",
        ),
        AuthError::DpopInvalid
        | AuthError::DpopKeyMismatch
        | AuthError::DpopWrongRequest
        | AuthError::DpopStale
        | AuthError::DpopReplayed => Problem::new(
            401,
            "invalid_dpop_proof",
            "Device proof refused",
            format!("the DPoP proof was refused: {}", e.code()),
        ),
        AuthError::DpopUnavailable => {
            return Some(Problem::new(
                503,
                "dpop_unavailable",
                "Device proofs unavailable",
                "the device proof could not be checked; retry",
            ))
        }
        _ => return None,
    };
    p.result = Some(ScanResult::Unauthorised);
    p.message = Some(ScanResult::Unauthorised.message());
    Some(p)
}
