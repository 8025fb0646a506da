//! Domain types shared by the functions. No I/O, no AWS types.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// An ISO 4217 currency code: three upper-case ASCII letters.
pub fn validate_currency(code: &str) -> Result<()> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "currency",
            "must be an ISO 4217 code such as IDR",
        ))
    }
}

/// An identifier the ticket format accepts (1-64 of `[A-Za-z0-9._-]`): events, tiers, gates.
pub fn valid_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The IANA zones an event may be in: Indonesia's three (WIB: Jakarta and Pontianak, WITA:
/// Makassar, WIT: Jayapura). The apps show event times in the event's zone with its
/// abbreviation, whatever the viewer's own zone.
pub const TIME_ZONES: [&str; 4] = [
    "Asia/Jakarta",
    "Asia/Pontianak",
    "Asia/Makassar",
    "Asia/Jayapura",
];

/// The zone of an event created without one (and of events stored before zones were kept).
pub const DEFAULT_TIME_ZONE: &str = "Asia/Jakarta";

pub fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.to_owned()
}

/// One of [`TIME_ZONES`], exactly as written there.
pub fn validate_time_zone(zone: &str) -> Result<()> {
    if TIME_ZONES.contains(&zone) {
        Ok(())
    } else {
        Err(Error::invalid(
            "time_zone",
            "must be one of Asia/Jakarta, Asia/Pontianak, Asia/Makassar, Asia/Jayapura",
        ))
    }
}

/// Lifecycle of an order. Transitions (each a conditional write):
/// `Reserved -> Paid -> Minted`, `Reserved -> Expired` (sweeper, stock returned once),
/// `Reserved -> Cancelled`. A payment that arrives for an `Expired`/`Cancelled` order is
/// recorded on the order for refund (`refund_due`), never turned into tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Reserved,
    /// Reserved, waiting for the buyer's one-time code (a high-value order, see
    /// [`crate::sale::stepup`]): no payment session exists until the code is verified.
    VerificationRequired,
    Paid,
    Minted,
    Expired,
    Cancelled,
    /// Paid (or minted), then refunded in full by the gateway: its tickets are revoked.
    Refunded,
    /// Paid (or minted), then disputed / charged back: its tickets are revoked.
    Disputed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::VerificationRequired => "VERIFICATION_REQUIRED",
            Self::Paid => "PAID",
            Self::Minted => "MINTED",
            Self::Expired => "EXPIRED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
            Self::Disputed => "DISPUTED",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "RESERVED" => Self::Reserved,
            "VERIFICATION_REQUIRED" => Self::VerificationRequired,
            "PAID" => Self::Paid,
            "MINTED" => Self::Minted,
            "EXPIRED" => Self::Expired,
            "CANCELLED" => Self::Cancelled,
            "REFUNDED" => Self::Refunded,
            "DISPUTED" => Self::Disputed,
            other => return Err(Error::internal(format!("unknown order status {other}"))),
        })
    }
}

/// An event on sale. Stored as `EVENT#<id>/META`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub name: String,
    pub currency: String,
    /// Unix seconds; tickets admit from `starts_at - admit_before_secs` to `ends_at`.
    pub starts_at: u64,
    pub ends_at: u64,
    /// The venue's IANA zone (one of [`TIME_ZONES`]): times are shown in it.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    pub max_per_order: u32,
    pub max_per_buyer: u32,
    /// The key set (`kid`) that signs this event's tickets.
    pub kid: u32,
    pub on_sale: bool,
    /// Checkout takes only buyers admitted by the waiting room (a signed, single-use admission:
    /// see [`crate::sale::admission`]).
    #[serde(default)]
    pub queue_mode: bool,
    pub tiers: Vec<Tier>,
}

impl Event {
    pub fn tier(&self, tier_id: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.tier_id == tier_id)
    }
}

