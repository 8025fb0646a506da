//! A local stand-in for the four gateways' create-payment APIs and for the Midtrans and Xendit
//! status APIs, on 127.0.0.1: it checks each request's authentication as the provider documents
//! (Stripe bearer key, Midtrans and Xendit basic auth, DOKU's `Signature` header) and answers
//! with the documented response shape. Tests and the demo point
//! [`super::hosted::GatewayEndpoints::all_at`] at it.
//!
//! It remembers the payments it created (pending at first); [`StubPayments::set_status`] plays
//! the buyer paying (or the payment failing, expiring, being refunded), and the status APIs
//! answer from that: Midtrans `GET /v2/{order_id}/status`, Xendit `GET /v2/invoices/{id}`.
//!
//! At the payment URL each create answer hands out it serves a minimal hosted page ([`page`]),
//! labelled as the local stand-in for the provider's page: its "Pay" button marks the payment
//! paid, delivers the provider's signed `paid` notification to the URL given to
//! [`GatewayStub::notify_to`], and sends the buyer back to the order's success URL.

mod page;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::hosted::basic_auth;
use super::{doku, GatewaySecrets, PaymentStatus, Provider};

/// A payment the stub created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubPayment {
    pub provider: Provider,
    /// The gateway's id (Checkout Session id, Snap token, invoice id, DOKU token id).
    pub reference: String,
    /// The amount as the create request gave it (Stripe minor units, others major units).
    pub amount: Value,
    pub currency: String,
    pub status: PaymentStatus,
    /// Midtrans: the card the buyer paid with (`masked_card`, first 6 and last 4 digits).
    pub masked_card: Option<String>,
    /// Where the hosted page sends the buyer after paying (the create request's success URL).
    pub return_url: Option<String>,
}

/// The payments a stub created, by order id. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct StubPayments(Arc<Mutex<HashMap<String, StubPayment>>>);

impl StubPayments {
    /// Sets the status of the payment created for `order_id` (as the buyer paying would);
    /// `false` if the stub created none.
    pub fn set_status(&self, order_id: &str, status: PaymentStatus) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return false;
        };
        map.get_mut(order_id).map(|p| p.status = status).is_some()
    }

    /// The buyer pays `order_id`'s payment by card `masked_card` (Midtrans).
    pub fn set_card(&self, order_id: &str, masked_card: &str) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return false;
        };
        map.get_mut(order_id)
            .map(|p| p.masked_card = Some(masked_card.to_owned()))
            .is_some()
    }

    /// The payment created for `order_id`.
    pub fn get(&self, order_id: &str) -> Option<StubPayment> {
        self.0.lock().ok()?.get(order_id).cloned()
    }

    fn insert(&self, order_id: &str, payment: StubPayment) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(order_id.to_owned(), payment);
        }
    }

    fn find(
        &self,
        provider: Provider,
        matches: impl Fn(&str, &StubPayment) -> bool,
    ) -> Option<(String, StubPayment)> {
        let map = self.0.lock().ok()?;
        map.iter()
            .find(|(order, p)| p.provider == provider && matches(order, p))
            .map(|(order, p)| (order.clone(), p.clone()))
    }
}

/// A request the stub accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Clone)]
struct StubState {
    secrets: Arc<GatewaySecrets>,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    payments: StubPayments,
    base_url: String,
    /// The API base the hosted page's "Pay" delivers the signed notification to.
    notify_url: Arc<Mutex<Option<String>>>,
}

