//! Response helpers: JSON bodies and `application/problem+json` errors, never cached.

use serde::Serialize;
use worker::{Headers, Response, Result};

use crate::api::Problem;

fn with_type(body: Vec<u8>, status: u16, content_type: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(Response::from_bytes(body)?
        .with_status(status)
        .with_headers(headers))
}

pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response> {
    with_type(serde_json::to_vec(value)?, status, "application/json")
}

/// A JSON body serialised already (a Durable Object's stored answer, say).
pub fn json_text(status: u16, text: String) -> Result<Response> {
    with_type(text.into_bytes(), status, "application/json")
}

pub fn problem(p: &Problem) -> Result<Response> {
    with_type(serde_json::to_vec(p)?, p.status, "application/problem+json")
}
