//! Verification tests for every provider, driven by the test signers in [`super::testing`].

use proptest::prelude::*;

use super::testing::{
    signed_webhook, stripe_signature_header, test_secrets, SignedWebhook, TestPayment,
};
use super::{
    verify_webhook, GatewayError, PaymentNotification, PaymentStatus, Provider, WebhookEvent,
};

const NOW: u64 = 1_795_597_200; // 2026-11-25T09:00:00Z
const STRIPE_SECRET: &str = "whsec_karcis_test_endpoint_secret";

fn verify(w: &SignedWebhook, now: u64) -> Result<WebhookEvent, GatewayError> {
    let pairs = w.header_pairs();
    verify_webhook(w.provider, &test_secrets(), &w.request(&pairs), now)
}

fn payment(w: &SignedWebhook, now: u64) -> PaymentNotification {
    match verify(w, now) {
        Ok(WebhookEvent::Payment(p)) => p,
        other => panic!("expected a payment from {:?}, got {other:?}", w.provider),
    }
}

#[test]
fn every_provider_accepts_a_valid_webhook_and_normalizes_it() {
    for provider in Provider::ALL {
        let p = TestPayment::paid("ord-123", 150_000, "IDR").with_event_id("ev-1");
        let w = signed_webhook(provider, &test_secrets(), &p, NOW);
        let n = payment(&w, NOW);
        assert_eq!(n.provider, provider);
        assert_eq!(n.order_id, "ord-123");
        assert_eq!(
            n.amount, 150_000,
            "{provider}: IDR has exponent 0 in karcis"
        );
        assert_eq!(n.currency, "IDR");
        assert_eq!(n.status, PaymentStatus::Paid);
        assert!(
            n.provider_event_id.contains("ev-1"),
            "{provider}: {}",
            n.provider_event_id
        );
        assert!(!n.provider_reference.is_empty());
    }
}

#[test]
fn every_status_maps_for_every_provider() {
    let statuses = [
        PaymentStatus::Paid,
        PaymentStatus::Pending,
        PaymentStatus::Failed,
        PaymentStatus::Expired,
        PaymentStatus::Refunded,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Disputed,
    ];
    for provider in Provider::ALL {
        for status in statuses {
            let p = TestPayment::paid("ord-9", 75_000, "IDR").with_status(status);
            let w = signed_webhook(provider, &test_secrets(), &p, NOW);
            match verify(&w, NOW).expect("authentic") {
                // DOKU's notification says REFUNDED, full or not: the amount decides.
                WebhookEvent::Payment(n)
                    if provider == Provider::Doku && status == PaymentStatus::PartiallyRefunded =>
                {
                    assert_eq!(n.status, PaymentStatus::Refunded);
                }
                WebhookEvent::Payment(n) => {
                    assert_eq!(n.status, status, "{provider}");
                    // Stripe names the PaymentIntent of sessions, charges and disputes.
                    assert_eq!(n.payment_id.is_some(), provider == Provider::Stripe);
                }
                // Xendit invoices have no failed, refunded or disputed status, and DOKU's
                // non-SNAP notification no chargeback: authentic but not acted on.
                WebhookEvent::Ignored { .. } => assert!(
                    (provider == Provider::Xendit
                        && matches!(
                            status,
                            PaymentStatus::Failed
                                | PaymentStatus::Refunded
                                | PaymentStatus::PartiallyRefunded
                                | PaymentStatus::Disputed
                        ))
                        || (provider == Provider::Doku && status == PaymentStatus::Disputed),
                    "{provider} {status:?}"
                ),
            }
        }
    }
}

#[test]
fn stripe_usd_and_idr_amounts_rescale_exactly() {
    let usd = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &TestPayment::paid("o1", 1050, "USD"),
        NOW,
    );
    assert!(String::from_utf8_lossy(&usd.body).contains("\"amount_total\": 1050"));
    assert_eq!(payment(&usd, NOW).amount, 1050);
    let idr = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &TestPayment::paid("o2", 150_000, "IDR"),
        NOW,
    );
    assert!(String::from_utf8_lossy(&idr.body).contains("\"amount_total\": 15000000"));
    assert_eq!(payment(&idr, NOW).amount, 150_000);
}

