//! Turnstile's siteverify at the edge, for the waiting room's joins: the same rules as
//! `functions/src/captcha/turnstile.rs` (the token once, for one of the site's host names and the
//! route's action; anything but a clear answer refuses: fail closed).

use serde::Deserialize;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use crate::api::Problem;
use crate::routes::Ctx;
use crate::waiting_room::unconfigured;

/// The production siteverify endpoint.
pub const SITEVERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
const MAX_TOKEN_LEN: usize = 2048;

#[derive(Deserialize)]
struct SiteverifyAnswer {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

fn captcha_failed() -> Problem {
    Problem::new(
        403,
        "captcha_failed",
        "Bot check failed",
        "the bot check did not pass: solve it again",
    )
}

fn captcha_unavailable() -> Problem {
    Problem::new(
        503,
        "captcha_unavailable",
        "Bot check unavailable",
        "the bot check cannot be verified now: retry",
    )
}

/// Siteverify, as `functions/src/captcha/turnstile.rs` does it: the token once, for one of the
/// site's host names and this action; anything but a clear answer refuses (fail closed).
pub(crate) async fn verify_turnstile(
    ctx: &Ctx,
    token: &str,
    action: &str,
    ip: &str,
    idempotency: Option<&str>,
) -> std::result::Result<(), Problem> {
    let secret = ctx
        .env
        .secret("TURNSTILE_SECRET")
        .map_err(|_| unconfigured("TURNSTILE_SECRET is not bound"))?
        .to_string();
    let hostnames: Vec<String> = ctx
        .var("TURNSTILE_HOSTNAMES")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .collect();
    if secret.trim().is_empty() || hostnames.is_empty() {
        return Err(unconfigured(
            "TURNSTILE_SECRET or TURNSTILE_HOSTNAMES is empty",
        ));
    }
    if token.is_empty()
        || token.len() > MAX_TOKEN_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(captcha_failed());
    }
    let url = ctx
        .var("TURNSTILE_SITEVERIFY_URL")
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| SITEVERIFY_URL.into());
    let mut body = serde_json::json!({"secret": secret.trim(), "response": token, "remoteip": ip});
    if let Some(key) = idempotency {
        body["idempotency_key"] = serde_json::json!(uuid_of(key));
    }
    let headers = Headers::new();
    let sent = async {
        headers.set("content-type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&body.to_string())));
        let mut answer = Fetch::Request(Request::new_with_init(&url, &init)?)
            .send()
            .await?;
        if answer.status_code() != 200 {
            return Err(worker::Error::RustError(format!(
                "siteverify answered {}",
                answer.status_code()
            )));
        }
        answer.json::<SiteverifyAnswer>().await
    }
    .await;
    let answer = sent.map_err(|e| {
        worker::console_warn!("siteverify: {e}");
        captcha_unavailable()
    })?;
    if !answer.success {
        if answer.error_codes.iter().any(|c| c == "internal-error") {
            return Err(captcha_unavailable());
        }
        if answer
            .error_codes
            .iter()
            .any(|c| c.contains("input-secret"))
        {
            return Err(unconfigured("siteverify refused TURNSTILE_SECRET"));
        }
        return Err(captcha_failed());
    }
    let host_ok = answer
        .hostname
        .as_deref()
        .is_some_and(|h| hostnames.iter().any(|x| x.eq_ignore_ascii_case(h)));
    if !host_ok || answer.action.as_deref() != Some(action) {
        return Err(captcha_failed());
    }
    Ok(())
}

/// A UUID (v4 layout) from a hex key, as siteverify's `idempotency_key` must be.
pub fn uuid_of(key: &str) -> String {
    let mut h: Vec<u8> = key
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(32)
        .collect();
    h[12] = b'4';
    h[16] = b'8';
    let h = String::from_utf8(h).unwrap_or_default();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
