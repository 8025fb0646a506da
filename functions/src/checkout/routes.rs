//! The HTTP routes of checkout: `POST /v1/orders`, `GET /v1/orders/{id}`, `GET /v1/events/{id}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::Result;
use crate::fraud::screen::ClientContext;
use crate::guard::Route;
use crate::http::{bearer_token, header_str, json_response, read_json, respond};

use super::{authorize_order, Checkout, CheckoutRequest, OrderView};

async fn post_order(
    State(c): State<Arc<Checkout>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        if let Some(guard) = &c.guard {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
            guard
                .admit(&c.deps, Route::Checkout, &extensions, &headers, key)
                .await?;
        }
        let req: CheckoutRequest = read_json(&headers, body, c.deps.config.max_body_bytes).await?;
        let key = header_str(&headers, "idempotency-key")?;
        c.create_order_from(&client_context(&extensions, &headers)?, key, &req)
            .await
    }
    .await;
    match result {
        Ok(created) => {
            let status = if created.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut res = json_response(status, &created.response);
            if created.replayed {
                res.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            res
        }
        Err(e) => e.into_response(),
    }
}

/// What the request tells of its client: address, device, the CDN's country.
pub fn client_context(extensions: &Extensions, headers: &HeaderMap) -> Result<ClientContext> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let device = crate::guard::device_id(headers)?;
    Ok(ClientContext {
        address: crate::http::client_address(extensions).parse().ok(),
        device: (device != "-").then(|| device.to_owned()),
        country: crate::fraud::risk::country(
            header("cloudfront-viewer-country"),
            header("cf-ipcountry"),
        ),
    })
}

async fn get_order(
    State(c): State<Arc<Checkout>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        let order = authorize_order(&c.deps, &order_id, token).await?;
        Ok(OrderView::from(&order))
    }
    .await;
    respond(StatusCode::OK, result)
}

async fn get_event(State(c): State<Arc<Checkout>>, Path(event_id): Path<String>) -> Response {
    respond(StatusCode::OK, c.event_view(&event_id).await)
}

/// The checkout routes.
pub fn router(checkout: Checkout) -> Router {
    let admin = checkout
        .fraud_admin
        .clone()
        .map_or_else(Router::new, crate::fraud::routes::router);
    Router::new()
        .route("/v1/orders", post(post_order))
        .route("/v1/orders/{order_id}", get(get_order))
        .route(
            "/v1/orders/{order_id}/verify",
            post(crate::sale::routes::post_verify),
        )
        .route(
            "/v1/orders/{order_id}/verify/resend",
            post(crate::sale::routes::post_resend),
        )
        .route("/v1/events/{event_id}", get(get_event))
        .with_state(Arc::new(checkout))
        .merge(admin)
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
}