/// A running stub.
#[derive(Debug)]
pub struct GatewayStub {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    payments: StubPayments,
    notify_url: Arc<Mutex<Option<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl GatewayStub {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start(secrets: GatewaySecrets) -> std::io::Result<GatewayStub> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let payments = StubPayments::default();
        let notify_url = Arc::new(Mutex::new(None));
        let state = StubState {
            secrets: Arc::new(secrets),
            recorded: Arc::clone(&recorded),
            payments: payments.clone(),
            base_url: format!("http://{addr}"),
            notify_url: Arc::clone(&notify_url),
        };
        let app = Router::new()
            .route("/v1/checkout/sessions", post(stripe_session))
            .route("/snap/v1/transactions", post(midtrans_snap))
            .route("/v2/invoices", post(xendit_invoice))
            // Xendit `GET /v2/invoices/{id}` and Midtrans `GET /v2/{order_id}/status`.
            .route("/v2/{first}/{second}", get(status_api))
            .route(doku::CHECKOUT_TARGET, post(doku_checkout))
            // The hosted pages, at the URLs the create answers hand out.
            .route("/pay/stripe/{id}", get(page::show).post(page::pay))
            .route("/snap/v4/redirection/{id}", get(page::show).post(page::pay))
            .route("/web/{id}", get(page::show).post(page::pay))
            .route("/checkout/link/{id}", get(page::show).post(page::pay))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(GatewayStub {
            addr,
            recorded,
            payments,
            notify_url,
            task,
        })
    }

    /// Where the hosted pages' "Pay" delivers the signed notifications: the API base URL
    /// (`http://127.0.0.1:<port>`), to which each provider's webhook path is appended.
    pub fn notify_to(&self, api_base: &str) {
        if let Ok(mut url) = self.notify_url.lock() {
            *url = Some(api_base.trim_end_matches('/').to_owned());
        }
    }

    /// The payments this stub created (clone it to keep it after the stub is dropped).
    pub fn payments(&self) -> StubPayments {
        self.payments.clone()
    }

    /// Sets the status of the payment created for `order_id`; `false` if there is none.
    pub fn set_status(&self, order_id: &str, status: PaymentStatus) -> bool {
        self.payments.set_status(order_id, status)
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests accepted so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for GatewayStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn record(state: &StubState, path: &str, headers: &HeaderMap, body: &Bytes) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    if let Ok(mut r) = state.recorded.lock() {
        r.push(Recorded {
            path: path.to_owned(),
            headers,
            body: body.to_vec(),
        });
    }
}

fn reject(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Stripe: `Authorization: Bearer <secret key>`, form body; answers the Session object.
async fn stripe_session(State(s): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(stripe) = s.secrets.stripe() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if header(&headers, "authorization") != format!("Bearer {}", stripe.api_key.expose()) {
        return reject(
            StatusCode::UNAUTHORIZED,
            json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}),
        );
    }
    if header(&headers, "idempotency-key").is_empty()
        || header(&headers, "content-type") != "application/x-www-form-urlencoded"
    {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error": {"type": "invalid_request_error"}}),
        );
    }
    record(&s, "/v1/checkout/sessions", &headers, &body);
    let form = String::from_utf8_lossy(&body);
    let field = |name: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or("")
            .to_owned()
    };
    let order = field("client_reference_id");
    let id = format!("cs_test_{order}");
    s.payments.insert(
        &order,
        StubPayment {
            provider: Provider::Stripe,
            reference: id.clone(),
            amount: json!(field("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D")
                .parse::<u64>()
                .unwrap_or(0)),
            currency: field("line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D").to_ascii_uppercase(),
            status: PaymentStatus::Pending,
            masked_card: None,
            return_url: page::form_decode(&field("success_url")),
        },
    );
    Json(json!({
        "id": id, "object": "checkout.session", "mode": "payment",
        "client_reference_id": order, "payment_status": "unpaid", "status": "open",
        "amount_total": field("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D").parse::<u64>().unwrap_or(0),
        "currency": field("line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D"),
        "expires_at": field("expires_at").parse::<u64>().unwrap_or(0),
        "url": format!("{}/pay/stripe/{id}", s.base_url),
    }))
    .into_response()
}

