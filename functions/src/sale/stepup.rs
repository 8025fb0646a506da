//! Step-up verification of high-value orders: the order waits in `VERIFICATION_REQUIRED` while
//! a 6-digit code goes to the buyer by the channel they chose (email, SMS, WhatsApp); the
//! payment session is created only after the right code.
//!
//! - When: an order whose total is above the threshold of its currency (`STEP_UP_THRESHOLDS`,
//!   default `IDR:1000000`, in karcis minor units: IDR has none, so Rp1.000.000). Currencies
//!   without a threshold are never stepped up by amount.
//! - The code is never stored: the step-up item (`ORDER#<id>/STEPUP`) holds an HMAC of (order,
//!   customer, code) under the KMS-wrapped MAC key, like the privacy codes.
//! - The code goes through the notify queue sealed with the buyer's data key (AES-GCM under the
//!   field `order/<id>/purchase_otp`): notify, which already unseals the buyer's address with
//!   the same key, opens it to render the template. A queue reader (or the DLQ) sees ciphertext
//!   only, and a crypto-shredded buyer's pending code can no longer be read by anyone.
//! - [`MAX_ATTEMPTS`] guesses per order (over all its codes, concurrent ones included: each is
//!   counted by one conditional write before the compare), a code lives [`CODE_TTL_SECS`] (and
//!   never past the reservation), and the right code is consumed by one transaction (step-up
//!   used + order `VERIFICATION_REQUIRED` -> `RESERVED`) that exactly one request wins.
//! - Resends: at most [`MAX_SENDS`] codes per order, [`RESEND_AFTER_SECS`] apart; a resend
//!   replaces the code (the previous one stops working) and keeps the attempt count.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::model::{Order, OrderStatus};
use crate::pii::CustomerKey;
use crate::ports::{Channel, Lang, NotifyMessage, Topic};

/// How long a code is valid.
pub const CODE_TTL_SECS: u64 = 300;
/// Guesses per order, right or wrong, concurrent or not, over all its codes.
pub const MAX_ATTEMPTS: u32 = 5;
/// Codes sent per order (the first and the resends).
pub const MAX_SENDS: u32 = 3;
/// The least time between two sends of an order's code.
pub const RESEND_AFTER_SECS: u64 = 30;
/// The notification template.
pub const TEMPLATE: &str = "purchase_otp";
/// The notify parameter carrying the sealed code (base64).
pub const SEALED_CODE_PARAM: &str = "code_sealed";
/// The MAC purpose of stored codes (a key use separate from the email index's and privacy's).
const CODE_MAC_PURPOSE: &str = "purchase-otp";

/// Field under which an order's code is sealed in its notify message.
pub fn code_field(order_id: &str) -> String {
    format!("order/{order_id}/purchase_otp")
}

/// Whether an order of `amount_minor` in `currency` needs the step-up: above its currency's
/// threshold (`thresholds` as configured, in karcis minor units).
pub fn above_threshold(thresholds: &[(String, u64)], amount_minor: u64, currency: &str) -> bool {
    thresholds
        .iter()
        .any(|(c, limit)| c == currency && amount_minor > *limit)
}

/// Parses `STEP_UP_THRESHOLDS`: comma-separated `CUR:amount_minor` (`IDR:1000000,USD:10000`).
///
/// # Errors
/// An entry that is not an upper-case 3-letter code, a colon and a number.
pub fn parse_thresholds(text: &str) -> Result<Vec<(String, u64)>> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let bad = || Error::internal("STEP_UP_THRESHOLDS: entries are CUR:amount_minor");
            let (currency, amount) = entry.split_once(':').ok_or_else(bad)?;
            crate::model::validate_currency(currency).map_err(|_| bad())?;
            let amount = amount.trim().parse::<u64>().map_err(|_| bad())?;
            Ok((currency.to_owned(), amount))
        })
        .collect()
}

/// An order's step-up as stored: a MAC of the current code, never the code.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredStepUp {
    pub order_id: String,
    pub customer_id: String,
    /// Hex MAC of [`code_mac_input`].
    pub code_mac: String,
    pub channel: Channel,
    pub lang: Lang,
    /// When the current code stops working (the stored value decides).
    pub expires_at: u64,
    /// Guesses counted so far.
    pub attempts: u32,
    /// Codes sent so far (1 for the first).
    pub sends: u32,
    pub sent_at: u64,
}

impl std::fmt::Debug for StoredStepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredStepUp")
            .field("order_id", &self.order_id)
            .field("expires_at", &self.expires_at)
            .field("attempts", &self.attempts)
            .field("sends", &self.sends)
            .finish_non_exhaustive()
    }
}

