//! Xendit: invoice callbacks and invoices.
//!
//! Callback verification follows <https://docs.xendit.co/api-integration/callback/setup> and
//! "Always authenticate the webhook sender" of <https://docsv2.xendit.co/v1/docs/handling-webhooks>:
//! every callback carries the account's verification token in the `x-callback-token` header; it
//! is compared (in constant time) with the token from the dashboard's callback settings.
//! Deliveries may repeat and arrive out of order (<https://docs.xendit.co/apidocs/webhook-behavior>).
//!
//! The invoice callback body (<https://developers.xendit.co/api-reference/#invoice-callback>)
//! names the order in `external_id`, the status in `status` (`PAID`, `SETTLED`, `EXPIRED`), the
//! amounts as JSON numbers in major units (`amount`, `paid_amount`) and the `currency`.
//!
//! The token is static and travels in every callback, so one leak lets anyone send a `PAID`. A
//! paid callback is therefore only a hint: the order is marked paid on the answer of
//! `GET /v2/invoices/{invoice_id}` (<https://developers.xendit.co/api-reference/#get-invoice>,
//! `getInvoiceById` in <https://github.com/xendit/xendit-php/blob/master/docs/InvoiceApi.md>),
//! authenticated with the secret API key (Basic, empty password), which answers the invoice:
//! `id`, `external_id`, `status` (`PENDING`, `PAID`, `SETTLED`, `EXPIRED`), `amount`,
//! `paid_amount`, `currency`. An unknown invoice is HTTP 404.
//!
//! Hosted payment: `POST /v2/invoices` (<https://developers.xendit.co/api-reference/#create-invoice>),
//! JSON, `Authorization: Basic base64(secret key + ":")`; the answer's `invoice_url` is the page.

use serde_json::{json, Value};

use super::crypto::ct_eq_secret;
use super::hosted::{
    basic_auth, json_body, str_at, HostedPayment, HostedPaymentRequest, HttpRequest, HttpResponse,
};
use super::money::{format_decimal, json_number_amount, karcis_exponent, normalize_currency};
use super::{
    bounded_id, validate_order_id, GatewayError, PaymentNotification, PaymentState, PaymentStatus,
    Provider, WebhookEvent, WebhookRequest, XenditSecrets,
};

pub const TOKEN_HEADER: &str = "x-callback-token";

/// Verifies a Xendit callback token, then reads the invoice callback.
pub fn verify(
    request: &WebhookRequest<'_>,
    secrets: &XenditSecrets,
) -> Result<WebhookEvent, GatewayError> {
    let token = request.required_header(TOKEN_HEADER)?;
    if !ct_eq_secret(token.as_bytes(), secrets.callback_token.as_bytes()) {
        return Err(GatewayError::BadSignature);
    }
    parse_invoice_callback(request.body)
}

/// Reads a verified invoice callback.
pub fn parse_invoice_callback(body: &[u8]) -> Result<WebhookEvent, GatewayError> {
    let body: Value =
        serde_json::from_slice(body).map_err(|_| GatewayError::MalformedPayload("not JSON"))?;
    let text = |name: &'static str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or(GatewayError::MalformedPayload(name))
    };
    let invoice_id = bounded_id(text("id")?, "id")?;
    let xendit_status = text("status")?;
    let provider_event_id = bounded_id(&format!("{invoice_id}:{xendit_status}"), "event id")?;
    let status = match xendit_status {
        "PAID" | "SETTLED" => PaymentStatus::Paid,
        "PENDING" => PaymentStatus::Pending,
        "EXPIRED" => PaymentStatus::Expired,
        other => {
            return Ok(WebhookEvent::Ignored {
                provider: Provider::Xendit,
                provider_event_id,
                event_type: bounded_id(other, "status")?,
            })
        }
    };
    let order_id = text("external_id")?;
    validate_order_id(order_id)?;
    let currency = normalize_currency(text("currency")?)?;
    let exponent = karcis_exponent(&currency).ok_or(GatewayError::UnsupportedCurrency)?;
    // What was actually paid, when the callback says so.
    let amount_field = match (status, body.get("paid_amount")) {
        (PaymentStatus::Paid, Some(Value::Number(n))) => n,
        _ => body
            .get("amount")
            .and_then(Value::as_number)
            .ok_or(GatewayError::InvalidAmount("amount"))?,
    };
    Ok(WebhookEvent::Payment(PaymentNotification {
        provider: Provider::Xendit,
        provider_event_id,
        provider_reference: invoice_id,
        order_id: order_id.to_owned(),
        amount: json_number_amount(amount_field, exponent)?,
        currency,
        status,
        payment_id: None,
    }))
}

