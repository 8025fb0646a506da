//! Payment gateways: webhook verification and hosted-payment adapters.
//!
//! One module per provider ([`stripe`], [`midtrans`], [`xendit`], [`doku`]), each verifying a
//! webhook exactly as the provider documents *before* any field of it is trusted, then turning it
//! into one normalized [`PaymentNotification`]. Pure logic: no I/O, the clock is an argument
//! (`now`, unix seconds). The only I/O is the hosted-payment HTTP call, which goes through the
//! small [`hosted::HttpTransport`] trait.
//!
//! Replays: where a provider signs a time (Stripe's `t=`, DOKU's `Request-Timestamp`) it must be
//! within [`REPLAY_WINDOW_SECS`] of now; the callback handler also remembers notification ids.
//! Where a provider signs only some fields (Midtrans) or nothing but a shared token (Xendit), a
//! `paid` is confirmed with the provider's status API before anything changes
//! ([`Provider::confirms_with_status_api`], [`hosted::fetch_payment_state`]).
//!
//! Money: amounts are integers in karcis minor units ([`money::karcis_exponent`]; IDR has
//! exponent 0), currencies are upper-case ISO 4217 codes. An amount with a fraction the currency
//! does not allow is rejected, never rounded.

pub mod adapter;
pub mod doku;
pub mod hosted;
pub mod midtrans;
pub mod money;
pub mod stripe;
pub mod transport;
pub mod xendit;

pub(crate) mod crypto;
mod secrets;

#[cfg(any(test, feature = "testing"))]
pub mod stub;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod webhook_tests;

use std::fmt;
use std::str::FromStr;

pub use secrets::{
    DokuSecrets, GatewaySecrets, MidtransSecrets, Secret, StripeSecrets, XenditSecrets,
};

/// A payment gateway karcis speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Stripe,
    Midtrans,
    Xendit,
    Doku,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Stripe,
        Provider::Midtrans,
        Provider::Xendit,
        Provider::Doku,
    ];

    /// Lower-case name, as used in the route `POST /v1/webhooks/{provider}` and in stored items.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Midtrans => "midtrans",
            Provider::Xendit => "xendit",
            Provider::Doku => "doku",
        }
    }
}

impl Provider {
    /// Whether a `paid` notification of this provider must be confirmed with the provider's
    /// status API before an order is marked paid. Midtrans signs only `order_id`, `status_code`
    /// and `gross_amount` (not `transaction_status`); Xendit authenticates callbacks with one
    /// static token. Stripe and DOKU sign the whole body together with a time.
    pub const fn confirms_with_status_api(self) -> bool {
        matches!(self, Provider::Midtrans | Provider::Xendit)
    }

    /// Whether this provider's payment notifications name the reference checkout stored
    /// (`PaymentReference::reference`): Stripe's Checkout Session id, Xendit's invoice id.
    /// Midtrans (Snap token) and DOKU (Checkout `token_id`) notifications name the payment only
    /// by the merchant's order id.
    pub const fn notifications_name_checkout_reference(self) -> bool {
        matches!(self, Provider::Stripe | Provider::Xendit)
    }

    /// The path of this provider's notification URL (`POST /v1/webhooks/{provider}`); DOKU signs
    /// it as `Request-Target`.
    pub fn webhook_path(self) -> String {
        format!("/v1/webhooks/{}", self.as_str())
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = GatewayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(GatewayError::UnknownProvider)
    }
}

/// What a verified notification says happened to the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    /// Money captured/settled: the order may be fulfilled.
    Paid,
    /// Waiting for the buyer or for the gateway (e.g. a bank transfer not yet made, a card under
    /// fraud review).
    Pending,
    /// Declined, denied or cancelled at the gateway.
    Failed,
    /// The hosted payment page expired without payment.
    Expired,
    /// The gateway refunded the payment in full.
    Refunded,
    /// The gateway refunded part of the payment (the order stands; the refund is recorded).
    PartiallyRefunded,
    /// The buyer disputed the payment with their bank (chargeback).
    Disputed,
}

impl PaymentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "paid",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Disputed => "disputed",
        }
    }
}

/// A verified gateway notification, normalized across providers. Holds only the gateway's
/// references, never card data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentNotification {
    pub provider: Provider,
    /// Unique per delivery of one event at the provider; retries of the same event repeat it.
    /// The callback handler dedupes on (provider, provider_event_id).
    pub provider_event_id: String,
    /// The gateway's id of the payment / session / invoice (a reference, not card data).
    pub provider_reference: String,
    /// The karcis order id the payment is for.
    pub order_id: String,
    /// Karcis minor units of `currency` (see [`money::karcis_exponent`]).
    pub amount: u64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    pub status: PaymentStatus,
    /// The gateway's id of the underlying payment when the notification names one besides
    /// `provider_reference` (Stripe: the PaymentIntent of a Checkout Session or a charge).
    pub payment_id: Option<String>,
}