/// Midtrans Snap: `Authorization: Basic base64(server key + ":")`; answers 201 token + URL.
async fn midtrans_snap(State(s): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(midtrans) = s.secrets.midtrans() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if header(&headers, "authorization") != basic_auth(midtrans.server_key.expose()) {
        return reject(
            StatusCode::UNAUTHORIZED,
            json!({"error_messages": ["Access denied due to unauthorized transaction, please check client or server key"]}),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error_messages": ["invalid JSON"]}),
        );
    };
    if !request["transaction_details"]["gross_amount"].is_u64() {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error_messages": ["transaction_details.gross_amount is not an integer"]}),
        );
    }
    record(&s, "/snap/v1/transactions", &headers, &body);
    let order = request["transaction_details"]["order_id"]
        .as_str()
        .unwrap_or("");
    let token = format!("snap-{order}");
    s.payments.insert(
        order,
        StubPayment {
            provider: Provider::Midtrans,
            reference: token.clone(),
            amount: request["transaction_details"]["gross_amount"].clone(),
            currency: "IDR".into(),
            status: PaymentStatus::Pending,
            masked_card: None,
            return_url: request["callbacks"]["finish"].as_str().map(str::to_owned),
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({ "token": token, "redirect_url": format!("{}/snap/v4/redirection/{token}", s.base_url) })),
    )
        .into_response()
}

/// Xendit: `Authorization: Basic base64(secret key + ":")`; answers the invoice.
async fn xendit_invoice(State(s): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(xendit) = s.secrets.xendit() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if header(&headers, "authorization") != basic_auth(xendit.api_key.expose()) {
        return reject(
            StatusCode::UNAUTHORIZED,
            json!({"error_code": "INVALID_API_KEY", "message": "API key is invalid"}),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error_code": "API_VALIDATION_ERROR"}),
        );
    };
    record(&s, "/v2/invoices", &headers, &body);
    let order = request["external_id"].as_str().unwrap_or("");
    let id = format!("inv-{order}");
    s.payments.insert(
        order,
        StubPayment {
            provider: Provider::Xendit,
            reference: id.clone(),
            amount: request["amount"].clone(),
            currency: request["currency"].as_str().unwrap_or("").to_owned(),
            status: PaymentStatus::Pending,
            masked_card: None,
            return_url: request["success_redirect_url"].as_str().map(str::to_owned),
        },
    );
    Json(json!({
        "id": id, "external_id": request["external_id"], "status": "PENDING",
        "amount": request["amount"], "currency": request["currency"],
        "invoice_url": format!("{}/web/{id}", s.base_url),
    }))
    .into_response()
}

/// DOKU Checkout: verifies the request `Signature` exactly as DOKU does.
async fn doku_checkout(State(s): State<StubState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(d) = s.secrets.doku() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let expected = doku::signature(
        d.secret_key.as_bytes(),
        header(&headers, "client-id"),
        header(&headers, "request-id"),
        header(&headers, "request-timestamp"),
        doku::CHECKOUT_TARGET,
        &body,
    );
    if header(&headers, "client-id") != d.client_id || header(&headers, "signature") != expected {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Invalid Header Signature"}}),
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return reject(
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "invalid JSON"}}),
        );
    };
    record(&s, doku::CHECKOUT_TARGET, &headers, &body);
    let order = request["order"]["invoice_number"].as_str().unwrap_or("");
    let token = format!("doku-{order}");
    s.payments.insert(
        order,
        StubPayment {
            provider: Provider::Doku,
            reference: token.clone(),
            amount: request["order"]["amount"].clone(),
            currency: "IDR".into(),
            status: PaymentStatus::Pending,
            masked_card: None,
            return_url: request["order"]["callback_url"].as_str().map(str::to_owned),
        },
    );
    Json(json!({
        "message": ["SUCCESS"],
        "response": {
            "order": { "amount": request["order"]["amount"], "invoice_number": request["order"]["invoice_number"], "currency": "IDR" },
            "payment": {
                "payment_method_types": ["VIRTUAL_ACCOUNT_BCA"],
                "payment_due_date": request["payment"]["payment_due_date"],
                "token_id": token,
                "url": format!("{}/checkout/link/{token}", s.base_url),
            },
            "headers": { "request_id": header(&headers, "request-id"), "client_id": d.client_id },
        },
    }))
    .into_response()
}