/// What counting a guess found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepUpAttempt {
    /// Counted; the step-up as it is now.
    Counted(StoredStepUp),
    /// Every guess of the order is spent.
    Exhausted,
    /// The current code expired (a resend may give a new one).
    Expired,
    /// No step-up, or it was used.
    Closed,
}

/// The step-up records (DynamoDB: [`crate::store::DynamoStore`]).
#[async_trait]
pub trait StepUps: Send + Sync {
    /// Stores an order's first code: `false` (nothing written) if the order has one.
    async fn put_step_up(&self, step_up: &StoredStepUp) -> Result<bool>;
    /// Counts one guess in one conditional write (unused, unexpired at `now`, fewer than
    /// `max_attempts` so far).
    async fn count_step_up_attempt(
        &self,
        order_id: &str,
        max_attempts: u32,
        now: u64,
    ) -> Result<StepUpAttempt>;
    /// One transaction: the step-up marked used and the order moved from
    /// `VERIFICATION_REQUIRED` to `RESERVED` while its reservation is live at `now`. `true` for
    /// exactly one caller, ever.
    async fn complete_step_up(&self, order_id: &str, now: u64) -> Result<bool>;
    /// Replaces the code (MAC and expiry; `sends` + 1, `sent_at` = `now`) in one conditional
    /// write if the step-up is unused, had fewer than `max_sends` sends and the last was at or
    /// before `latest_sent_at`: the step-up as it is now, or `None` (nothing written).
    async fn replace_step_up_code(
        &self,
        order_id: &str,
        code_mac: &str,
        expires_at: u64,
        max_sends: u32,
        latest_sent_at: u64,
        now: u64,
    ) -> Result<Option<StoredStepUp>>;
}

/// What the code MAC covers, so that a code opens only its own order (a resend replaces the
/// stored MAC: the previous code stops working).
fn code_mac_input(order_id: &str, customer_id: &str, code: &str) -> String {
    format!("{order_id}\0{customer_id}\0{code}")
}

/// 6 uniformly random digits.
fn new_code(deps: &Deps) -> Zeroizing<String> {
    let limit = u32::MAX - (u32::MAX % 1_000_000);
    let mut value = 0;
    // Rejection sampling (bounded: 16 rejections in a row are negligible).
    for _ in 0..16 {
        let mut b = [0u8; 4];
        deps.rng.fill(&mut b);
        value = u32::from_le_bytes(b);
        if value < limit {
            break;
        }
    }
    Zeroizing::new(format!("{:06}", value % 1_000_000))
}

async fn code_mac(deps: &Deps, order: &Order, code: &str) -> Result<String> {
    deps.pii
        .mac(
            CODE_MAC_PURPOSE,
            &code_mac_input(&order.order_id, &order.customer_id, code),
        )
        .await
}

/// Queues the code to notify, sealed with the buyer's key.
async fn queue_code(
    deps: &Deps,
    order: &Order,
    key: &CustomerKey,
    step_up: &StoredStepUp,
    code: &str,
) -> Result<()> {
    let sealed = key.seal(
        &code_field(&order.order_id),
        code.as_bytes(),
        deps.rng.as_ref(),
    );
    let mut params = BTreeMap::new();
    params.insert(
        SEALED_CODE_PARAM.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(sealed),
    );
    params.insert("amount_minor".to_owned(), order.amount_minor.to_string());
    params.insert("currency".to_owned(), order.currency.clone());
    let minutes = step_up
        .expires_at
        .saturating_sub(step_up.sent_at)
        .div_ceil(60);
    params.insert("minutes".to_owned(), minutes.to_string());
    params.insert("channel".to_owned(), step_up.channel.as_str().to_owned());
    params.insert("lang".to_owned(), step_up.lang.as_str().to_owned());
    let message = NotifyMessage {
        template: TEMPLATE.to_owned(),
        customer_id: order.customer_id.clone(),
        order_id: Some(order.order_id.clone()),
        dedupe_id: format!("purchase-otp:{}:{}", order.order_id, step_up.sends),
        params,
    };
    deps.queue
        .send(
            Topic::Notify,
            &serde_json::to_string(&message).map_err(Error::internal)?,
        )
        .await
}

/// Starts the step-up of a new `VERIFICATION_REQUIRED` order: stores the first code's MAC and
/// queues the code. A no-op if the order has a step-up already (a replayed checkout).
///
/// # Errors
/// Store, KMS or queue failures.
pub async fn start(
    deps: &Deps,
    order: &Order,
    key: &CustomerKey,
    channel: Channel,
    lang: Lang,
) -> Result<()> {
    let now = deps.clock.now();
    let code = new_code(deps);
    let step_up = StoredStepUp {
        order_id: order.order_id.clone(),
        customer_id: order.customer_id.clone(),
        code_mac: code_mac(deps, order, &code).await?,
        channel,
        lang,
        expires_at: (now + CODE_TTL_SECS).min(order.expires_at),
        attempts: 0,
        sends: 1,
        sent_at: now,
    };
    if !deps.stepups.put_step_up(&step_up).await? {
        return Ok(());
    }
    queue_code(deps, order, key, &step_up, &code).await?;
    tracing::info!(order_id = %order.order_id, channel = channel.as_str(), "step-up code queued");
    Ok(())
}

