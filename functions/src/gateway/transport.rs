//! The real [`HttpTransport`]: hyper over rustls (ring, the platform's root certificates), with a
//! timeout and a bounded response. HTTPS only, except plain HTTP to a loopback address (the local
//! gateway stub in tests and `make demo`).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::hosted::{HttpRequest, HttpResponse, HttpTransport};
use super::GatewayError;

/// Largest gateway answer read (the create-payment answers are a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HyperTransport {
    /// A client trusting the platform's root certificates.
    pub fn new(timeout: Duration) -> Result<Self, GatewayError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| GatewayError::Transport(format!("TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(HyperTransport { client, timeout })
    }
}

/// `https://...`, or `http://` to 127.0.0.1, `[::1]` or localhost only.
fn allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false; // userinfo could hide the real host
    }
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or("").to_owned()
    };
    matches!(host.as_str(), "127.0.0.1" | "[::1]" | "localhost")
}

impl HttpTransport for HyperTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, GatewayError> {
        if !allowed_url(&request.url) {
            return Err(GatewayError::Transport(
                "refusing a non-HTTPS gateway URL".into(),
            ));
        }
        let mut builder = hyper::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|_| GatewayError::Transport("invalid request".into()))?;
        let exchange = async {
            let response = self
                .client
                .request(http)
                .await
                .map_err(|e| GatewayError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|_| GatewayError::UnexpectedResponse("response unreadable or too large"))?
                .to_bytes();
            Ok(HttpResponse {
                status,
                body: body.to_vec(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| GatewayError::Transport("timed out".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_url;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(allowed_url("https://api.stripe.com/v1/checkout/sessions"));
        assert!(allowed_url("http://127.0.0.1:8080/v2/invoices"));
        assert!(allowed_url("http://localhost:1/x"));
        assert!(allowed_url("http://[::1]:9/x"));
        assert!(!allowed_url("http://api.xendit.co/v2/invoices"));
        assert!(!allowed_url("http://127.0.0.1.evil.example/x"));
        assert!(!allowed_url("http://localhost.evil.example:80/x"));
        assert!(!allowed_url("ftp://127.0.0.1/"));
        assert!(!allowed_url("http://127.0.0.1:80@evil.example/x"));
    }
}