/// Re-signs a Stripe body as given (for payloads the signer would not produce).
fn stripe_raw(body: &str, now: u64) -> SignedWebhook {
    let header = stripe_signature_header(&[STRIPE_SECRET], now, body.as_bytes());
    SignedWebhook {
        provider: Provider::Stripe,
        headers: vec![("Stripe-Signature".into(), header)],
        body: body.as_bytes().to_vec(),
        path: "/v1/webhooks/stripe".into(),
    }
}

#[test]
fn stripe_rejects_fractions_the_currency_does_not_allow() {
    // 150000.50 IDR in Stripe hundredths: karcis IDR has no fraction.
    let body = r#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","amount_total":15000050,"currency":"idr","client_reference_id":"ord-1","payment_status":"paid"}}}"#;
    assert_eq!(
        verify(&stripe_raw(body, NOW), NOW).map_err(|e| e.code()),
        Err("invalid_amount")
    );
    let negative = body.replace("15000050", "-100");
    assert_eq!(
        verify(&stripe_raw(&negative, NOW), NOW).map_err(|e| e.code()),
        Err("invalid_amount")
    );
    let unknown_currency = body.replace("\"idr\"", "\"xyz\"");
    assert_eq!(
        verify(&stripe_raw(&unknown_currency, NOW), NOW),
        Err(GatewayError::UnsupportedCurrency)
    );
}

#[test]
fn stripe_other_event_types_are_authentic_but_ignored() {
    let body = r#"{"id":"evt_2","type":"payment_intent.created","data":{"object":{"id":"pi_1"}}}"#;
    assert_eq!(
        verify(&stripe_raw(body, NOW), NOW),
        Ok(WebhookEvent::Ignored {
            provider: Provider::Stripe,
            provider_event_id: "evt_2".into(),
            event_type: "payment_intent.created".into()
        })
    );
}

#[test]
fn stripe_timestamp_tolerance_is_300_seconds() {
    let w = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &TestPayment::paid("o", 1000, "USD"),
        NOW,
    );
    assert!(verify(&w, NOW + 300).is_ok());
    assert_eq!(verify(&w, NOW + 301), Err(GatewayError::StaleTimestamp));
    assert_eq!(verify(&w, NOW + 86_400), Err(GatewayError::StaleTimestamp));
    assert!(verify(&w, NOW - 300).is_ok());
    assert_eq!(verify(&w, NOW - 301), Err(GatewayError::StaleTimestamp));
    assert!(GatewayError::StaleTimestamp.is_authentication_failure());
}

#[test]
fn stripe_accepts_any_matching_v1_among_several() {
    let base = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &TestPayment::paid("o", 1000, "USD"),
        NOW,
    );
    let good = stripe_signature_header(&[STRIPE_SECRET], NOW, &base.body);
    let good_v1 = good.split_once(",v1=").expect("v1").1;
    let other = stripe_signature_header(&["whsec_some_other_secret"], NOW, &base.body);
    let other_v1 = other.split_once(",v1=").expect("v1").1;
    for header in [
        format!("t={NOW},v1={other_v1},v1={good_v1}"),
        format!("t={NOW},v1={good_v1},v1={other_v1}"),
        format!("v1={other_v1},t={NOW},v0=abcdef,v1=nothex,v1={good_v1}"),
        format!("t={NOW}, v1={good_v1}"),
    ] {
        let mut w = base.clone();
        w.set_header("Stripe-Signature", &header);
        assert!(verify(&w, NOW).is_ok(), "{header}");
    }
    for (header, expected) in [
        (format!("t={NOW},v1={other_v1}"), GatewayError::BadSignature),
        (
            format!("t={NOW},v0={good_v1}"),
            GatewayError::MalformedSignature,
        ),
        (format!("v1={good_v1}"), GatewayError::MalformedSignature),
        (
            format!("t={NOW},t={NOW},v1={good_v1}"),
            GatewayError::MalformedSignature,
        ),
        (
            format!("t=-{NOW},v1={good_v1}"),
            GatewayError::MalformedSignature,
        ),
        (
            format!("t={},v1={good_v1}", NOW + 1),
            GatewayError::BadSignature,
        ),
        ("garbage".to_owned(), GatewayError::MalformedSignature),
        (String::new(), GatewayError::MalformedSignature),
    ] {
        let mut w = base.clone();
        w.set_header("Stripe-Signature", &header);
        assert_eq!(verify(&w, NOW), Err(expected), "{header}");
    }
}

