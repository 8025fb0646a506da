//! The bot farm of the flash sale: scripted clients racing the real buyers, with no CAPTCHA
//! token, reused devices and addresses, hundreds of throwaway addresses, bulk orders from one
//! phone, a high-risk country, and one card the organiser has blacklisted. Each knocks on the
//! same public API as the buyers; the summary counts what was refused and why (the stored risk
//! decisions' rule codes), and checks that no real buyer was refused by a rate limit or a rule.

use std::collections::BTreeMap;

use functions::deps::Deps;
use functions::fraud::blacklist::{self, Entry, Kind};
use functions::gateway::testing::{signed_webhook, TestPayment};
use functions::gateway::{GatewaySecrets, PaymentStatus, Provider};
use functions::model::OrderStatus;
use serde_json::json;

use crate::client::HttpClient;
use crate::stack::DevStack;

/// The header the local API gateway takes a client's address from (a loopback harness stands
/// for many households, as CloudFront's viewer address would).
pub const SOURCE_HEADER: &str = "x-local-source-ip";
/// The country the demo's configuration calls high-risk (`RISK_HIGH_RISK_COUNTRIES`).
pub const HIGH_RISK_COUNTRY: &str = "XA";
/// The card the organiser blacklisted (Midtrans `masked_card`).
pub const BLACKLISTED_CARD: &str = "481111-1114";

/// Who a client says it is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub ip: String,
    pub device: String,
    pub country: &'static str,
    pub email: String,
    pub phone: Option<String>,
    pub quantity: u32,
    pub kind: &'static str,
}

/// Real buyer `n`: their own address, device and phone, in Indonesia.
pub fn buyer(n: u32) -> Identity {
    Identity {
        ip: format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
        device: format!("buyer-{n:08}"),
        country: "ID",
        email: String::new(),
        phone: None,
        quantity: if n % 3 == 0 { 2 } else { 1 },
        kind: "buyer",
    }
}

/// Bot `i` of the farm.
pub fn bot(i: u32) -> Identity {
    match i % 3 {
        // A handful of devices and addresses checking out as hundreds of throwaway addresses.
        0 => Identity {
            ip: format!("203.0.113.{}", i % 4 + 1),
            device: format!("farm-dev-{}", i % 4),
            country: "ID",
            email: format!("bot{i:05}@mailinator.com"),
            phone: None,
            quantity: 2,
            kind: "reused devices, throwaway emails",
        },
        // Bulk orders from one phone.
        1 => Identity {
            ip: format!("198.18.0.{}", i % 2 + 1),
            device: format!("bulk-dev-{}", i % 2),
            country: "ID",
            email: format!("reseller{i:05}@example.com"),
            phone: Some("+6281100000001".to_owned()),
            quantity: 2,
            kind: "bulk from one phone",
        },
        // A fresh device each time, from a high-risk country, throwaway emails.
        _ => Identity {
            ip: format!("192.0.2.{}", i % 250 + 1),
            device: format!("abroad-{i:06}"),
            country: HIGH_RISK_COUNTRY,
            email: format!("far{i:05}@yopmail.com"),
            phone: None,
            quantity: 1,
            kind: "high-risk country",
        },
    }
}

/// The headers a client sends with `POST /v1/orders` (no CAPTCHA token: the local stack runs
/// no siteverify, nor the per-client rate limit, as every browser test shares one address).
pub fn headers<'a>(id: &'a Identity, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("idempotency-key", key),
        (SOURCE_HEADER, id.ip.as_str()),
        ("x-karcis-device", id.device.as_str()),
        ("cloudfront-viewer-country", id.country),
    ]
}

/// What the farm achieved.
#[derive(Debug, Clone, Default)]
pub struct FarmStats {
    pub bots: u32,
    /// Orders the bots got (seats held; step-up ones cannot pay without the buyer's code).
    pub orders: u32,
    pub seats: u32,
    pub stepped_up: u32,
    pub refused_by_rules: u32,
    pub rate_limited: u32,
    pub other: u32,
    /// Rule codes of the stored decisions (blocks, holds, step-ups) and how often each fired.
    pub reasons: BTreeMap<String, u32>,
    /// The blacklisted-card order: held at payment, never minted.
    pub card_order_held: Option<bool>,
    pub card_order_minted: bool,
}

