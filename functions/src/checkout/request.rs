//! What a checkout request, its answers and the event view look like, and their validation:
//! pure (no I/O), tested below.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::HARD_MAX_PER_ORDER;
use crate::error::{Error, Result};
use crate::model::{valid_id, BuyerDetails, Event, Order, OrderStatus, PaymentReference};
use crate::ports::{Channel, Lang};

/// Money as sent and returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount_minor: u64,
    pub currency: String,
}

/// What the buyer accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    pub privacy_policy_version: String,
    pub accepted: bool,
    #[serde(default)]
    pub marketing: bool,
}

/// `POST /v1/orders` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u32,
    pub buyer: BuyerDetails,
    pub consent: ConsentRequest,
    #[serde(default)]
    pub payment_provider: Option<String>,
    /// If given, the total the buyer saw: a different current price is refused (`409`).
    #[serde(default)]
    pub expected_total: Option<Money>,
    /// How a high-value order's one-time code reaches the buyer (`email`, the default, `sms`,
    /// `whatsapp`: the last two need the buyer's phone). See [`crate::sale::stepup`].
    #[serde(default)]
    pub otp_channel: Option<Channel>,
    /// The language of the buyer's messages (`id`, the default, or `en`).
    #[serde(default)]
    pub lang: Option<Lang>,
    /// The waiting room's admission (an ES256 JWS), required when the event is in queue mode.
    #[serde(default)]
    pub admission: Option<String>,
}

/// The public view of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: String,
    pub status: OrderStatus,
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub total: Money,
    pub created_at: u64,
    pub expires_at: u64,
    pub payment: Option<PaymentReference>,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        Self {
            order_id: o.order_id.clone(),
            status: o.status,
            event_id: o.event_id.clone(),
            tier_id: o.tier_id.clone(),
            quantity: o.quantity,
            unit_price: Money {
                amount_minor: o.unit_price_minor,
                currency: o.currency.clone(),
            },
            total: Money {
                amount_minor: o.amount_minor,
                currency: o.currency.clone(),
            },
            created_at: o.created_at,
            expires_at: o.expires_at,
            payment: o.payment.clone(),
        }
    }
}

/// How long after an order's creation a replay expects its first request to be still at work.
pub(super) const CREATOR_GRACE_SECS: u64 = 30;
/// Reads (100 ms apart) a replay makes while waiting for the first request's payment session.
pub(super) const CREATOR_POLLS: u32 = 50;

/// `POST /v1/orders` response. `Debug` leaves the access token out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutResponse {
    pub order: OrderView,
    /// Bearer token for `GET /v1/orders/{id}` and the ticket routes. Shown to the buyer only;
    /// only its SHA-256 is stored in clear.
    pub access_token: String,
}

impl std::fmt::Debug for CheckoutResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckoutResponse")
            .field("order", &self.order)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// The public view of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub event_id: String,
    pub name: String,
    pub starts_at: u64,
    pub ends_at: u64,
    /// The venue's IANA zone: the apps show times in it (WIB, WITA, WIT).
    pub time_zone: String,
    pub on_sale: bool,
    /// Buyers go through the waiting room first (the site joins the line at the edge).
    #[serde(default)]
    pub queue_mode: bool,
    pub max_per_order: u32,
    pub tiers: Vec<TierView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierView {
    pub tier_id: String,
    pub name: String,
    pub price: Money,
    pub available: u32,
    pub sold_out: bool,
}

/// What validation of a request against its event decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub buyer: BuyerDetails,
    pub quantity: u32,
    pub unit_price_minor: u64,
    pub amount_minor: u64,
    pub currency: String,
    pub provider: String,
    pub policy_version: String,
    pub marketing: bool,
    pub max_per_buyer: u32,
    /// The order waits for a one-time code before its payment session (its total is above
    /// its currency's step-up threshold).
    pub step_up: bool,
    pub otp_channel: Channel,
    pub lang: Lang,
}

