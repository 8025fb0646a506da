//! Finance reports, pure: sales and revenue of one event per tier, day (in the event's time
//! zone) and payment provider, refunds and refunds due. Built from [`OrderLine`]s, which carry
//! no personal data (the adapter never reads the buyer's sealed details).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Event, OrderStatus, PaymentRecord, Reversal};

/// What a report needs of an order: ids, amounts, the gateway's references. No buyer data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u32,
    pub amount_minor: u64,
    pub currency: String,
    pub status: OrderStatus,
    pub payment_provider: String,
    pub created_at: u64,
    pub paid: Option<PaymentRecord>,
    pub refund_due: Option<PaymentRecord>,
    pub reversal: Option<Reversal>,
}

/// Sums of one group. Money in minor units of `currency`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub currency: String,
    pub orders: u64,
    pub tickets: u64,
    /// What the gateways confirmed as paid.
    pub gross_minor: u64,
    /// Refunded by the gateway (cumulative per order, as reported).
    pub refunded_minor: u64,
    /// Disputed (charged back).
    pub disputed_minor: u64,
    /// `gross - refunded - disputed`, never below zero.
    pub net_minor: u64,
}

impl Totals {
    fn add(&mut self, line: &OrderLine, paid: &PaymentRecord) {
        self.currency.clone_from(&paid.currency);
        self.orders += 1;
        self.tickets += u64::from(line.quantity);
        self.gross_minor += paid.amount_minor;
        if let Some(r) = &line.reversal {
            // A reversal in another currency than the payment is not netted (never seen; kept
            // visible rather than summed wrongly).
            if r.currency == paid.currency {
                match r.kind.as_str() {
                    "disputed" => self.disputed_minor += r.amount_minor.min(paid.amount_minor),
                    _ => self.refunded_minor += r.amount_minor.min(paid.amount_minor),
                }
            }
        }
        self.net_minor = self
            .gross_minor
            .saturating_sub(self.refunded_minor)
            .saturating_sub(self.disputed_minor);
    }
}

/// A payment taken for an order that had already expired or been cancelled: owed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDue {
    pub order_id: String,
    pub provider: String,
    pub provider_ref: String,
    pub amount_minor: u64,
    pub currency: String,
    pub paid_at: u64,
}

/// A refund or dispute the gateway reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    pub order_id: String,
    pub kind: String,
    pub provider: String,
    pub provider_ref: String,
    pub amount_minor: u64,
    pub currency: String,
    pub at: u64,
}

/// `GET /v1/console/events/{event_id}/sales`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesReport {
    pub event_id: String,
    pub currency: String,
    pub time_zone: String,
    pub total: Totals,
    pub by_tier: BTreeMap<String, Totals>,
    /// `YYYY-MM-DD` of the payment in the event's time zone.
    pub by_day: BTreeMap<String, Totals>,
    pub by_provider: BTreeMap<String, Totals>,
}

/// `GET /v1/console/events/{event_id}/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundsReport {
    pub event_id: String,
    pub refunds: Vec<RefundLine>,
    pub refunds_due: Vec<RefundDue>,
    /// Sum of `refunds_due` per currency.
    pub due_minor: BTreeMap<String, u64>,
}

/// The UTC offset of one of [`crate::model::TIME_ZONES`], in seconds. Indonesia keeps no
/// daylight saving time: the offsets are fixed (WIB +7, WITA +8, WIT +9).
pub fn zone_offset_secs(zone: &str) -> u64 {
    match zone {
        "Asia/Makassar" => 8 * 3600,
        "Asia/Jayapura" => 9 * 3600,
        _ => 7 * 3600, // Asia/Jakarta, Asia/Pontianak (and the default)
    }
}

/// The calendar date (`YYYY-MM-DD`) of unix time `at` in `zone`.
pub fn local_day(at: u64, zone: &str) -> String {
    utc_day(at.saturating_add(zone_offset_secs(zone)))
}