/// One bot's checkout: (status, order status, quantity).
pub async fn checkout(api: &HttpClient, event_id: &str, i: u32) -> (u16, String, u32) {
    let id = bot(i);
    let mut body = functions::testing::sample_checkout_body(event_id, id.quantity, 900_000 + i);
    body["buyer"]["email"] = json!(id.email);
    body["buyer"]["phone"] = json!(id.phone);
    let key = format!("bot-{i:06}-{}", super::scenario::random_hex(6));
    let reply = api
        .post_json("/v1/orders", &headers(&id, &key), &body)
        .await;
    match reply {
        Ok(r) => {
            let v = r.json();
            let status = v["order"]["status"].as_str().unwrap_or("-").to_owned();
            (r.status, status, id.quantity)
        }
        Err(_) => (0, "-".into(), id.quantity),
    }
}

impl FarmStats {
    pub fn add(&mut self, (status, order_status, quantity): (u16, String, u32)) {
        self.bots += 1;
        match status {
            201 => {
                self.orders += 1;
                self.seats += quantity;
                self.stepped_up += u32::from(order_status == "verification_required");
            }
            403 => self.refused_by_rules += 1,
            429 => self.rate_limited += 1,
            _ => self.other += 1,
        }
    }

    /// The rule codes of every stored decision of the event.
    pub async fn read_reasons(&mut self, deps: &Deps, event_id: &str) -> Result<(), String> {
        let decisions = deps.fraud.flagged(500).await.map_err(|e| e.to_string())?;
        for d in decisions.iter().filter(|d| d.event_id == event_id) {
            for r in &d.reasons {
                *self.reasons.entry(r.code.clone()).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// The card bot: an order paid through Midtrans with a card the organiser blacklisted while the
/// sale ran (written as `POST /v1/fraud/blacklist` writes it). Its paid notification must hold
/// the order. Returns the order id and whether it is held.
pub async fn card_bot(
    stack: &DevStack,
    api: &HttpClient,
    secrets: &GatewaySecrets,
    event_id: &str,
) -> Result<(String, bool), String> {
    let id = Identity {
        ip: "100.64.0.1".into(),
        device: "card-bot-0001".into(),
        country: "ID",
        email: "carder@example.org".into(),
        phone: None,
        quantity: 1,
        kind: "blacklisted card",
    };
    let mut body = functions::testing::sample_checkout_body(event_id, 1, 999_999);
    body["buyer"]["email"] = json!(id.email);
    body["payment_provider"] = json!("midtrans");
    let key = format!("card-bot-{}", super::scenario::random_hex(6));
    let r = api
        .post_json("/v1/orders", &headers(&id, &key), &body)
        .await?;
    if r.status != 201 {
        return Err(format!(
            "card bot checkout {}: {}",
            r.status,
            r.problem_type()
        ));
    }
    let v = r.json();
    let order_id = v["order"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deps = &stack.deps;
    let now = deps.clock.now();
    let text = blacklist::card("midtrans", BLACKLISTED_CARD).map_err(|e| e.to_string())?;
    let entry = Entry {
        id: deps
            .pii
            .mac(blacklist::MAC_PURPOSE, &text)
            .await
            .map_err(|e| e.to_string())?,
        kind: Kind::Card,
        provider: Some("midtrans".into()),
        reason: "charged back at another organiser".into(),
        added_by: "demo-admin".into(),
        added_at: now,
        expires_at: now + 86_400,
    };
    deps.fraud
        .put_entry(&entry)
        .await
        .map_err(|e| e.to_string())?;
    let gateway = stack.gateway.as_ref().ok_or("no gateway stub")?;
    gateway.payments().set_card(&order_id, BLACKLISTED_CARD);
    gateway.set_status(&order_id, PaymentStatus::Paid);
    let amount = v["order"]["total"]["amount_minor"].as_u64().unwrap_or(0);
    let payment = TestPayment::paid(&order_id, amount, "IDR");
    let hook = signed_webhook(Provider::Midtrans, secrets, &payment, now);
    let reply = api
        .request("POST", &hook.path, &hook.header_pairs(), hook.body.clone())
        .await?;
    if reply.status != 200 {
        return Err(format!("card bot webhook {}", reply.status));
    }
    let held = deps
        .fraud
        .is_held(&order_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok((order_id, held))
}

/// True when the order was minted (it must not be, once held).
pub async fn minted(deps: &Deps, order_id: &str) -> bool {
    deps.orders
        .get_order(order_id)
        .await
        .ok()
        .flatten()
        .is_some_and(|o| o.status == OrderStatus::Minted || o.minted_at.is_some())
}
