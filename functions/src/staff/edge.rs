//! The door's staff deny-list over HTTP (the edge worker's `POST /v1/staff-revocations`).

use std::sync::Arc;

use async_trait::async_trait;

use super::records::StaffDenyList;
use crate::error::{Error, Result};
use crate::ports::{Clock, Rng};
use crate::staff_identity::dpop::{sign_proof, Cnf, DeviceJwk};
use crate::staff_identity::{encode_token, Role, Settings, TokenClaims, TokenSigner};

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
        // A key for this one call: the door refuses unbound tokens, so the call's token is
        // bound to it and carries a proof by it (the key is never stored).
        // Bounded: a random scalar out of range has probability about 2^-32 per try.
        let key = (0..8)
            .find_map(|_| {
                let mut seed = zeroize::Zeroizing::new([0u8; 32]);
                self.rng.fill(seed.as_mut());
                p256::ecdsa::SigningKey::from_slice(seed.as_ref()).ok()
            })
            .ok_or_else(|| Error::internal("no signing key for the revocation call"))?;
        let jwk = DeviceJwk::of(key.verifying_key());
        let claims = TokenClaims {
            aud: self.settings.door_audience.clone(),
            cnf: Some(Cnf {
                jkt: jwk.thumbprint()?,
            }),
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
        let url = format!("{}/v1/staff-revocations", self.base_url);
        let proof = sign_proof(&key, "POST", &url, &token, now, &claims.jti);
        let request = crate::gateway::hosted::HttpRequest {
            method: "POST",
            url,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("authorization".into(), format!("Bearer {token}")),
                ("dpop".into(), proof),
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
