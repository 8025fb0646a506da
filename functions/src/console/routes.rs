//! The console routes (axum). Staff management is not here: the console calls the staff
//! function's own routes (`/v1/staff/members/...`), which check the same console token.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use super::service::{ConsoleService, OnSaleRequest};
use crate::admin::EventSpec;
use crate::audit_ingest::PageQuery;
use crate::error::Error;
use crate::http::{bearer_token, read_json, respond};

type S = State<Arc<ConsoleService>>;

async fn get_session(State(s): S, headers: HeaderMap) -> Response {
    let result = async { s.session(bearer_token(&headers)?).await }.await;
    respond(StatusCode::OK, result)
}

async fn get_event(State(s): S, Path(event_id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { s.get_event(bearer_token(&headers)?, &event_id).await }.await;
    respond(StatusCode::OK, result)
}

async fn get_sales(State(s): S, Path(event_id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { s.sales(bearer_token(&headers)?, &event_id).await }.await;
    respond(StatusCode::OK, result)
}

async fn get_refunds(State(s): S, Path(event_id): Path<String>, headers: HeaderMap) -> Response {
    let result = async { s.refunds(bearer_token(&headers)?, &event_id).await }.await;
    respond(StatusCode::OK, result)
}

async fn get_reconciliation(
    State(s): S,
    Path((event_id, provider)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        s.reconciliation(token, &event_id, &provider).await
    }
    .await;
    match result {
        Ok(csv) => {
            let mut res = (StatusCode::OK, csv).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            // Ids are [A-Za-z0-9._-] (checked above): safe in a header.
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"reconciliation-{event_id}-{provider}.csv\""
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(e) => e.into_response(),
    }
}

async fn post_event(State(s): S, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        let spec: EventSpec = read_json(&headers, body, 64 * 1024).await?;
        s.create_event(&token, &spec).await
    }
    .await;
    respond(StatusCode::CREATED, result)
}

async fn put_on_sale(
    State(s): S,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        let req: OnSaleRequest = read_json(&headers, body, 1024).await?;
        s.set_on_sale(&token, &event_id, &req).await
    }
    .await;
    respond(StatusCode::OK, result)
}

async fn post_revocation(
    State(s): S,
    Path((event_id, order_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        let _: serde_json::Map<String, serde_json::Value> = read_json(&headers, body, 1024).await?;
        s.send_revocation(&token, &event_id, &order_id).await
    }
    .await;
    respond(StatusCode::ACCEPTED, result)
}

async fn get_scan_audit(
    State(s): S,
    Path(event_id): Path<String>,
    query: std::result::Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        let Query(q) = query.map_err(|_| Error::Malformed("query: after, limit".into()))?;
        s.scan_audit(token, &event_id, q.after, q.limit).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// The console routes.
pub fn router(service: ConsoleService) -> Router {
    Router::new()
        .route("/v1/console/session", get(get_session))
        .route("/v1/console/events", post(post_event))
        .route("/v1/console/events/{event_id}", get(get_event))
        .route("/v1/console/events/{event_id}/sales", get(get_sales))
        .route("/v1/console/events/{event_id}/refunds", get(get_refunds))
        .route(
            "/v1/console/events/{event_id}/reconciliation/{provider}",
            get(get_reconciliation),
        )
        .route("/v1/console/events/{event_id}/on-sale", put(put_on_sale))
        .route(
            "/v1/console/events/{event_id}/orders/{order_id}/revocation",
            post(post_revocation),
        )
        .route(
            "/v1/console/events/{event_id}/scan-audit",
            get(get_scan_audit),
        )
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}
