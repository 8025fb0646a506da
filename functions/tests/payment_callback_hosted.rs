//! Hosted-payment adapters against the local gateway stub on 127.0.0.1, over the real hyper/rustls
//! transport: each provider's documented create-payment request, its authentication, and the
//! answer parsed into a payment page.

use std::sync::Arc;
use std::time::Duration;

use functions::gateway::hosted::{
    build_create_request, create_hosted_payment, fetch_payment_state, GatewayEndpoints,
    HostedPaymentRequest, HttpRequest, HttpTransport,
};
use functions::gateway::stub::GatewayStub;
use functions::gateway::testing::test_secrets;
use functions::gateway::transport::HyperTransport;
use functions::gateway::{
    adapter::GatewayPayments, GatewayError, GatewaySecrets, PaymentStatus, Provider,
};
use functions::ports::{Clock, HostedPayments, PaymentRequest};
use serde_json::Value;

const NOW: u64 = 1_795_597_200;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> u64 {
        NOW
    }
}

fn request(order_id: &str) -> HostedPaymentRequest {
    HostedPaymentRequest {
        order_id: order_id.to_owned(),
        amount: 150_000,
        currency: "IDR".into(),
        description: "2 x General, Jakarta Fest".into(),
        expires_at: NOW + 900,
        success_url: "https://tickets.example/orders/done".into(),
        cancel_url: "https://tickets.example/orders/cancelled".into(),
    }
}

fn transport() -> HyperTransport {
    HyperTransport::new(Duration::from_secs(5)).expect("transport")
}

fn form_field(body: &[u8], name: &str) -> String {
    let form = String::from_utf8_lossy(body);
    form.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} missing in {form}"))
        .to_owned()
}

#[tokio::test]
async fn every_provider_creates_a_payment_page_through_the_stub() {
    let stub = GatewayStub::start(test_secrets()).await.expect("stub");
    let endpoints = GatewayEndpoints::all_at(&stub.base_url());
    let secrets = test_secrets();
    let t = transport();
    for (i, provider) in Provider::ALL.into_iter().enumerate() {
        let order_id = format!("ord_{i:032x}");
        let page =
            create_hosted_payment(&t, provider, &secrets, &endpoints, &request(&order_id), NOW)
                .await
                .unwrap_or_else(|e| panic!("{provider}: {e}"));
        assert_eq!(page.provider, provider);
        assert!(
            page.reference.contains(&order_id),
            "{provider}: {}",
            page.reference
        );
        assert!(
            page.redirect_url.starts_with(&stub.base_url()),
            "{provider}: {}",
            page.redirect_url
        );
    }

    // What each gateway received, field by field.
    let recorded = stub.recorded();
    assert_eq!(recorded.len(), 4);
    let stripe = &recorded[0];
    assert_eq!(stripe.path, "/v1/checkout/sessions");
    // Stripe counts IDR in hundredths.
    assert_eq!(
        form_field(
            &stripe.body,
            "line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D"
        ),
        "15000000"
    );
    assert_eq!(
        form_field(
            &stripe.body,
            "line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D"
        ),
        "idr"
    );
    assert_eq!(
        form_field(&stripe.body, "client_reference_id"),
        format!("ord_{:032x}", 0)
    );
    // Stripe needs at least 30 minutes.
    assert_eq!(
        form_field(&stripe.body, "expires_at"),
        (NOW + 1800).to_string()
    );

    let snap: Value = serde_json::from_slice(&recorded[1].body).expect("json");
    assert_eq!(snap["transaction_details"]["gross_amount"], 150_000);
    assert_eq!(
        snap["transaction_details"]["order_id"],
        format!("ord_{:032x}", 1)
    );
    assert_eq!(snap["expiry"]["duration"], 15);
    assert_eq!(snap["expiry"]["unit"], "minute");

    let invoice: Value = serde_json::from_slice(&recorded[2].body).expect("json");
    assert_eq!(invoice["amount"], 150_000);
    assert_eq!(invoice["currency"], "IDR");
    assert_eq!(invoice["invoice_duration"], 900);
    assert_eq!(invoice["external_id"], format!("ord_{:032x}", 2));

    let doku: Value = serde_json::from_slice(&recorded[3].body).expect("json");
    assert_eq!(doku["order"]["amount"], 150_000);
    assert_eq!(doku["order"]["invoice_number"], format!("ord_{:032x}", 3));
    assert_eq!(doku["payment"]["payment_due_date"], 15);
}

