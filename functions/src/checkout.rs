//! checkout: reserve tickets (`POST /v1/orders`), read an order (`GET /v1/orders/{id}`), read an
//! event's availability (`GET /v1/events/{id}`).
//!
//! The reservation, the stock decrement, the per-buyer counter and the order are one DynamoDB
//! transaction with conditions (no oversell under any concurrency). The `Idempotency-Key` header
//! is required: a retry with the same key and request returns the same order (and the same
//! access token); the same key with another request is refused. Buyer details are sealed with
//! the customer's data key before anything is stored.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::HARD_MAX_PER_ORDER;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::fraud::screen::ClientContext;
use crate::guard::{Guard, Route};
use crate::http::{bearer_token, header_str, json_response, read_json, respond};
use crate::model::{
    is_id, new_id, valid_id, BuyerDetails, Consent, Event, Order, OrderStatus, PaymentReference,
};
use crate::pii::CustomerKey;
use crate::ports::{
    Channel, HostedPayments, Lang, NewCustomer, PaymentRequest, Reservation, ReserveOutcome,
};

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
const CREATOR_GRACE_SECS: u64 = 30;
/// Reads (100 ms apart) a replay makes while waiting for the first request's payment session.
const CREATOR_POLLS: u32 = 50;

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

fn token_field(order_id: &str) -> String {
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

/// Loads an order for a caller holding its access token. Unknown order and wrong token are both
/// `NotFound` (an order's existence is not disclosed).
pub async fn authorize_order(deps: &Deps, order_id: &str, token: &str) -> Result<Order> {
    if !is_id("ord", order_id) {
        return Err(Error::NotFound);
    }
    let order = deps
        .orders
        .get_order(order_id)
        .await?
        .ok_or(Error::NotFound)?;
    if token_matches(&order, token) {
        Ok(order)
    } else {
        Err(Error::NotFound)
    }
}

/// The checkout service.
#[derive(Clone)]
pub struct Checkout {
    pub deps: Deps,
    pub payments: Arc<dyn HostedPayments>,
    /// The per-client rate limit and the bot check of `POST /v1/orders` (see [`crate::guard`]).
    pub guard: Option<Arc<Guard>>,
    /// The kill switch as last read: (read at, paused). See [`PAUSE_CACHE_SECS`].
    pause_seen: Arc<std::sync::Mutex<Option<(u64, bool)>>>,
    /// The fraud admin routes (`/v1/fraud/...`), when console tokens can be verified.
    pub fraud_admin: Option<crate::fraud::routes::FraudAdmin>,
}

/// How long checkout trusts its last read of the kill switch (`admin pause-sales --all`).
pub const PAUSE_CACHE_SECS: u64 = 2;

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout").finish_non_exhaustive()
    }
}

/// What [`Checkout::create_order`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub response: CheckoutResponse,
    /// True when the idempotency key had been used: the earlier order is returned.
    pub replayed: bool,
}

impl Checkout {
    pub fn new(deps: Deps, payments: Arc<dyn HostedPayments>) -> Self {
        Self {
            deps,
            payments,
            guard: None,
            pause_seen: Arc::new(std::sync::Mutex::new(None)),
            fraud_admin: None,
        }
    }

    /// Whether the kill switch is on, read at most every [`PAUSE_CACHE_SECS`] per instance.
    async fn sales_paused(&self, now: u64) -> Result<bool> {
        let seen = *self
            .pause_seen
            .lock()
            .map_err(|_| Error::internal("poisoned"))?;
        if let Some((at, paused)) = seen {
            if at <= now && now < at + PAUSE_CACHE_SECS {
                return Ok(paused);
            }
        }
        let paused = self.deps.events.sales_paused().await?;
        *self
            .pause_seen
            .lock()
            .map_err(|_| Error::internal("poisoned"))? = Some((now, paused));
        Ok(paused)
    }

    /// The buyer's customer key: the stored one, or a new customer (record to create with the
    /// reservation). A deleted buyer's address cannot order again under the old record.
    async fn customer_key_for(
        &self,
        v: &Validated,
        email_index: &str,
    ) -> Result<(crate::pii::CustomerKey, Option<NewCustomer>)> {
        let d = &self.deps;
        Ok(
            if let Some(customer_id) = d.customers.find_by_email_index(email_index).await? {
                let key = d.pii.customer_key_by_id(&customer_id).await.map_err(|e| {
                    if e == Error::NotFound {
                        Error::Conflict("this buyer's data was deleted".into())
                    } else {
                        e
                    }
                })?;
                (key, None)
            } else {
                let customer_id = new_id("cus", d.rng.as_ref());
                let (key, wrapped_key) = d.pii.new_customer_key(&customer_id).await?;
                let email_sealed = key.seal(EMAIL_FIELD, v.buyer.email.as_bytes(), d.rng.as_ref());
                (
                    key,
                    Some(NewCustomer {
                        email_index: email_index.to_owned(),
                        wrapped_key,
                        email_sealed,
                    }),
                )
            },
        )
    }

