//! checkout: reserve tickets (`POST /v1/orders`), read an order (`GET /v1/orders/{id}`), read an
//! event's availability (`GET /v1/events/{id}`).
//!
//! The reservation, the stock decrement, the per-buyer counter and the order are one DynamoDB
//! transaction with conditions (no oversell under any concurrency). The `Idempotency-Key` header
//! is required: a retry with the same key and request returns the same order (and the same
//! access token); the same key with another request is refused. Buyer details are sealed with
//! the customer's data key before anything is stored.

mod request;
mod routes;

pub use request::*;
pub use routes::{client_context, router};

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::HARD_MAX_PER_ORDER;
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::fraud::screen::ClientContext;
use crate::guard::Guard;
use crate::model::{is_id, new_id, valid_id, Consent, Event, Order, OrderStatus};
use crate::pii::CustomerKey;
use crate::ports::{HostedPayments, NewCustomer, PaymentRequest, Reservation, ReserveOutcome};

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