/// Checks a buyer's code for `order` (which their access token opened). `Ok` for exactly one
/// right guess: the order is `RESERVED` again, ready for its payment session.
///
/// # Errors
/// `Conflict` when no verification is pending or the code expired, `Invalid` for a wrong code,
/// `LimitExceeded` when the guesses are spent.
pub async fn verify(deps: &Deps, order: &Order, code: &str) -> Result<()> {
    if order.status != OrderStatus::VerificationRequired {
        return Err(Error::Conflict(
            "no verification is pending for this order".into(),
        ));
    }
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid("code", "6 digits"));
    }
    let now = deps.clock.now();
    let stored = match deps
        .stepups
        .count_step_up_attempt(&order.order_id, MAX_ATTEMPTS, now)
        .await?
    {
        StepUpAttempt::Counted(stored) => stored,
        StepUpAttempt::Exhausted => {
            return Err(Error::LimitExceeded(
                "too many wrong codes for this order".into(),
            ))
        }
        StepUpAttempt::Expired => {
            return Err(Error::Conflict(
                "the code expired; ask for a new one".into(),
            ))
        }
        StepUpAttempt::Closed => {
            return Err(Error::Conflict(
                "no verification is pending for this order".into(),
            ))
        }
    };
    let expected = code_mac(deps, order, code).await?;
    let right: bool = expected.as_bytes().ct_eq(stored.code_mac.as_bytes()).into();
    if !right {
        tracing::info!(order_id = %order.order_id, attempts = stored.attempts, "step-up code refused");
        return Err(Error::invalid("code", "wrong code"));
    }
    if !deps.stepups.complete_step_up(&order.order_id, now).await? {
        tracing::info!(order_id = %order.order_id, "step-up code refused: already used or order expired");
        return Err(Error::Conflict(
            "no verification is pending for this order".into(),
        ));
    }
    tracing::info!(order_id = %order.order_id, "step-up verified");
    Ok(())
}

/// Sends a new code for `order` (replacing the current one): the new code's expiry.
///
/// # Errors
/// `Conflict` when no verification is pending, `RateLimited` when the sends are spent or the
/// last was too recent.
pub async fn resend(deps: &Deps, order: &Order) -> Result<u64> {
    if order.status != OrderStatus::VerificationRequired {
        return Err(Error::Conflict(
            "no verification is pending for this order".into(),
        ));
    }
    let now = deps.clock.now();
    if now >= order.expires_at {
        return Err(Error::Conflict("the reservation expired".into()));
    }
    let key = deps.pii.customer_key_by_id(&order.customer_id).await?;
    let code = new_code(deps);
    let mac = code_mac(deps, order, &code).await?;
    let expires_at = (now + CODE_TTL_SECS).min(order.expires_at);
    let Some(step_up) = deps
        .stepups
        .replace_step_up_code(
            &order.order_id,
            &mac,
            expires_at,
            MAX_SENDS,
            now.saturating_sub(RESEND_AFTER_SECS),
            now,
        )
        .await?
    else {
        return Err(Error::rate_limited(
            "no new code can be sent for this order now",
            RESEND_AFTER_SECS,
        ));
    };
    queue_code(deps, order, &key, &step_up, &code).await?;
    tracing::info!(order_id = %order.order_id, sends = step_up.sends, "step-up code resent");
    Ok(step_up.expires_at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn above_the_threshold_of_the_order_currency_only() {
        let t = parse_thresholds("IDR:1000000,USD:10000").unwrap();
        assert!(
            !above_threshold(&t, 1_000_000, "IDR"),
            "exactly Rp1.000.000 is not above"
        );
        assert!(above_threshold(&t, 1_000_001, "IDR"));
        assert!(
            !above_threshold(&t, 5_000_000, "SGD"),
            "no threshold for SGD"
        );
        assert!(above_threshold(&t, 10_001, "USD"));
        assert!(parse_thresholds("").unwrap().is_empty());
    }

    #[test]
    fn code_macs_bind_order_customer_and_code() {
        let a = code_mac_input("ord_1", "cus_1", "123456");
        for other in [
            code_mac_input("ord_2", "cus_1", "123456"),
            code_mac_input("ord_1", "cus_2", "123456"),
            code_mac_input("ord_1", "cus_1", "123457"),
        ] {
            assert_ne!(a, other);
        }
    }
}