#[test]
fn stripe_secret_rotation_accepts_either_configured_secret() {
    let secrets = super::GatewaySecrets::from_json(
        br#"{"stripe":{"webhook_secrets":["whsec_old","whsec_karcis_test_endpoint_secret"],"api_key":"sk_test_x"}}"#,
    )
    .expect("secrets");
    let w = signed_webhook(
        Provider::Stripe,
        &test_secrets(),
        &TestPayment::paid("o", 1000, "USD"),
        NOW,
    );
    let pairs = w.header_pairs();
    assert!(verify_webhook(Provider::Stripe, &secrets, &w.request(&pairs), NOW).is_ok());
    let wrong = super::GatewaySecrets::from_json(
        br#"{"stripe":{"webhook_secrets":["whsec_old"],"api_key":"sk_test_x"}}"#,
    )
    .expect("secrets");
    assert_eq!(
        verify_webhook(Provider::Stripe, &wrong, &w.request(&pairs), NOW),
        Err(GatewayError::BadSignature)
    );
}

#[test]
fn missing_authentication_is_refused_for_every_provider() {
    for provider in Provider::ALL {
        let mut w = signed_webhook(
            provider,
            &test_secrets(),
            &TestPayment::paid("o", 150_000, "IDR"),
            NOW,
        );
        match provider {
            Provider::Stripe => w.headers.retain(|(k, _)| k != "Stripe-Signature"),
            Provider::Xendit => w.headers.retain(|(k, _)| k != "x-callback-token"),
            Provider::Doku => w.headers.retain(|(k, _)| k != "Signature"),
            Provider::Midtrans => {
                let mut v: serde_json::Value = serde_json::from_slice(&w.body).expect("json");
                v.as_object_mut().expect("object").remove("signature_key");
                w.body = serde_json::to_vec(&v).expect("json");
            }
        }
        let err = verify(&w, NOW).expect_err("unauthenticated");
        assert_eq!(err.code(), "missing_signature", "{provider}");
        assert!(err.is_authentication_failure());
    }
}

#[test]
fn doku_request_timestamp_must_be_within_five_minutes() {
    let p = TestPayment::paid("ord-5", 150_000, "IDR");
    for (signed_at, ok) in [
        (NOW - 300, true),
        (NOW + 300, true),
        (NOW - 301, false),
        (NOW + 301, false),
        (NOW - 86_400, false),
    ] {
        let w = signed_webhook(Provider::Doku, &test_secrets(), &p, signed_at);
        match verify(&w, NOW) {
            Ok(_) => assert!(ok, "{signed_at}"),
            Err(e) => {
                assert!(!ok, "{signed_at}: {e}");
                assert_eq!(e, GatewayError::StaleTimestamp);
            }
        }
    }
    // A signed timestamp that is not the documented format is not DOKU's.
    let mut w = signed_webhook(Provider::Doku, &test_secrets(), &p, NOW);
    let sig = super::doku::signature(
        b"SK-karcis-doku-test-secret",
        "BRN-0001-karcis-test",
        "evt-ord-5",
        "1795597200",
        "/v1/webhooks/doku",
        &w.body,
    );
    w.set_header("Request-Timestamp", "1795597200");
    w.set_header("Request-Id", "evt-ord-5");
    w.set_header("Signature", &sig);
    assert_eq!(verify(&w, NOW), Err(GatewayError::MalformedSignature));
}

