//! The bot check (CAPTCHA): the [`Captcha`] port, and its Cloudflare Turnstile adapter
//! ([`turnstile`]) that verifies the widget's token server side with the siteverify API.
//!
//! Configuration (checkout and privacy): `TURNSTILE_SECRET` (base64 KMS ciphertext under
//! `CONFIG_KEY_ID`, context `{"purpose":"captcha-secret"}`), `TURNSTILE_HOSTNAMES` (the site's
//! host names, comma-separated: a token solved on another site is refused),
//! `TURNSTILE_FAIL_OPEN=1` (admit requests while siteverify cannot be reached; the default is
//! to refuse them), `TURNSTILE_SITEVERIFY_URL` (a loopback stub in tests and the local stack).
//! Without `TURNSTILE_SECRET` no token is checked, which [`from_env`] allows off Lambda only.

#[cfg(any(test, feature = "testing"))]
pub mod stub;
pub mod turnstile;

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;

use crate::error::{Error, Result};
use crate::ports::{KeyPurpose, Keys};
pub use turnstile::{Turnstile, TurnstileConfig};

/// What the site sends when no Turnstile site key is configured (development): refused by
/// every configured verifier.
pub const DEV_PLACEHOLDER: &str = "dev-placeholder";
/// Turnstile tokens are at most 2048 characters.
pub const MAX_TOKEN_LEN: usize = 2048;

/// One token to check.
#[derive(Clone, Copy)]
pub struct CaptchaCheck<'a> {
    /// The widget's response token (`cf-turnstile-response`).
    pub token: &'a str,
    /// The client's address as the API saw it, if known.
    pub remote_ip: Option<&'a str>,
    /// The action the widget was rendered with (`checkout`, `privacy`).
    pub action: &'a str,
    /// A UUID that makes a retry of the same request get the same answer (a token is otherwise
    /// single use).
    pub idempotency_key: Option<&'a str>,
}

impl std::fmt::Debug for CaptchaCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptchaCheck")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

/// Verifies bot-check tokens.
#[async_trait]
pub trait Captcha: Send + Sync {
    /// `Ok` if the token proves a solved challenge for this site and action, never seen before
    /// (or seen with the same idempotency key); `CaptchaFailed` if not; `Unavailable` when the
    /// verifier cannot answer and the operator chose to fail closed.
    async fn verify(&self, check: &CaptchaCheck<'_>) -> Result<()>;
}

/// A UUID (v4 layout) derived from `seed`: the siteverify idempotency key of a request that is
/// itself idempotent (the same checkout retried gets the same answer).
pub fn idempotency_uuid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut b: [u8; 16] = Sha256::digest(format!("karcis-turnstile\0{seed}").as_bytes())[..16]
        .try_into()
        .unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The verifier the environment configures (see the module docs), or `None` (no check) off
/// Lambda when no secret is configured.
pub async fn from_env(keys: &dyn Keys) -> Result<Option<Arc<dyn Captcha>>> {
    from_lookup(keys, |k| std::env::var(k).ok()).await
}

/// As [`from_env`], reading through `lookup`.
pub async fn from_lookup(
    keys: &dyn Keys,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Arc<dyn Captcha>>> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(secret) = get("TURNSTILE_SECRET") else {
        if get("AWS_LAMBDA_FUNCTION_NAME").is_some() {
            return Err(Error::internal(
                "TURNSTILE_SECRET is not set: the bot check cannot be off on Lambda",
            ));
        }
        tracing::warn!(
            "TURNSTILE_SECRET is not set: bot-check tokens are not verified (local run)"
        );
        return Ok(None);
    };
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(secret)
        .map_err(|_| Error::internal("TURNSTILE_SECRET is not base64"))?;
    let plaintext = keys
        .decrypt(&KeyPurpose::CaptchaSecret, &ciphertext)
        .await?;
    let secret = std::str::from_utf8(&plaintext)
        .map_err(|_| Error::internal("the Turnstile secret is not text"))?;
    let hostnames: Vec<String> = get("TURNSTILE_HOSTNAMES")
        .ok_or_else(|| Error::internal("TURNSTILE_HOSTNAMES is not set"))?
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    let config = TurnstileConfig {
        url: get("TURNSTILE_SITEVERIFY_URL").unwrap_or_else(|| turnstile::SITEVERIFY_URL.into()),
        secret: crate::gateway::Secret::new(secret.trim()),
        hostnames,
        fail_open: get("TURNSTILE_FAIL_OPEN").as_deref() == Some("1"),
    };
    let transport =
        crate::gateway::transport::HyperTransport::new(std::time::Duration::from_secs(5))
            .map_err(|e| Error::internal(e.code()))?;
    Ok(Some(Arc::new(Turnstile::new(config, transport)?)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn idempotency_keys_are_uuids_per_seed() {
        let a = super::idempotency_uuid("key-1");
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_eq!(a, super::idempotency_uuid("key-1"));
        assert_ne!(a, super::idempotency_uuid("key-2"));
    }
}