/// `GET /v2/invoices/{invoice_id}`, authenticated with the secret API key.
pub fn invoice_status_request(
    base_url: &str,
    secrets: &XenditSecrets,
    invoice_id: &str,
) -> Result<HttpRequest, GatewayError> {
    // The id becomes a path segment: the characters of an order id only (Xendit ids are hex).
    validate_order_id(invoice_id).map_err(|_| GatewayError::InvalidRequest("invoice id"))?;
    Ok(HttpRequest {
        method: "GET",
        url: format!(
            "{}/v2/invoices/{invoice_id}",
            base_url.trim_end_matches('/')
        ),
        headers: vec![("Authorization".into(), basic_auth(secrets.api_key.expose()))],
        body: Vec::new(),
    })
}

/// Reads the invoice: `None` when Xendit does not know it.
pub fn parse_invoice_status(response: &HttpResponse) -> Result<Option<PaymentState>, GatewayError> {
    if response.status == 404 {
        return Ok(None);
    }
    let invoice = json_body(response, &[200])?;
    let status = match str_at(&invoice, "/status")? {
        "PAID" | "SETTLED" => PaymentStatus::Paid,
        "EXPIRED" => PaymentStatus::Expired,
        _ => PaymentStatus::Pending,
    };
    let currency = normalize_currency(str_at(&invoice, "/currency")?)?;
    let exponent = karcis_exponent(&currency).ok_or(GatewayError::UnsupportedCurrency)?;
    let amount = |name: &str| {
        invoice
            .get(name)
            .and_then(Value::as_number)
            .map(|n| json_number_amount(n, exponent))
            .transpose()
    };
    // What was actually paid, when the invoice says so (as in the callback).
    let paid = match status {
        PaymentStatus::Paid => amount("paid_amount")?,
        _ => None,
    };
    let amount = match paid {
        Some(paid) => paid,
        None => amount("amount")?.ok_or(GatewayError::UnexpectedResponse("invoice amount"))?,
    };
    Ok(Some(PaymentState {
        provider: Provider::Xendit,
        status,
        order_id: bounded_id(str_at(&invoice, "/external_id")?, "external_id")?,
        reference: bounded_id(str_at(&invoice, "/id")?, "id")?,
        amount,
        currency,
        // Xendit names the charge (`credit_card_charge_id`), not a reusable card reference.
        card: None,
    }))
}

/// `POST /v2/invoices` for the order, expiring with the reservation.
pub fn invoice_request(
    base_url: &str,
    secrets: &XenditSecrets,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HttpRequest, GatewayError> {
    let exponent = karcis_exponent(&request.currency).ok_or(GatewayError::UnsupportedCurrency)?;
    // Major units as a JSON number, written exactly (no float rounding).
    let amount: Value = serde_json::from_str(&format_decimal(request.amount, exponent))
        .map_err(|_| GatewayError::InvalidRequest("amount"))?;
    let body = json!({
        "external_id": request.order_id,
        "amount": amount,
        "currency": request.currency,
        "description": request.description,
        "invoice_duration": request.expires_at - now,
        "success_redirect_url": request.success_url,
        "failure_redirect_url": request.cancel_url,
    });
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}/v2/invoices", base_url.trim_end_matches('/')),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), basic_auth(secrets.api_key.expose())),
        ],
        body: serde_json::to_vec(&body).map_err(|_| GatewayError::InvalidRequest("body"))?,
    })
}

/// The invoice answer: `id` and `invoice_url`.
pub fn parse_invoice_response(response: &HttpResponse) -> Result<HostedPayment, GatewayError> {
    let invoice = json_body(response, &[200, 201])?;
    Ok(HostedPayment {
        provider: Provider::Xendit,
        reference: str_at(&invoice, "/id")?.to_owned(),
        redirect_url: str_at(&invoice, "/invoice_url")?.to_owned(),
    })
}
