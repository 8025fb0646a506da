//! The real notification senders: SES v2 and SNS against moto, the WhatsApp Cloud API adapter
//! against its loopback stub, and notify choosing the channel and language end to end.

#![allow(clippy::unwrap_used, clippy::too_many_lines)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use base64::Engine as _;
use functions::checkout::{Checkout, CheckoutRequest};
use functions::error::Error;
use functions::notify::{Delivery, Notifier};
use functions::ports::{KeyPurpose, Keys as _, Lang, NotificationSender, NotifyMessage};
use functions::senders::templates::render;
use functions::senders::whatsapp_stub::WhatsAppStub;
use functions::senders::{
    EmailSender, Senders, SesSender, SmsSender, SnsSms, WhatsAppCloud, WhatsAppConfig,
    WhatsAppSender,
};
use functions::testing::{
    sample_checkout_body, sample_event_spec, RecordingPayments, TestClock, TestEnv,
};
use serde_json::Value;

const NOW: u64 = 1_800_000_000;
const TOKEN: &str = "EAAtest-system-user-token";
const PHONE_ID: &str = "106540352242922";

/// Everything moto holds (`/moto-api/data.json`), for checking what was sent.
fn moto_data(endpoint: &str) -> Value {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap()
}

async fn sdk(env: &TestEnv) -> aws_config::SdkConfig {
    functions::aws::sdk_config_for_endpoint(&env.endpoint, "us-east-1").await
}

/// Verifies `domain` (each test its own) and returns its `From`.
async fn verify_domain(env: &TestEnv, domain: &str) -> String {
    let client = aws_sdk_sesv2::Client::new(&sdk(env).await);
    // moto, like SES, refuses to send from an unverified identity.
    client
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
        .unwrap();
    format!("karcis <tiket@{domain}>")
}

