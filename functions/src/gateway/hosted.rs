//! Hosted payment pages: what checkout hands the buyer to pay at the gateway; and the status
//! APIs payment-callback confirms a Midtrans or Xendit `paid` with.
//!
//! Each provider module builds its documented "create payment" (and "get status") request and
//! parses the answer (pure functions); [`create_hosted_payment`] and [`fetch_payment_state`] send
//! them through an [`HttpTransport`], so tests run them against a local stub server on 127.0.0.1
//! that answers as the provider documents ([`super::stub`]).

use std::fmt;
use std::future::Future;

use super::{doku, midtrans, stripe, xendit, GatewayError, GatewaySecrets, PaymentState, Provider};

/// What karcis asks a gateway to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedPaymentRequest {
    /// Karcis order id; the gateway echoes it back in its notifications.
    pub order_id: String,
    /// Karcis minor units of `currency`.
    pub amount: u64,
    /// Upper-case ISO 4217 code.
    pub currency: String,
    /// Shown to the buyer on the payment page (no personal data).
    pub description: String,
    /// Unix seconds after which the reservation lapses and the page should stop taking payment.
    pub expires_at: u64,
    /// Where the gateway sends the buyer back after paying / giving up.
    pub success_url: String,
    pub cancel_url: String,
}

/// A payment page created at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedPayment {
    pub provider: Provider,
    /// The gateway's reference (Checkout Session id, Snap token, invoice id, Doku token id).
    pub reference: String,
    /// Where to send the buyer.
    pub redirect_url: String,
}

/// Base URLs of the gateway APIs (overridable so tests talk to a loopback stub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayEndpoints {
    pub stripe: String,
    pub midtrans_snap: String,
    /// Midtrans' Core API host (the Get Status API), not the Snap host.
    pub midtrans_api: String,
    pub xendit: String,
    pub doku: String,
}

impl GatewayEndpoints {
    /// The providers' production hosts.
    pub fn production() -> Self {
        GatewayEndpoints {
            stripe: "https://api.stripe.com".into(),
            midtrans_snap: "https://app.midtrans.com".into(),
            midtrans_api: "https://api.midtrans.com".into(),
            xendit: "https://api.xendit.co".into(),
            doku: "https://api.doku.com".into(),
        }
    }

    /// The providers' sandbox hosts (Stripe and Xendit select test mode by the key instead).
    pub fn sandbox() -> Self {
        GatewayEndpoints {
            stripe: "https://api.stripe.com".into(),
            midtrans_snap: "https://app.sandbox.midtrans.com".into(),
            midtrans_api: "https://api.sandbox.midtrans.com".into(),
            xendit: "https://api.xendit.co".into(),
            doku: "https://api-sandbox.doku.com".into(),
        }
    }

    /// The production hosts, or the sandbox hosts when `GATEWAY_SANDBOX` is `1` (`lookup` reads
    /// the environment).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        if lookup("GATEWAY_SANDBOX").is_some_and(|v| v.trim() == "1") {
            Self::sandbox()
        } else {
            Self::production()
        }
    }

    /// Every provider at one base URL (a local stub).
    pub fn all_at(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        GatewayEndpoints {
            stripe: base.clone(),
            midtrans_snap: base.clone(),
            midtrans_api: base.clone(),
            xendit: base.clone(),
            doku: base,
        }
    }
}

/// An outgoing HTTP request. `Debug` redacts header values (they carry API keys).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one HTTP request. Implementations must apply a timeout and bound the response size.
pub trait HttpTransport {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, GatewayError>> + Send;
}

