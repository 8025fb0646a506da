//! A small HTTP/1.1 client for loopback (hyper), used by the simulated buyers, the gateway's
//! webhook sender and the door scanners.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A client bound to one base URL (`http://127.0.0.1:PORT`).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> String {
        self.json()[name].as_str().unwrap_or_default().to_owned()
    }

    /// The problem `type` of an `application/problem+json` answer.
    pub fn problem_type(&self) -> String {
        self.field("type")
    }
}

impl HttpClient {
    /// Loopback only: refuses any other base.
    pub fn new(base: &str) -> Self {
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "the e2e client talks to loopback only: {base}"
        );
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(connector);
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; `Err` only for transport failures and timeouts.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("request: {e}"))?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| format!("{method} {path}: timed out"))?
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| format!("{method} {path}: body timed out"))?
            .map_err(|e| format!("{method} {path}: body: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// `POST` a JSON value.
    pub async fn post_json(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        value: &Value,
    ) -> Result<Reply, String> {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, value.to_string().into_bytes())
            .await
    }

    /// `GET`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
        self.request("GET", path, headers, Vec::new()).await
    }
}