#[test]
fn midtrans_paid_needs_the_signed_status_code_200() {
    let key = "SB-Mid-server-karcis-test";
    let body = |status_code: &str, transaction_status: &str, fraud: &str| {
        serde_json::to_vec(&serde_json::json!({
            "order_id": "ord-9", "status_code": status_code, "gross_amount": "150000.00",
            "signature_key": super::midtrans::signature_key("ord-9", status_code, "150000.00", key),
            "transaction_status": transaction_status, "fraud_status": fraud,
            "transaction_id": "tx-9", "currency": "IDR",
        }))
        .expect("json")
    };
    let check = |status_code: &str, transaction_status: &str, fraud: &str| {
        let w = SignedWebhook {
            provider: Provider::Midtrans,
            headers: vec![],
            body: body(status_code, transaction_status, fraud),
            path: "/v1/webhooks/midtrans".into(),
        };
        verify(&w, NOW).map(|e| match e {
            WebhookEvent::Payment(n) => Some(n.status),
            WebhookEvent::Ignored { .. } => None,
        })
    };
    assert_eq!(
        check("200", "settlement", "accept"),
        Ok(Some(PaymentStatus::Paid))
    );
    assert_eq!(
        check("200", "capture", "accept"),
        Ok(Some(PaymentStatus::Paid))
    );
    for (code, status) in [
        ("201", "settlement"),
        ("201", "capture"),
        ("202", "settlement"),
        ("407", "capture"),
    ] {
        assert_eq!(
            check(code, status, "accept"),
            Err(GatewayError::MalformedPayload("status_code")),
            "{code} {status}"
        );
    }
    assert_eq!(
        check("201", "capture", "challenge"),
        Ok(Some(PaymentStatus::Pending))
    );
    assert_eq!(
        check("201", "pending", "accept"),
        Ok(Some(PaymentStatus::Pending))
    );
    assert_eq!(
        check("200", "cancel", "accept"),
        Ok(Some(PaymentStatus::Failed))
    );
}

