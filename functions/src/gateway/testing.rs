//! Test signers: webhooks signed exactly as each provider documents, so tests (and the demo's
//! gateway stub) deliver real signed callbacks. Test secrets only; see `events/webhooks/README.md`.

use serde_json::{json, Value};

use super::money::{format_decimal, karcis_exponent, rescale, stripe_exponent};
use super::{doku, midtrans, GatewaySecrets, PaymentStatus, Provider, WebhookRequest};

/// The test secrets the fixtures in `events/webhooks/` are signed with.
pub const TEST_SECRETS_JSON: &str = r#"{
  "stripe":   { "webhook_secrets": ["whsec_karcis_test_endpoint_secret"], "api_key": "sk_test_karcis_stub" },
  "midtrans": { "server_key": "SB-Mid-server-karcis-test" },
  "xendit":   { "callback_token": "xnd_callback_token_karcis_test", "api_key": "xnd_development_karcis_stub" },
  "doku":     { "client_id": "BRN-0001-karcis-test", "secret_key": "SK-karcis-doku-test-secret" }
}"#;

/// [`TEST_SECRETS_JSON`], parsed.
pub fn test_secrets() -> GatewaySecrets {
    GatewaySecrets::from_json(TEST_SECRETS_JSON.as_bytes()).expect("test secrets parse")
}

/// What a test webhook reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPayment {
    pub order_id: String,
    /// Karcis minor units.
    pub amount: u64,
    pub currency: String,
    pub status: PaymentStatus,
    /// Distinguishes events (Stripe `evt_...`, Midtrans `transaction_id`, Xendit invoice id,
    /// DOKU `Request-Id`).
    pub event_id: String,
}

impl TestPayment {
    pub fn paid(order_id: &str, amount: u64, currency: &str) -> Self {
        TestPayment {
            order_id: order_id.to_owned(),
            amount,
            currency: currency.to_owned(),
            status: PaymentStatus::Paid,
            event_id: format!("evt-{order_id}"),
        }
    }

    #[must_use]
    pub fn with_status(mut self, status: PaymentStatus) -> Self {
        self.status = status;
        self
    }

    #[must_use]
    pub fn with_event_id(mut self, event_id: &str) -> Self {
        event_id.clone_into(&mut self.event_id);
        self
    }
}

/// A signed webhook ready to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWebhook {
    pub provider: Provider,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The path it is delivered to (`/v1/webhooks/{provider}`).
    pub path: String,
}

impl SignedWebhook {
    /// Borrowed header pairs, for [`Self::request`].
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// As the verifiers see it.
    pub fn request<'a>(&'a self, pairs: &'a [(&'a str, &'a str)]) -> WebhookRequest<'a> {
        WebhookRequest {
            headers: pairs,
            body: &self.body,
            request_target: &self.path,
        }
    }

    /// Replaces (or adds) a header.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// `Stripe-Signature` value for `body` signed at `timestamp` with each of `secrets`.
pub fn stripe_signature_header(secrets: &[&str], timestamp: u64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mac = super::crypto::hmac_sha256(
            secret.as_bytes(),
            &[timestamp.to_string().as_bytes(), b".", body],
        );
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac));
    }
    header
}

fn stripe_amount(p: &TestPayment) -> u64 {
    let exp = karcis_exponent(&p.currency).unwrap_or(2);
    rescale(p.amount, exp, stripe_exponent(&p.currency)).expect("amount fits")
}

