//! The stub's hosted payment page: what a buyer sees at the payment URL a create answer hands
//! out, clearly labelled as the local stand-in for the provider's page. `GET` shows the amount
//! (converted from what the provider was sent into karcis minor units, shown as Rupiah) and a
//! "Pay" button; `POST` (the button) marks the payment paid, delivers the provider's signed
//! `paid` notification to the API (as `karcis-demo pay` does) and redirects the buyer to the
//! order's success URL. Indonesian when the browser asks for it first, English otherwise.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::{StubPayment, StubState};
use crate::gateway::hosted::{HttpRequest, HttpTransport};
use crate::gateway::money::{json_number_amount, karcis_exponent, rescale, stripe_exponent};
use crate::gateway::testing::{signed_webhook, TestPayment};
use crate::gateway::transport::{HyperTransport, DEFAULT_TIMEOUT};
use crate::gateway::{PaymentStatus, Provider};
use crate::senders::templates::format_money;

/// Decodes an `application/x-www-form-urlencoded` value; `None` if it is malformed.
pub(super) fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The payment's amount in karcis minor units: Stripe's are rescaled from Stripe's exponent,
/// the others were sent in major units.
fn karcis_amount(p: &StubPayment) -> Option<u64> {
    let to = karcis_exponent(&p.currency)?;
    match p.provider {
        Provider::Stripe => rescale(p.amount.as_u64()?, stripe_exponent(&p.currency), to).ok(),
        _ => json_number_amount(p.amount.as_number()?, to).ok(),
    }
}

fn find(s: &StubState, reference: &str) -> Option<(String, StubPayment)> {
    let map = s.payments.0.lock().ok()?;
    map.iter()
        .find(|(_, p)| p.reference == reference)
        .map(|(order, p)| (order.clone(), p.clone()))
}

fn indonesian(headers: &HeaderMap) -> bool {
    super::header(headers, "accept-language")
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("id")
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "no such payment").into_response()
}

/// `GET`: the page.
pub(super) async fn show(
    State(s): State<StubState>,
    Path(reference): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some((order, p)) = find(&s, &reference) else {
        return not_found();
    };
    let Some(amount) = karcis_amount(&p) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "amount").into_response();
    };
    let id = indonesian(&headers);
    let (lang, banner, heading, order_label, amount_label, pay, paid) = if id {
        (
            "id",
            "Halaman pembayaran tiruan lokal: pengganti halaman penyedia pembayaran untuk uji dan demo. Tidak ada uang yang berpindah.",
            "Pembayaran",
            "Pesanan",
            "Jumlah",
            "Bayar",
            "Sudah dibayar.",
        )
    } else {
        (
            "en",
            "Local stand-in for the payment provider's hosted page (tests and demo). No money moves.",
            "Payment",
            "Order",
            "Amount",
            "Pay",
            "Already paid.",
        )
    };
    let action = if p.status == PaymentStatus::Pending {
        format!(
            r#"<form method="post"><button type="submit" id="stub-pay">{pay} {}</button></form>"#,
            escape(&format_money(amount, &p.currency))
        )
    } else {
        format!("<p>{paid}</p>")
    };
    let body = format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{heading} · {provider} (stub)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}}
