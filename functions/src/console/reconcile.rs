//! The reconciliation CSV of one event and one payment provider, pure: one row per payment the
//! gateway confirmed (or took too late, owed back), keyed by the gateway's own references so
//! finance can match it line by line against the provider's settlement report. No buyer data.

use super::reports::{local_day, utc_day, OrderLine};
use crate::model::PaymentRecord;

/// The CSV header (RFC 4180, CRLF line ends).
pub const HEADER: &str = "order_id,tier_id,quantity,provider,provider_ref,payment_id,paid_at_utc,paid_day_local,amount_minor,currency,status,reversal_kind,reversed_minor,refund_due_minor";

/// The providers a report may name (the gateway adapters of `crate::gateway`).
pub const PROVIDERS: [&str; 5] = ["stripe", "midtrans", "xendit", "doku", "stub"];

/// A field as RFC 4180 wants it, and never a formula: a spreadsheet would evaluate a cell
/// starting with `= + - @` (or a tab / CR), so those get a leading `'` (OWASP CSV injection).
fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(at: u64) -> String {
    let secs = at % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        utc_day(at),
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

fn row(line: &OrderLine, p: &PaymentRecord, zone: &str, due: bool) -> String {
    let (kind, reversed) = match (&line.reversal, due) {
        (Some(r), false) => (r.kind.as_str(), r.amount_minor.to_string()),
        _ => ("", "0".to_owned()),
    };
    [
        field(&line.order_id),
        field(&line.tier_id),
        line.quantity.to_string(),
        field(&p.provider),
        field(&p.provider_ref),
        field(p.payment_id.as_deref().unwrap_or("")),
        utc(p.paid_at),
        local_day(p.paid_at, zone),
        p.amount_minor.to_string(),
        field(&p.currency),
        field(line.status.as_str()),
        field(kind),
        reversed,
        if due {
            p.amount_minor.to_string()
        } else {
            "0".to_owned()
        },
    ]
    .join(",")
}

/// The CSV of `provider`'s payments among `lines` (one event), ordered by payment time.
pub fn reconciliation_csv(provider: &str, zone: &str, lines: &[OrderLine]) -> String {
    let mut rows: Vec<(u64, String, String)> = Vec::new();
    for line in lines {
        if let Some(p) = line.paid.as_ref().filter(|p| p.provider == provider) {
            rows.push((p.paid_at, line.order_id.clone(), row(line, p, zone, false)));
        }
        if let Some(p) = line.refund_due.as_ref().filter(|p| p.provider == provider) {
            rows.push((p.paid_at, line.order_id.clone(), row(line, p, zone, true)));
        }
    }
    rows.sort();
    let mut out = String::with_capacity(HEADER.len() + rows.len() * 128);
    out.push_str(HEADER);
    out.push_str("\r\n");
    for (_, _, r) in rows {
        out.push_str(&r);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::reports::tests::{line, paid};
    use super::*;
    use crate::model::OrderStatus;

    #[test]
    fn rows_match_gateway_references_of_one_provider_only() {
        let at = 1_796_052_600; // 2026-11-30T15:30:00Z, 22:30 in Jakarta
        let mut late = line("o3", "ga", OrderStatus::Expired, None);
        late.refund_due = Some(paid("xendit", "inv-3", 150_000, at + 60));
        let lines = vec![
            line(
                "o1",
                "ga",
                OrderStatus::Minted,
                Some(paid("xendit", "inv-1", 300_000, at)),
            ),
            line(
                "o2",
                "ga",
                OrderStatus::Minted,
                Some(paid("stripe", "cs_2", 300_000, at)),
            ),
            late,
        ];
        let csv = reconciliation_csv("xendit", "Asia/Jakarta", &lines);
        let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(rows[0], HEADER);
        assert_eq!(rows.len(), 3, "{csv}");
        assert_eq!(
            rows[1],
            "o1,ga,2,xendit,inv-1,,2026-11-30T15:30:00Z,2026-11-30,300000,IDR,MINTED,,0,0"
        );
        assert!(rows[2].starts_with("o3,ga,2,xendit,inv-3,"), "{}", rows[2]);
        assert!(
            rows[2].ends_with(",150000,IDR,EXPIRED,,0,150000"),
            "{}",
            rows[2]
        );
        assert!(!csv.contains("cs_2"));
    }

    #[test]
    fn a_reference_cannot_become_a_formula_or_break_a_row() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1+1"), "'-1+1");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("pi_123"), "pi_123");
    }
}