impl PaymentStatus {
    /// A refund or dispute of a payment (as opposed to the payment's own progress).
    pub const fn is_reversal(self) -> bool {
        matches!(
            self,
            PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded | PaymentStatus::Disputed
        )
    }
}

/// What a provider's status API says about a payment. Asked with karcis' own API key over TLS,
/// so every field is the provider's word (unlike an unsigned notification field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentState {
    pub provider: Provider,
    pub status: PaymentStatus,
    /// The merchant order id the provider holds for the payment.
    pub order_id: String,
    /// The provider's id of the payment (Midtrans `transaction_id`, Xendit invoice `id`).
    pub reference: String,
    /// Karcis minor units of `currency`.
    pub amount: u64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    /// The provider's reference of the card that paid, when it gives a reusable one (Midtrans
    /// `masked_card`); see [`crate::fraud::blacklist`] for what each provider gives.
    pub card: Option<String>,
}

/// The result of verifying a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A payment status update for an order.
    Payment(PaymentNotification),
    /// Authentic, but about something karcis does not act on (another event type).
    Ignored {
        provider: Provider,
        provider_event_id: String,
        event_type: String,
    },
}

/// A received webhook, as the verifiers need it: the raw headers, the raw body bytes exactly as
/// received (never a re-serialization), and the request target (path) it was sent to.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// Path of the notification URL as configured at the provider, e.g. `/v1/webhooks/doku`
    /// (Doku signs it as `Request-Target`).
    pub request_target: &'a str,
}

impl<'a> WebhookRequest<'a> {
    /// The value of a header (case-insensitive name). A header that appears twice is refused: an
    /// authentication header must not be ambiguous.
    pub fn header(&self, name: &'static str) -> Result<Option<&'a str>, GatewayError> {
        let mut found = None;
        for (k, v) in self.headers {
            if k.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(GatewayError::DuplicateHeader(name));
                }
                found = Some(*v);
            }
        }
        Ok(found)
    }

    pub fn required_header(&self, name: &'static str) -> Result<&'a str, GatewayError> {
        self.header(name)?.ok_or(GatewayError::MissingHeader(name))
    }
}

/// Verifies a webhook from `provider` with the configured secrets and returns what it says.
/// Nothing in the body is trusted before the signature (or token) checks out.
pub fn verify_webhook(
    provider: Provider,
    secrets: &GatewaySecrets,
    request: &WebhookRequest<'_>,
    now: u64,
) -> Result<WebhookEvent, GatewayError> {
    match provider {
        Provider::Stripe => stripe::verify(request, secrets.stripe()?, now),
        Provider::Midtrans => midtrans::verify(request, secrets.midtrans()?),
        Provider::Xendit => xendit::verify(request, secrets.xendit()?),
        Provider::Doku => doku::verify(request, secrets.doku()?, now),
    }
}

