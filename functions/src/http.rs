//! HTTP plumbing shared by the HTTP functions (axum on `lambda_http`): problem+json responses,
//! bounded JSON bodies, bearer tokens, and serving a router on Lambda or on loopback.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::Error;

pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let problem = self.problem();
        match &self {
            Error::Internal(detail) => {
                tracing::error!(problem = %problem.r#type, %detail, "request failed");
            }
            Error::Unavailable(detail) => {
                tracing::warn!(problem = %problem.r#type, %detail, "request failed");
            }
            _ => {
                tracing::info!(problem = %problem.r#type, status = problem.status, "request rejected");
            }
        }
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Error::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        res
    }
}

/// A JSON response with `Cache-Control: no-store`.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut res = (status, body).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => Error::internal(e).into_response(),
    }
}

/// A handler's result as a response: `value` as JSON with `status`, or the problem.
pub fn respond<T: serde::Serialize>(status: StatusCode, result: Result<T, Error>) -> Response {
    match result {
        Ok(value) => json_response(status, &value),
        Err(e) => e.into_response(),
    }
}

/// Reads a JSON body of at most `limit` bytes: `415` unless `Content-Type` is JSON, `413` if
/// too large, `400` if malformed (the message names the position or the field, never a value).
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, Error> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Error::UnsupportedMediaType);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::PayloadTooLarge);
    }
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    parse_json(&bytes)
}

/// Parses JSON with an error message that never echoes input values.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Malformed(describe_json_error(&e)))
}

/// What is wrong with a JSON document, naming the position or the field, never a value.
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let what = if text.starts_with("missing field") || text.starts_with("unknown field") {
        // "missing field `x`" / "unknown field `x`, expected one of ...": names, no values.
        text.split(" at line")
            .next()
            .unwrap_or("invalid")
            .to_owned()
    } else {
        match e.classify() {
            serde_json::error::Category::Syntax => "not valid JSON".to_owned(),
            serde_json::error::Category::Eof => "unexpected end of JSON".to_owned(),
            serde_json::error::Category::Data => "a field has the wrong type or value".to_owned(),
            serde_json::error::Category::Io => "could not read the body".to_owned(),
        }
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, Error> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Error::Unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::Unauthorized);
    }
    Ok(token.trim())
}

/// A required header's value as text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, Error> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(Error::Header(name))
}

/// The client's source address as API Gateway saw it, or as CloudFront saw it behind the API's
/// distribution (`unknown` outside both). Used as a rate-limit key: never trusted from a header
/// the client sets.
pub fn client_address(extensions: &axum::http::Extensions) -> String {
    use lambda_http::request::RequestContext;
    // Behind the API's CloudFront distribution, the viewer's address (set only on requests that
    // proved they came through it: crate::origin).
    if let Some(crate::origin::ViewerAddress(ip)) = extensions.get() {
        return ip.clone();
    }
    let ip = match extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => None,
    };
    ip.filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The fallback for unknown routes.
pub async fn not_found() -> Response {
    Error::NotFound.into_response()
}

/// The fallback for a known route with another method.
pub async fn method_not_allowed() -> Response {
    Error::MethodNotAllowed.into_response()
}

/// Converts an API Gateway request (from `lambda_http`) into an axum request.
pub fn from_lambda(req: lambda_http::Request) -> axum::http::Request<Body> {
    req.map(Body::new)
}

/// Turns an API Gateway event (JSON text, as in `events/`) into an axum request.
pub fn request_from_event(json: &str) -> Result<axum::http::Request<Body>, Error> {
    let req = lambda_http::request::from_str(json).map_err(|e| {
        Error::Malformed(format!(
            "not an API Gateway event: {}",
            describe_json_error(&e)
        ))
    })?;
    Ok(from_lambda(req))
}

/// Serves `router` on Lambda, or on `127.0.0.1:$PORT` when `KARCIS_LOCAL_PORT` is set; only
/// to requests through the API's CloudFront host when `ORIGIN_VERIFY_SHA256` is set
/// ([`crate::origin`]).
pub async fn serve(router: axum::Router) -> Result<(), lambda_http::Error> {
    let router = crate::origin::from_env(router)?;
    if let Ok(port) = std::env::var("KARCIS_LOCAL_PORT") {
        let port: u16 = port.parse()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        tracing::info!(port, "serving on loopback");
        axum::serve(listener, router).await?;
        return Ok(());
    }
    lambda_http::run(router).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        email: String,
        n: u32,
    }

    #[test]
    fn parse_errors_never_echo_values() {
        let e = parse_json::<T>(br#"{"email": 5, "n": 1}"#).unwrap_err();
        assert!(matches!(e, Error::Malformed(_)));
        let e = parse_json::<T>(br#"{"email": "secret@example.com", "n": "x"}"#).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = parse_json::<T>(br#"{"email": "secret@example.com"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `n`"), "{e}");
        let e = parse_json::<T>(br#"{"email": "secret@example.com", "n": 1, "zz": "secret"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `zz`") && !e.to_string().contains("secret@"));
        assert!(parse_json::<T>(b"{not json").is_err());
    }

    #[test]
    fn bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), Err(Error::Unauthorized));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), Err(Error::Unauthorized));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok123"),
        );
        assert_eq!(bearer_token(&h), Ok("tok123"));
    }
}
