//! Risk rules (pure): an explainable score per order from windowed counters and the request.
//!
//! Each rule that fires adds its points and names itself in the reasons (a code, what was
//! observed, the limit): no personal data. The sum decides: below `step_up_at` allow; then
//! step-up (the buyer's one-time code, [`crate::sale::stepup`]); from `hold_at` hold for review
//! (refused now, listed for admins); from `block_at` block. Every threshold comes from the
//! environment ([`Thresholds::from_lookup`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The rules' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// `RISK_WINDOW_SECS` (3600): the window of every counter.
    pub window_secs: u64,
    /// `RISK_MAX_ORDERS_PER_IP` (30): checkouts from one address per window (a campus or a
    /// carrier NAT shares one address: keep it generous).
    pub orders_per_ip: u64,
    /// `RISK_MAX_ORDERS_PER_DEVICE` (6).
    pub orders_per_device: u64,
    /// `RISK_MAX_ORDERS_PER_PHONE` (6).
    pub orders_per_phone: u64,
    /// `RISK_MAX_FAILED_PAYMENTS` (3): failed payments per email, device or address.
    pub failed_payments: u64,
    /// `RISK_MAX_CARDS_PER_EMAIL` (3): distinct cards one email paid (or tried) with.
    pub cards_per_email: u64,
    /// `RISK_MAX_EMAILS_PER_DEVICE` (3): distinct emails one device checked out as.
    pub emails_per_device: u64,
    /// `RISK_HIGH_RISK_COUNTRIES` (none): ISO 3166-1 alpha-2 codes, comma separated.
    pub high_risk_countries: Vec<String>,
    /// `RISK_STEP_UP_SCORE` (25), `RISK_HOLD_SCORE` (50), `RISK_BLOCK_SCORE` (80).
    pub step_up_at: u32,
    pub hold_at: u32,
    pub block_at: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            window_secs: 3600,
            orders_per_ip: 30,
            orders_per_device: 6,
            orders_per_phone: 6,
            failed_payments: 3,
            cards_per_email: 3,
            emails_per_device: 3,
            high_risk_countries: Vec::new(),
            step_up_at: 25,
            hold_at: 50,
            block_at: 80,
        }
    }
}

impl Thresholds {
    /// Reads the `RISK_*` settings through `lookup`.
    ///
    /// # Errors
    /// A setting that is not a number, a country that is not two letters, scores out of order.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let d = Self::default();
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let num = |k: &str, default: u64| -> Result<u64> {
            get(k).map_or(Ok(default), |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Error::internal(format!("{k} must be a positive number")))
            })
        };
        let score = |k: &str, default: u32| -> Result<u32> {
            u32::try_from(num(k, u64::from(default))?)
                .map_err(|_| Error::internal(format!("{k} is too large")))
        };
        let countries = get("RISK_HIGH_RISK_COUNTRIES")
            .map(|v| {
                v.split(',')
                    .map(|c| c.trim().to_ascii_uppercase())
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                            Ok(c)
                        } else {
                            Err(Error::internal(
                                "RISK_HIGH_RISK_COUNTRIES: two-letter country codes",
                            ))
                        }
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let t = Self {
            window_secs: num("RISK_WINDOW_SECS", d.window_secs)?,
            orders_per_ip: num("RISK_MAX_ORDERS_PER_IP", d.orders_per_ip)?,
            orders_per_device: num("RISK_MAX_ORDERS_PER_DEVICE", d.orders_per_device)?,
            orders_per_phone: num("RISK_MAX_ORDERS_PER_PHONE", d.orders_per_phone)?,
            failed_payments: num("RISK_MAX_FAILED_PAYMENTS", d.failed_payments)?,
            cards_per_email: num("RISK_MAX_CARDS_PER_EMAIL", d.cards_per_email)?,
            emails_per_device: num("RISK_MAX_EMAILS_PER_DEVICE", d.emails_per_device)?,
            high_risk_countries: countries,
            step_up_at: score("RISK_STEP_UP_SCORE", d.step_up_at)?,
            hold_at: score("RISK_HOLD_SCORE", d.hold_at)?,
            block_at: score("RISK_BLOCK_SCORE", d.block_at)?,
        };
        if !(t.step_up_at <= t.hold_at && t.hold_at <= t.block_at) {
            return Err(Error::internal(
                "RISK_STEP_UP_SCORE <= RISK_HOLD_SCORE <= RISK_BLOCK_SCORE",
            ));
        }
        if t.window_secs > 7 * 86_400 {
            return Err(Error::internal("RISK_WINDOW_SECS: at most a week"));
        }
        Ok(t)
    }
}

