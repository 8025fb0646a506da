//! Blacklist entries (pure): what an entry names, how its value is normalised, and which
//! entries a checkout or a payment notification is compared against.
//!
//! An entry is stored under the keyed blind index (`pii::blind_index`, through
//! [`crate::pii::Pii::mac`]) of its canonical text, never the value: an admin who lists the
//! blacklist sees kinds, reasons, expiries and who added them, not the emails or cards. Email,
//! phone, IP/CIDR and device normalise as [`crate::sale::blocklist`] documents; a card is named
//! by its provider and the provider's own card reference:
//!
//! | provider | what its notification or status API gives | used as the card's key |
//! |---|---|---|
//! | Stripe | `checkout.session.completed` carries no card data; the fingerprint is on the charge or payment method (`payment_method_details.card.fingerprint`), fetched with an expanded retrieve | the fingerprint, when an operator enters it; karcis does not fetch it yet, so Stripe payments are not checked at notification time |
//! | Midtrans | `masked_card` (first 6 + last 4, e.g. `481111-1114`), `bank`, `card_type`, `saved_token_id` for saved cards; the signature does not cover them, the Get Status API answers them | `masked_card` from the Get Status API (karcis confirms every paid Midtrans notification there); coarse: two cards with the same BIN and last 4 collide |
//! | Xendit | the invoice callback has `credit_card_charge_id` (one per charge, not per card) | nothing reusable: Xendit payments are not checked by card |
//! | DOKU | the Checkout notification names the channel, not a card reference karcis parses | nothing yet |

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sale::blocklist::{self, BlockKind};

/// The MAC purpose of blacklist keys (domain-separated from every other blind index).
pub const MAC_PURPOSE: &str = "blacklist";
/// Default lifetime of an entry when the admin names none: 90 days.
pub const DEFAULT_TTL_SECS: u64 = 90 * 86_400;
/// The longest an entry lives: two years (personal data is not kept longer than that).
pub const MAX_TTL_SECS: u64 = 730 * 86_400;

/// What an entry blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    Card,
    Ip,
    Device,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Card => "card",
            Self::Ip => "ip",
            Self::Device => "device",
        }
    }

    /// Parses a stored kind.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "email" => Self::Email,
            "phone" => Self::Phone,
            "card" => Self::Card,
            "ip" => Self::Ip,
            "device" => Self::Device,
            _ => return None,
        })
    }
}

/// The providers whose card references an entry may name.
pub const CARD_PROVIDERS: [&str; 4] = ["stripe", "midtrans", "xendit", "doku"];

/// The canonical text of a card reference of `provider`: `card:<provider>:<reference>`.
///
/// # Errors
/// An unknown provider, or a reference that is not 4-128 visible ASCII characters.
pub fn card(provider: &str, reference: &str) -> Result<String> {
    if !CARD_PROVIDERS.contains(&provider) {
        return Err(Error::invalid(
            "provider",
            "stripe, midtrans, xendit or doku",
        ));
    }
    let r = reference.trim();
    if !(4..=128).contains(&r.len()) || !r.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid("value", "4-128 visible ASCII characters"));
    }
    Ok(format!("card:{provider}:{r}"))
}

/// The canonical text of a value of `kind` (`provider`: cards only).
///
/// # Errors
/// A value that is not of its kind; a provider given for another kind, or missing for a card.
pub fn canonical(kind: Kind, value: &str, provider: Option<&str>) -> Result<String> {
    let simple = |k: BlockKind| {
        if provider.is_some() {
            return Err(Error::invalid("provider", "only for cards"));
        }
        blocklist::canonical(k, value)
    };
    match kind {
        Kind::Email => simple(BlockKind::Email),
        Kind::Phone => simple(BlockKind::Phone),
        Kind::Ip => simple(BlockKind::Ip),
        Kind::Device => simple(BlockKind::Device),
        Kind::Card => card(
            provider.ok_or_else(|| Error::invalid("provider", "required for a card"))?,
            value,
        ),
    }
}

/// `POST /v1/fraud/blacklist` body. `Debug` leaves the value out.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryRequest {
    pub kind: Kind,
    pub value: String,
    /// The card's provider (cards only).
    #[serde(default)]
    pub provider: Option<String>,
    /// Why (shown to admins; must not contain personal data).
    pub reason: String,
    /// Lifetime in seconds (default 90 days, at most two years).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

impl std::fmt::Debug for EntryRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntryRequest")
            .field("kind", &self.kind)
            .field("provider", &self.provider)
            .field("reason", &self.reason)
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