/// Builds the provider's documented "create payment" request.
pub fn build_create_request(
    provider: Provider,
    secrets: &GatewaySecrets,
    endpoints: &GatewayEndpoints,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HttpRequest, GatewayError> {
    validate(request, now)?;
    match provider {
        Provider::Stripe => {
            stripe::checkout_session_request(&endpoints.stripe, secrets.stripe()?, request, now)
        }
        Provider::Midtrans => {
            midtrans::snap_request(&endpoints.midtrans_snap, secrets.midtrans()?, request, now)
        }
        Provider::Xendit => {
            xendit::invoice_request(&endpoints.xendit, secrets.xendit()?, request, now)
        }
        Provider::Doku => doku::checkout_request(&endpoints.doku, secrets.doku()?, request, now),
    }
}

/// Parses the provider's answer to [`build_create_request`].
pub fn parse_create_response(
    provider: Provider,
    response: &HttpResponse,
) -> Result<HostedPayment, GatewayError> {
    match provider {
        Provider::Stripe => stripe::parse_checkout_session_response(response),
        Provider::Midtrans => midtrans::parse_snap_response(response),
        Provider::Xendit => xendit::parse_invoice_response(response),
        Provider::Doku => doku::parse_checkout_response(response),
    }
}

/// Creates a hosted payment page at `provider`.
pub async fn create_hosted_payment<T: HttpTransport>(
    transport: &T,
    provider: Provider,
    secrets: &GatewaySecrets,
    endpoints: &GatewayEndpoints,
    request: &HostedPaymentRequest,
    now: u64,
) -> Result<HostedPayment, GatewayError> {
    let http = build_create_request(provider, secrets, endpoints, request, now)?;
    let response = transport.send(http).await?;
    parse_create_response(provider, &response)
}

/// The provider's status API request for a payment (see
/// [`Provider::confirms_with_status_api`]): Midtrans by `order_id`, Xendit by the invoice id
/// (`reference`). Stripe and DOKU notifications are signed in full and are not confirmed.
pub fn build_status_request(
    provider: Provider,
    secrets: &GatewaySecrets,
    endpoints: &GatewayEndpoints,
    order_id: &str,
    reference: &str,
) -> Result<HttpRequest, GatewayError> {
    match provider {
        Provider::Midtrans => {
            midtrans::status_request(&endpoints.midtrans_api, secrets.midtrans()?, order_id)
        }
        Provider::Xendit => {
            xendit::invoice_status_request(&endpoints.xendit, secrets.xendit()?, reference)
        }
        Provider::Stripe | Provider::Doku => Err(GatewayError::InvalidRequest(
            "no status API is used for this provider",
        )),
    }
}

/// Parses the answer to [`build_status_request`]; `None` when the provider does not know the
/// payment.
pub fn parse_status_response(
    provider: Provider,
    response: &HttpResponse,
) -> Result<Option<PaymentState>, GatewayError> {
    match provider {
        Provider::Midtrans => midtrans::parse_status_response(response),
        Provider::Xendit => xendit::parse_invoice_status(response),
        Provider::Stripe | Provider::Doku => Err(GatewayError::InvalidRequest(
            "no status API is used for this provider",
        )),
    }
}

/// Asks the provider's status API about a payment. A transport failure or an error answer is
/// an error (retry later), never a "not paid".
pub async fn fetch_payment_state<T: HttpTransport>(
    transport: &T,
    provider: Provider,
    secrets: &GatewaySecrets,
    endpoints: &GatewayEndpoints,
    order_id: &str,
    reference: &str,
) -> Result<Option<PaymentState>, GatewayError> {
    let http = build_status_request(provider, secrets, endpoints, order_id, reference)?;
    let response = transport.send(http).await?;
    parse_status_response(provider, &response)
}

fn validate(request: &HostedPaymentRequest, now: u64) -> Result<(), GatewayError> {
    super::validate_order_id(&request.order_id)
        .map_err(|_| GatewayError::InvalidRequest("order_id"))?;
    if super::money::karcis_exponent(&request.currency).is_none() {
        return Err(GatewayError::UnsupportedCurrency);
    }
    if request.amount == 0 || request.amount > super::money::MAX_AMOUNT {
        return Err(GatewayError::InvalidRequest("amount"));
    }
    if request.expires_at <= now {
        return Err(GatewayError::InvalidRequest("expires_at is in the past"));
    }
    if request.description.is_empty() || request.description.len() > 200 {
        return Err(GatewayError::InvalidRequest("description"));
    }
    for url in [&request.success_url, &request.cancel_url] {
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
            return Err(GatewayError::InvalidRequest("return url"));
        }
    }
    Ok(())
}

/// The JSON body of a response, or the matching error for its status.
pub(crate) fn json_body(
    response: &HttpResponse,
    ok: &[u16],
) -> Result<serde_json::Value, GatewayError> {
    if !ok.contains(&response.status) {
        return Err(GatewayError::Rejected {
            status: response.status,
        });
    }
    serde_json::from_slice(&response.body)
        .map_err(|_| GatewayError::UnexpectedResponse("body is not JSON"))
}

/// A string field at a JSON pointer, non-empty and bounded.
pub(crate) fn str_at<'v>(
    value: &'v serde_json::Value,
    pointer: &str,
) -> Result<&'v str, GatewayError> {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 4096)
        .ok_or(GatewayError::UnexpectedResponse(
            "missing field in gateway response",
        ))
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
pub(crate) fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

/// `Basic` authorization with `user` and an empty password (Midtrans, Xendit).
pub(crate) fn basic_auth(user: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode("line_items[0][price_data]"),
            "line_items%5B0%5D%5Bprice_data%5D"
        );
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn basic_auth_is_user_colon() {
        // base64("SB-Mid-server-abc:")
        assert_eq!(
            basic_auth("SB-Mid-server-abc"),
            "Basic U0ItTWlkLXNlcnZlci1hYmM6"
        );
    }

    #[test]
    fn debug_redacts_headers() {
        let r = HttpRequest {
            method: "POST",
            url: "https://x".into(),
            headers: vec![("Authorization".into(), "Bearer sk_live_abc".into())],
            body: vec![],
        };
        assert!(!format!("{r:?}").contains("sk_live_abc"));
    }
}