    /// Serves the fraud admin routes with `admin`.
    #[must_use]
    pub fn with_fraud_admin(mut self, admin: crate::fraud::routes::FraudAdmin) -> Self {
        self.fraud_admin = Some(admin);
        self
    }

    /// Puts `guard` in front of `POST /v1/orders`.
    #[must_use]
    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// `POST /v1/orders` of a client karcis knows nothing about (tests, local tools).
    pub async fn create_order(
        &self,
        idempotency_key: &str,
        req: &CheckoutRequest,
    ) -> Result<Created> {
        self.create_order_from(&ClientContext::default(), idempotency_key, req)
            .await
    }

    /// `POST /v1/orders` from `client`: the fraud screen ([`crate::fraud::screen`]) runs
    /// before the reservation, outside its transaction.
    pub async fn create_order_from(
        &self,
        client: &ClientContext,
        idempotency_key: &str,
        req: &CheckoutRequest,
    ) -> Result<Created> {
        validate_idempotency_key(idempotency_key)?;
        validate_request(req, &self.deps.config)?;
        let d = &self.deps;
        let now = d.clock.now();
        if self.sales_paused(now).await? {
            return Err(Error::NotOnSale);
        }
        let event = d
            .events
            .get_event(&req.event_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut v = validate_against_event(req, &event, &d.config, now)?;
        let email_index = d.pii.email_index(&v.buyer.email).await?;
        // Scoped to the buyer: another buyer's key never replays (or blocks) this buyer's order,
        // and a replay hands the access token only to a request for the same buyer.
        let key_hash = sha256_hex(format!("{email_index}\0{idempotency_key}").as_bytes());
        // A retry of a made order is answered before the fraud screen: it is one order, and
        // counting it again could refuse the buyer their own order.
        if let Some((order_id, stored)) = d.orders.idempotent_order(&key_hash).await? {
            let request_hash = request_fingerprint(req, &v, &email_index);
            if !bool::from(stored.as_bytes().ct_eq(request_hash.as_bytes())) {
                return Err(Error::IdempotencyMismatch);
            }
            let (customer_key, _) = self.customer_key_for(&v, &email_index).await?;
            return self.replay(&order_id, &event, &customer_key, &v).await;
        }
        // After the replay (a retry of a made order still answers), before anything is counted
        // or reserved: one conditional write spends the admission for this buyer and key.
        if event.queue_mode {
            crate::sale::admission::require(d, req.admission.as_deref(), &event, &key_hash, now)
                .await?;
        }
        let screened = crate::fraud::screen::screen_checkout(
            d,
            crate::fraud::screen::Buyer {
                email: &v.buyer.email,
                phone: v.buyer.phone.as_deref(),
                event_id: &event.event_id,
            },
            &email_index,
            client,
            now,
        )
        .await?;
        // The risk rules may ask for the one-time code below the amount threshold.
        v.step_up |= screened.step_up;
        let request_hash = request_fingerprint(req, &v, &email_index);

        // A concurrent first order by the same new buyer can win the customer record: then
        // look the customer up again (bounded).
        for _ in 0..3 {
            let (customer_key, new_customer) = self.customer_key_for(&v, &email_index).await?;
            let (order, token) = self.build_order(req, &v, &customer_key, now)?;
            let reservation = Reservation {
                order,
                idempotency_key_hash: key_hash.clone(),
                request_hash: request_hash.clone(),
                idempotency_expires_at: now + d.config.idempotency_ttl_secs,
                max_per_buyer: v.max_per_buyer,
                new_customer,
            };
            match d.orders.reserve(&reservation).await? {
                ReserveOutcome::Created => {
                    let order = reservation.order;
                    crate::fraud::screen::after_reserve(d, &order.order_id, &screened, now).await?;
                    tracing::info!(
                        order_id = %order.order_id,
                        customer_id = %order.customer_id,
                        event_id = %order.event_id,
                        quantity = order.quantity,
                        "reserved"
                    );
                    if order.status == OrderStatus::VerificationRequired {
                        // No payment session before the buyer's one-time code.
                        crate::sale::stepup::start(d, &order, &customer_key, v.otp_channel, v.lang)
                            .await?;
                    }
                    let order = self.ensure_payment(order, &event).await?;
                    return Ok(Created {
                        response: CheckoutResponse {
                            order: OrderView::from(&order),
                            access_token: token.to_string(),
                        },
                        replayed: false,
                    });
                }
                ReserveOutcome::Replayed {
                    order_id,
                    request_hash: stored,
                } => {
                    if !bool::from(stored.as_bytes().ct_eq(request_hash.as_bytes())) {
                        return Err(Error::IdempotencyMismatch);
                    }
                    return self.replay(&order_id, &event, &customer_key, &v).await;
                }
                ReserveOutcome::CustomerExists => {}
            }
        }
        Err(Error::unavailable("customer record contention; retry"))
    }

    fn build_order(
        &self,
        req: &CheckoutRequest,
        v: &Validated,
        key: &CustomerKey,
        now: u64,
    ) -> Result<(Order, zeroize::Zeroizing<String>)> {
        let d = &self.deps;
        let order_id = new_id("ord", d.rng.as_ref());
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        d.rng.fill(&mut secret[..]);
        let token = zeroize::Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref()),
        );
        let order = Order {
            order_id: order_id.clone(),
            event_id: req.event_id.clone(),
            tier_id: req.tier_id.clone(),
            quantity: v.quantity,
            unit_price_minor: v.unit_price_minor,
            amount_minor: v.amount_minor,
            currency: v.currency.clone(),
            status: if v.step_up {
                OrderStatus::VerificationRequired
            } else {
                OrderStatus::Reserved
            },
            customer_id: key.customer_id().to_owned(),
            created_at: now,
            expires_at: now + d.config.reservation_ttl_secs,
            buyer_sealed: key.seal_json(&buyer_field(&order_id), &v.buyer, d.rng.as_ref())?,
            access_token_hash: Sha256::digest(token.as_bytes()).to_vec(),
            access_token_sealed: key.seal(
                &token_field(&order_id),
                token.as_bytes(),
                d.rng.as_ref(),
            ),
            consent: Consent {
                privacy_policy_version: v.policy_version.clone(),
                accepted_at: now,
                marketing: v.marketing,
            },
            payment_provider: v.provider.clone(),
            payment: None,
            paid: None,
            refund_due: None,
            minted_at: None,
            reversal: None,
        };
        Ok((order, token))
    }

    /// Creates the hosted payment if the order has none yet (idempotent per order id).
    pub(crate) async fn ensure_payment(&self, mut order: Order, event: &Event) -> Result<Order> {
        if order.payment.is_some() || order.status != OrderStatus::Reserved {
            return Ok(order);
        }
        let tier_name = event
            .tier(&order.tier_id)
            .map_or(order.tier_id.as_str(), |t| t.name.as_str());
        let request = PaymentRequest {
            provider: order.payment_provider.clone(),
            order_id: order.order_id.clone(),
            amount_minor: order.amount_minor,
            currency: order.currency.clone(),
            description: format!("{} x {}, {}", order.quantity, tier_name, event.name),
            expires_at: order.expires_at,
        };
        let payment = self.payments.create_payment(&request).await?;
        if self
            .deps
            .orders
            .set_payment_reference(&order.order_id, &payment)
            .await?
        {
            order.payment = Some(payment);
            return Ok(order);
        }
        // A concurrent attempt stored its reference first: keep that one.
        self.deps
            .orders
            .get_order(&order.order_id)
            .await?
            .ok_or_else(|| Error::internal("order vanished"))
    }

    /// A replay that races the order's first request waits (bounded) for that request to store
    /// its payment session, instead of opening a second session with the gateway. Past the
    /// wait (the first request died), the replay creates it.
    async fn await_creators_payment(&self, order: Order) -> Result<Order> {
        let young = self.deps.clock.now() < order.created_at + CREATOR_GRACE_SECS;
        if order.payment.is_some() || order.status != OrderStatus::Reserved || !young {
            return Ok(order);
        }
        for _ in 0..CREATOR_POLLS {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = self
                .deps
                .orders
                .get_order(&order.order_id)
                .await?
                .ok_or_else(|| Error::internal("order vanished"))?;
            if now.payment.is_some() || now.status != OrderStatus::Reserved {
                return Ok(now);
            }
        }
        Ok(order)
    }

    /// Answers a reused idempotency key with the earlier order. `key` is the buyer's key as
    /// this request resolved it: reused when the order is theirs (no second KMS call).
    async fn replay(
        &self,
        order_id: &str,
        event: &Event,
        key: &CustomerKey,
        v: &Validated,
    ) -> Result<Created> {
        let d = &self.deps;
        let order = d
            .orders
            .get_order(order_id)
            .await?
            .ok_or_else(|| Error::internal("idempotency record names a missing order"))?;
        let fetched;
        let key = if key.customer_id() == order.customer_id {
            key
        } else {
            // A concurrent first order of this buyer created their record meanwhile.
            fetched = d.pii.customer_key_by_id(&order.customer_id).await?;
            &fetched
        };
        let token = key.open(&token_field(&order.order_id), &order.access_token_sealed)?;
        let token = String::from_utf8(token.to_vec()).map_err(Error::internal)?;
        if order.status == OrderStatus::VerificationRequired {
            // The first request may have died before its code was stored (a no-op otherwise).
            crate::sale::stepup::start(d, &order, key, v.otp_channel, v.lang).await?;
        }
        let order = self.await_creators_payment(order).await?;
        let order = self.ensure_payment(order, event).await?;
        tracing::info!(order_id = %order.order_id, "idempotent replay");
        Ok(Created {
            response: CheckoutResponse {
                order: OrderView::from(&order),
                access_token: token,
            },
            replayed: true,
        })
    }

    /// `GET /v1/events/{id}`.
    pub async fn event_view(&self, event_id: &str) -> Result<EventView> {
        if !valid_id(event_id) {
            return Err(Error::NotFound);
        }
        let e = self
            .deps
            .events
            .get_event(event_id)
            .await?
            .ok_or(Error::NotFound)?;
        Ok(EventView {
            event_id: e.event_id.clone(),
            name: e.name.clone(),
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            time_zone: e.time_zone.clone(),
            on_sale: e.on_sale && self.deps.clock.now() < e.ends_at,
            queue_mode: e.queue_mode,
            max_per_order: e.max_per_order.min(HARD_MAX_PER_ORDER),
            tiers: e
                .tiers
                .iter()
                .map(|t| TierView {
                    tier_id: t.tier_id.clone(),
                    name: t.name.clone(),
                    price: Money {
                        amount_minor: t.price_minor,
                        currency: e.currency.clone(),
                    },
                    available: t.available,
                    sold_out: t.available == 0,
                })
                .collect(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn post_order(
    State(c): State<Arc<Checkout>>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        if let Some(guard) = &c.guard {
            let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
            guard
                .admit(&c.deps, Route::Checkout, &extensions, &headers, key)
                .await?;
        }
        let req: CheckoutRequest = read_json(&headers, body, c.deps.config.max_body_bytes).await?;
        let key = header_str(&headers, "idempotency-key")?;
        c.create_order_from(&client_context(&extensions, &headers)?, key, &req)
            .await
    }
    .await;
    match result {
        Ok(created) => {
            let status = if created.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut res = json_response(status, &created.response);
            if created.replayed {
                res.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            res
        }
        Err(e) => e.into_response(),
    }
}

/// What the request tells of its client: address, device, the CDN's country.
pub fn client_context(extensions: &Extensions, headers: &HeaderMap) -> Result<ClientContext> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let device = crate::guard::device_id(headers)?;
    Ok(ClientContext {
        address: crate::http::client_address(extensions).parse().ok(),
        device: (device != "-").then(|| device.to_owned()),
        country: crate::fraud::risk::country(
            header("cloudfront-viewer-country"),
            header("cf-ipcountry"),
        ),
    })
}

async fn get_order(
    State(c): State<Arc<Checkout>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?;
        let order = authorize_order(&c.deps, &order_id, token).await?;
        Ok(OrderView::from(&order))
    }
    .await;
    respond(StatusCode::OK, result)
}

async fn get_event(State(c): State<Arc<Checkout>>, Path(event_id): Path<String>) -> Response {
    respond(StatusCode::OK, c.event_view(&event_id).await)
}

/// The checkout routes.
pub fn router(checkout: Checkout) -> Router {
    let admin = checkout
        .fraud_admin
        .clone()
        .map_or_else(Router::new, crate::fraud::routes::router);
    Router::new()
        .route("/v1/orders", post(post_order))
        .route("/v1/orders/{order_id}", get(get_order))
        .route(
            "/v1/orders/{order_id}/verify",
            post(crate::sale::routes::post_verify),
        )
        .route(
            "/v1/orders/{order_id}/verify/resend",
            post(crate::sale::routes::post_resend),
        )
        .route("/v1/events/{event_id}", get(get_event))
        .with_state(Arc::new(checkout))
        .merge(admin)
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
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
