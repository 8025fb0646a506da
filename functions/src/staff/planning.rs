//! The token policy (pure): which claims a member may be issued for a request.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::staff_identity::{
    covers, dpop::Cnf, dpop::DeviceJwk, valid_scopes, Member, Settings, TokenClaims,
    DEFAULT_CONSOLE_TTL_SECS, DEFAULT_DOOR_TTL_SECS, MAX_DOOR_TTL_SECS, MAX_LIFETIME_SECS,
};

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
    /// The scanner's public key (door tokens): the token is bound to it (`cnf.jkt`).
    #[serde(default)]
    pub jwk: Option<DeviceJwk>,
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
    let (max_ttl, range) = match req.purpose {
        Purpose::Door => (MAX_DOOR_TTL_SECS, "60..=3600"),
        Purpose::Console => (MAX_LIFETIME_SECS, "60..=43200"),
    };
    if !(60..=max_ttl).contains(&ttl) {
        return Err(Error::invalid("ttl_secs", range));
    }
    let cnf = match (&req.jwk, req.purpose) {
        (None, _) => None,
        (Some(jwk), Purpose::Door) => Some(Cnf {
            jkt: jwk.thumbprint()?,
        }),
        (Some(_), Purpose::Console) => {
            return Err(Error::invalid("jwk", "console tokens are not device-bound"))
        }
    };
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
        cnf,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    use super::*;
    use crate::staff::IssuedToken;
    use crate::staff_identity::Role;
    use crate::staff_identity::{
        encode_token, jwk, verify_token, LocalSigner, TokenSigner, VerifyKeys,
    };

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
            jwk: None,
        }
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