/// A price tier with its own stock. Stored as `EVENT#<id>/TIER#<tier>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub tier_id: String,
    pub name: String,
    /// Price per ticket in the currency's minor unit.
    pub price_minor: u64,
    pub capacity: u32,
    /// Stock not sold nor held by a live reservation.
    pub available: u32,
    /// Gates a ticket of this tier admits through (`"*"` = any).
    pub gates: Vec<String>,
    /// How many items the stock is split across (`store::stock`); at least 1.
    #[serde(default = "one")]
    pub stock_shards: u32,
}

fn one() -> u32 {
    1
}

/// What the buyer accepted at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub privacy_policy_version: String,
    pub accepted_at: u64,
    pub marketing: bool,
}

/// The hosted-payment reference the buyer pays through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReference {
    /// `stripe`, `midtrans`, `xendit`, `doku`.
    pub provider: String,
    /// The provider's id for the payment (session, invoice, transaction token).
    pub reference: String,
    /// Where to send the buyer to pay, when the provider hosts the page.
    pub redirect_url: Option<String>,
    /// Unix seconds after which the provider will not take the payment.
    pub expires_at: Option<u64>,
}

/// A confirmed payment, as the verified webhook reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub provider: String,
    /// The provider's payment/transaction id (never card data).
    pub provider_ref: String,
    pub amount_minor: u64,
    pub currency: String,
    pub paid_at: u64,
    /// The gateway's id of the underlying payment when it differs from `provider_ref` (Stripe:
    /// the PaymentIntent of the Checkout Session), which refunds and disputes name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
}

/// A refund or dispute the gateway reported for an order's payment. Money in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reversal {
    /// `refunded`, `partially_refunded` or `disputed`.
    pub kind: String,
    pub provider: String,
    /// The gateway's reference the notification named (payment, charge or dispute id).
    pub provider_ref: String,
    /// Refunded (cumulative, as the gateway reports it) or disputed amount.
    pub amount_minor: u64,
    pub currency: String,
    pub at: u64,
}

/// An order. Stored as `ORDER#<id>/ORDER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u32,
    pub unit_price_minor: u64,
    pub amount_minor: u64,
    pub currency: String,
    pub status: OrderStatus,
    pub customer_id: String,
    pub created_at: u64,
    /// When an unpaid reservation is released.
    pub expires_at: u64,
    /// Buyer details (JSON of [`BuyerDetails`]) sealed with the customer's data key.
    pub buyer_sealed: Vec<u8>,
    /// SHA-256 of the order access token.
    pub access_token_hash: Vec<u8>,
    /// The access token sealed with the customer's data key (to answer idempotent retries).
    pub access_token_sealed: Vec<u8>,
    pub consent: Consent,
    pub payment_provider: String,
    pub payment: Option<PaymentReference>,
    pub paid: Option<PaymentRecord>,
    /// A payment that arrived after the order expired or was cancelled: owed back.
    pub refund_due: Option<PaymentRecord>,
    pub minted_at: Option<u64>,
    /// A full refund or a dispute (status `Refunded` / `Disputed`), or the latest partial
    /// refund (status unchanged).
    pub reversal: Option<Reversal>,
}

#[cfg(any(test, feature = "testing"))]
impl Order {
    /// An order for tests: one ticket of tier `ga` of event `fest` for customer `cus_1`, paid
    /// through `stripe` at 1 IDR, nothing sealed, created at 0 and held until 900. Override
    /// fields with struct update syntax.
    pub fn sample(order_id: &str, status: OrderStatus) -> Self {
        Self {
            order_id: order_id.to_owned(),
            event_id: "fest".into(),
            tier_id: "ga".into(),
            quantity: 1,
            unit_price_minor: 1,
            amount_minor: 1,
            currency: "IDR".into(),
            status,
            customer_id: "cus_1".into(),
            created_at: 0,
            expires_at: 900,
            buyer_sealed: vec![],
            access_token_hash: vec![],
            access_token_sealed: vec![],
            consent: Consent {
                privacy_policy_version: "2026-01".into(),
                accepted_at: 0,
                marketing: false,
            },
            payment_provider: "stripe".into(),
            payment: None,
            paid: None,
            refund_due: None,
            minted_at: None,
            reversal: None,
        }
    }
}

