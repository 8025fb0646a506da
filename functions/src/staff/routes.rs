//! The staff routes (axum).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::planning::TokenRequest;
use super::service::{RevocationRequest, StaffService};
use super::signin::{SetPasswordRequest, SignInRequest};
use crate::audit_ingest::{self, Stream};
use crate::error::Error;
use crate::http::{client_address, json_response, read_json, respond};
use crate::staff_identity::MemberSpec;

async fn get_jwks(State(s): State<Arc<StaffService>>) -> Response {
    json_response(StatusCode::OK, &s.jwks())
}

async fn put_member(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin(&headers).await?;
            let spec: MemberSpec = read_json(&headers, body, 16 * 1024).await?;
            caller.require_admin_for(&spec.events)?;
            if let Some(existing) = s.directory.get_member(&staff_id).await? {
                caller.require_admin_for(&existing.events)?;
            }
            s.put_member(&caller.staff_id, &staff_id, &spec).await
        }
        .await,
    )
}

async fn get_member(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            s.managed_member(&caller, &staff_id).await
        }
        .await,
    )
}

async fn post_token(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            let req: TokenRequest = read_json(&headers, body, 16 * 1024).await?;
            s.managed_member(&caller, &staff_id).await?;
            s.issue_token(&caller.staff_id, &staff_id, &req).await
        }
        .await,
    )
}

async fn post_revocation(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            let req: RevocationRequest = read_json(&headers, body, 4 * 1024).await?;
            s.managed_member(&caller, &staff_id).await?;
            s.revoke_tokens(&caller.staff_id, &staff_id, req.jti.as_deref())
                .await
        }
        .await,
    )
}

/// `POST /v1/staff/members/{staff_id}/password-setup`: a one-time code for a first password
/// or a reset (admins, within their events).
async fn post_password_setup(
    State(s): State<Arc<StaffService>>,
    Path(staff_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin_only(&headers).await?;
            let _: serde_json::Map<String, serde_json::Value> =
                read_json(&headers, body, 1024).await?;
            s.managed_member(&caller, &staff_id).await?;
            s.issue_setup_code(&caller.staff_id, &staff_id).await
        }
        .await,
    )
}

/// `POST /v1/staff/password`: a member sets a password with a setup code.
async fn post_password(
    State(s): State<Arc<StaffService>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let req: SetPasswordRequest = read_json(&headers, body, 4 * 1024).await?;
            s.set_password(&req).await
        }
        .await,
    )
}

/// `POST /v1/staff/sign-in`: a member's password for a door (or console) token.
async fn post_sign_in(
    State(s): State<Arc<StaffService>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let client = client_address(&extensions);
    respond(
        StatusCode::OK,
        async {
            let req: SignInRequest = read_json(&headers, body, 4 * 1024).await?;
            s.sign_in(&req, &client).await
        }
        .await,
    )
}

/// `POST /v1/staff/refresh`: a device-bound door token and a proof by its key for a new one.
async fn post_refresh(
    State(s): State<Arc<StaffService>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let _: serde_json::Map<String, serde_json::Value> =
                read_json(&headers, body, 1024).await?;
            let token = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once(' '))
                .filter(|(scheme, _)| {
                    scheme.eq_ignore_ascii_case("dpop") || scheme.eq_ignore_ascii_case("bearer")
                })
                .map(|(_, t)| t.trim())
                .ok_or(Error::Unauthorized)?;
            let proof = headers
                .get("dpop")
                .and_then(|v| v.to_str().ok())
                .ok_or(Error::Unauthorized)?;
            s.refresh(token, proof.trim()).await
        }
        .await,
    )
}

/// `GET /v1/staff/log` query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_log_limit")]
    pub limit: u32,
}

fn default_log_limit() -> u32 {
    100
}

/// The staff log (every role change and issued token), each link checked: admins of every
/// event only, since the log spans all events.
async fn get_log(
    State(s): State<Arc<StaffService>>,
    query: std::result::Result<
        axum::extract::Query<LogQuery>,
        axum::extract::rejection::QueryRejection,
    >,
    headers: HeaderMap,
) -> Response {
    respond(
        StatusCode::OK,
        async {
            let caller = s.admin(&headers).await?;
            caller.require_admin_for(&["*".to_owned()])?;
            let axum::extract::Query(q) =
                query.map_err(|_| Error::Malformed("query: after, limit".into()))?;
            audit_ingest::page(s.log.as_ref(), &Stream::Staff, q.after, q.limit).await
        }
        .await,
    )
}

/// Every route of [`router`], `METHOD path`: the template (`infra/template.yaml`, the staff
/// function's `HttpApi` events) must route exactly these here (`tests/deploy_contract.rs`), and
/// the router answers exactly these (`tests/staff_signin.rs`).
pub const ROUTES: &[&str] = &[
    "GET /v1/staff/jwks",
    "GET /v1/staff/log",
    "GET /v1/staff/members/{staff_id}",
    "PUT /v1/staff/members/{staff_id}",
    "POST /v1/staff/members/{staff_id}/tokens",
    "POST /v1/staff/members/{staff_id}/password-setup",
    "POST /v1/staff/members/{staff_id}/revocations",
    "POST /v1/staff/password",
    "POST /v1/staff/sign-in",
    "POST /v1/staff/refresh",
];

/// The staff routes.
pub fn router(service: StaffService) -> Router {
    Router::new()
        .route("/v1/staff/jwks", get(get_jwks))
        .route("/v1/staff/log", get(get_log))
        .route(
            "/v1/staff/members/{staff_id}",
            get(get_member).put(put_member),
        )
        .route("/v1/staff/members/{staff_id}/tokens", post(post_token))
        .route(
            "/v1/staff/members/{staff_id}/password-setup",
            post(post_password_setup),
        )
        .route("/v1/staff/password", post(post_password))
        .route("/v1/staff/sign-in", post(post_sign_in))
        .route("/v1/staff/refresh", post(post_refresh))
        .route(
            "/v1/staff/members/{staff_id}/revocations",
            post(post_revocation),
        )
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}