/// Checks that need no I/O and no event: consent, quantity bounds, buyer details, provider.
/// Runs before anything is read or written.
pub fn validate_request(req: &CheckoutRequest, config: &crate::Config) -> Result<()> {
    if !req.consent.accepted
        || !config
            .privacy_policy_versions
            .iter()
            .any(|v| v == &req.consent.privacy_policy_version)
    {
        return Err(Error::ConsentRequired);
    }
    if !valid_id(&req.event_id) {
        return Err(Error::invalid(
            "event_id",
            "1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    if !valid_id(&req.tier_id) {
        return Err(Error::invalid(
            "tier_id",
            "1-64 characters of [A-Za-z0-9._-]",
        ));
    }
    if req.quantity == 0 {
        return Err(Error::invalid("quantity", "must be at least 1"));
    }
    if req.quantity > HARD_MAX_PER_ORDER {
        return Err(Error::LimitExceeded(format!(
            "at most {HARD_MAX_PER_ORDER} tickets per order"
        )));
    }
    req.buyer.normalised()?;
    if let Some(p) = &req.payment_provider {
        if !config.payment_providers.iter().any(|x| x == p) {
            return Err(Error::invalid(
                "payment_provider",
                "not an enabled provider",
            ));
        }
    }
    Ok(())
}

/// Checks a request against its event: on sale, tier, limits, price.
pub fn validate_against_event(
    req: &CheckoutRequest,
    event: &Event,
    config: &crate::Config,
    now: u64,
) -> Result<Validated> {
    validate_request(req, config)?;
    if !event.on_sale || now >= event.ends_at {
        return Err(Error::NotOnSale);
    }
    let tier = event.tier(&req.tier_id).ok_or(Error::NotFound)?;
    let max_per_order = event.max_per_order.min(HARD_MAX_PER_ORDER);
    if req.quantity > max_per_order {
        return Err(Error::LimitExceeded(format!(
            "at most {max_per_order} tickets per order"
        )));
    }
    if req.quantity > event.max_per_buyer {
        return Err(Error::LimitExceeded(format!(
            "at most {} tickets per buyer for this event",
            event.max_per_buyer
        )));
    }
    let amount_minor = tier
        .price_minor
        .checked_mul(u64::from(req.quantity))
        .ok_or_else(|| Error::invalid("quantity", "total overflows"))?;
    if let Some(expected) = &req.expected_total {
        if expected.amount_minor != amount_minor || expected.currency != event.currency {
            return Err(Error::PriceChanged);
        }
    }
    let provider = match &req.payment_provider {
        Some(p) => p.clone(),
        None => config
            .payment_providers
            .first()
            .cloned()
            .ok_or_else(|| Error::internal("no payment provider configured"))?,
    };
    let buyer = req.buyer.normalised()?;
    let otp_channel = req.otp_channel.unwrap_or_default();
    if otp_channel != Channel::Email && buyer.phone.is_none() {
        return Err(Error::invalid(
            "otp_channel",
            "sms and whatsapp need the buyer's phone",
        ));
    }
    Ok(Validated {
        step_up: crate::sale::stepup::above_threshold(
            &config.step_up_thresholds,
            amount_minor,
            &event.currency,
        ),
        otp_channel,
        lang: req.lang.unwrap_or_default(),
        buyer,
        quantity: req.quantity,
        unit_price_minor: tier.price_minor,
        amount_minor,
        currency: event.currency.clone(),
        provider,
        policy_version: req.consent.privacy_policy_version.clone(),
        marketing: req.consent.marketing,
        max_per_buyer: event.max_per_buyer,
    })
}

/// SHA-256 hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The fingerprint of a request for idempotency: what identifies "the same purchase".
pub fn request_fingerprint(req: &CheckoutRequest, v: &Validated, email_index: &str) -> String {
    let text = format!(
        "v1\n{}\n{}\n{}\n{}\n{}\n{}",
        req.event_id, req.tier_id, v.quantity, v.provider, v.policy_version, email_index
    );
    sha256_hex(text.as_bytes())
}

/// Checks an `Idempotency-Key`: 8-200 visible ASCII characters.
pub fn validate_idempotency_key(key: &str) -> Result<()> {
    if (8..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::Header("Idempotency-Key"))
    }
}

pub(super) fn token_field(order_id: &str) -> String {
    format!("order/{order_id}/access_token")
}

/// Field name under which an order's buyer details are sealed.
pub fn buyer_field(order_id: &str) -> String {
    format!("order/{order_id}/buyer")
}

/// Field name under which the customer's email is sealed on their record.
pub const EMAIL_FIELD: &str = "customer/email";

/// Constant-time check of an order access token against the stored hash.
pub fn token_matches(order: &Order, token: &str) -> bool {
    let hash = Sha256::digest(token.as_bytes());
    order.access_token_hash.len() == hash.len()
        && bool::from(order.access_token_hash.as_slice().ct_eq(&hash[..]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Tier;

    fn config() -> crate::Config {
        crate::Config::from_lookup(|k| (k == "TABLE_NAME").then(|| "t".to_owned())).unwrap()
    }

    fn event() -> Event {
        Event {
            event_id: "fest".into(),
            name: "Fest".into(),
            currency: "IDR".into(),
            starts_at: 2_000,
            ends_at: 3_000,
            time_zone: "Asia/Jakarta".into(),
            max_per_order: 4,
            max_per_buyer: 6,
            kid: 1,
            on_sale: true,
            queue_mode: false,
            tiers: vec![Tier {
                tier_id: "ga".into(),
                name: "GA".into(),
                price_minor: 150_000,
                capacity: 10,
                available: 10,
                gates: vec!["*".into()],
                stock_shards: 1,
            }],
        }
    }

    fn request() -> CheckoutRequest {
        serde_json::from_value(serde_json::json!({
            "event_id": "fest", "tier_id": "ga", "quantity": 2,
            "buyer": {"name": "Ana", "email": "Ana@Example.com", "phone": "+6281234567890"},
            "consent": {"privacy_policy_version": "2026-01", "accepted": true}
        }))
        .unwrap()
    }

    #[test]
    fn valid_request_prices_in_minor_units() {
        let v = validate_against_event(&request(), &event(), &config(), 1_000).unwrap();
        assert_eq!(v.amount_minor, 300_000);
        assert_eq!(v.currency, "IDR");
        assert_eq!(v.buyer.email, "ana@example.com");
        assert_eq!(v.provider, "stripe");
    }

    #[test]
    fn consent_is_required() {
        let mut r = request();
        r.consent.accepted = false;
        assert_eq!(validate_request(&r, &config()), Err(Error::ConsentRequired));
        let mut r = request();
        r.consent.privacy_policy_version = "1999-01".into();
        assert_eq!(validate_request(&r, &config()), Err(Error::ConsentRequired));
    }

    #[test]
    fn limits() {
        let mut r = request();
        r.quantity = 5;
        assert!(matches!(
            validate_against_event(&r, &event(), &config(), 1_000),
            Err(Error::LimitExceeded(_))
        ));
        r.quantity = 0;
        assert!(matches!(
            validate_request(&r, &config()),
            Err(Error::Invalid { .. })
        ));
        r.quantity = HARD_MAX_PER_ORDER + 1;
        assert!(matches!(
            validate_request(&r, &config()),
            Err(Error::LimitExceeded(_))
        ));
        let mut e = event();
        e.max_per_order = 10;
        e.max_per_buyer = 3;
        r.quantity = 4;
        assert!(matches!(
            validate_against_event(&r, &e, &config(), 1_000),
            Err(Error::LimitExceeded(_))
        ));
    }

    #[test]
    fn sale_window_price_and_provider() {
        assert_eq!(
            validate_against_event(&request(), &event(), &config(), 3_000),
            Err(Error::NotOnSale)
        );
        let mut r = request();
        r.expected_total = Some(Money {
            amount_minor: 299_999,
            currency: "IDR".into(),
        });
        assert_eq!(
            validate_against_event(&r, &event(), &config(), 1_000),
            Err(Error::PriceChanged)
        );
        let mut r = request();
        r.tier_id = "vip".into();
        assert_eq!(
            validate_against_event(&r, &event(), &config(), 1_000),
            Err(Error::NotFound)
        );
        let mut r = request();
        r.payment_provider = Some("paypal".into());
        assert!(matches!(
            validate_request(&r, &config()),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn fingerprint_and_keys() {
        let r = request();
        let v = validate_against_event(&r, &event(), &config(), 1_000).unwrap();
        let a = request_fingerprint(&r, &v, "idx1");
        assert_eq!(a, request_fingerprint(&r, &v, "idx1"));
        assert_ne!(a, request_fingerprint(&r, &v, "idx2"));
        assert!(validate_idempotency_key("short").is_err());
        assert!(validate_idempotency_key("has space in it").is_err());
        assert!(validate_idempotency_key("7d1c9a3e-5b6f-4e0a-9a1b-2c3d4e5f6a7b").is_ok());
    }

    #[test]
    fn response_debug_hides_the_access_token() {
        let r: CheckoutResponse = serde_json::from_value(serde_json::json!({
            "order": {
                "order_id": "ord_1", "status": "reserved", "event_id": "fest", "tier_id": "ga",
                "quantity": 1, "unit_price": {"amount_minor": 1, "currency": "IDR"},
                "total": {"amount_minor": 1, "currency": "IDR"}, "created_at": 0,
                "expires_at": 0, "payment": null
            },
            "access_token": "tok-secret-123"
        }))
        .unwrap();
        let shown = format!("{r:?}");
        assert!(
            shown.contains("ord_1") && !shown.contains("tok-secret"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: std::result::Result<CheckoutRequest, _> =
            serde_json::from_value(serde_json::json!({
                "event_id": "fest", "tier_id": "ga", "quantity": 2, "price": 1,
                "buyer": {"name": "Ana", "email": "a@example.com"},
                "consent": {"privacy_policy_version": "2026-01", "accepted": true}
            }));
        assert!(r.is_err());
    }
}
