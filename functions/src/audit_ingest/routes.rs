//! The HTTP routes: `POST /v1/audit/batches` (the edge) and the console's entry pages.
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::error::Error;
use crate::http::{bearer_token, read_json, respond};
use crate::ports::Clock;

use super::{
    ingest, page, valid_door_id, AuditLog, Batch, IngestTokens, Stream, MAX_BATCH_BODY,
    MAX_EVENT_ID_LEN,
};

/// The audit-ingest service.
#[derive(Clone)]
pub struct IngestService {
    pub log: Arc<dyn AuditLog>,
    pub tokens: IngestTokens,
    /// When set, per-event tokens and signed heads are required instead of `tokens`.
    pub heads: Option<crate::audit_heads::HeadKey>,
    pub clock: Arc<dyn Clock>,
    /// Verifies console tokens for the report route; `None` = reports off.
    pub console: Option<Arc<crate::staff_identity::Console>>,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

async fn post_batch(
    State(s): State<Arc<IngestService>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        if s.heads.is_none() && !s.tokens.accepts(&token) {
            return Err(Error::Unauthorized);
        }
        let batch: Batch = read_json(&headers, body, MAX_BATCH_BODY).await?;
        // Per-event token and signed head: checked once the batch names its event.
        if s.heads.as_ref().is_some_and(|k| !k.accepts(&token, &batch)) {
            return Err(Error::Unauthorized);
        }
        if let Some(key) = headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or(""))
        {
            let first = batch.entries.first().map_or(0, |e| e.seq);
            if key != format!("audit:{}:{first}", batch.event_id) {
                return Err(Error::Header("idempotency-key"));
            }
        }
        ingest(s.log.as_ref(), &batch, s.clock.now()).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// `GET /v1/audit/events/{event_id}/entries` query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

async fn get_entries(
    State(s): State<Arc<IngestService>>,
    Path(event_id): Path<String>,
    query: std::result::Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let console = s.console.as_ref().ok_or(Error::NotFound)?;
        let caller = console
            .authenticate(bearer_token(&headers)?, s.clock.now())
            .await?;
        if !valid_door_id(&event_id, MAX_EVENT_ID_LEN) {
            return Err(Error::NotFound);
        }
        caller.require_reports_for(&event_id)?;
        let Query(q) = query.map_err(|_| Error::Malformed("query: after, limit".into()))?;
        page(s.log.as_ref(), &Stream::Door(event_id), q.after, q.limit).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// The audit-ingest routes.
pub fn router(service: IngestService) -> Router {
    Router::new()
        .route("/v1/audit/batches", post(post_batch))
        .route("/v1/audit/events/{event_id}/entries", get(get_entries))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}