/// The one error type of the gateway boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("unknown payment provider")]
    UnknownProvider,
    #[error("payment provider {0} is not configured")]
    NotConfigured(Provider),
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} appears more than once")]
    DuplicateHeader(&'static str),
    #[error("malformed signature")]
    MalformedSignature,
    #[error("signature does not match")]
    BadSignature,
    #[error("signature timestamp outside the tolerance")]
    StaleTimestamp,
    #[error("malformed payload: {0}")]
    MalformedPayload(&'static str),
    #[error("unsupported currency")]
    UnsupportedCurrency,
    #[error("invalid amount: {0}")]
    InvalidAmount(&'static str),
    #[error("invalid hosted payment request: {0}")]
    InvalidRequest(&'static str),
    #[error("gateway unreachable: {0}")]
    Transport(String),
    #[error("gateway answered HTTP {status}")]
    Rejected { status: u16 },
    #[error("unexpected gateway response: {0}")]
    UnexpectedResponse(&'static str),
    #[error("invalid gateway secrets: {0}")]
    InvalidSecrets(&'static str),
}

impl GatewayError {
    /// Stable snake_case code, used as the suffix of the problem+json `type`.
    pub const fn code(&self) -> &'static str {
        match self {
            GatewayError::UnknownProvider => "unknown_provider",
            GatewayError::NotConfigured(_) => "provider_not_configured",
            GatewayError::MissingHeader(_) => "missing_signature",
            GatewayError::DuplicateHeader(_) | GatewayError::MalformedSignature => {
                "malformed_signature"
            }
            GatewayError::BadSignature => "bad_signature",
            GatewayError::StaleTimestamp => "stale_timestamp",
            GatewayError::MalformedPayload(_) => "malformed_payload",
            GatewayError::UnsupportedCurrency => "unsupported_currency",
            GatewayError::InvalidAmount(_) => "invalid_amount",
            GatewayError::InvalidRequest(_) => "invalid_request",
            GatewayError::Transport(_) => "gateway_unavailable",
            GatewayError::Rejected { .. } => "gateway_rejected",
            GatewayError::UnexpectedResponse(_) => "gateway_bad_response",
            GatewayError::InvalidSecrets(_) => "invalid_gateway_secrets",
        }
    }

    /// True when the webhook failed authentication (answer 401, not 400).
    pub const fn is_authentication_failure(&self) -> bool {
        matches!(
            self,
            GatewayError::MissingHeader(_)
                | GatewayError::DuplicateHeader(_)
                | GatewayError::MalformedSignature
                | GatewayError::BadSignature
                | GatewayError::StaleTimestamp
        )
    }
}

/// How far a signed time (Stripe `t=`, DOKU `Request-Timestamp`) may be from now, either way:
/// five minutes (Stripe's libraries' default tolerance).
pub const REPLAY_WINDOW_SECS: u64 = 300;

/// Longest order id every gateway accepts (Midtrans `order_id` allows 50 characters).
pub const MAX_ORDER_ID_LEN: usize = 50;

/// An order id as the gateways accept it: 1..=50 of `A-Z a-z 0-9 - _ . ~` (the intersection of
/// Midtrans `order_id`, Doku `invoice_number`, Xendit `external_id`, Stripe
/// `client_reference_id`).
pub fn validate_order_id(order_id: &str) -> Result<(), GatewayError> {
    let ok = !order_id.is_empty()
        && order_id.len() <= MAX_ORDER_ID_LEN
        && order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(GatewayError::MalformedPayload("order id"))
    }
}

/// A bounded, non-empty identifier from a verified payload (event ids, references).
pub(crate) fn bounded_id(value: &str, what: &'static str) -> Result<String, GatewayError> {
    if value.is_empty() || value.len() > 256 || value.chars().any(char::is_control) {
        return Err(GatewayError::MalformedPayload(what));
    }
    Ok(value.to_owned())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time (UTC), without a date library.
pub(crate) fn iso8601_utc(unix: u64) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(unix);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// The unix time of `YYYY-MM-DDTHH:MM:SSZ` (optionally with a fraction of a second before the
/// `Z`, which is dropped). `None` for anything else, including impossible dates.
pub(crate) fn parse_iso8601_utc(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let whole = match text.split_once('.') {
        Some((whole, fraction))
            if !fraction.is_empty()
                && fraction.len() <= 9
                && fraction.bytes().all(|b| b.is_ascii_digit()) =>
        {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    let bytes = whole.as_bytes();
    if bytes.len() != 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || bytes[10] != b'T'
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = whole.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Howard Hinnant's `days_from_civil`, years from 1970 on.
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year / 400;
    let year_of_era = shifted_year - era * 400;
    let march_month = (month + 9) % 12;
    let day_of_year = (153 * march_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = (era * 146_097 + day_of_era).checked_sub(719_468)?;
    let unix = days * 86_400 + hour * 3_600 + minute * 60 + second;
    // 2026-02-30 would come back as 2026-03-02: refuse it.
    (civil_utc(unix) == (year, month, day, hour, minute, second)).then_some(unix)
}

/// Calendar date and time (UTC) of a unix time. Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_utc(unix: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d, secs / 3_600, (secs % 3_600) / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(p.as_str().parse::<Provider>(), Ok(p));
        }
        assert_eq!(
            "paypal".parse::<Provider>(),
            Err(GatewayError::UnknownProvider)
        );
        assert_eq!(
            "Stripe".parse::<Provider>(),
            Err(GatewayError::UnknownProvider)
        );
    }

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_597_135_542), "2020-08-11T08:45:42Z");
        assert_eq!(iso8601_utc(1_795_597_199), "2026-11-25T08:59:59Z");
    }

    #[test]
    fn iso8601_parses_back() {
        for unix in [0, 951_782_400, 1_597_135_542, 1_795_597_199, 4_102_444_800] {
            assert_eq!(parse_iso8601_utc(&iso8601_utc(unix)), Some(unix));
        }
        assert_eq!(
            parse_iso8601_utc("2020-08-11T08:45:42.123Z"),
            Some(1_597_135_542)
        );
        for bad in [
            "2020-08-11T08:45:42",
            "2020-08-11 08:45:42Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-25T09:00:00.Z",
            "+026-11-25T09:00:00Z",
            "2026-11-25T09:00:00+07:00",
            "",
        ] {
            assert_eq!(parse_iso8601_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn duplicate_headers_are_refused() {
        let headers = [("X-Callback-Token", "a"), ("x-callback-token", "b")];
        let req = WebhookRequest {
            headers: &headers,
            body: b"",
            request_target: "/",
        };
        assert_eq!(
            req.header("x-callback-token"),
            Err(GatewayError::DuplicateHeader("x-callback-token"))
        );
        assert_eq!(
            req.required_header("stripe-signature"),
            Err(GatewayError::MissingHeader("stripe-signature"))
        );
    }
}