/// A checked request: the canonical text to blind-index and the entry's lifetime. `Debug`
/// leaves the text out.
#[derive(Clone, PartialEq, Eq)]
pub struct Checked {
    pub canonical: String,
    pub ttl_secs: u64,
    pub reason: String,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked")
            .field("ttl_secs", &self.ttl_secs)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Validates a request (no I/O).
///
/// # Errors
/// A bad kind/value/provider, an empty or over-long reason, a lifetime out of bounds.
pub fn check_request(req: &EntryRequest) -> Result<Checked> {
    let canonical = canonical(req.kind, &req.value, req.provider.as_deref())?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reason",
            "1-200 characters, no control characters",
        ));
    }
    let ttl_secs = req.ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(60..=MAX_TTL_SECS).contains(&ttl_secs) {
        return Err(Error::invalid("ttl_secs", "60 seconds to two years"));
    }
    Ok(Checked {
        canonical,
        ttl_secs,
        reason: reason.to_owned(),
    })
}

/// A stored entry: its id is the blind index of its canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub reason: String,
    /// The admin's staff id.
    pub added_by: String,
    pub added_at: u64,
    pub expires_at: u64,
}

impl Entry {
    /// Live until `expires_at` (DynamoDB's TTL deletes later, so readers check too).
    pub fn is_live(&self, now: u64) -> bool {
        now < self.expires_at
    }
}

/// What a checkout reveals about its buyer and client, as canonical texts to look up (each a
/// possible entry). Malformed or absent parts give no candidate.
pub fn checkout_candidates(
    email: &str,
    phone: Option<&str>,
    address: Option<std::net::IpAddr>,
    device: Option<&str>,
) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    if let Ok(c) = blocklist::canonical(BlockKind::Email, email) {
        out.push((Kind::Email, c));
    }
    if let Some(Ok(c)) = phone.map(|p| blocklist::canonical(BlockKind::Phone, p)) {
        out.push((Kind::Phone, c));
    }
    if let Some(ip) = address {
        for network in blocklist::ip_candidates(ip) {
            out.push((Kind::Ip, format!("ip:{network}")));
        }
    }
    if let Some(Ok(c)) = device.map(|d| blocklist::canonical(BlockKind::Device, d)) {
        out.push((Kind::Device, c));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(kind: Kind, value: &str, provider: Option<&str>) -> EntryRequest {
        EntryRequest {
            kind,
            value: value.into(),
            provider: provider.map(str::to_owned),
            reason: "chargeback 2026-11".into(),
            ttl_secs: None,
        }
    }

    #[test]
    fn entries_match_what_a_checkout_reveals() {
        let email = check_request(&req(Kind::Email, "Siti.Rahma+x@gmail.com", None)).unwrap();
        let ip = check_request(&req(Kind::Ip, "203.0.113.0/24", None)).unwrap();
        let device = check_request(&req(Kind::Device, "dev-farm-0001", None)).unwrap();
        let phone = check_request(&req(Kind::Phone, "0812-3456-7890", None)).unwrap();
        let found = checkout_candidates(
            "sitirahma@googlemail.com",
            Some("+6281234567890"),
            Some("203.0.113.9".parse().unwrap()),
            Some("dev-farm-0001"),
        );
        let texts: Vec<&str> = found.iter().map(|(_, t)| t.as_str()).collect();
        for c in [&email, &ip, &device, &phone] {
            assert!(texts.contains(&c.canonical.as_str()), "{}", c.canonical);
        }
        let other = checkout_candidates("budi@example.com", None, None, Some("-"));
        assert!(!other.iter().any(|(_, t)| t == &email.canonical));
        assert_eq!(other.len(), 1, "a missing device is no candidate");
    }

    #[test]
    fn cards_name_their_provider() {
        let c = check_request(&req(Kind::Card, "481111-1114", Some("midtrans"))).unwrap();
        assert_eq!(c.canonical, "card:midtrans:481111-1114");
        assert_ne!(
            card("stripe", "481111-1114").unwrap(),
            c.canonical,
            "one provider's reference never matches another's"
        );
        assert!(check_request(&req(Kind::Card, "481111-1114", None)).is_err());
        assert!(check_request(&req(Kind::Card, "481111-1114", Some("paypal"))).is_err());
        assert!(check_request(&req(Kind::Email, "a@example.com", Some("stripe"))).is_err());
        assert!(check_request(&req(Kind::Card, "a b", Some("stripe"))).is_err());
    }

    #[test]
    fn reasons_and_lifetimes_are_bounded() {
        let mut r = req(Kind::Device, "dev-farm-0001", None);
        assert_eq!(check_request(&r).unwrap().ttl_secs, DEFAULT_TTL_SECS);
        for bad in [Some(59), Some(MAX_TTL_SECS + 1)] {
            r.ttl_secs = bad;
            assert!(check_request(&r).is_err());
        }
        r.ttl_secs = None;
        for bad in ["", "   ", "line\nbreak"] {
            r.reason = bad.into();
            assert!(check_request(&r).is_err(), "{bad:?}");
        }
        r.reason = "x".repeat(201);
        assert!(check_request(&r).is_err());
        let shown = format!("{:?}", req(Kind::Email, "secret@example.com", None));
        assert!(!shown.contains("secret@"), "{shown}");
    }
}