/// A Stripe event body for the payment (Checkout Session events; `charge.refunded` for refunds).
pub fn stripe_event_body(p: &TestPayment, created: u64) -> Vec<u8> {
    let currency = p.currency.to_ascii_lowercase();
    let session_id = format!("cs_test_{}", p.order_id);
    let session = |payment_status: &str| {
        json!({
            "id": session_id, "object": "checkout.session", "mode": "payment",
            "amount_total": stripe_amount(p), "currency": currency,
            "client_reference_id": p.order_id, "metadata": { "order_id": p.order_id },
            "payment_intent": format!("pi_test_{}", p.order_id), "payment_status": payment_status,
            "status": "complete", "livemode": false,
        })
    };
    let (event_type, object) = match p.status {
        PaymentStatus::Paid => ("checkout.session.completed", session("paid")),
        PaymentStatus::Pending => ("checkout.session.completed", session("unpaid")),
        PaymentStatus::Failed => ("checkout.session.async_payment_failed", session("unpaid")),
        PaymentStatus::Expired => ("checkout.session.expired", session("unpaid")),
        PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => (
            "charge.refunded",
            json!({
                "id": format!("ch_test_{}", p.order_id), "object": "charge",
                "amount": stripe_amount(p), "amount_refunded": stripe_amount(p), "currency": currency,
                "payment_intent": format!("pi_test_{}", p.order_id), "metadata": { "order_id": p.order_id },
                "refunded": p.status == PaymentStatus::Refunded,
            }),
        ),
        PaymentStatus::Disputed => (
            "charge.dispute.created",
            json!({
                "id": format!("dp_test_{}", p.order_id), "object": "dispute",
                "amount": stripe_amount(p), "currency": currency,
                "charge": format!("ch_test_{}", p.order_id),
                "payment_intent": format!("pi_test_{}", p.order_id),
                "reason": "fraudulent", "status": "needs_response", "metadata": {},
            }),
        ),
    };
    let event = json!({
        "id": p.event_id, "object": "event", "api_version": "2024-06-20", "created": created,
        "type": event_type, "livemode": false, "pending_webhooks": 1,
        "data": { "object": object },
    });
    serde_json::to_vec_pretty(&event).expect("serializable")
}

/// Midtrans `gross_amount`: major units with two decimals, as Midtrans writes it.
fn midtrans_gross_amount(p: &TestPayment) -> String {
    let exp = karcis_exponent(&p.currency).unwrap_or(2);
    let text = format_decimal(p.amount, exp);
    if exp == 0 {
        format!("{text}.00")
    } else {
        text
    }
}

/// A Midtrans notification body with its `signature_key`.
pub fn midtrans_notification_body(server_key: &str, p: &TestPayment) -> Vec<u8> {
    let (transaction_status, status_code, fraud) = match p.status {
        PaymentStatus::Paid => ("settlement", "200", "accept"),
        PaymentStatus::Pending => ("pending", "201", "accept"),
        PaymentStatus::Failed => ("deny", "202", "deny"),
        PaymentStatus::Expired => ("expire", "407", "accept"),
        PaymentStatus::Refunded => ("refund", "200", "accept"),
        PaymentStatus::PartiallyRefunded => ("partial_refund", "200", "accept"),
        PaymentStatus::Disputed => ("chargeback", "200", "accept"),
    };
    let gross_amount = midtrans_gross_amount(p);
    let signature_key =
        midtrans::signature_key(&p.order_id, status_code, &gross_amount, server_key);
    let body = json!({
        "transaction_time": "2026-11-25 16:00:00",
        "transaction_status": transaction_status,
        "transaction_id": p.event_id,
        "status_message": "midtrans payment notification",
        "status_code": status_code,
        "signature_key": signature_key,
        "payment_type": "bank_transfer",
        "order_id": p.order_id,
        "merchant_id": "G000000000",
        "gross_amount": gross_amount,
        "fraud_status": fraud,
        "currency": p.currency,
        "va_numbers": [{ "bank": "bca", "va_number": "12345678901" }],
    });
    serde_json::to_vec_pretty(&body).expect("serializable")
}

/// A Xendit invoice callback body.
pub fn xendit_invoice_body(p: &TestPayment) -> Vec<u8> {
    let status = match p.status {
        PaymentStatus::Paid => "PAID",
        PaymentStatus::Pending => "PENDING",
        PaymentStatus::Expired => "EXPIRED",
        PaymentStatus::Failed => "FAILED",
        PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => "REFUNDED",
        PaymentStatus::Disputed => "DISPUTED",
    };
    let exp = karcis_exponent(&p.currency).unwrap_or(2);
    let amount: Value = serde_json::from_str(&format_decimal(p.amount, exp)).expect("number");
    let mut body = json!({
        "id": p.event_id, "external_id": p.order_id, "user_id": "5781d19b2e2385880609791c",
        "is_high": false, "status": status, "merchant_name": "karcis test", "amount": amount,
        "currency": p.currency, "created": "2026-11-25T09:00:00.000Z", "updated": "2026-11-25T09:05:00.000Z",
        "description": "karcis tickets",
    });
    if p.status == PaymentStatus::Paid {
        body["paid_amount"] = amount;
        body["payment_method"] = json!("BANK_TRANSFER");
        body["bank_code"] = json!("BCA");
        body["paid_at"] = json!("2026-11-25T09:05:00.000Z");
    }
    serde_json::to_vec_pretty(&body).expect("serializable")
}

