//! DOKU (non-SNAP): HTTP notifications and DOKU Checkout.
//!
//! Signature per "Signature Component from Request Header"
//! (<https://developers.doku.com/getting-started-with-doku-api/signature-component/signature-component-from-request-header>)
//! and "Best Practice / Verify HTTP Notification authenticity"
//! (<https://developers.doku.com/get-started-with-doku-api/notification/best-practice>):
//!
//! ```text
//! Digest    = base64(SHA-256(raw body))
//! component = "Client-Id:" + Client-Id + "\n"
//!           + "Request-Id:" + Request-Id + "\n"
//!           + "Request-Timestamp:" + Request-Timestamp + "\n"
//!           + "Request-Target:" + path of the notification URL + "\n"
//!           + "Digest:" + Digest                      (no trailing newline)
//! Signature = "HMACSHA256=" + base64(HMAC-SHA256(secret key, component))
//! ```
//!
//! `Client-Id`, `Request-Id`, `Request-Timestamp` and `Signature` are request headers. The
//! `Request-Id` is unique per notification ("to make sure no duplicate notification"), so it is
//! the dedupe id. `Request-Timestamp` is UTC ISO 8601 (`2020-08-11T08:45:42Z`); since it is
//! signed, a notification whose timestamp is more than [`super::REPLAY_WINDOW_SECS`] from now
//! is refused as a replay, like Stripe's `t=`. Body per "HTTP Notification Sample - Non SNAP"
//! (<https://developers.doku.com/getting-started-with-doku-api/notification/http-notification-sample-non-snap>):
//! `order.invoice_number`, `order.amount` (IDR, no decimals), `transaction.status` (`SUCCESS`,
//! `FAILED`, `EXPIRED`, `PENDING`, `REFUNDED`, ...).
//!
//! Hosted payment: DOKU Checkout, `POST /checkout/v1/payment`
//! (<https://developers.doku.com/accept-payments/doku-checkout/integration-guide/backend-integration>),
//! signed with the same component scheme (`Request-Target: /checkout/v1/payment`); the answer's
//! `response.payment.url` is the page.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::crypto::{ct_eq, ct_eq_secret, hmac_sha256, sha256};
use super::hosted::{
    json_body, str_at, HostedPayment, HostedPaymentRequest, HttpRequest, HttpResponse,
};
use super::money::{json_number_amount, karcis_exponent, normalize_currency};
use super::{
    bounded_id, iso8601_utc, parse_iso8601_utc, validate_order_id, DokuSecrets, GatewayError,
    PaymentNotification, PaymentStatus, Provider, WebhookEvent, WebhookRequest, REPLAY_WINDOW_SECS,
};

pub const CLIENT_ID_HEADER: &str = "client-id";
pub const REQUEST_ID_HEADER: &str = "request-id";
pub const REQUEST_TIMESTAMP_HEADER: &str = "request-timestamp";
pub const SIGNATURE_HEADER: &str = "signature";
const SIGNATURE_PREFIX: &str = "HMACSHA256=";
/// Request-Target of the Checkout API.
pub const CHECKOUT_TARGET: &str = "/checkout/v1/payment";

/// `base64(SHA-256(body))`.
pub fn digest(body: &[u8]) -> String {
    B64.encode(sha256(body))
}

/// The `Signature` header value: `HMACSHA256=` + base64 of the HMAC over the documented
/// component string.
pub fn signature(
    secret: &[u8],
    client_id: &str,
    request_id: &str,
    timestamp: &str,
    target: &str,
    body: &[u8],
) -> String {
    let component = format!(
        "Client-Id:{client_id}\nRequest-Id:{request_id}\nRequest-Timestamp:{timestamp}\nRequest-Target:{target}\nDigest:{}",
        digest(body)
    );
    let mac = hmac_sha256(secret, &[component.as_bytes()]);
    format!("{SIGNATURE_PREFIX}{}", B64.encode(mac))
}

/// Verifies a DOKU notification's `Signature` and the freshness of its signed
/// `Request-Timestamp` (`now` in unix seconds), then reads it.
pub fn verify(
    request: &WebhookRequest<'_>,
    secrets: &DokuSecrets,
    now: u64,
) -> Result<WebhookEvent, GatewayError> {
    let client_id = request.required_header(CLIENT_ID_HEADER)?;
    let request_id = request.required_header(REQUEST_ID_HEADER)?;
    let timestamp = request.required_header(REQUEST_TIMESTAMP_HEADER)?;
    let given = request.required_header(SIGNATURE_HEADER)?;
    let given_b64 = given
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(GatewayError::MalformedSignature)?;
    if given_b64.len() != 44 || B64.decode(given_b64).is_err() {
        return Err(GatewayError::MalformedSignature);
    }
    let expected = signature(
        secrets.secret_key.as_bytes(),
        client_id,
        request_id,
        timestamp,
        request.request_target,
        request.body,
    );
    // Both must hold: the signature (compared as the exact header text), and that the
    // notification is for our Client-Id.
    let mac_ok = ct_eq(expected.as_bytes(), given.as_bytes());
    let client_ok = ct_eq_secret(client_id.as_bytes(), secrets.client_id.as_bytes());
    if !(mac_ok & client_ok) {
        return Err(GatewayError::BadSignature);
    }
    let signed_at = parse_iso8601_utc(timestamp).ok_or(GatewayError::MalformedSignature)?;
    if now.abs_diff(signed_at) > REPLAY_WINDOW_SECS {
        return Err(GatewayError::StaleTimestamp);
    }
    parse_notification(request_id, request.body)
}