async fn verified_ses(env: &TestEnv, domain: &str) -> SesSender {
    let from = verify_domain(env, domain).await;
    SesSender::new(aws_sdk_sesv2::Client::new(&sdk(env).await), from, None)
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn approved() -> Vec<(&'static str, &'static str, usize)> {
    let mut v = Vec::new();
    for lang in ["id", "en"] {
        v.push(("karcis_tickets_ready", lang, 1));
        v.push(("karcis_privacy_code", lang, 1));
        v.push(("karcis_purchase_otp", lang, 1));
        v.push(("karcis_refund_notice", lang, 2));
    }
    v
}

fn wa_config(base_url: &str, token: &str) -> WhatsAppConfig {
    WhatsAppConfig {
        base_url: base_url.to_owned(),
        api_version: "v21.0".into(),
        phone_number_id: PHONE_ID.into(),
        access_token: functions::gateway::Secret::new(token),
    }
}

fn transport() -> functions::gateway::transport::HyperTransport {
    functions::gateway::transport::HyperTransport::new(std::time::Duration::from_secs(5)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ses_sends_from_a_verified_identity_only_and_marketing_has_unsubscribe() {
    let env = TestEnv::new().await;
    let client = aws_sdk_sesv2::Client::new(&sdk(&env).await);
    let unverified = SesSender::new(client, "karcis <tiket@not-verified.test>", None);
    let msg = render(
        "tickets_ready",
        Lang::Id,
        &params(&[("order_id", "ord_ses1")]),
        "https://tiket.example",
    )
    .unwrap();
    let to = "buyer.ses.one@example.co.id";
    let err = unverified.send_email(to, &msg).await.unwrap_err();
    assert!(
        !err.to_string().contains(to),
        "the error quotes the recipient: {err}"
    );

    let ses = verified_ses(&env, "mail1.karcis.test").await;
    ses.send_email(to, &msg).await.unwrap();
    let news = render(
        "event_news",
        Lang::En,
        &params(&[("event_id", "fest")]),
        "https://tiket.example",
    )
    .unwrap();
    ses.send_email("buyer.ses.two@example.co.id", &news)
        .await
        .unwrap();

    let data = moto_data(&env.endpoint);
    let messages = data["ses"]["Message"].as_array().unwrap();
    let to_one: Vec<&Value> = messages
        .iter()
        .filter(|m| m["destinations"]["ToAddresses"][0] == to)
        .collect();
    assert_eq!(to_one.len(), 1, "exactly one email to the buyer");
    assert_eq!(to_one[0]["source"], "karcis <tiket@mail1.karcis.test>");
    assert_eq!(
        to_one[0]["subject"],
        "Tiket Anda sudah siap (pesanan ord_ses1)"
    );
    let body = to_one[0]["body"].as_str().unwrap();
    assert!(
        body.contains("https://tiket.example/return.html?order=ord_ses1"),
        "{body}"
    );
    let two = messages
        .iter()
        .find(|m| m["destinations"]["ToAddresses"][0] == "buyer.ses.two@example.co.id")
        .unwrap();
    assert!(two["body"]
        .as_str()
        .unwrap()
        .contains("Unsubscribe: https://tiket.example/privacy.html#marketing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_publishes_transactional_sms_to_an_e164_number() {
    let env = TestEnv::new().await;
    let sms = SnsSms::new(
        aws_sdk_sns::Client::new(&sdk(&env).await),
        Some("KARCIS".into()),
    );
    let phone = "+6281299887766";
    let msg = render(
        "privacy_code",
        Lang::Id,
        &params(&[("code", "48151623"), ("minutes", "10")]),
        "https://s",
    )
    .unwrap();
    sms.send_sms(phone, &msg.sms).await.unwrap();
    assert!(sms.send_sms("0812 9988 7766", &msg.sms).await.is_err());
    let data = moto_data(&env.endpoint);
    let sent: Vec<&Value> = data["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["phone_number"] == phone)
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["message"],
        "karcis: kode verifikasi Anda 48151623, berlaku 10 menit. Jangan berikan kepada siapa pun."
    );
}

#[tokio::test]
async fn whatsapp_sends_approved_templates_and_classifies_errors() {
    let stub = WhatsAppStub::start(TOKEN, PHONE_ID, &approved())
        .await
        .unwrap();
    let wa = WhatsAppCloud::new(wa_config(&stub.base_url(), TOKEN), transport());
    let otp = render(
        "purchase_otp",
        Lang::En,
        &params(&[
            ("code", "123456"),
            ("minutes", "5"),
            ("order_id", "ord_1"),
            ("amount_minor", "1500000"),
            ("currency", "IDR"),
        ]),
        "https://s",
    )
    .unwrap();
    wa.send_whatsapp("+6281234500001", &otp).await.unwrap();
    let refund = render(
        "refund_notice",
        Lang::Id,
        &params(&[
            ("order_id", "ord_2"),
            ("amount_minor", "350000"),
            ("currency", "IDR"),
        ]),
        "https://s",
    )
    .unwrap();
    wa.send_whatsapp("+6281234500002", &refund).await.unwrap();
    let sent = stub.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].to, "6281234500001");
    assert_eq!(sent[0].template, "karcis_purchase_otp");
    assert_eq!(sent[0].language, "en");
    assert_eq!(sent[0].params, vec!["123456".to_owned()]);
    assert_eq!(sent[0].button.as_deref(), Some("123456"));
    assert_eq!(
        sent[1].params,
        vec!["ord_2".to_owned(), "Rp350.000".to_owned()]
    );
    assert_eq!(sent[1].button, None);

    // Rate limited: retried (transient), nothing recorded.
    stub.throttle_next(1);
    let e = wa.send_whatsapp("+6281234500003", &otp).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    // A wrong token or an unapproved template: refused, not retried as transient.
    let bad = WhatsAppCloud::new(wa_config(&stub.base_url(), "EAAwrong"), transport());
    let e = bad.send_whatsapp("+6281234500003", &otp).await.unwrap_err();
    assert!(
        matches!(&e, Error::Internal(d) if d.contains("190")),
        "{e:?}"
    );
    let news = render(
        "event_news",
        Lang::Id,
        &params(&[("event_id", "f")]),
        "https://s",
    )
    .unwrap();
    let e = wa.send_whatsapp("+6281234500003", &news).await.unwrap_err();
    assert!(
        matches!(&e, Error::Internal(d) if d.contains("132001")),
        "{e:?}"
    );
    assert!(!e.to_string().contains("6281234500003"));
    // Not E.164: never sent.
    assert!(wa.send_whatsapp("081234500003", &otp).await.is_err());
    assert_eq!(stub.sent().len(), 2);
}

/// notify: the channel and language of the message; the phone comes from the sealed order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_delivers_by_the_asked_channel_in_the_asked_language() {
    let env = TestEnv::new().await;
    let deps = env.deps().with_clock(Arc::new(TestClock::new(NOW)));
    functions::admin::create_event(&deps, &sample_event_spec("fest", 10, NOW))
        .await
        .unwrap();
    let checkout = Checkout::new(deps.clone(), Arc::new(RecordingPayments::default()));
    let req: CheckoutRequest =
        serde_json::from_value(sample_checkout_body("fest", 1, 7101)).unwrap();
    let order = checkout
        .create_order("senders-key-7101", &req)
        .await
        .unwrap()
        .response
        .order;
    let stub = WhatsAppStub::start(TOKEN, PHONE_ID, &approved())
        .await
        .unwrap();
    let sdk = sdk(&env).await;
    let senders = Senders {
        email: Arc::new(verified_ses(&env, "mail2.karcis.test").await),
        sms: Some(Arc::new(SnsSms::new(aws_sdk_sns::Client::new(&sdk), None))),
        whatsapp: Some(Arc::new(WhatsAppCloud::new(
            wa_config(&stub.base_url(), TOKEN),
            transport(),
        ))),
        site_url: "https://tiket.example".into(),
    };
    let sender: Arc<dyn NotificationSender> = Arc::new(senders);
    let notifier = Notifier::new(deps.clone(), sender);
    let customer_id = deps
        .orders
        .get_order(&order.order_id)
        .await
        .unwrap()
        .unwrap()
        .customer_id;
    let message = |channel: Option<&str>, lang: Option<&str>, id: &str| {
        let mut params = BTreeMap::new();
        if let Some(c) = channel {
            params.insert("channel".to_owned(), c.to_owned());
        }
        if let Some(l) = lang {
            params.insert("lang".to_owned(), l.to_owned());
        }
        NotifyMessage {
            template: "tickets_ready".into(),
            customer_id: customer_id.clone(),
            order_id: Some(order.order_id.clone()),
            dedupe_id: id.to_owned(),
            params,
        }
    };
    let d = |m: NotifyMessage| {
        let notifier = &notifier;
        async move { notifier.deliver(&m).await }
    };
    assert_eq!(
        d(message(Some("whatsapp"), Some("en"), "n-wa"))
            .await
            .unwrap(),
        Delivery::Sent
    );
    assert_eq!(
        d(message(Some("sms"), None, "n-sms")).await.unwrap(),
        Delivery::Sent
    );
    assert_eq!(
        d(message(None, None, "n-email")).await.unwrap(),
        Delivery::Sent
    );
    assert_eq!(
        d(message(None, None, "n-email")).await.unwrap(),
        Delivery::Duplicate
    );
    assert!(d(message(Some("pigeon"), None, "n-bad")).await.is_err());

    let wa = stub.sent();
    assert_eq!(wa.len(), 1);
    assert_eq!(
        (wa[0].to.as_str(), wa[0].language.as_str()),
        ("628123007101", "en")
    );
    assert_eq!(wa[0].params, vec![order.order_id.clone()]);
    let data = moto_data(&env.endpoint);
    let sms: Vec<&Value> = data["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["phone_number"] == "+628123007101")
        .collect();
    assert_eq!(sms.len(), 1);
    assert!(sms[0]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("tiket pesanan {} sudah siap", order.order_id)));
    let emails = data["ses"]["Message"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destinations"]["ToAddresses"][0] == "siti.rahma7101@example.co.id")
        .count();
    assert_eq!(emails, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logging_sender_is_refused_on_lambda() {
    let env = TestEnv::new().await;
    let sdk = sdk(&env).await;
    let keys = env.keys();
    let on_lambda = |k: &str| match k {
        "KARCIS_LOGGING_SENDER" => Some("1".to_owned()),
        "AWS_LAMBDA_FUNCTION_NAME" => Some("karcis-notify".to_owned()),
        _ => None,
    };
    assert!(
        functions::senders::from_lookup(&sdk, keys.as_ref(), on_lambda)
            .await
            .is_err()
    );
    let local = |k: &str| (k == "KARCIS_LOGGING_SENDER").then(|| "1".to_owned());
    assert!(functions::senders::from_lookup(&sdk, keys.as_ref(), local)
        .await
        .is_ok());
    // Without it, the real senders need their settings.
    assert!(
        functions::senders::from_lookup(&sdk, keys.as_ref(), |_| None)
            .await
            .is_err()
    );
    let from = verify_domain(&env, "mail3.karcis.test").await;
    let real = |k: &str| match k {
        "SES_FROM_ADDRESS" => Some(from.clone()),
        "NOTIFY_SITE_URL" => Some("https://tiket.example".to_owned()),
        _ => None,
    };
    let s = functions::senders::from_lookup(&sdk, keys.as_ref(), real)
        .await
        .unwrap();
    let n = functions::ports::Notification {
        template: "tickets_ready".into(),
        recipient_email: zeroize::Zeroizing::new("buyer.env@example.co.id".to_owned()),
        params: params(&[("order_id", "ord_env")]),
        ..Default::default()
    };
    s.send(&n).await.unwrap();
    let data = moto_data(&env.endpoint);
    let sent = data["ses"]["Message"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destinations"]["ToAddresses"][0] == "buyer.env@example.co.id")
        .count();
    assert_eq!(sent, 1, "the configured sender is SES");

    // WhatsApp configured from the environment: the token is KMS ciphertext for its own purpose.
    let stub = WhatsAppStub::start(TOKEN, PHONE_ID, &approved())
        .await
        .unwrap();
    let wrapped = keys
        .encrypt(&KeyPurpose::MessagingSecrets, TOKEN.as_bytes())
        .await
        .unwrap();
    let token_b64 = base64::engine::general_purpose::STANDARD.encode(&wrapped);
    let with_whatsapp = |k: &str| match k {
        "WHATSAPP_PHONE_NUMBER_ID" => Some(PHONE_ID.to_owned()),
        "WHATSAPP_ACCESS_TOKEN" => Some(token_b64.clone()),
        "WHATSAPP_BASE_URL" => Some(stub.base_url()),
        other => real(other),
    };
    let s = functions::senders::from_lookup(&sdk, keys.as_ref(), with_whatsapp)
        .await
        .unwrap();
    let n = functions::ports::Notification {
        template: "tickets_ready".into(),
        recipient_email: zeroize::Zeroizing::new("buyer.env@example.co.id".to_owned()),
        recipient_phone: Some(zeroize::Zeroizing::new("+6281234500009".to_owned())),
        channel: functions::ports::Channel::Whatsapp,
        params: params(&[("order_id", "ord_env2")]),
        ..Default::default()
    };
    s.send(&n).await.unwrap();
    assert_eq!(stub.sent().len(), 1, "sent with the decrypted token");
    // A token encrypted for another purpose does not open.
    let other = keys
        .encrypt(&KeyPurpose::GatewaySecrets, TOKEN.as_bytes())
        .await
        .unwrap();
    let other_b64 = base64::engine::general_purpose::STANDARD.encode(&other);
    let wrong = |k: &str| match k {
        "WHATSAPP_ACCESS_TOKEN" => Some(other_b64.clone()),
        other => with_whatsapp(other),
    };
    assert!(functions::senders::from_lookup(&sdk, keys.as_ref(), wrong)
        .await
        .is_err());
}