/// `GET /v2/invoices/{id}` (Xendit) or `GET /v2/{order_id}/status` (Midtrans).
async fn status_api(
    State(s): State<StubState>,
    Path((first, second)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if first == "invoices" {
        xendit_get_invoice(&s, &second, &headers)
    } else if second == "status" {
        midtrans_status(&s, &first, &headers)
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// Midtrans Get Status API: basic auth with the server key; the transaction's fields, or
/// `status_code` 404 for an order Midtrans does not know.
fn midtrans_status(s: &StubState, order_id: &str, headers: &HeaderMap) -> Response {
    let Ok(midtrans) = s.secrets.midtrans() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if header(headers, "authorization") != basic_auth(midtrans.server_key.expose()) {
        return reject(
            StatusCode::UNAUTHORIZED,
            json!({"status_code": "401", "status_message": "Access denied due to unauthorized transaction, please check client or server key"}),
        );
    }
    let Some((order, p)) = s
        .payments
        .find(Provider::Midtrans, |order, _| order == order_id)
    else {
        return reject(
            StatusCode::NOT_FOUND,
            json!({"status_code": "404", "status_message": "Transaction doesn't exist."}),
        );
    };
    let (status_code, transaction_status) = match p.status {
        PaymentStatus::Paid => ("200", "settlement"),
        PaymentStatus::Pending => ("201", "pending"),
        PaymentStatus::Failed => ("202", "deny"),
        PaymentStatus::Expired => ("407", "expire"),
        PaymentStatus::Refunded => ("200", "refund"),
        PaymentStatus::PartiallyRefunded => ("200", "partial_refund"),
        PaymentStatus::Disputed => ("200", "chargeback"),
    };
    let mut body = json!({
        "status_code": status_code,
        "status_message": "Success, transaction is found",
        "transaction_id": format!("tx-{order}"),
        "order_id": order,
        "payment_type": "bank_transfer",
        "transaction_time": "2026-11-25 16:00:00",
        "transaction_status": transaction_status,
        "fraud_status": "accept",
        "gross_amount": format!("{}.00", p.amount.as_u64().unwrap_or(0)),
        "currency": p.currency,
    });
    if let Some(card) = &p.masked_card {
        // A card payment answers its card as Midtrans documents (`masked_card`, `bank`).
        body["payment_type"] = json!("credit_card");
        body["masked_card"] = json!(card);
        body["bank"] = json!("bni");
        body["card_type"] = json!("credit");
    }
    Json(body).into_response()
}

/// Xendit Get Invoice: basic auth with the secret API key; the invoice, or 404.
fn xendit_get_invoice(s: &StubState, invoice_id: &str, headers: &HeaderMap) -> Response {
    let Ok(xendit) = s.secrets.xendit() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if header(headers, "authorization") != basic_auth(xendit.api_key.expose()) {
        return reject(
            StatusCode::UNAUTHORIZED,
            json!({"error_code": "INVALID_API_KEY", "message": "API key is invalid"}),
        );
    }
    let Some((order, p)) = s
        .payments
        .find(Provider::Xendit, |_, p| p.reference == invoice_id)
    else {
        return reject(
            StatusCode::NOT_FOUND,
            json!({"error_code": "INVOICE_NOT_FOUND_ERROR", "message": "Invoice not found"}),
        );
    };
    let status = match p.status {
        PaymentStatus::Paid => "PAID",
        PaymentStatus::Expired | PaymentStatus::Failed => "EXPIRED",
        PaymentStatus::Pending
        | PaymentStatus::Refunded
        | PaymentStatus::PartiallyRefunded
        | PaymentStatus::Disputed => "PENDING",
    };
    let mut invoice = json!({
        "id": p.reference, "external_id": order, "status": status,
        "amount": p.amount, "currency": p.currency,
        "invoice_url": format!("{}/web/{}", s.base_url, p.reference),
    });
    if p.status == PaymentStatus::Paid {
        invoice["paid_amount"] = p.amount.clone();
        invoice["payment_method"] = json!("BANK_TRANSFER");
    }
    Json(invoice).into_response()
}