#[tokio::test]
async fn wrong_credentials_are_rejected_by_the_gateway() {
    let stub = GatewayStub::start(test_secrets()).await.expect("stub");
    let endpoints = GatewayEndpoints::all_at(&stub.base_url());
    let wrong = GatewaySecrets::from_json(
        br#"{
        "stripe":   { "webhook_secrets": ["whsec_x"], "api_key": "sk_test_wrong" },
        "midtrans": { "server_key": "SB-Mid-server-wrong" },
        "xendit":   { "callback_token": "t", "api_key": "xnd_development_wrong" },
        "doku":     { "client_id": "BRN-0001-karcis-test", "secret_key": "SK-wrong" }
    }"#,
    )
    .expect("secrets");
    let t = transport();
    for provider in Provider::ALL {
        let err = create_hosted_payment(&t, provider, &wrong, &endpoints, &request("ord_1"), NOW)
            .await
            .expect_err("wrong key");
        let expected = if provider == Provider::Doku { 400 } else { 401 };
        assert_eq!(
            err,
            GatewayError::Rejected { status: expected },
            "{provider}"
        );
    }
    assert!(stub.recorded().is_empty(), "nothing accepted");
}

#[tokio::test]
async fn invalid_requests_never_reach_the_gateway() {
    let stub = GatewayStub::start(test_secrets()).await.expect("stub");
    let endpoints = GatewayEndpoints::all_at(&stub.base_url());
    let secrets = test_secrets();
    let t = transport();
    let mut usd = request("ord_2");
    usd.currency = "USD".into();
    usd.amount = 1050;
    for provider in [Provider::Midtrans, Provider::Doku] {
        let err = create_hosted_payment(&t, provider, &secrets, &endpoints, &usd, NOW)
            .await
            .expect_err("IDR only");
        assert_eq!(err, GatewayError::UnsupportedCurrency);
    }
    let mut expired = request("ord_3");
    expired.expires_at = NOW;
    let mut bad_id = request("ord 3; drop");
    bad_id.order_id = "ord 3; drop".into();
    let mut zero = request("ord_4");
    zero.amount = 0;
    for bad in [expired, bad_id, zero] {
        for provider in Provider::ALL {
            let err = create_hosted_payment(&t, provider, &secrets, &endpoints, &bad, NOW)
                .await
                .expect_err("invalid");
            assert_eq!(err.code(), "invalid_request", "{provider} {bad:?}");
        }
    }
    assert!(stub.recorded().is_empty());
}

#[tokio::test]
async fn transport_refuses_plain_http_off_loopback_and_reports_a_dead_gateway() {
    let t = transport();
    let req = build_create_request(
        Provider::Xendit,
        &test_secrets(),
        &GatewayEndpoints::all_at("http://api.xendit.co"),
        &request("ord_5"),
        NOW,
    )
    .expect("request");
    assert_eq!(
        t.send(req).await.map_err(|e| e.code()),
        Err("gateway_unavailable")
    );

    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let req = HttpRequest {
        method: "POST",
        url: format!("{dead}/v2/invoices"),
        headers: vec![],
        body: vec![],
    };
    assert_eq!(
        t.send(req).await.map_err(|e| e.code()),
        Err("gateway_unavailable")
    );
}

