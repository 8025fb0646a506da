//! Stripe: webhook signatures and Checkout Sessions.
//!
//! Webhook verification follows "Verify the events manually" of
//! <https://docs.stripe.com/webhooks#verify-manually> (was stripe.com/docs/webhooks/signatures):
//! the `Stripe-Signature` header is a comma-separated list of `key=value` elements; `t` is the
//! timestamp, each `v1` is a hex HMAC-SHA256 with the endpoint's signing secret over
//! `"{t}.{raw body}"`; other schemes (e.g. `v0`) are ignored. A webhook is genuine when any `v1`
//! matches (there are several while a secret is being rolled), compared in constant time, and the
//! timestamp is within the tolerance (Stripe's libraries default to 300 seconds).
//!
//! Amounts in Stripe events are integers in Stripe's minor unit for the currency
//! (<https://docs.stripe.com/currencies>, "Minor units in API amounts"), rescaled exactly to
//! karcis units ([`super::money::stripe_exponent`]).
//!
//! Hosted payment: `POST /v1/checkout/sessions` (<https://docs.stripe.com/api/checkout/sessions/create>),
//! form-encoded, `Authorization: Bearer <secret key>`, with an `Idempotency-Key`
//! (<https://docs.stripe.com/api/idempotent_requests>). Answer: the Session object, whose `url`
//! is the hosted page.

use serde_json::Value;

use super::crypto::{ct_eq, hmac_sha256};
use super::hosted::{
    form_encode, json_body, str_at, HostedPayment, HostedPaymentRequest, HttpRequest, HttpResponse,
};
use super::money::{karcis_exponent, normalize_currency, rescale, stripe_exponent};
use super::{
    bounded_id, validate_order_id, GatewayError, PaymentNotification, PaymentStatus, Provider,
    StripeSecrets, WebhookEvent, WebhookRequest,
};

pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// Maximum age (and future skew) of a signature timestamp, seconds.
pub const TOLERANCE_SECS: u64 = super::REPLAY_WINDOW_SECS;
/// Stripe accepts Checkout Session `expires_at` between 30 minutes and 24 hours from creation.
pub const MIN_SESSION_SECS: u64 = 30 * 60;
pub const MAX_SESSION_SECS: u64 = 24 * 60 * 60;

/// Checks a `Stripe-Signature` header against the raw body. Pure: `now` is unix seconds.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secrets: &[super::Secret],
    now: u64,
) -> Result<(), GatewayError> {
    if header.len() > 4096 {
        return Err(GatewayError::MalformedSignature);
    }
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<&str> = Vec::new();
    let mut saw_v1 = false;
    for element in header.split(',') {
        let (key, value) = element
            .trim()
            .split_once('=')
            .ok_or(GatewayError::MalformedSignature)?;
        match key {
            "t" if timestamp.is_some() => return Err(GatewayError::MalformedSignature),
            "t" => timestamp = Some(value),
            "v1" => {
                saw_v1 = true;
                if signatures.len() < 16 {
                    signatures.push(value);
                }
            }
            _ => {} // other schemes (v0 test signatures, future versions) are ignored
        }
    }
    let timestamp = timestamp.ok_or(GatewayError::MalformedSignature)?;
    if !saw_v1 {
        return Err(GatewayError::MalformedSignature);
    }
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(GatewayError::MalformedSignature);
    }
    let t: u64 = timestamp
        .parse()
        .map_err(|_| GatewayError::MalformedSignature)?;

    // Every (secret, v1) pair is compared as lower-case hex text, as Stripe's libraries do,
    // in constant time and without an early exit.
    let mut matched = false;
    for secret in secrets {
        let expected = hex::encode(hmac_sha256(
            secret.as_bytes(),
            &[timestamp.as_bytes(), b".", body],
        ));
        for sig in &signatures {
            matched |= ct_eq(expected.as_bytes(), sig.as_bytes());
        }
    }
    if !matched {
        return Err(GatewayError::BadSignature);
    }
    if now.abs_diff(t) > TOLERANCE_SECS {
        return Err(GatewayError::StaleTimestamp);
    }
    Ok(())
}

/// Verifies a Stripe webhook, then reads the event.
pub fn verify(
    request: &WebhookRequest<'_>,
    secrets: &StripeSecrets,
    now: u64,
) -> Result<WebhookEvent, GatewayError> {
    let header = request.required_header(SIGNATURE_HEADER)?;
    verify_signature(header, request.body, &secrets.webhook_secrets, now)?;
    parse_event(request.body)
}

