//! Configuration from environment variables (see the contract with infra/).
//!
//! Every function reads the same [`Config`]; a variable a function does not need may be absent
//! (it is then an error only when that function asks for it through [`Config::require`]).

use crate::error::{Error, Result};

/// Default reservation hold: 15 minutes.
pub const DEFAULT_RESERVATION_TTL_SECS: u64 = 15 * 60;
/// Default largest accepted request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;
/// Default tickets per order when an event does not say.
pub const DEFAULT_MAX_PER_ORDER: u32 = 6;
/// Default tickets per buyer per event when an event does not say.
pub const DEFAULT_MAX_PER_BUYER: u32 = 10;
/// Hard ceiling on tickets per order: the mint transaction writes one item per ticket plus the
/// order and must stay under DynamoDB's 100-item transaction limit.
pub const HARD_MAX_PER_ORDER: u32 = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`: the single DynamoDB table.
    pub table_name: String,
    /// `PII_KEY_ID`: KMS key wrapping per-customer data keys.
    pub pii_key_id: Option<String>,
    /// `ISSUER_KEY_ID`: KMS key wrapping each event's issuer and QR keys.
    pub issuer_key_id: Option<String>,
    /// `CONFIG_KEY_ID`: KMS key wrapping configuration secrets (`GATEWAY_SECRETS`).
    pub config_key_id: Option<String>,
    /// `MINT_QUEUE_URL`.
    pub mint_queue_url: Option<String>,
    /// `NOTIFY_QUEUE_URL`.
    pub notify_queue_url: Option<String>,
    /// `REVOKE_QUEUE_URL`: refunded and disputed orders whose tickets the door must refuse.
    pub revoke_queue_url: Option<String>,
    /// `RESERVATION_TTL_SECS` (default 900).
    pub reservation_ttl_secs: u64,
    /// `MAX_BODY_BYTES` (default 16 KiB).
    pub max_body_bytes: usize,
    /// `PRIVACY_POLICY_VERSIONS`: comma-separated versions a buyer may consent to (the first is
    /// current). Default `"2026-01"`.
    pub privacy_policy_versions: Vec<String>,
    /// `PAYMENT_PROVIDERS`: comma-separated enabled providers; the first is the default.
    pub payment_providers: Vec<String>,
    /// `RETENTION_DAYS` (default 365): personal data of past events is shredded after this.
    pub retention_days: u64,
    /// `IDEMPOTENCY_TTL_SECS` (default 86400): how long an idempotency key is remembered.
    pub idempotency_ttl_secs: u64,
    /// `ERASURE_LOG_TABLE`: the erasure log's own table (privacy and retention need it).
    pub erasure_log_table: Option<String>,
    /// `CLIENT_RATE_LIMIT` (default 5): requests per client (address + device) per window on
    /// checkout and privacy challenges.
    pub client_rate_limit: u32,
    /// `CLIENT_RATE_WINDOW_SECS` (default 60).
    pub client_rate_window_secs: u64,
    /// `STEP_UP_THRESHOLDS` (default `IDR:1000000`): per currency, the order total in karcis
    /// minor units above which the buyer must enter a one-time code before paying (see
    /// [`crate::sale::stepup`]). `CUR:amount` entries, comma-separated.
    pub step_up_thresholds: Vec<(String, u64)>,
    /// The risk rules' settings (`RISK_*`, see [`crate::fraud::risk::Thresholds`]).
    pub risk: crate::fraud::risk::Thresholds,
    /// `WAITING_ROOM_PUBLIC_KEY`: the edge waiting room's P-256 public key (uncompressed SEC1,
    /// hex) that signs admissions; events in queue mode refuse every order without it.
    pub waiting_room_public_key: Option<Vec<u8>>,
}

/// Rp1.000.000 (IDR has no minor unit in karcis: see `gateway::money`).
pub const DEFAULT_STEP_UP_THRESHOLDS: &str = "IDR:1000000";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let table_name =
            get("TABLE_NAME").ok_or_else(|| Error::internal("TABLE_NAME is not set"))?;
        let num = |k: &'static str, default: u64| -> Result<u64> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| Error::internal(format!("{k} is not a number"))),
            }
        };
        let list = |k: &str, default: &[&str]| -> Vec<String> {
            get(k).map_or_else(
                || default.iter().map(|s| (*s).to_owned()).collect(),
                |v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                },
            )
        };
        let reservation_ttl_secs = num("RESERVATION_TTL_SECS", DEFAULT_RESERVATION_TTL_SECS)?;
        if !(60..=24 * 3600).contains(&reservation_ttl_secs) {
            return Err(Error::internal("RESERVATION_TTL_SECS must be 60..=86400"));
        }
        let max_body_bytes = usize::try_from(num("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64)?)
            .map_err(|_| Error::internal("MAX_BODY_BYTES too large"))?;
        let client_rate_limit = u32::try_from(num("CLIENT_RATE_LIMIT", 5)?)
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| Error::internal("CLIENT_RATE_LIMIT must be 1..=4294967295"))?;
        let client_rate_window_secs = num("CLIENT_RATE_WINDOW_SECS", 60)?;
        if !(1..=3600).contains(&client_rate_window_secs) {
            return Err(Error::internal("CLIENT_RATE_WINDOW_SECS must be 1..=3600"));
        }
        let step_up_thresholds = crate::sale::stepup::parse_thresholds(
            &get("STEP_UP_THRESHOLDS").unwrap_or_else(|| DEFAULT_STEP_UP_THRESHOLDS.to_owned()),
        )?;
        let risk = crate::fraud::risk::Thresholds::from_lookup(&lookup)?;
        let waiting_room_public_key = get("WAITING_ROOM_PUBLIC_KEY")
            .map(|k| {
                crate::sale::admission::parse_public_key(&k)
                    .ok_or_else(|| Error::internal("WAITING_ROOM_PUBLIC_KEY is not a P-256 point"))
            })
            .transpose()?;
        Ok(Self {
            waiting_room_public_key,
            table_name,
            risk,
            step_up_thresholds,
            client_rate_limit,
            client_rate_window_secs,
            pii_key_id: get("PII_KEY_ID"),
            issuer_key_id: get("ISSUER_KEY_ID"),
            config_key_id: get("CONFIG_KEY_ID"),
            mint_queue_url: get("MINT_QUEUE_URL"),
            notify_queue_url: get("NOTIFY_QUEUE_URL"),
            revoke_queue_url: get("REVOKE_QUEUE_URL"),
            reservation_ttl_secs,
            max_body_bytes,
            privacy_policy_versions: list("PRIVACY_POLICY_VERSIONS", &["2026-01"]),
            payment_providers: list("PAYMENT_PROVIDERS", &["stripe"]),
            retention_days: num("RETENTION_DAYS", 365)?,
            idempotency_ttl_secs: num("IDEMPOTENCY_TTL_SECS", 86_400)?,
            erasure_log_table: get("ERASURE_LOG_TABLE"),
        })
    }

    /// An optional setting that this function needs: error if it is absent.
    pub fn require<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str> {
        value
            .as_deref()
            .ok_or_else(|| Error::internal(format!("{name} is not set")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("TABLE_NAME", "t")]).unwrap();
        assert_eq!(c.reservation_ttl_secs, 900);
        assert_eq!(c.max_body_bytes, 16 * 1024);
        assert_eq!(c.privacy_policy_versions, vec!["2026-01".to_owned()]);
        assert!(c.pii_key_id.is_none());
        assert!(Config::require(&c.pii_key_id, "PII_KEY_ID").is_err());
        assert_eq!((c.client_rate_limit, c.client_rate_window_secs), (5, 60));
        assert_eq!(c.step_up_thresholds, vec![("IDR".to_owned(), 1_000_000)]);
    }

    #[test]
    fn step_up_thresholds_are_checked() {
        let c = cfg(&[
            ("TABLE_NAME", "t"),
            ("STEP_UP_THRESHOLDS", "IDR:2000000, USD:10000"),
        ])
        .unwrap();
        assert_eq!(
            c.step_up_thresholds,
            vec![("IDR".to_owned(), 2_000_000), ("USD".to_owned(), 10_000)]
        );
        for bad in ["IDR", "idr:1", "IDR:-1", "IDR:1.5", "RUPIAH:1"] {
            assert!(
                cfg(&[("TABLE_NAME", "t"), ("STEP_UP_THRESHOLDS", bad)]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn client_rate_limits_are_checked() {
        let c = cfg(&[
            ("TABLE_NAME", "t"),
            ("CLIENT_RATE_LIMIT", "20"),
            ("CLIENT_RATE_WINDOW_SECS", "300"),
        ])
        .unwrap();
        assert_eq!((c.client_rate_limit, c.client_rate_window_secs), (20, 300));
        assert!(cfg(&[("TABLE_NAME", "t"), ("CLIENT_RATE_LIMIT", "0")]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("CLIENT_RATE_WINDOW_SECS", "0")]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("CLIENT_RATE_WINDOW_SECS", "86400")]).is_err());
    }

    #[test]
    fn table_is_required_and_numbers_are_checked() {
        assert!(cfg(&[]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("RESERVATION_TTL_SECS", "abc")]).is_err());
        assert!(cfg(&[("TABLE_NAME", "t"), ("RESERVATION_TTL_SECS", "5")]).is_err());
        let c = cfg(&[
            ("TABLE_NAME", "t"),
            ("RESERVATION_TTL_SECS", "120"),
            ("PAYMENT_PROVIDERS", "midtrans, xendit"),
        ])
        .unwrap();
        assert_eq!(c.reservation_ttl_secs, 120);
        assert_eq!(c.payment_providers, vec!["midtrans", "xendit"]);
    }
}