/// A DOKU non-SNAP notification body (virtual account sample shape).
pub fn doku_notification_body(p: &TestPayment) -> Vec<u8> {
    let status = match p.status {
        PaymentStatus::Paid => "SUCCESS",
        PaymentStatus::Pending => "PENDING",
        PaymentStatus::Failed => "FAILED",
        PaymentStatus::Expired => "EXPIRED",
        PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded => "REFUNDED",
        PaymentStatus::Disputed => "CHARGEBACK",
    };
    let exp = karcis_exponent(&p.currency).unwrap_or(2);
    let amount: Value = serde_json::from_str(&format_decimal(p.amount, exp)).expect("number");
    let body = json!({
        "service": { "id": "VIRTUAL_ACCOUNT" },
        "acquirer": { "id": "BCA" },
        "channel": { "id": "VIRTUAL_ACCOUNT_BCA" },
        "order": { "invoice_number": p.order_id, "amount": amount, "currency": p.currency },
        "virtual_account_info": { "virtual_account_number": "1900600000000046" },
        "virtual_account_payment": { "date": "20261125160000", "channel_code": "", "reference_number": "00000004", "systrace_number": "40000" },
        "transaction": {
            "status": status, "date": "2026-11-25T09:05:00Z",
            "original_request_id": format!("karcis-{}", p.order_id),
        },
    });
    serde_json::to_vec_pretty(&body).expect("serializable")
}

/// Signs `p` as `provider` would deliver it at time `now`.
pub fn signed_webhook(
    provider: Provider,
    secrets: &GatewaySecrets,
    p: &TestPayment,
    now: u64,
) -> SignedWebhook {
    let path = provider.webhook_path();
    let json_type = ("Content-Type".to_owned(), "application/json".to_owned());
    match provider {
        Provider::Stripe => {
            let s = secrets.stripe().expect("stripe configured");
            let body = stripe_event_body(p, now);
            let secret_list: Vec<&str> = s
                .webhook_secrets
                .iter()
                .map(super::Secret::expose)
                .collect();
            let header = stripe_signature_header(&secret_list[..1], now, &body);
            SignedWebhook {
                provider,
                headers: vec![json_type, ("Stripe-Signature".into(), header)],
                body,
                path,
            }
        }
        Provider::Midtrans => {
            let s = secrets.midtrans().expect("midtrans configured");
            let body = midtrans_notification_body(s.server_key.expose(), p);
            SignedWebhook {
                provider,
                headers: vec![json_type],
                body,
                path,
            }
        }
        Provider::Xendit => {
            let s = secrets.xendit().expect("xendit configured");
            let body = xendit_invoice_body(p);
            let token = (
                "x-callback-token".to_owned(),
                s.callback_token.expose().to_owned(),
            );
            SignedWebhook {
                provider,
                headers: vec![json_type, token],
                body,
                path,
            }
        }
        Provider::Doku => {
            let s = secrets.doku().expect("doku configured");
            let body = doku_notification_body(p);
            let timestamp = super::iso8601_utc(now);
            let request_id = p.event_id.clone();
            let sig = doku::signature(
                s.secret_key.as_bytes(),
                &s.client_id,
                &request_id,
                &timestamp,
                &path,
                &body,
            );
            SignedWebhook {
                provider,
                headers: vec![
                    json_type,
                    ("Client-Id".into(), s.client_id.clone()),
                    ("Request-Id".into(), request_id),
                    ("Request-Timestamp".into(), timestamp),
                    ("Signature".into(), sig),
                ],
                body,
                path,
            }
        }
    }
}