/// What the counters and the request say about one checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// Checkouts in the window, this one included (`None`: not known, e.g. no device sent).
    pub orders_per_ip: Option<u64>,
    pub orders_per_device: Option<u64>,
    pub orders_per_phone: Option<u64>,
    pub failed_per_email: u64,
    pub failed_per_device: Option<u64>,
    pub failed_per_ip: Option<u64>,
    pub cards_per_email: u64,
    pub emails_per_device: Option<u64>,
    /// The client's country as the CDN reported it (upper case).
    pub country: Option<String>,
    pub disposable_email: bool,
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Allow,
    StepUp,
    Hold,
    Block,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::StepUp => "step_up",
            Self::Hold => "hold",
            Self::Block => "block",
        }
    }
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// A stable code (`orders_per_ip`, `high_risk_country`, `blacklist_email`, ...).
    pub code: String,
    pub points: u32,
    /// What was counted (0 for yes/no rules).
    pub observed: u64,
    /// The rule's limit (0 for yes/no rules).
    pub limit: u64,
}

/// A scored checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub score: u32,
    pub outcome: Outcome,
    pub reasons: Vec<Reason>,
}

/// Points per rule. A bulk or reuse signal alone steps up; two hold; a blacklisted value
/// blocks on its own.
pub mod points {
    pub const BULK: u32 = 30;
    pub const FAILED_PAYMENTS: u32 = 25;
    pub const CARDS_PER_EMAIL: u32 = 30;
    pub const DEVICE_REUSE: u32 = 40;
    pub const HIGH_RISK_COUNTRY: u32 = 25;
    pub const DISPOSABLE_EMAIL: u32 = 25;
    pub const BLACKLISTED: u32 = 100;
}

/// The outcome of `score` under `t`.
pub fn outcome_of(score: u32, t: &Thresholds) -> Outcome {
    if score >= t.block_at {
        Outcome::Block
    } else if score >= t.hold_at {
        Outcome::Hold
    } else if score >= t.step_up_at {
        Outcome::StepUp
    } else {
        Outcome::Allow
    }
}

/// Scores `s` under `t`.
pub fn assess(s: &Signals, t: &Thresholds) -> Assessment {
    let mut reasons = Vec::new();
    let mut over = |code: &str, observed: Option<u64>, limit: u64, points: u32| {
        if let Some(o) = observed.filter(|o| *o > limit) {
            reasons.push(Reason {
                code: code.to_owned(),
                points,
                observed: o,
                limit,
            });
        }
    };
    over(
        "orders_per_ip",
        s.orders_per_ip,
        t.orders_per_ip,
        points::BULK,
    );
    over(
        "orders_per_device",
        s.orders_per_device,
        t.orders_per_device,
        points::BULK,
    );
    over(
        "orders_per_phone",
        s.orders_per_phone,
        t.orders_per_phone,
        points::BULK,
    );
    // Failed payments count once, whichever of email, device or address shows them.
    let failed = [
        Some(s.failed_per_email),
        s.failed_per_device,
        s.failed_per_ip,
    ]
    .into_iter()
    .flatten()
    .max();
    over(
        "failed_payments",
        failed,
        t.failed_payments,
        points::FAILED_PAYMENTS,
    );
    over(
        "cards_per_email",
        Some(s.cards_per_email),
        t.cards_per_email,
        points::CARDS_PER_EMAIL,
    );
    over(
        "emails_per_device",
        s.emails_per_device,
        t.emails_per_device,
        points::DEVICE_REUSE,
    );
    let mut flag = |code: &str, yes: bool, points: u32| {
        if yes {
            reasons.push(Reason {
                code: code.to_owned(),
                points,
                observed: 0,
                limit: 0,
            });
        }
    };
    flag(
        "high_risk_country",
        s.country
            .as_ref()
            .is_some_and(|c| t.high_risk_countries.contains(c)),
        points::HIGH_RISK_COUNTRY,
    );
    flag(
        "disposable_email",
        s.disposable_email,
        points::DISPOSABLE_EMAIL,
    );
    let score = reasons.iter().map(|r| r.points).sum();
    Assessment {
        score,
        outcome: outcome_of(score, t),
        reasons,
    }
}