/// The UTC calendar date (`YYYY-MM-DD`) of unix time `at`.
pub fn utc_day(at: u64) -> String {
    let days = i64::try_from(at / 86_400).unwrap_or(i64::MAX / 2);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Sales of `event`: every order of the event a gateway confirmed as paid (paid, minted, then
/// possibly refunded or disputed), grouped by tier, local day and provider.
pub fn sales_report(event: &Event, lines: &[OrderLine]) -> SalesReport {
    let mut report = SalesReport {
        event_id: event.event_id.clone(),
        currency: event.currency.clone(),
        time_zone: event.time_zone.clone(),
        total: Totals {
            currency: event.currency.clone(),
            ..Totals::default()
        },
        by_tier: BTreeMap::new(),
        by_day: BTreeMap::new(),
        by_provider: BTreeMap::new(),
    };
    for line in lines.iter().filter(|l| l.event_id == event.event_id) {
        let Some(paid) = &line.paid else { continue };
        report.total.add(line, paid);
        report
            .by_tier
            .entry(line.tier_id.clone())
            .or_default()
            .add(line, paid);
        report
            .by_day
            .entry(local_day(paid.paid_at, &event.time_zone))
            .or_default()
            .add(line, paid);
        report
            .by_provider
            .entry(paid.provider.clone())
            .or_default()
            .add(line, paid);
    }
    report
}

/// Refunds and disputes reported by the gateways, and payments owed back, of `event_id`.
pub fn refunds_report(event_id: &str, lines: &[OrderLine]) -> RefundsReport {
    let mut refunds = Vec::new();
    let mut refunds_due = Vec::new();
    let mut due_minor = BTreeMap::new();
    for line in lines.iter().filter(|l| l.event_id == event_id) {
        if let Some(r) = &line.reversal {
            refunds.push(RefundLine {
                order_id: line.order_id.clone(),
                kind: r.kind.clone(),
                provider: r.provider.clone(),
                provider_ref: r.provider_ref.clone(),
                amount_minor: r.amount_minor,
                currency: r.currency.clone(),
                at: r.at,
            });
        }
        if let Some(p) = &line.refund_due {
            *due_minor.entry(p.currency.clone()).or_insert(0) += p.amount_minor;
            refunds_due.push(RefundDue {
                order_id: line.order_id.clone(),
                provider: p.provider.clone(),
                provider_ref: p.provider_ref.clone(),
                amount_minor: p.amount_minor,
                currency: p.currency.clone(),
                paid_at: p.paid_at,
            });
        }
    }
    refunds.sort_by(|a, b| (a.at, &a.order_id).cmp(&(b.at, &b.order_id)));
    refunds_due.sort_by(|a, b| (a.paid_at, &a.order_id).cmp(&(b.paid_at, &b.order_id)));
    RefundsReport {
        event_id: event_id.to_owned(),
        refunds,
        refunds_due,
        due_minor,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Tier;

    pub fn event() -> Event {
        Event {
            event_id: "fest".into(),
            name: "Fest".into(),
            currency: "IDR".into(),
            starts_at: 0,
            ends_at: 1,
            time_zone: "Asia/Jayapura".into(),
            max_per_order: 4,
            max_per_buyer: 4,
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

    pub fn paid(provider: &str, reference: &str, amount: u64, at: u64) -> PaymentRecord {
        PaymentRecord {
            provider: provider.into(),
            provider_ref: reference.into(),
            amount_minor: amount,
            currency: "IDR".into(),
            paid_at: at,
            payment_id: None,
        }
    }

    pub fn line(
        id: &str,
        tier: &str,
        status: OrderStatus,
        paid: Option<PaymentRecord>,
    ) -> OrderLine {
        OrderLine {
            order_id: id.into(),
            event_id: "fest".into(),
            tier_id: tier.into(),
            quantity: 2,
            amount_minor: paid.as_ref().map_or(300_000, |p| p.amount_minor),
            currency: "IDR".into(),
            status,
            payment_provider: paid
                .as_ref()
                .map_or("stripe".into(), |p| p.provider.clone()),
            created_at: 0,
            paid,
            refund_due: None,
            reversal: None,
        }
    }

    #[test]
    fn local_days_follow_the_event_zone() {
        // 2026-11-30T15:30:00Z: 22:30 in Jakarta (+7), already 00:30 the next day in Jayapura.
        let at = 1_796_052_600;
        assert_eq!(local_day(at, "Asia/Jakarta"), "2026-11-30");
        assert_eq!(local_day(at, "Asia/Makassar"), "2026-11-30");
        assert_eq!(local_day(at, "Asia/Jayapura"), "2026-12-01");
        assert_eq!(utc_day(at), "2026-11-30");
        assert_eq!(local_day(0, "Asia/Jakarta"), "1970-01-01");
        assert_eq!(local_day(951_782_400, "Asia/Jakarta"), "2000-02-29"); // leap day, 00:00 UTC
    }

    #[test]
    fn sales_group_by_tier_day_and_provider_and_net_out_refunds() {
        let at = 1_796_052_600;
        let mut refunded = line(
            "o2",
            "vip",
            OrderStatus::Refunded,
            Some(paid("xendit", "x-2", 500_000, at - 86_400)),
        );
        refunded.reversal = Some(Reversal {
            kind: "refunded".into(),
            provider: "xendit".into(),
            provider_ref: "x-2".into(),
            amount_minor: 500_000,
            currency: "IDR".into(),
            at,
        });
        let lines = vec![
            line(
                "o1",
                "ga",
                OrderStatus::Minted,
                Some(paid("stripe", "cs_1", 300_000, at)),
            ),
            refunded,
            line("o3", "ga", OrderStatus::Reserved, None), // unpaid: not a sale
            OrderLine {
                event_id: "other".into(),
                ..line(
                    "o4",
                    "ga",
                    OrderStatus::Paid,
                    Some(paid("stripe", "cs_4", 9, at)),
                )
            },
        ];
        let r = sales_report(&event(), &lines);
        assert_eq!(r.total.orders, 2);
        assert_eq!(r.total.tickets, 4);
        assert_eq!(r.total.gross_minor, 800_000);
        assert_eq!(r.total.refunded_minor, 500_000);
        assert_eq!(r.total.net_minor, 300_000);
        assert_eq!(r.by_tier["ga"].gross_minor, 300_000);
        assert_eq!(r.by_tier["vip"].net_minor, 0);
        // The event is in Jayapura (+9): 15:30Z is the next local day.
        assert_eq!(r.by_day["2026-12-01"].gross_minor, 300_000);
        assert_eq!(r.by_day["2026-11-30"].gross_minor, 500_000);
        assert_eq!(r.by_provider["xendit"].refunded_minor, 500_000);
        assert_eq!(r.by_provider.len(), 2);
        assert_eq!(r.total.currency, "IDR");
    }

    #[test]
    fn refunds_due_are_listed_and_summed() {
        let mut late = line("o9", "ga", OrderStatus::Expired, None);
        late.refund_due = Some(paid("midtrans", "m-9", 150_000, 5));
        let r = refunds_report("fest", &[late, line("o1", "ga", OrderStatus::Paid, None)]);
        assert_eq!(r.refunds_due.len(), 1);
        assert_eq!(r.refunds_due[0].provider_ref, "m-9");
        assert_eq!(r.due_minor["IDR"], 150_000);
        assert!(r.refunds.is_empty());
    }
}
