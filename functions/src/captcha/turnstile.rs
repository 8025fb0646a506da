//! Cloudflare Turnstile server-side validation: `POST` the secret key, the token (`response`),
//! the client's address (`remoteip`) and an `idempotency_key` to siteverify; the JSON answer has
//! `success`, `hostname`, `action`, `challenge_ts` and `error-codes`. A token is valid once (a
//! second use answers `timeout-or-duplicate`, unless it repeats the first use's idempotency key)
//! and for 300 seconds. The answer's `hostname` must be one of the site's and its `action` the
//! route's: a token solved elsewhere, or for another form, is refused.
//!
//! When siteverify cannot be reached, times out, or answers an error of its own
//! (`internal-error`, a non-200 status), the request fails closed (`Unavailable`: the buyer
//! retries) unless the operator set `fail_open`.

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

use super::{Captcha, CaptchaCheck, DEV_PLACEHOLDER, MAX_TOKEN_LEN};
use crate::error::{Error, Result};
use crate::gateway::hosted::{HttpRequest, HttpTransport};
use crate::gateway::Secret;

/// The production endpoint.
pub const SITEVERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// Where and how to verify.
#[derive(Debug, Clone)]
pub struct TurnstileConfig {
    pub url: String,
    pub secret: Secret,
    /// Lower-case host names the widget may run on.
    pub hostnames: Vec<String>,
    /// Admit requests while siteverify cannot answer (default: refuse them).
    pub fail_open: bool,
}

/// The siteverify adapter.
#[derive(Debug, Clone)]
pub struct Turnstile<T> {
    config: TurnstileConfig,
    transport: T,
}

impl<T: HttpTransport> Turnstile<T> {
    /// Refuses a configuration without host names (any site's token would pass).
    pub fn new(config: TurnstileConfig, transport: T) -> Result<Self> {
        if config.hostnames.is_empty() {
            return Err(Error::internal("Turnstile: no host names configured"));
        }
        Ok(Self { config, transport })
    }
}

/// The answer's fields karcis reads.
#[derive(Debug, Deserialize)]
pub struct SiteverifyAnswer {
    pub success: bool,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default, rename = "error-codes")]
    pub error_codes: Vec<String>,
}

/// The siteverify request.
pub fn build_request(config: &TurnstileConfig, check: &CaptchaCheck<'_>) -> HttpRequest {
    let mut body = json!({"secret": config.secret.expose(), "response": check.token});
    if let Some(ip) = check.remote_ip {
        body["remoteip"] = json!(ip);
    }
    if let Some(key) = check.idempotency_key {
        body["idempotency_key"] = json!(key);
    }
    HttpRequest {
        method: "POST",
        url: config.url.clone(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// What an answer means for the request.
pub fn judge(
    config: &TurnstileConfig,
    check: &CaptchaCheck<'_>,
    answer: &SiteverifyAnswer,
) -> Result<()> {
    if !answer.success {
        let codes = answer.error_codes.join(",");
        if answer
            .error_codes
            .iter()
            .any(|c| c.contains("input-secret"))
        {
            return Err(Error::internal(format!(
                "Turnstile refused the secret: {codes}"
            )));
        }
        if answer.error_codes.iter().any(|c| c == "internal-error") {
            return Err(Error::unavailable("Turnstile internal error"));
        }
        tracing::info!(error_codes = %codes, action = check.action, "bot check refused");
        return Err(Error::CaptchaFailed);
    }
    let host_ok = answer
        .hostname
        .as_deref()
        .is_some_and(|h| config.hostnames.iter().any(|x| x.eq_ignore_ascii_case(h)));
    let action_ok = answer.action.as_deref() == Some(check.action);
    if !host_ok || !action_ok {
        tracing::info!(
            host_ok,
            action_ok,
            action = check.action,
            "bot check for another site or form"
        );
        return Err(Error::CaptchaFailed);
    }
    Ok(())
}

#[async_trait]
impl<T: HttpTransport + Send + Sync> Captcha for Turnstile<T> {
    async fn verify(&self, check: &CaptchaCheck<'_>) -> Result<()> {
        if check.token.is_empty()
            || check.token.len() > MAX_TOKEN_LEN
            || check.token == DEV_PLACEHOLDER
            || !check.token.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::CaptchaFailed);
        }
        let outcome = async {
            let response = self
                .transport
                .send(build_request(&self.config, check))
                .await
                .map_err(|e| Error::unavailable(format!("siteverify: {}", e.code())))?;
            if response.status != 200 {
                return Err(Error::unavailable(format!(
                    "siteverify answered {}",
                    response.status
                )));
            }
            let answer: SiteverifyAnswer = serde_json::from_slice(&response.body)
                .map_err(|_| Error::unavailable("siteverify answer unreadable"))?;
            judge(&self.config, check, &answer)
        }
        .await;
        match outcome {
            Err(Error::Unavailable(detail)) if self.config.fail_open => {
                tracing::warn!(%detail, action = check.action, "bot check unavailable: admitted (fail open)");
                Ok(())
            }
            other => other,
        }
    }
}
