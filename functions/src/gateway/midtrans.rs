//! Midtrans: HTTP(S) notifications and Snap transactions.
//!
//! Notification verification follows "Verifying Notification Authenticity" of
//! <https://docs.midtrans.com/docs/https-notification-webhooks> and
//! <https://docs.midtrans.com/reference/handle-async-payment>: the JSON body carries
//! `signature_key` = hex SHA-512 of `order_id + status_code + gross_amount + ServerKey`, each
//! field taken verbatim from the body (`gross_amount` is a decimal string such as `"150000.00"`).
//! Compared in constant time. Status mapping after the "Transaction Status" table
//! (<https://docs.midtrans.com/docs/https-notification-webhooks>): `capture` with
//! `fraud_status=accept` and `settlement` are paid, and only with the signed `status_code` 200;
//! `capture` with `challenge`, `pending` and `authorize` wait; `deny`, `cancel`, `failure` fail;
//! `expire` expires; `refund` is a full refund, `partial_refund` a partial one, `chargeback` and
//! `partial_chargeback` disputes. Like `paid`, a refund or chargeback is believed only once the
//! Get Status API answers the same status for the same transaction.
//!
//! `transaction_status`, `fraud_status` and `transaction_id` are *not* signed: a captured
//! `pending` (201) edited to `settlement` is refused here for its status code, but a genuine
//! `cancel` (also 200) edited to `settlement` is not detectable from the notification. So a paid
//! notification is only a hint: the order is marked paid on the answer of the Get Status API,
//! `GET /v2/{order_id}/status` on api(.sandbox).midtrans.com
//! (<https://docs.midtrans.com/docs/get-status-api-requests>,
//! <https://docs.midtrans.com/reference-link/get-transaction-status>), `Authorization: Basic
//! base64(ServerKey + ":")`, which answers the same fields (`status_code`, `transaction_status`,
//! `fraud_status`, `gross_amount`, `order_id`, `transaction_id`). An unknown order is HTTP 404 or
//! a body `status_code` of `"404"`.
//!
//! Hosted payment: Snap, `POST /snap/v1/transactions` on app(.sandbox).midtrans.com
//! (<https://docs.midtrans.com/reference/backend-integration>,
//! <https://docs.midtrans.com/docs/snap-snap-integration-guide>), JSON, `Authorization: Basic
//! base64(ServerKey + ":")`. Answer 201 `{ "token", "redirect_url" }`. IDR has no decimals at
//! Midtrans (<https://docs.midtrans.com/docs/can-midtrans-process-transaction-amount-with-decimals>).

use serde_json::{json, Map, Value};

use super::crypto::{ct_eq, sha512};

use super::hosted::{
    basic_auth, json_body, str_at, HostedPayment, HostedPaymentRequest, HttpRequest, HttpResponse,
};
use super::money::{karcis_exponent, normalize_currency, parse_decimal};
use super::PaymentState;
use super::{
    bounded_id, civil_utc, validate_order_id, GatewayError, MidtransSecrets, PaymentNotification,
    PaymentStatus, Provider, WebhookEvent, WebhookRequest,
};

/// `hex(SHA-512(order_id + status_code + gross_amount + server_key))`.
pub fn signature_key(
    order_id: &str,
    status_code: &str,
    gross_amount: &str,
    server_key: &str,
) -> String {
    hex::encode(sha512(&[
        order_id.as_bytes(),
        status_code.as_bytes(),
        gross_amount.as_bytes(),
        server_key.as_bytes(),
    ]))
}

/// Verifies a Midtrans notification, then reads it. The body is parsed only to read the signed
/// fields; nothing else is looked at before the signature matches.
pub fn verify(
    request: &WebhookRequest<'_>,
    secrets: &MidtransSecrets,
) -> Result<WebhookEvent, GatewayError> {
    let body: Map<String, Value> = serde_json::from_slice(request.body)
        .map_err(|_| GatewayError::MalformedPayload("not a JSON object"))?;
    let field = |name: &'static str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or(GatewayError::MalformedPayload(name))
    };
    let given = body
        .get("signature_key")
        .and_then(Value::as_str)
        .ok_or(GatewayError::MissingHeader("signature_key"))?;
    let order_id = field("order_id")?;
    let status_code = field("status_code")?;
    let gross_amount = field("gross_amount")?;

    if given.len() != 128 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GatewayError::MalformedSignature);
    }
    // Compared as the lower-case hex text Midtrans sends.
    let expected = signature_key(
        order_id,
        status_code,
        gross_amount,
        secrets.server_key.expose(),
    );
    if !ct_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(GatewayError::BadSignature);
    }

    // Authentic from here on.
    let transaction_status = field("transaction_status")?;
    let transaction_id = bounded_id(field("transaction_id")?, "transaction_id")?;
    let fraud_status = body
        .get("fraud_status")
        .and_then(Value::as_str)
        .unwrap_or("");
    let provider_event_id = bounded_id(
        &format!("{transaction_id}:{transaction_status}:{fraud_status}"),
        "event id",
    )?;
    let Some(status) = classify(status_code, transaction_status, fraud_status)? else {
        return Ok(WebhookEvent::Ignored {
            provider: Provider::Midtrans,
            provider_event_id,
            event_type: bounded_id(transaction_status, "transaction_status")?,
        });
    };
    let (currency, exponent) = currency_of(body.get("currency"))?;
    validate_order_id(order_id)?;
    Ok(WebhookEvent::Payment(PaymentNotification {
        provider: Provider::Midtrans,
        provider_event_id,
        provider_reference: transaction_id,
        order_id: order_id.to_owned(),
        amount: parse_decimal(gross_amount, exponent)?,
        currency,
        status,
        payment_id: None,
    }))
}