#[test]
fn midtrans_status_api_answers_are_read_as_midtrans_documents() {
    use super::hosted::{parse_status_response, HttpResponse};
    let answer = |status: u16, body: serde_json::Value| HttpResponse {
        status,
        body: serde_json::to_vec(&body).expect("json"),
    };
    let midtrans = |code: &str, ts: &str, fraud: &str| {
        parse_status_response(
            Provider::Midtrans,
            &answer(
                200,
                serde_json::json!({
                    "status_code": code, "transaction_status": ts, "fraud_status": fraud,
                    "order_id": "ord-1", "transaction_id": "tx-1", "gross_amount": "150000.00",
                    "currency": "IDR",
                }),
            ),
        )
    };
    let paid = midtrans("200", "settlement", "accept")
        .expect("ok")
        .expect("known");
    assert_eq!(
        (
            paid.status,
            paid.order_id.as_str(),
            paid.reference.as_str(),
            paid.amount,
            paid.currency.as_str()
        ),
        (PaymentStatus::Paid, "ord-1", "tx-1", 150_000, "IDR")
    );
    assert_eq!(
        midtrans("201", "pending", "accept")
            .expect("ok")
            .map(|s| s.status),
        Some(PaymentStatus::Pending)
    );
    assert_eq!(
        midtrans("200", "refund", "accept")
            .expect("ok")
            .map(|s| s.status),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(
        midtrans("200", "capture", "challenge")
            .expect("ok")
            .map(|s| s.status),
        Some(PaymentStatus::Pending)
    );
    assert!(
        midtrans("201", "settlement", "accept").is_err(),
        "inconsistent answer"
    );
    let unknown =
        serde_json::json!({"status_code": "404", "status_message": "Transaction doesn't exist."});
    assert_eq!(
        parse_status_response(Provider::Midtrans, &answer(200, unknown.clone())),
        Ok(None)
    );
    assert_eq!(
        parse_status_response(Provider::Midtrans, &answer(404, unknown)),
        Ok(None)
    );
    assert_eq!(
        parse_status_response(Provider::Midtrans, &answer(500, serde_json::json!({}))),
        Err(GatewayError::Rejected { status: 500 })
    );
}

#[test]
fn xendit_invoice_status_is_read_as_xendit_documents() {
    use super::hosted::{parse_status_response, HttpResponse};
    let answer = |status: u16, body: serde_json::Value| HttpResponse {
        status,
        body: serde_json::to_vec(&body).expect("json"),
    };
    let invoice = |status: &str, paid_amount: Option<u64>| {
        let mut body = serde_json::json!({
            "id": "inv-1", "external_id": "ord-1", "status": status, "amount": 150_000,
            "currency": "IDR",
        });
        if let Some(p) = paid_amount {
            body["paid_amount"] = p.into();
        }
        parse_status_response(Provider::Xendit, &answer(200, body))
    };
    let paid = invoice("PAID", Some(150_000)).expect("ok").expect("known");
    assert_eq!(
        (
            paid.status,
            paid.order_id.as_str(),
            paid.reference.as_str(),
            paid.amount
        ),
        (PaymentStatus::Paid, "ord-1", "inv-1", 150_000)
    );
    assert_eq!(
        invoice("SETTLED", None).expect("ok").map(|s| s.status),
        Some(PaymentStatus::Paid)
    );
    assert_eq!(
        invoice("PENDING", None).expect("ok").map(|s| s.status),
        Some(PaymentStatus::Pending)
    );
    assert_eq!(
        invoice("PAID", Some(1)).expect("ok").map(|s| s.amount),
        Some(1),
        "what was paid"
    );
    assert_eq!(
        parse_status_response(
            Provider::Xendit,
            &answer(
                404,
                serde_json::json!({"error_code": "INVOICE_NOT_FOUND_ERROR"})
            )
        ),
        Ok(None)
    );
    assert_eq!(
        parse_status_response(Provider::Xendit, &answer(401, serde_json::json!({}))),
        Err(GatewayError::Rejected { status: 401 })
    );
}

#[test]
fn status_requests_are_authenticated_gets() {
    use super::hosted::{build_status_request, GatewayEndpoints};
    let secrets = test_secrets();
    let endpoints = GatewayEndpoints::sandbox();
    let m = build_status_request(Provider::Midtrans, &secrets, &endpoints, "ord-1", "snap-x")
        .expect("request");
    assert_eq!(
        (m.method, m.url.as_str()),
        ("GET", "https://api.sandbox.midtrans.com/v2/ord-1/status")
    );
    assert_eq!(
        m.header("authorization"),
        Some(super::hosted::basic_auth("SB-Mid-server-karcis-test").as_str())
    );
    let x = build_status_request(Provider::Xendit, &secrets, &endpoints, "ord-1", "inv-1")
        .expect("request");
    assert_eq!(
        (x.method, x.url.as_str()),
        ("GET", "https://api.xendit.co/v2/invoices/inv-1")
    );
    assert_eq!(
        x.header("authorization"),
        Some(super::hosted::basic_auth("xnd_development_karcis_stub").as_str())
    );
    // Ids that are not path-safe never reach a URL.
    assert!(build_status_request(Provider::Xendit, &secrets, &endpoints, "o", "../x").is_err());
    assert!(build_status_request(Provider::Midtrans, &secrets, &endpoints, "a/b", "r").is_err());
    assert!(build_status_request(Provider::Stripe, &secrets, &endpoints, "o", "cs").is_err());
}

#[test]
fn unconfigured_provider_is_refused() {
    let w = signed_webhook(
        Provider::Doku,
        &test_secrets(),
        &TestPayment::paid("o", 150_000, "IDR"),
        NOW,
    );
    let pairs = w.header_pairs();
    let none = super::GatewaySecrets::default();
    assert_eq!(
        verify_webhook(Provider::Doku, &none, &w.request(&pairs), NOW),
        Err(GatewayError::NotConfigured(Provider::Doku))
    );
}

#[test]
fn xendit_wrong_token_is_refused() {
    let base = signed_webhook(
        Provider::Xendit,
        &test_secrets(),
        &TestPayment::paid("o", 150_000, "IDR"),
        NOW,
    );
    for token in [
        "",
        "xnd_callback_token_karcis_tes",
        "xnd_callback_token_karcis_test ",
        "XND_CALLBACK_TOKEN_KARCIS_TEST",
    ] {
        let mut w = base.clone();
        w.set_header("X-Callback-Token", token);
        assert_eq!(
            verify(&w, NOW),
            Err(GatewayError::BadSignature),
            "{token:?}"
        );
    }
    let mut twice = base.clone();
    twice.headers.push((
        "X-CALLBACK-TOKEN".into(),
        "xnd_callback_token_karcis_test".into(),
    ));
    assert_eq!(
        verify(&twice, NOW),
        Err(GatewayError::DuplicateHeader("x-callback-token"))
    );
    // Header names are case-insensitive.
    let mut upper = base.clone();
    upper.set_header("X-CALLBACK-TOKEN", "xnd_callback_token_karcis_test");
    assert!(verify(&upper, NOW).is_ok());
}

#[test]
fn xendit_fractional_idr_is_refused() {
    let mut w = signed_webhook(
        Provider::Xendit,
        &test_secrets(),
        &TestPayment::paid("o", 150_000, "IDR"),
        NOW,
    );
    let body = String::from_utf8(w.body.clone())
        .expect("utf8")
        .replace("150000", "150000.5");
    w.body = body.into_bytes();
    assert_eq!(verify(&w, NOW).map_err(|e| e.code()), Err("invalid_amount"));
}

#[test]
fn midtrans_signed_fraction_is_refused_and_wrong_key_is_refused() {
    let p = TestPayment::paid("o", 150_000, "IDR");
    let mut w = signed_webhook(Provider::Midtrans, &test_secrets(), &p, NOW);
    let mut v: serde_json::Value = serde_json::from_slice(&w.body).expect("json");
    // Correctly signed, but half a rupiah does not exist.
    v["gross_amount"] = "150000.50".into();
    v["signature_key"] =
        super::midtrans::signature_key("o", "200", "150000.50", "SB-Mid-server-karcis-test").into();
    w.body = serde_json::to_vec(&v).expect("json");
    assert_eq!(verify(&w, NOW).map_err(|e| e.code()), Err("invalid_amount"));
    // Signed with another server key.
    v["gross_amount"] = "150000.00".into();
    v["signature_key"] =
        super::midtrans::signature_key("o", "200", "150000.00", "SB-Mid-server-other").into();
    w.body = serde_json::to_vec(&v).expect("json");
    assert_eq!(verify(&w, NOW), Err(GatewayError::BadSignature));
    // Midtrans sends lower-case hex; anything else is not its signature.
    let good = super::midtrans::signature_key("o", "200", "150000.00", "SB-Mid-server-karcis-test");
    v["signature_key"] = good.to_uppercase().into();
    w.body = serde_json::to_vec(&v).expect("json");
    assert_eq!(verify(&w, NOW), Err(GatewayError::BadSignature));
    v["signature_key"] = good.into();
    w.body = serde_json::to_vec(&v).expect("json");
    assert!(verify(&w, NOW).is_ok());
}

#[test]
fn doku_checks_client_id_target_and_prefix() {
    let base = signed_webhook(
        Provider::Doku,
        &test_secrets(),
        &TestPayment::paid("o", 150_000, "IDR"),
        NOW,
    );
    let mut other_target = base.clone();
    other_target.path = "/v1/webhooks/doku/".into();
    assert_eq!(verify(&other_target, NOW), Err(GatewayError::BadSignature));

    let mut other_client = base.clone();
    other_client.set_header("Client-Id", "BRN-0002-someone-else");
    assert_eq!(verify(&other_client, NOW), Err(GatewayError::BadSignature));

    let sig = base
        .headers
        .iter()
        .find(|(k, _)| k == "Signature")
        .expect("sig")
        .1
        .clone();
    for bad in [
        sig.replace("HMACSHA256=", ""),
        sig.replace("HMACSHA256=", "HMACSHA512="),
        "HMACSHA256=!!!".to_owned(),
    ] {
        let mut w = base.clone();
        w.set_header("Signature", &bad);
        assert_eq!(
            verify(&w, NOW),
            Err(GatewayError::MalformedSignature),
            "{bad}"
        );
    }
    let mut other_id = base.clone();
    other_id.set_header("Request-Id", "another-request");
    assert_eq!(verify(&other_id, NOW), Err(GatewayError::BadSignature));
}

/// The body bytes a provider's scheme authenticates, and the header carrying the signature.
fn flip(bytes: &mut [u8], index: usize, mask: u8) {
    let i = index % bytes.len();
    bytes[i] ^= mask;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Stripe and DOKU sign the whole body: any flipped bit anywhere is refused.
    #[test]
    fn flipped_body_byte_is_refused(index in any::<usize>(), mask in 1u8..=255, doku in any::<bool>()) {
        let provider = if doku { Provider::Doku } else { Provider::Stripe };
        let mut w = signed_webhook(provider, &test_secrets(), &TestPayment::paid("ord-7", 150_000, "IDR"), NOW);
        flip(&mut w.body, index, mask);
        prop_assert!(verify(&w, NOW).is_err());
    }

    /// Any flipped byte of the signature header value is refused (Stripe, DOKU, Xendit token).
    #[test]
    fn flipped_signature_byte_is_refused(index in any::<usize>(), mask in 1u8..=127, which in 0usize..3) {
        let (provider, header) = [
            (Provider::Stripe, "Stripe-Signature"),
            (Provider::Doku, "Signature"),
            (Provider::Xendit, "x-callback-token"),
        ][which];
        let mut w = signed_webhook(provider, &test_secrets(), &TestPayment::paid("ord-7", 150_000, "IDR"), NOW);
        let value = w.headers.iter().find(|(k, _)| k == header).expect("header").1.clone();
        let mut bytes = value.into_bytes();
        flip(&mut bytes, index, mask);
        // Keep it a string (header values are text); a flip into non-UTF-8 cannot be delivered.
        if let Ok(tampered) = String::from_utf8(bytes) {
            // A flip inside "t=" that keeps it the same value is impossible (mask != 0).
            w.set_header(header, &tampered);
            prop_assert!(verify(&w, NOW).is_err(), "{} accepted {}", provider, tampered);
        }
    }

    /// Midtrans signs order_id, status_code, gross_amount: any change to them or to the
    /// signature_key is refused.
    #[test]
    fn midtrans_tampered_signed_field_is_refused(field in 0usize..4, index in any::<usize>(), replacement in "[0-9a-zA-Z]") {
        let w0 = signed_webhook(Provider::Midtrans, &test_secrets(), &TestPayment::paid("ord-7", 150_000, "IDR"), NOW);
        let mut v: serde_json::Value = serde_json::from_slice(&w0.body).expect("json");
        let name = ["order_id", "status_code", "gross_amount", "signature_key"][field];
        let original = v[name].as_str().expect("string").to_owned();
        let mut chars: Vec<char> = original.chars().collect();
        let i = index % chars.len();
        let r = replacement.chars().next().expect("one char");
        prop_assume!(chars[i] != r);
        chars[i] = r;
        v[name] = chars.into_iter().collect::<String>().into();
        let mut w = w0.clone();
        w.body = serde_json::to_vec(&v).expect("json");
        prop_assert!(verify(&w, NOW).is_err());
    }

    /// A stale or future Stripe timestamp is refused even with a valid signature for it.
    #[test]
    fn stripe_out_of_tolerance_is_refused(skew in 301u64..10_000_000, future in any::<bool>()) {
        let signed_at = if future { NOW + skew } else { NOW - skew };
        let w = signed_webhook(Provider::Stripe, &test_secrets(), &TestPayment::paid("o", 1000, "USD"), signed_at);
        prop_assert_eq!(verify(&w, NOW), Err(GatewayError::StaleTimestamp));
    }

    /// Arbitrary bytes never panic any verifier and are never accepted.
    #[test]
    fn garbage_is_refused(body in proptest::collection::vec(any::<u8>(), 0..512), header in ".{0,128}") {
        for provider in Provider::ALL {
            let headers = [
                ("stripe-signature", header.as_str()),
                ("x-callback-token", header.as_str()),
                ("client-id", "BRN-0001-karcis-test"),
                ("request-id", header.as_str()),
                ("request-timestamp", "2026-11-25T09:00:00Z"),
                ("signature", header.as_str()),
            ];
            let req = super::WebhookRequest { headers: &headers, body: &body, request_target: "/v1/webhooks/doku" };
            prop_assert!(verify_webhook(provider, &test_secrets(), &req, NOW).is_err());
        }
    }
}

/// The fixtures in `events/webhooks/` are signed by an independent implementation
/// (`events/webhooks/sign.py`, Python's hmac/hashlib): the Rust verifiers must accept them.
#[test]
fn fixtures_signed_by_the_python_signer_verify() {
    let fixtures = [
        (
            Provider::Stripe,
            include_str!("../../../events/webhooks/stripe.json"),
        ),
        (
            Provider::Midtrans,
            include_str!("../../../events/webhooks/midtrans.json"),
        ),
        (
            Provider::Xendit,
            include_str!("../../../events/webhooks/xendit.json"),
        ),
        (
            Provider::Doku,
            include_str!("../../../events/webhooks/doku.json"),
        ),
    ];
    for (provider, text) in fixtures {
        let event: serde_json::Value = serde_json::from_str(text).expect("fixture json");
        let headers: Vec<(&str, &str)> = event["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().expect("header text")))
            .collect();
        let body = event["body"].as_str().expect("body");
        let path = event["rawPath"].as_str().expect("path");
        let now = event["requestContext"]["timeEpoch"].as_u64().expect("time") / 1000;
        let req = super::WebhookRequest {
            headers: &headers,
            body: body.as_bytes(),
            request_target: path,
        };
        let Ok(WebhookEvent::Payment(n)) = verify_webhook(provider, &test_secrets(), &req, now)
        else {
            panic!("{provider} fixture did not verify");
        };
        assert_eq!(
            n.order_id, "ord_0123456789abcdef0123456789abcdef",
            "{provider}"
        );
        assert_eq!(
            (n.amount, n.currency.as_str(), n.status),
            (150_000, "IDR", PaymentStatus::Paid),
            "{provider}"
        );
        // And the same bytes with one byte changed are refused where the scheme covers the body.
        if matches!(provider, Provider::Stripe | Provider::Doku) {
            let tampered = body.replacen("150000", "150001", 1);
            let req = super::WebhookRequest {
                headers: &headers,
                body: tampered.as_bytes(),
                request_target: path,
            };
            assert!(
                verify_webhook(provider, &test_secrets(), &req, now).is_err(),
                "{provider}"
            );
        }
    }
}