/// The client's country from the CDN's header (`CloudFront-Viewer-Country`, else
/// `CF-IPCountry`): two letters, upper case; `XX`/`T1` (unknown, Tor) kept as given.
pub fn country(cloudfront: Option<&str>, cloudflare: Option<&str>) -> Option<String> {
    [cloudfront, cloudflare]
        .into_iter()
        .flatten()
        .map(|c| c.trim().to_ascii_uppercase())
        .find(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn quiet() -> Signals {
        Signals {
            orders_per_ip: Some(1),
            orders_per_device: Some(1),
            orders_per_phone: Some(1),
            emails_per_device: Some(1),
            cards_per_email: 1,
            country: Some("ID".into()),
            ..Signals::default()
        }
    }

    #[test]
    fn an_ordinary_buyer_is_allowed_with_no_reasons() {
        let a = assess(&quiet(), &Thresholds::default());
        assert_eq!(a.outcome, Outcome::Allow);
        assert!(a.reasons.is_empty());
        assert_eq!(a.score, 0);
    }

    type Change = Box<dyn Fn(&mut Signals)>;

    #[test]
    fn each_rule_fires_past_its_limit_and_says_so() {
        let t = Thresholds {
            high_risk_countries: vec!["XA".into()],
            ..Thresholds::default()
        };
        let cases: Vec<(&str, Change)> = vec![
            ("orders_per_ip", Box::new(|s| s.orders_per_ip = Some(31))),
            (
                "orders_per_device",
                Box::new(|s| s.orders_per_device = Some(7)),
            ),
            (
                "orders_per_phone",
                Box::new(|s| s.orders_per_phone = Some(7)),
            ),
            ("failed_payments", Box::new(|s| s.failed_per_ip = Some(4))),
            ("failed_payments", Box::new(|s| s.failed_per_email = 4)),
            ("cards_per_email", Box::new(|s| s.cards_per_email = 4)),
            (
                "emails_per_device",
                Box::new(|s| s.emails_per_device = Some(4)),
            ),
            (
                "high_risk_country",
                Box::new(|s| s.country = Some("XA".into())),
            ),
            ("disposable_email", Box::new(|s| s.disposable_email = true)),
        ];
        for (code, change) in cases {
            let mut s = quiet();
            change(&mut s);
            let a = assess(&s, &t);
            assert_eq!(a.reasons.len(), 1, "{code}");
            assert_eq!(a.reasons[0].code, code);
            assert_eq!(a.outcome, Outcome::StepUp, "{code}: one signal steps up");
        }
        // At the limit nothing fires.
        let mut s = quiet();
        s.orders_per_device = Some(6);
        assert_eq!(assess(&s, &t).outcome, Outcome::Allow);
    }

    #[test]
    fn signals_add_up_to_hold_and_block() {
        let t = Thresholds {
            high_risk_countries: vec!["XA".into()],
            ..Thresholds::default()
        };
        let mut s = quiet();
        s.emails_per_device = Some(9);
        s.orders_per_device = Some(9);
        assert_eq!(assess(&s, &t).outcome, Outcome::Hold);
        s.country = Some("XA".into());
        let a = assess(&s, &t);
        assert_eq!(a.outcome, Outcome::Block);
        assert_eq!(a.score, 95);
    }

    #[test]
    fn settings_come_from_the_environment() {
        let env = |k: &str| match k {
            "RISK_MAX_ORDERS_PER_IP" => Some("100".to_owned()),
            "RISK_HIGH_RISK_COUNTRIES" => Some(" xa, XB ".to_owned()),
            "RISK_HOLD_SCORE" => Some("60".to_owned()),
            _ => None,
        };
        let t = Thresholds::from_lookup(env).unwrap();
        assert_eq!(t.orders_per_ip, 100);
        assert_eq!(t.high_risk_countries, vec!["XA", "XB"]);
        assert_eq!(t.hold_at, 60);
        for (k, v) in [
            ("RISK_MAX_ORDERS_PER_IP", "x"),
            ("RISK_MAX_ORDERS_PER_IP", "0"),
            ("RISK_HIGH_RISK_COUNTRIES", "Indonesia"),
            ("RISK_STEP_UP_SCORE", "90"),
        ] {
            assert!(
                Thresholds::from_lookup(|q| (q == k).then(|| v.to_owned())).is_err(),
                "{k}={v}"
            );
        }
    }

    #[test]
    fn country_header() {
        assert_eq!(country(Some("id"), Some("SG")), Some("ID".into()));
        assert_eq!(country(None, Some("SG")), Some("SG".into()));
        assert_eq!(country(Some("Indonesia"), None), None);
        assert_eq!(country(None, None), None);
    }
}