.banner{{background:#fff3cd;border:1px solid #e0c36b;padding:.75rem;border-radius:.4rem}}
dl{{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}}dt{{color:#555}}dd{{margin:0;font-weight:600;overflow-wrap:anywhere}}
button{{font-size:1.1rem;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#1a56db;color:#fff;cursor:pointer}}</style></head>
<body><p class="banner" role="note">{banner}</p>
<h1>{heading} · {provider}</h1>
<dl><dt>{order_label}</dt><dd id="stub-order">{order}</dd><dt>{amount_label}</dt><dd id="stub-amount" data-amount-minor="{amount}" data-currency="{currency}">{money}</dd></dl>
{action}
</body></html>"#,
        provider = match p.provider {
            Provider::Stripe => "Stripe",
            Provider::Midtrans => "Midtrans",
            Provider::Xendit => "Xendit",
            Provider::Doku => "DOKU",
        },
        order = escape(&order),
        currency = escape(&p.currency),
        money = escape(&format_money(amount, &p.currency)),
    );
    ([(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

/// `POST`: the buyer pays. The signed notification goes to the API; the buyer, to the order's
/// success URL (`303`), once the API took it.
pub(super) async fn pay(State(s): State<StubState>, Path(reference): Path<String>) -> Response {
    let Some((order, p)) = find(&s, &reference) else {
        return not_found();
    };
    let Some(amount) = karcis_amount(&p) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "amount").into_response();
    };
    let Some(api) = s.notify_url.lock().ok().and_then(|u| u.clone()) else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no notification URL (GatewayStub::notify_to)",
        )
            .into_response();
    };
    s.payments.set_status(&order, PaymentStatus::Paid);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // One event per payment: a second press is the same notification (a no-op at the API).
    let payment = TestPayment::paid(&order, amount, &p.currency)
        .with_event_id(&format!("evt_stub_{}", p.reference));
    let hook = signed_webhook(p.provider, &s.secrets, &payment, now);
    let delivered = match HyperTransport::new(DEFAULT_TIMEOUT) {
        Ok(transport) => {
            transport
                .send(HttpRequest {
                    method: "POST",
                    url: format!("{api}{}", hook.path),
                    headers: hook.headers.clone(),
                    body: hook.body.clone(),
                })
                .await
        }
        Err(e) => Err(e),
    };
    match (delivered, p.return_url) {
        (Ok(r), Some(url)) if r.status == 200 => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response()
        }
        (Ok(r), None) if r.status == 200 => (StatusCode::OK, "paid").into_response(),
        (Ok(r), _) => (
            StatusCode::BAD_GATEWAY,
            format!("the payment callback answered {}", r.status),
        )
            .into_response(),
        (Err(e), _) => (StatusCode::BAD_GATEWAY, format!("notification: {e}")).into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{SystemTime, UNIX_EPOCH};

    use axum::routing::post;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::super::GatewayStub;
    use crate::gateway::hosted::{create_hosted_payment, GatewayEndpoints, HostedPaymentRequest};
    use crate::gateway::testing::test_secrets;
    use crate::gateway::transport::{HyperTransport, DEFAULT_TIMEOUT};
    use crate::gateway::{verify_webhook, PaymentStatus, Provider, WebhookEvent, WebhookRequest};

    type Received = Arc<Mutex<Vec<(String, Vec<(String, String)>, Vec<u8>)>>>;

    /// Stands in for the API's payment-callback: records what it is sent, answers 200.
    async fn receiver() -> (String, Received) {
        let received: Received = Arc::default();
        let keep = received.clone();
        let app = axum::Router::new().route(
            "/v1/webhooks/{provider}",
            post(
                move |uri: axum::http::Uri,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let keep = keep.clone();
                    async move {
                        let headers = headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        keep.lock()
                            .unwrap()
                            .push((uri.path().to_owned(), headers, body.to_vec()));
                        "ok"
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, received)
    }

    /// One HTTP/1.1 exchange (the transport's answers have no headers; the page's `Location` is
    /// what the test needs): status line and headers, then the body.
    async fn exchange(url: &str, method: &str, language: &str) -> (String, String) {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {host}\r\naccept-language: {language}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn the_hosted_page_shows_rupiah_and_pay_delivers_a_signed_paid_notification() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let stub = GatewayStub::start(test_secrets()).await.unwrap();
        let (api, received) = receiver().await;
        let transport = HyperTransport::new(DEFAULT_TIMEOUT).unwrap();
        for (i, provider) in Provider::ALL.into_iter().enumerate() {
            let order_id = format!("ord_{i:032x}");
            let success_url = format!("http://127.0.0.1:9/return.html?order={order_id}");
            let request = HostedPaymentRequest {
                order_id: order_id.clone(),
                amount: 1_500_000,
                currency: "IDR".into(),
                description: "1 x VIP".into(),
                expires_at: now + 1800,
                success_url: success_url.clone(),
                cancel_url: "http://127.0.0.1:9/".into(),
            };
            let page = create_hosted_payment(
                &transport,
                provider,
                &test_secrets(),
                &GatewayEndpoints::all_at(&stub.base_url()),
                &request,
                now,
            )
            .await
            .unwrap();

            // Rupiah, whatever unit the provider was sent (Stripe: hundredths), both languages.
            let (head, en) = exchange(&page.redirect_url, "GET", "en-US,en;q=0.9").await;
            assert!(head.starts_with("http/1.1 200"), "{provider}: {head}");
            assert!(en.contains("Local stand-in"), "{provider}");
            assert!(
                en.contains(r#"data-amount-minor="1500000" data-currency="IDR">Rp1.500.000<"#),
                "{provider}: {en}"
            );
            assert!(en.contains(">Pay Rp1.500.000<"), "{provider}");
            let (_, id) = exchange(&page.redirect_url, "GET", "id-ID,id;q=0.9").await;
            assert!(
                id.contains("tiruan lokal") && id.contains(">Bayar Rp1.500.000<"),
                "{provider}"
            );

            // Pay: the notification first (nowhere to send it yet: refused, nothing paid).
            if i == 0 {
                let (head, _) = exchange(&page.redirect_url, "POST", "en").await;
                assert!(head.starts_with("http/1.1 503"), "{head}");
                assert_eq!(
                    stub.payments().get(&order_id).unwrap().status,
                    PaymentStatus::Pending
                );
                stub.notify_to(&api);
            }
            let (head, _) = exchange(&page.redirect_url, "POST", "en").await;
            assert!(head.starts_with("http/1.1 303"), "{provider}: {head}");
            assert!(
                head.contains(&format!(
                    "\r\nlocation: {}",
                    success_url.to_ascii_lowercase()
                )),
                "{provider}: {head}"
            );
            assert_eq!(
                stub.payments().get(&order_id).unwrap().status,
                PaymentStatus::Paid
            );
            let (_, paid) = exchange(&page.redirect_url, "GET", "en").await;
            assert!(
                paid.contains("Already paid.") && !paid.contains("stub-pay"),
                "{provider}"
            );

            // What the API got: the provider's signed notification of this order, paid in full.
            let (path, headers, body) = received.lock().unwrap().pop().unwrap();
            assert_eq!(path, provider.webhook_path());
            let pairs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let request = WebhookRequest {
                headers: &pairs,
                body: &body,
                request_target: &path,
            };
            let Ok(WebhookEvent::Payment(n)) =
                verify_webhook(provider, &test_secrets(), &request, now)
            else {
                panic!("{provider}: not a verified payment notification");
            };
            assert_eq!(
                (n.order_id.as_str(), n.amount, n.currency.as_str(), n.status),
                (order_id.as_str(), 1_500_000, "IDR", PaymentStatus::Paid)
            );
        }
        let (head, _) = exchange(
            &format!("{}/pay/stripe/cs_test_unknown", stub.base_url()),
            "GET",
            "en",
        )
        .await;
        assert!(head.starts_with("http/1.1 404"), "{head}");
    }
}
