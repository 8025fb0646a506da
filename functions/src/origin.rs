//! The API behind its CloudFront distribution (infra/template.yaml `ApiDistribution`, WAF from
//! infra/api-waf.yaml). An HTTP API can carry neither a WAF nor a header condition, so the
//! functions themselves refuse what did not come through CloudFront: with
//! `ORIGIN_VERIFY_SHA256` set, every request must carry [`ORIGIN_VERIFY_HEADER`] whose SHA-256
//! is that value (compared in constant time; the environment holds only the hash). Such a
//! request's client is CloudFront's `CloudFront-Viewer-Address` (the source address API
//! Gateway sees is a CloudFront edge's, shared by every buyer there), which a client cannot
//! set: without the secret it never reaches a handler. Unset: requests are served as they come
//! (the execute-api URL, local runs).

use axum::body::Body;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// The header CloudFront adds to every request it forwards (an origin custom header).
pub const ORIGIN_VERIFY_HEADER: &str = "x-karcis-origin-verify";
/// CloudFront's header with the viewer's address and source port.
pub const VIEWER_ADDRESS_HEADER: &str = "cloudfront-viewer-address";
/// The environment variable holding the hex SHA-256 of the origin-verify secret.
pub const ENV: &str = "ORIGIN_VERIFY_SHA256";

/// The client address CloudFront reported, on a request that proved it came through CloudFront.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerAddress(pub String);

/// The address of `CloudFront-Viewer-Address` (`198.51.100.10:46532`, `2001:db8::1:46532`),
/// without its port; `None` if it is not an address.
pub fn viewer_ip(value: &str) -> Option<std::net::IpAddr> {
    let (ip, port) = value.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// `router`, refusing (`403`) any request without the origin-verify secret whose SHA-256 is
/// `expected`.
pub fn require(router: Router, expected: [u8; 32]) -> Router {
    router.layer(axum::middleware::from_fn(
        move |mut req: Request<Body>, next: Next| async move {
            let proven = req
                .headers()
                .get(ORIGIN_VERIFY_HEADER)
                .is_some_and(|v| bool::from(Sha256::digest(v.as_bytes()).ct_eq(&expected)));
            if !proven {
                return Error::Forbidden(
                    "requests reach this API through its CloudFront host".into(),
                )
                .into_response();
            }
            // Handlers never see the secret (nor log it by accident).
            req.headers_mut().remove(ORIGIN_VERIFY_HEADER);
            let viewer = req
                .headers()
                .get(VIEWER_ADDRESS_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(viewer_ip);
            if let Some(ip) = viewer {
                req.extensions_mut().insert(ViewerAddress(ip.to_string()));
            }
            let res: Response = next.run(req).await;
            res
        },
    ))
}

/// `router` as the environment says: [`require`] when `ORIGIN_VERIFY_SHA256` is set.
///
/// # Errors
/// A value that is not 64 hex digits (the function refuses to start rather than serve open).
pub fn from_env(router: Router) -> Result<Router, Error> {
    configured(router, std::env::var(ENV).ok().as_deref())
}

/// [`from_env`] over the variable's value.
///
/// # Errors
/// A value that is not 64 hex digits.
pub fn configured(router: Router, value: Option<&str>) -> Result<Router, Error> {
    match value.map(str::trim) {
        Some(hex_hash) if !hex_hash.is_empty() => {
            let bytes = hex::decode(hex_hash)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| Error::internal(format!("{ENV} is not a hex SHA-256")))?;
            Ok(require(router, bytes))
        }
        _ => Ok(router),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt as _;

    const SECRET: &str = "s3cret-origin-verify-value-0123456789";

    fn app() -> Router {
        let handler = |req: Request<Body>| async move {
            assert!(
                req.headers().get(ORIGIN_VERIFY_HEADER).is_none(),
                "secret passed on"
            );
            crate::http::client_address(req.extensions())
        };
        let expected: [u8; 32] = Sha256::digest(SECRET.as_bytes()).into();
        require(Router::new().route("/", get(handler)), expected)
    }

    async fn call(headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = Request::get("/");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn attack_requests_without_the_secret_never_reach_a_handler() {
        // Straight to execute-api, with or without a forged viewer address; a wrong secret;
        // the hash itself (what the environment holds) as the header.
        let hash = hex::encode(Sha256::digest(SECRET.as_bytes()));
        for headers in [
            vec![],
            vec![(VIEWER_ADDRESS_HEADER, "203.0.113.9:1234")],
            vec![(ORIGIN_VERIFY_HEADER, "wrong")],
            vec![(ORIGIN_VERIFY_HEADER, hash.as_str())],
        ] {
            let (status, body) = call(&headers).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{headers:?}");
            assert!(!body.contains("203.0.113.9"));
        }
    }

    #[tokio::test]
    async fn through_cloudfront_the_client_is_the_viewer_address() {
        let (status, body) = call(&[
            (ORIGIN_VERIFY_HEADER, SECRET),
            (VIEWER_ADDRESS_HEADER, "198.51.100.10:46532"),
        ])
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "198.51.100.10");
        let (_, body) = call(&[
            (ORIGIN_VERIFY_HEADER, SECRET),
            (VIEWER_ADDRESS_HEADER, "2001:db8::7:443"),
        ])
        .await;
        assert_eq!(body, "2001:db8::7");
        // No viewer header: the source address as before (none outside API Gateway).
        let (_, body) = call(&[(ORIGIN_VERIFY_HEADER, SECRET)]).await;
        assert_eq!(body, "unknown");
    }

    #[test]
    fn viewer_addresses_parse_with_their_port_only() {
        assert_eq!(
            viewer_ip("198.51.100.10:46532"),
            "198.51.100.10".parse().ok()
        );
        assert_eq!(viewer_ip("[2001:db8::1]:80"), "2001:db8::1".parse().ok());
        assert_eq!(viewer_ip("198.51.100.10"), None);
        assert_eq!(viewer_ip("x:1"), None);
        assert_eq!(viewer_ip(""), None);
    }

    #[tokio::test]
    async fn the_environment_turns_it_on_and_a_malformed_hash_refuses_to_start() {
        let router = || Router::new().route("/", get(|| async { "ok" }));
        for bad in ["zz", "abcd", &"0".repeat(66)] {
            assert!(configured(router(), Some(bad)).is_err(), "{bad}");
        }
        let open = configured(router(), Some(" ")).unwrap();
        let res = open
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "unset: served as before");
        let hash = hex::encode(Sha256::digest(SECRET.as_bytes()));
        let on = configured(router(), Some(&hash)).unwrap();
        let res = on
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}