/// The currency and its karcis exponent: Midtrans settles in IDR; a notification or a status
/// answer may name the currency explicitly.
fn currency_of(named: Option<&Value>) -> Result<(String, u32), GatewayError> {
    let currency = normalize_currency(named.and_then(Value::as_str).unwrap_or("IDR"))?;
    let exponent = karcis_exponent(&currency).ok_or(GatewayError::UnsupportedCurrency)?;
    Ok((currency, exponent))
}

/// The status a Midtrans `transaction_status` / `fraud_status` pair stands for (`None`: a status
/// karcis does not act on). Paid needs the signed `status_code` 200 as well: a "paid" status with
/// any other code is an edited message.
fn classify(
    status_code: &str,
    transaction_status: &str,
    fraud_status: &str,
) -> Result<Option<PaymentStatus>, GatewayError> {
    let status = match (transaction_status, fraud_status) {
        ("capture", "accept" | "") | ("settlement", _) => PaymentStatus::Paid,
        ("capture" | "pending" | "authorize", _) => PaymentStatus::Pending,
        ("deny" | "cancel" | "failure", _) => PaymentStatus::Failed,
        ("expire", _) => PaymentStatus::Expired,
        ("refund", _) => PaymentStatus::Refunded,
        ("partial_refund", _) => PaymentStatus::PartiallyRefunded,
        ("chargeback" | "partial_chargeback", _) => PaymentStatus::Disputed,
        _ => return Ok(None),
    };
    if status == PaymentStatus::Paid && status_code != "200" {
        return Err(GatewayError::MalformedPayload("status_code"));
    }
    Ok(Some(status))
}

/// `GET /v2/{order_id}/status` (the Get Status API), authenticated with the server key.
pub fn status_request(
    base_url: &str,
    secrets: &MidtransSecrets,
    order_id: &str,
) -> Result<HttpRequest, GatewayError> {
    // Also makes the id safe as a path segment.
    validate_order_id(order_id).map_err(|_| GatewayError::InvalidRequest("order_id"))?;
    Ok(HttpRequest {
        method: "GET",
        url: format!("{}/v2/{order_id}/status", base_url.trim_end_matches('/')),
        headers: vec![
            ("Accept".into(), "application/json".into()),
            (
                "Authorization".into(),
                basic_auth(secrets.server_key.expose()),
            ),
        ],
        body: Vec::new(),
    })
}

/// Reads the Get Status API's answer: `None` when Midtrans does not know the order (the buyer
/// never chose a payment method, or the order is not ours).
pub fn parse_status_response(
    response: &HttpResponse,
) -> Result<Option<PaymentState>, GatewayError> {
    if response.status == 404 {
        return Ok(None);
    }
    let body = json_body(response, &[200])?;
    let text = |name: &'static str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or(GatewayError::UnexpectedResponse(
                "missing field in Midtrans status",
            ))
    };
    let status_code = text("status_code")?;
    if status_code == "404" {
        return Ok(None);
    }
    let fraud_status = body
        .get("fraud_status")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = classify(status_code, text("transaction_status")?, fraud_status)
        .map_err(|_| GatewayError::UnexpectedResponse("Midtrans status_code"))?
        // A status karcis does not act on is not a payment.
        .unwrap_or(PaymentStatus::Pending);
    let (currency, exponent) = currency_of(body.get("currency"))?;
    Ok(Some(PaymentState {
        provider: Provider::Midtrans,
        status,
        order_id: bounded_id(text("order_id")?, "order_id")?,
        reference: bounded_id(text("transaction_id")?, "transaction_id")?,
        amount: parse_decimal(text("gross_amount")?, exponent)?,
        currency,
        // First 6 and last 4 digits (`481111-1114`): a card reference, not card data.
        card: body
            .get("masked_card")
            .and_then(Value::as_str)
            .filter(|c| {
                (4..=32).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            })
            .map(str::to_owned),
    }))
}

/// `POST /snap/v1/transactions`: a Snap payment page for the order, expiring with the
/// reservation.
pub fn snap_request(
    base_url: &str,
    secrets: &MidtransSecrets,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HttpRequest, GatewayError> {
    if request.currency != "IDR" {
        return Err(GatewayError::UnsupportedCurrency);
    }
    let (y, mo, d, h, mi, s) = civil_utc(now);
    let minutes = (request.expires_at - now).div_ceil(60).max(1);
    let body = json!({
        "transaction_details": { "order_id": request.order_id, "gross_amount": request.amount },
        "item_details": [{
            "id": "tickets", "price": request.amount, "quantity": 1,
            "name": request.description.chars().take(50).collect::<String>(),
        }],
        "expiry": {
            "start_time": format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000"),
            "unit": "minute",
            "duration": minutes,
        },
        "callbacks": { "finish": request.success_url },
    });
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}/snap/v1/transactions", base_url.trim_end_matches('/')),
        headers: vec![
            ("Accept".into(), "application/json".into()),
            ("Content-Type".into(), "application/json".into()),
            (
                "Authorization".into(),
                basic_auth(secrets.server_key.expose()),
            ),
        ],
        body: serde_json::to_vec(&body).map_err(|_| GatewayError::InvalidRequest("body"))?,
    })
}

/// The Snap answer: `token` and `redirect_url`.
pub fn parse_snap_response(response: &HttpResponse) -> Result<HostedPayment, GatewayError> {
    let body = json_body(response, &[200, 201])?;
    Ok(HostedPayment {
        provider: Provider::Midtrans,
        reference: str_at(&body, "/token")?.to_owned(),
        redirect_url: str_at(&body, "/redirect_url")?.to_owned(),
    })
}
