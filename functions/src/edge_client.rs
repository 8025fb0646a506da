//! The outbound adapter to the edge worker's `POST /v1/revocations`, for [`DoorRevocations`]:
//! a whole ticket revoked (refund, dispute), or a ticket's credentials issued before its re-issue
//! retired (`not_issued_before`, after device binding).
//!
//! The credential is scoped to that one route: the worker accepts `Authorization: KarcisRevoker
//! t=<unix seconds>,v1=<hex>` only there, where `v1` is HMAC-SHA256 under the shared
//! `REVOKER_KEY` of `"karcis-revoke.v1\n" + t + "\n" + raw body`. The MAC covers the body (event,
//! ticket, reason) and a time the worker checks to within five minutes, so a request seen in a
//! log revokes nothing else, and a leaked key can revoke tickets but not scan, sync, read the
//! audit or download bundles (the worker's staff routes take staff JWTs only).

use std::sync::Arc;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::gateway::hosted::{HttpRequest, HttpTransport};
use crate::ports::{Clock, DoorRevocations};

/// The authorization scheme the worker accepts on `POST /v1/revocations` only.
pub const SCHEME: &str = "KarcisRevoker";
/// What the MAC is over, before the time and the body.
pub const MAC_LABEL: &str = "karcis-revoke.v1";

/// `KarcisRevoker t=..,v1=..` for `body` at `t`.
pub fn authorization(key: &[u8], t: u64, body: &[u8]) -> String {
    let t = t.to_string();
    let mac = crate::gateway::crypto::hmac_sha256(
        key,
        &[MAC_LABEL.as_bytes(), b"\n", t.as_bytes(), b"\n", body],
    );
    format!("{SCHEME} t={t},v1={}", hex::encode(mac))
}

/// Calls the edge over `transport` (HTTPS, or HTTP on loopback only).
pub struct EdgeRevocations<T> {
    base_url: String,
    key: Zeroizing<Vec<u8>>,
    transport: T,
    clock: Arc<dyn Clock>,
}

impl<T> std::fmt::Debug for EdgeRevocations<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeRevocations")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl<T: HttpTransport> EdgeRevocations<T> {
    pub fn new(
        base_url: &str,
        key: Zeroizing<Vec<u8>>,
        transport: T,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            transport,
            clock,
        }
    }
}

impl<T: HttpTransport + Send + Sync> EdgeRevocations<T> {
    /// One signed `POST /v1/revocations` of `body`.
    async fn post(&self, body: &serde_json::Value) -> Result<()> {
        let body = serde_json::to_vec(body).map_err(Error::internal)?;
        let request = HttpRequest {
            method: "POST",
            url: format!("{}/v1/revocations", self.base_url),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                (
                    "Authorization".into(),
                    authorization(&self.key, self.clock.now(), &body),
                ),
            ],
            body,
        };
        let response = self
            .transport
            .send(request)
            .await
            .map_err(|e| Error::unavailable(format!("edge revocation: {e}")))?;
        match response.status {
            200..=299 => Ok(()),
            // Refused: a wrong key, a clock off by minutes, or a ticket the worker does not
            // accept. Retrying cannot help soon; after maxReceiveCount the message reaches the
            // DLQ, whose alarm tells a person.
            400..=499 => Err(Error::internal(format!(
                "edge refused the revocation: HTTP {}",
                response.status
            ))),
            status => Err(Error::unavailable(format!("edge answered HTTP {status}"))),
        }
    }
}

#[async_trait]
impl<T: HttpTransport + Send + Sync> DoorRevocations for EdgeRevocations<T> {
    async fn revoke(&self, event_id: &str, ticket_id: &str, reason: &str) -> Result<()> {
        self.post(&serde_json::json!({
            "event_id": event_id, "ticket_id": ticket_id, "reason": reason,
        }))
        .await
    }

    async fn retire(&self, event_id: &str, ticket_id: &str, not_issued_before: u64) -> Result<()> {
        self.post(&serde_json::json!({
            "event_id": event_id, "ticket_id": ticket_id, "reason": "reissued",
            "not_issued_before": not_issued_before,
        }))
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector shared with the worker's verifier (edge-worker/src/revoker.rs) and computed
    /// independently with Node's crypto: both sides speak the same credential.
    #[test]
    fn matches_the_shared_vector() {
        let body = br#"{"event_id":"evt-a","ticket_id":"00112233445566778899aabbccddeeff","reason":"refund"}"#;
        assert_eq!(
            authorization(&[0x0b; 32], 1_800_000_000, body),
            "KarcisRevoker t=1800000000,v1=45c0a80a495f18da4813bd2ad30adf84e4a5fcaba302c4dead3a1ffe54b1012b"
        );
    }

    #[test]
    fn mac_covers_time_and_body() {
        let a = authorization(b"k", 1, b"{}");
        assert!(a.starts_with("KarcisRevoker t=1,v1="));
        assert_ne!(a, authorization(b"k", 2, b"{}"));
        assert_ne!(a, authorization(b"k", 1, b"{ }"));
        assert_ne!(a, authorization(b"j", 1, b"{}"));
    }
}