/// Reads a verified notification; `request_id` is the notification's `Request-Id` header.
pub fn parse_notification(request_id: &str, body: &[u8]) -> Result<WebhookEvent, GatewayError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| GatewayError::MalformedPayload("not JSON"))?;
    let text = |pointer: &'static str| {
        body.pointer(pointer)
            .and_then(Value::as_str)
            .ok_or(GatewayError::MalformedPayload(pointer))
    };
    let provider_event_id = bounded_id(request_id, "Request-Id")?;
    let status = match text("/transaction/status")? {
        "SUCCESS" => PaymentStatus::Paid,
        "PENDING" | "REDIRECT" | "TIMEOUT" => PaymentStatus::Pending,
        "FAILED" => PaymentStatus::Failed,
        "EXPIRED" => PaymentStatus::Expired,
        "REFUNDED" => PaymentStatus::Refunded,
        other => {
            return Ok(WebhookEvent::Ignored {
                provider: Provider::Doku,
                provider_event_id,
                event_type: bounded_id(other, "transaction.status")?,
            })
        }
    };
    let order_id = text("/order/invoice_number")?;
    validate_order_id(order_id)?;
    // DOKU non-SNAP settles in IDR; the order may name the currency.
    let currency = normalize_currency(
        body.pointer("/order/currency")
            .and_then(Value::as_str)
            .unwrap_or("IDR"),
    )?;
    let exponent = karcis_exponent(&currency).ok_or(GatewayError::UnsupportedCurrency)?;
    let amount = body
        .pointer("/order/amount")
        .and_then(Value::as_number)
        .ok_or(GatewayError::InvalidAmount("order.amount"))?;
    let reference = body
        .pointer("/transaction/original_request_id")
        .and_then(Value::as_str)
        .unwrap_or(order_id);
    Ok(WebhookEvent::Payment(PaymentNotification {
        provider: Provider::Doku,
        provider_event_id,
        provider_reference: bounded_id(reference, "reference")?,
        order_id: order_id.to_owned(),
        amount: json_number_amount(amount, exponent)?,
        currency,
        status,
        payment_id: None,
    }))
}

/// `POST /checkout/v1/payment`, signed. The `Request-Id` is derived from the order id so a retry
/// is recognised by DOKU as the same request.
pub fn checkout_request(
    base_url: &str,
    secrets: &DokuSecrets,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HttpRequest, GatewayError> {
    if request.currency != "IDR" {
        return Err(GatewayError::UnsupportedCurrency);
    }
    let body = json!({
        "order": {
            "amount": request.amount,
            "invoice_number": request.order_id,
            "currency": "IDR",
            "callback_url": request.success_url,
        },
        "payment": { "payment_due_date": (request.expires_at - now).div_ceil(60).max(1) },
    });
    let body = serde_json::to_vec(&body).map_err(|_| GatewayError::InvalidRequest("body"))?;
    let request_id = format!("karcis-{}", request.order_id);
    let timestamp = iso8601_utc(now);
    let sig = signature(
        secrets.secret_key.as_bytes(),
        &secrets.client_id,
        &request_id,
        &timestamp,
        CHECKOUT_TARGET,
        &body,
    );
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}{CHECKOUT_TARGET}", base_url.trim_end_matches('/')),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Client-Id".into(), secrets.client_id.clone()),
            ("Request-Id".into(), request_id),
            ("Request-Timestamp".into(), timestamp),
            ("Signature".into(), sig),
        ],
        body,
    })
}

/// The Checkout answer: `response.payment.token_id` and `response.payment.url`.
pub fn parse_checkout_response(response: &HttpResponse) -> Result<HostedPayment, GatewayError> {
    let body = json_body(response, &[200])?;
    Ok(HostedPayment {
        provider: Provider::Doku,
        reference: str_at(&body, "/response/payment/token_id")?.to_owned(),
        redirect_url: str_at(&body, "/response/payment/url")?.to_owned(),
    })
}
