//! The door of the buyer-facing write routes (checkout's `POST /v1/orders`, privacy's
//! `POST /v1/privacy/challenge`): a per-client rate limit, then the bot check.
//!
//! - **Rate limit.** A client is the source address API Gateway saw plus the device identifier
//!   the site keeps in the browser (`X-Karcis-Device`). At most `limit` requests per client and
//!   route in each fixed window (default 5 per 60 s: `CLIENT_RATE_LIMIT`,
//!   `CLIENT_RATE_WINDOW_SECS`), counted by one conditional DynamoDB write per request
//!   ([`crate::ports::RateLimits`]), so concurrent Lambdas never let a sixth through. The
//!   counter's key is a blind index of (route, address, device), never the address. Past the
//!   limit: `429` problem+json with `Retry-After` (the seconds left in the window).
//! - **Bot check.** The Turnstile token (`cf-turnstile-response`) is verified server side
//!   ([`crate::captcha`]) with the route as the expected action. It runs after the rate limit,
//!   so a flood cannot turn karcis into a siteverify amplifier.

use std::sync::Arc;

use axum::http::{Extensions, HeaderMap};

use crate::captcha::{idempotency_uuid, Captcha, CaptchaCheck};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::client_address;

/// The header carrying the site's device identifier.
pub const DEVICE_HEADER: &str = "x-karcis-device";
/// The header carrying the Turnstile token.
pub const CAPTCHA_HEADER: &str = "cf-turnstile-response";
/// The MAC purpose of client rate-limit keys.
pub const CLIENT_MAC_PURPOSE: &str = "rate-client";

/// A guarded route: its rate-limit namespace and its Turnstile action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Checkout,
    PrivacyChallenge,
}

impl Route {
    /// The Turnstile action the site renders the widget with.
    pub fn action(self) -> &'static str {
        match self {
            Route::Checkout => "checkout",
            Route::PrivacyChallenge => "privacy",
        }
    }
}

/// Requests per client per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub limit: u32,
    pub window_secs: u64,
}

/// The rate limit and the bot check.
#[derive(Clone)]
pub struct Guard {
    pub policy: RatePolicy,
    /// `None`: tokens are not checked (local runs only; see [`crate::captcha::from_env`]).
    pub captcha: Option<Arc<dyn Captcha>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("policy", &self.policy)
            .field("captcha", &self.captcha.is_some())
            .finish()
    }
}

/// The device identifier: 8-128 characters of `[A-Za-z0-9_-]`, or `-` when absent. A malformed
/// one is refused (it would otherwise be a free new client per request).
pub fn device_id(headers: &HeaderMap) -> Result<&str> {
    let Some(value) = headers.get(DEVICE_HEADER) else {
        return Ok("-");
    };
    let v = value.to_str().map_err(|_| Error::Header(DEVICE_HEADER))?;
    if (8..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(v)
    } else {
        Err(Error::Header(DEVICE_HEADER))
    }
}

impl Guard {
    pub fn new(policy: RatePolicy, captcha: Option<Arc<dyn Captcha>>) -> Self {
        Self { policy, captcha }
    }

    /// The policy of `config`, with `captcha`.
    pub fn from_config(config: &crate::Config, captcha: Option<Arc<dyn Captcha>>) -> Self {
        Self::new(
            RatePolicy {
                limit: config.client_rate_limit,
                window_secs: config.client_rate_window_secs,
            },
            captcha,
        )
    }

    /// Admits one request or refuses it (`429`, `403`, `400`, or `503` when the bot check
    /// cannot be done and fails closed). `idempotency_key`: the request's own key, if it has one
    /// (a retry of it may reuse its token).
    pub async fn admit(
        &self,
        deps: &Deps,
        route: Route,
        extensions: &Extensions,
        headers: &HeaderMap,
        idempotency_key: Option<&str>,
    ) -> Result<()> {
        let address = client_address(extensions);
        let device = device_id(headers)?;
        let client = deps
            .pii
            .mac(
                CLIENT_MAC_PURPOSE,
                &format!("{}\0{address}\0{device}", route.action()),
            )
            .await?;
        let now = deps.clock.now();
        let window = self.policy.window_secs.max(1);
        if !deps
            .limits
            .allow(&format!("client#{client}"), self.policy.limit, window, now)
            .await?
        {
            tracing::info!(route = route.action(), "client rate limit");
            return Err(Error::rate_limited(
                format!(
                    "at most {} requests per {} seconds from one client",
                    self.policy.limit, window
                ),
                window - now % window,
            ));
        }
        let Some(captcha) = &self.captcha else {
            return Ok(());
        };
        let token = headers
            .get(crate::guard::CAPTCHA_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        let uuid = idempotency_key.map(|k| idempotency_uuid(&format!("{}\0{k}", route.action())));
        captcha
            .verify(&CaptchaCheck {
                token,
                remote_ip: (address != "unknown").then_some(address.as_str()),
                action: route.action(),
                idempotency_key: uuid.as_deref(),
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn device_ids_are_bounded() {
        let mut h = HeaderMap::new();
        assert_eq!(device_id(&h), Ok("-"));
        h.insert(
            DEVICE_HEADER,
            HeaderValue::from_static("d-0123456789abcdef"),
        );
        assert_eq!(device_id(&h), Ok("d-0123456789abcdef"));
        for bad in ["short", "has space in it", "semi;colon-0123"] {
            h.insert(DEVICE_HEADER, HeaderValue::from_static(bad));
            assert_eq!(device_id(&h), Err(Error::Header(DEVICE_HEADER)), "{bad}");
        }
        h.insert(
            DEVICE_HEADER,
            HeaderValue::from_str(&"a".repeat(129)).unwrap_or(HeaderValue::from_static("x")),
        );
        assert!(device_id(&h).is_err());
    }
}