/// Personal data of a buyer. Never logged (its `Debug` is redacted), zeroized on drop, and
/// stored only sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct BuyerDetails {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl fmt::Debug for BuyerDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BuyerDetails(<redacted>)")
    }
}

impl BuyerDetails {
    /// Validates and normalises (trims; lower-cases the email; strips spaces in the phone).
    pub fn normalised(&self) -> Result<Self> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "buyer.name",
                "must be 1-200 printable characters",
            ));
        }
        let email = normalise_email(&self.email)?;
        let phone = match &self.phone {
            None => None,
            Some(p) if p.trim().is_empty() => None,
            Some(p) => Some(normalise_phone(p)?),
        };
        Ok(Self { name, email, phone })
    }
}

/// Lower-cases and checks an email address (a pragmatic check, not RFC 5322).
pub fn normalise_email(email: &str) -> Result<String> {
    let email = email.trim().to_ascii_lowercase();
    let bad = || Error::invalid("buyer.email", "must be an email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email)
}

/// A phone number as typed (`08…`, `+62…`, `62…`, or `+<country>…`) to E.164
/// ([`crate::phone::to_e164`]).
pub fn normalise_phone(phone: &str) -> Result<String> {
    crate::phone::to_e164(phone).ok_or_else(|| {
        Error::invalid(
            "buyer.phone",
            "must be a phone number such as 081234567890 or +6281234567890",
        )
    })
}

/// Lower-case hex of random bytes with a prefix: `ord_…`, `cus_…`.
pub fn new_id(prefix: &str, rng: &dyn crate::ports::Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// Checks an id of the form produced by [`new_id`].
pub fn is_id(prefix: &str, text: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .is_some_and(|h| h.len() == 32 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalise_email(" Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a@@x.com",
            "a b@x.com",
            "a@.com",
            "a@x.com.",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalise_phone("+62 812-3456-7890").unwrap(),
            "+6281234567890"
        );
        // As Indonesians type them: national 08…, and 62… without the plus.
        assert_eq!(normalise_phone("0812345678").unwrap(), "+62812345678");
        assert_eq!(normalise_phone("62 812 345 678").unwrap(), "+62812345678");
        for bad in [
            "812345678",
            "+12",
            "+62abc45678",
            "+1234567890123456",
            "0062812345678",
        ] {
            assert!(normalise_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buyer_debug_is_redacted() {
        let b = BuyerDetails {
            name: "Siti Rahma".into(),
            email: "siti@example.com".into(),
            phone: Some("+6281234567890".into()),
        };
        let shown = format!("{b:?}");
        assert!(!shown.contains("Siti") && !shown.contains("siti@") && !shown.contains("+62"));
    }

    #[test]
    fn buyer_validation() {
        let mut b = BuyerDetails {
            name: "  ".into(),
            email: "x@example.com".into(),
            phone: None,
        };
        assert!(b.normalised().is_err());
        b.name = "A".repeat(201);
        assert!(b.normalised().is_err());
        b.name = " Budi ".into();
        b.phone = Some(String::new());
        let n = b.normalised().unwrap();
        assert_eq!(n.name, "Budi");
        assert_eq!(n.phone, None);
    }

    #[test]
    fn ids_and_currencies() {
        assert!(valid_id("jakarta-fest_2026.day1"));
        assert!(!valid_id("") && !valid_id("a b") && !valid_id(&"a".repeat(65)));
        assert!(validate_currency("IDR").is_ok());
        assert!(validate_currency("idr").is_err() && validate_currency("RUPIAH").is_err());
        assert!(is_id("ord", &format!("ord_{}", "ab".repeat(16))));
        assert!(!is_id("ord", "ord_XYZ") && !is_id("ord", &format!("cus_{}", "ab".repeat(16))));
        for s in [
            "RESERVED",
            "VERIFICATION_REQUIRED",
            "PAID",
            "MINTED",
            "EXPIRED",
            "CANCELLED",
        ] {
            assert_eq!(OrderStatus::parse(s).unwrap().as_str(), s);
        }
    }
}