/// Reads a verified event. Checkout Session events carry the order in `client_reference_id`;
/// `charge.refunded` carries it in the metadata karcis set on the PaymentIntent.
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, GatewayError> {
    let event: Value =
        serde_json::from_slice(body).map_err(|_| GatewayError::MalformedPayload("not JSON"))?;
    let event_id = bounded_id(event_str(&event, "/id")?, "event id")?;
    let event_type = event_str(&event, "/type")?;
    let object = event
        .pointer("/data/object")
        .ok_or(GatewayError::MalformedPayload("data.object"))?;

    let status = match event_type {
        "checkout.session.completed" => match event_str(object, "/payment_status")? {
            "paid" | "no_payment_required" => PaymentStatus::Paid,
            "unpaid" => PaymentStatus::Pending,
            _ => return Err(GatewayError::MalformedPayload("payment_status")),
        },
        "checkout.session.async_payment_succeeded" => PaymentStatus::Paid,
        "checkout.session.async_payment_failed" => PaymentStatus::Failed,
        "checkout.session.expired" => PaymentStatus::Expired,
        // `refunded`: "whether the charge has been fully refunded"; `amount_refunded` is the
        // cumulative amount refunded so far (<https://docs.stripe.com/api/charges/object>).
        "charge.refunded" => {
            if object.get("refunded").and_then(Value::as_bool) == Some(true) {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            }
        }
        // A Dispute object (<https://docs.stripe.com/api/disputes/object>): `charge`,
        // `payment_intent`, `amount`, `currency`; it carries no metadata of the payment, so the
        // order is found by its PaymentIntent (the callback handler's lookup).
        "charge.dispute.created" => PaymentStatus::Disputed,
        other => {
            return Ok(WebhookEvent::Ignored {
                provider: Provider::Stripe,
                provider_event_id: event_id,
                event_type: bounded_id(other, "event type")?,
            })
        }
    };

    let currency = normalize_currency(event_str(object, "/currency")?)?;
    let exponent = karcis_exponent(&currency).ok_or(GatewayError::UnsupportedCurrency)?;
    let payment_id = object
        .get("payment_intent")
        .and_then(Value::as_str)
        .map(|pi| bounded_id(pi, "payment_intent"))
        .transpose()?;
    let (order_id, reference, stripe_amount) = if status == PaymentStatus::Disputed {
        // No order id in a dispute: the handler resolves it from the PaymentIntent.
        if payment_id.is_none() {
            return Err(GatewayError::MalformedPayload("/payment_intent"));
        }
        ("", event_str(object, "/id")?, event_u64(object, "/amount")?)
    } else if status.is_reversal() {
        let order_id = event_str(object, "/metadata/order_id")?;
        (
            order_id,
            event_str(object, "/id")?,
            event_u64(object, "/amount_refunded")?,
        )
    } else {
        let order_id = match object.get("client_reference_id").and_then(Value::as_str) {
            Some(id) => id,
            None => event_str(object, "/metadata/order_id")?,
        };
        (
            order_id,
            event_str(object, "/id")?,
            event_u64(object, "/amount_total")?,
        )
    };
    if status != PaymentStatus::Disputed {
        validate_order_id(order_id)?;
    }
    let amount = rescale(stripe_amount, stripe_exponent(&currency), exponent)?;
    Ok(WebhookEvent::Payment(PaymentNotification {
        provider: Provider::Stripe,
        provider_event_id: event_id,
        provider_reference: bounded_id(reference, "reference")?,
        order_id: order_id.to_owned(),
        amount,
        currency,
        status,
        payment_id,
    }))
}

fn event_str<'v>(value: &'v Value, pointer: &'static str) -> Result<&'v str, GatewayError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .ok_or(GatewayError::MalformedPayload(pointer))
}

fn event_u64(value: &Value, pointer: &'static str) -> Result<u64, GatewayError> {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .ok_or(GatewayError::InvalidAmount("not a non-negative integer"))
}

/// `POST /v1/checkout/sessions` for one line item of the order's total.
pub fn checkout_session_request(
    base_url: &str,
    secrets: &StripeSecrets,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HttpRequest, GatewayError> {
    let exponent = karcis_exponent(&request.currency).ok_or(GatewayError::UnsupportedCurrency)?;
    let unit_amount = rescale(request.amount, exponent, stripe_exponent(&request.currency))?;
    // Stripe refuses an expiry under 30 minutes; a payment after the reservation lapsed is
    // recorded for refund by the callback handler.
    let expires_at = request
        .expires_at
        .clamp(now + MIN_SESSION_SECS, now + MAX_SESSION_SECS);
    let fields: [(&str, String); 12] = [
        ("mode", "payment".into()),
        ("client_reference_id", request.order_id.clone()),
        ("metadata[order_id]", request.order_id.clone()),
        (
            "payment_intent_data[metadata][order_id]",
            request.order_id.clone(),
        ),
        ("line_items[0][quantity]", "1".into()),
        (
            "line_items[0][price_data][currency]",
            request.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            unit_amount.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            request.description.clone(),
        ),
        ("success_url", request.success_url.clone()),
        ("cancel_url", request.cancel_url.clone()),
        ("expires_at", expires_at.to_string()),
        ("payment_method_types[0]", "card".into()),
    ];
    let body = fields
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(HttpRequest {
        method: "POST",
        url: format!("{}/v1/checkout/sessions", base_url.trim_end_matches('/')),
        headers: vec![
            (
                "Authorization".into(),
                format!("Bearer {}", secrets.api_key.expose()),
            ),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            (
                "Idempotency-Key".into(),
                format!("karcis-checkout-{}", request.order_id),
            ),
        ],
        body: body.into_bytes(),
    })
}

/// The Checkout Session answer: `id` and the hosted page `url`.
pub fn parse_checkout_session_response(
    response: &HttpResponse,
) -> Result<HostedPayment, GatewayError> {
    let session = json_body(response, &[200])?;
    if session.get("object").and_then(Value::as_str) != Some("checkout.session") {
        return Err(GatewayError::UnexpectedResponse("not a checkout.session"));
    }
    Ok(HostedPayment {
        provider: Provider::Stripe,
        reference: str_at(&session, "/id")?.to_owned(),
        redirect_url: str_at(&session, "/url")?.to_owned(),
    })
}