#[tokio::test]
async fn hosted_payments_port_returns_the_payment_reference() {
    let stub = GatewayStub::start(test_secrets()).await.expect("stub");
    let payments = GatewayPayments::new(
        Arc::new(test_secrets()),
        GatewayEndpoints::all_at(&stub.base_url()),
        transport(),
        Arc::new(FixedClock),
        "https://tickets.example/orders/{order_id}",
        "https://tickets.example/orders/{order_id}?cancelled=1",
    );
    let order_id = "ord_0123456789abcdef0123456789abcdef";
    for provider in ["stripe", "midtrans", "xendit", "doku"] {
        let reference = payments
            .create_payment(&PaymentRequest {
                provider: provider.into(),
                order_id: order_id.into(),
                amount_minor: 150_000,
                currency: "IDR".into(),
                description: "1 x VIP".into(),
                expires_at: NOW + 900,
            })
            .await
            .unwrap_or_else(|e| panic!("{provider}: {e}"));
        assert_eq!(reference.provider, provider);
        assert!(reference
            .redirect_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&stub.base_url())));
        let expected_expiry = if provider == "stripe" {
            NOW + 1800
        } else {
            NOW + 900
        };
        assert_eq!(reference.expires_at, Some(expected_expiry), "{provider}");
    }
    // The return URL names the order.
    let snap: Value = serde_json::from_slice(&stub.recorded()[1].body).expect("json");
    assert_eq!(
        snap["callbacks"]["finish"],
        format!("https://tickets.example/orders/{order_id}")
    );

    let unknown = payments
        .create_payment(&PaymentRequest {
            provider: "paypal".into(),
            order_id: order_id.into(),
            amount_minor: 1,
            currency: "IDR".into(),
            description: "x".into(),
            expires_at: NOW + 900,
        })
        .await
        .expect_err("unknown provider");
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn status_apis_answer_from_the_payments_the_stub_created() {
    let stub = GatewayStub::start(test_secrets()).await.expect("stub");
    let endpoints = GatewayEndpoints::all_at(&stub.base_url());
    let secrets = test_secrets();
    let t = transport();
    for (i, provider) in [Provider::Midtrans, Provider::Xendit]
        .into_iter()
        .enumerate()
    {
        let order_id = format!("ord_{:032x}", 10 + i);
        let page =
            create_hosted_payment(&t, provider, &secrets, &endpoints, &request(&order_id), NOW)
                .await
                .unwrap_or_else(|e| panic!("{provider}: {e}"));
        let ask = || {
            fetch_payment_state(
                &t,
                provider,
                &secrets,
                &endpoints,
                &order_id,
                &page.reference,
            )
        };
        let pending = ask().await.expect("answer").expect("known");
        assert_eq!(pending.status, PaymentStatus::Pending, "{provider}");
        // The buyer pays.
        assert!(stub.set_status(&order_id, PaymentStatus::Paid));
        let paid = ask().await.expect("answer").expect("known");
        assert_eq!(
            (
                paid.status,
                paid.order_id.as_str(),
                paid.amount,
                paid.currency.as_str()
            ),
            (PaymentStatus::Paid, order_id.as_str(), 150_000, "IDR"),
            "{provider}"
        );
        if provider == Provider::Xendit {
            assert_eq!(paid.reference, page.reference);
        }
        // A payment the gateway never created.
        let unknown = fetch_payment_state(
            &t,
            provider,
            &secrets,
            &endpoints,
            "ord_unknown",
            "inv-ord_unknown",
        )
        .await;
        assert_eq!(unknown, Ok(None), "{provider}");
    }

    // The status APIs check the API key as the gateways do.
    let wrong = GatewaySecrets::from_json(
        br#"{
        "midtrans": { "server_key": "SB-Mid-server-wrong" },
        "xendit":   { "callback_token": "t", "api_key": "xnd_development_wrong" }
    }"#,
    )
    .expect("secrets");
    for provider in [Provider::Midtrans, Provider::Xendit] {
        let order_id = format!("ord_{:032x}", 10);
        let err = fetch_payment_state(&t, provider, &wrong, &endpoints, &order_id, "inv-x")
            .await
            .expect_err("wrong key");
        assert_eq!(err, GatewayError::Rejected { status: 401 }, "{provider}");
    }
}
