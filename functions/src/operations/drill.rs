//! The restore drill's checks, pure: a restored table (read into a [`Snapshot`]) must hold the
//! invariants the live one holds: stock adds up, every minted order has its tickets and no other
//! order has any, every audit chain verifies from genesis, and no erased customer is readable.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::audit_ingest::{check_links, Link, GENESIS};
use crate::model::OrderStatus;

/// A tier's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRow {
    pub event_id: String,
    pub tier_id: String,
    pub capacity: u64,
    pub available: u64,
    pub sold: u64,
}

/// What the checks need of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub event_id: String,
    pub tier_id: String,
    pub quantity: u64,
    pub status: OrderStatus,
    /// Its tickets were minted (`minted_at` set; stays set after a refund or dispute).
    pub minted: bool,
}

/// The items of a table that the drill checks (ids only: no personal data is read).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub items: u64,
    pub tiers: Vec<TierRow>,
    pub orders: Vec<OrderRow>,
    /// `(order_id, ticket_id)` of every ticket item.
    pub tickets: Vec<(String, String)>,
    /// Audit links by partition (`AUDIT#<event>`, `STAFFAUDIT`), in any order.
    pub audit: BTreeMap<String, Vec<Link>>,
    /// Customers whose wrapped data key is present (their data is readable).
    pub customers_with_key: BTreeSet<String>,
    /// Customers an `EMAIL#` index item leads to.
    pub email_links: BTreeSet<String>,
}

/// One audit chain's head after the restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub stream: String,
    pub entries: u64,
    pub head_seq: u64,
    pub head_hash: String,
    pub valid: bool,
}

/// The drill's findings on a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Findings {
    pub items: u64,
    pub tiers: usize,
    pub orders: usize,
    pub minted_orders: usize,
    pub tickets: usize,
    pub chains: Vec<ChainHead>,
    /// Erased customers (from the log) that are readable or findable by email.
    pub erased_still_readable: usize,
    /// Each broken invariant, in words (ids only), at most [`MAX_PROBLEMS`].
    pub problems: Vec<String>,
}

/// Most problems listed (a badly broken table would otherwise print one per item).
pub const MAX_PROBLEMS: usize = 100;

/// Whether an order in this state still holds its stock (only an expiry gives it back).
fn holds_stock(status: OrderStatus) -> bool {
    status != OrderStatus::Expired
}

/// Checks `snap` against the invariants; `erased` are the customer ids of the erasure log.
pub fn check(snap: &Snapshot, erased: &BTreeSet<String>) -> Findings {
    let mut problems = Vec::new();
    let mut note = |p: String| {
        if problems.len() < MAX_PROBLEMS {
            problems.push(p);
        }
    };

    // Stock: capacity = available + what orders hold; sold = what minted orders hold.
    let mut held: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut minted: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for o in &snap.orders {
        let key = (o.event_id.as_str(), o.tier_id.as_str());
        if holds_stock(o.status) {
            *held.entry(key).or_default() += o.quantity;
        }
        if o.minted {
            *minted.entry(key).or_default() += o.quantity;
        }
    }
    let tier_keys: BTreeSet<(&str, &str)> = snap
        .tiers
        .iter()
        .map(|t| (t.event_id.as_str(), t.tier_id.as_str()))
        .collect();
    for t in &snap.tiers {
        let key = (t.event_id.as_str(), t.tier_id.as_str());
        let h = held.get(&key).copied().unwrap_or(0);
        if t.available + h != t.capacity {
            note(format!(
                "stock {}/{}: available {} + held by orders {h} != capacity {}",
                t.event_id, t.tier_id, t.available, t.capacity
            ));
        }
        let m = minted.get(&key).copied().unwrap_or(0);
        if t.sold != m {
            note(format!(
                "sold {}/{}: counter {} != minted order quantities {m}",
                t.event_id, t.tier_id, t.sold
            ));
        }
    }
    for key in held.keys().filter(|k| !tier_keys.contains(*k)) {
        note(format!("orders of a missing tier {}/{}", key.0, key.1));
    }

    // Tickets per order.
    let mut per_order: BTreeMap<&str, u64> = BTreeMap::new();
    for (order_id, _) in &snap.tickets {
        *per_order.entry(order_id.as_str()).or_default() += 1;
    }
    let orders: BTreeMap<&str, &OrderRow> = snap
        .orders
        .iter()
        .map(|o| (o.order_id.as_str(), o))
        .collect();
    for o in &snap.orders {
        let have = per_order.get(o.order_id.as_str()).copied().unwrap_or(0);
        let want = if o.minted { o.quantity } else { 0 };
        if have != want {
            note(format!(
                "tickets of {} ({}): {have}, expected {want}",
                o.order_id,
                o.status.as_str()
            ));
        }
    }
    for order_id in per_order.keys().filter(|id| !orders.contains_key(*id)) {
        note(format!("tickets without an order: {order_id}"));
    }

    let chains = chain_heads(snap, &mut note);

    // Erased customers stay erased.
    let readable: BTreeSet<&String> = erased
        .iter()
        .filter(|c| snap.customers_with_key.contains(*c) || snap.email_links.contains(*c))
        .collect();
    for c in &readable {
        note(format!("erased customer {c} is readable again"));
    }

    Findings {
        items: snap.items,
        tiers: snap.tiers.len(),
        orders: snap.orders.len(),
        minted_orders: snap.orders.iter().filter(|o| o.minted).count(),
        tickets: snap.tickets.len(),
        chains,
        erased_still_readable: readable.len(),
        problems,
    }
}

/// Each audit chain checked from genesis, its head reported.
fn chain_heads(snap: &Snapshot, note: &mut impl FnMut(String)) -> Vec<ChainHead> {
    let mut chains = Vec::new();
    for (stream, links) in &snap.audit {
        let mut links = links.clone();
        links.sort_by_key(|l| l.seq);
        let c = check_links(0, GENESIS, &links);
        if !c.valid {
            note(format!(
                "audit chain {stream} breaks at seq {}",
                c.first_bad_seq.unwrap_or(0)
            ));
        }
        chains.push(ChainHead {
            stream: stream.clone(),
            entries: links.len() as u64,
            head_seq: if c.valid {
                links.last().map_or(0, |l| l.seq)
            } else {
                c.checked
            },
            head_hash: c.head,
            valid: c.valid,
        });
    }

    chains
}

/// The printed report of a drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillReport {
    /// What was restored (`point-in-time <table> @ <t>`, `backup <arn>`, `export s3://...`).
    pub source: String,
    pub restored_table: String,
    /// Erasures in the log, and customers shredded again by the replay.
    pub erasures_logged: usize,
    pub reshredded: usize,
    pub findings: Findings,
    /// No problem found.
    pub ok: bool,
}

impl DrillReport {
    pub fn new(
        source: String,
        restored_table: String,
        replay: &crate::privacy::ReplayReport,
        findings: Findings,
    ) -> Self {
        Self {
            ok: findings.problems.is_empty(),
            source,
            restored_table,
            erasures_logged: replay.logged,
            reshredded: replay.reshredded,
            findings,
        }
    }

    /// A few lines for a person (the JSON is the record).
    pub fn summary(&self) -> String {
        let f = &self.findings;
        let mut out = format!(
            "restore drill: {}\n  source {}\n  restored into {}: {} items, {} tiers, {} orders \
             ({} minted), {} tickets\n  erasure log: {} erased, {} shredded again, {} still \
             readable\n",
            if self.ok { "OK" } else { "FAILED" },
            self.source,
            self.restored_table,
            f.items,
            f.tiers,
            f.orders,
            f.minted_orders,
            f.tickets,
            self.erasures_logged,
            self.reshredded,
            f.erased_still_readable,
        );
        for c in &f.chains {
            let _ = writeln!(
                out,
                "  audit {}: {} entries, head seq {} {} ({})",
                c.stream,
                c.entries,
                c.head_seq,
                c.head_hash,
                if c.valid { "verified" } else { "BROKEN" }
            );
        }
        for p in &f.problems {
            let _ = writeln!(out, "  PROBLEM {p}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit_ingest::next_link;

    fn order(id: &str, q: u64, status: OrderStatus, minted: bool) -> OrderRow {
        OrderRow {
            order_id: id.into(),
            event_id: "e".into(),
            tier_id: "t".into(),
            quantity: q,
            status,
            minted,
        }
    }

    fn world() -> Snapshot {
        let a = next_link(1, &GENESIS, "one".into());
        let b = next_link(2, &a.hash, "two".into());
        Snapshot {
            items: 9,
            tiers: vec![TierRow {
                event_id: "e".into(),
                tier_id: "t".into(),
                capacity: 10,
                available: 5,
                sold: 2,
            }],
            orders: vec![
                order("o1", 2, OrderStatus::Minted, true),
                order("o2", 3, OrderStatus::Reserved, false),
                order("o3", 4, OrderStatus::Expired, false),
            ],
            tickets: vec![("o1".into(), "x".into()), ("o1".into(), "y".into())],
            audit: [("AUDIT#e".to_owned(), vec![b, a])].into(),
            customers_with_key: ["c1".to_owned()].into(),
            email_links: ["c1".to_owned()].into(),
        }
    }

    #[test]
    fn a_consistent_snapshot_passes_with_its_chain_head() {
        let f = check(&world(), &["c2".to_owned()].into());
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.chains[0].head_seq, 2);
        assert!(f.chains[0].valid);
        assert_eq!((f.minted_orders, f.tickets), (1, 2));
    }

    #[test]
    fn each_broken_invariant_is_reported() {
        let mut s = world();
        s.tiers[0].available = 6; // oversold or lost stock
        s.tiers[0].sold = 3;
        s.tickets.push(("o2".into(), "z".into())); // tickets of an unpaid order
        s.tickets.push(("gone".into(), "w".into()));
        s.audit.get_mut("AUDIT#e").expect("chain")[0].canonical = "tampered".into();
        let f = check(&s, &["c1".to_owned()].into());
        let all = f.problems.join("\n");
        for needle in [
            "stock e/t",
            "sold e/t",
            "tickets of o2",
            "tickets without an order: gone",
            "audit chain AUDIT#e breaks at seq 2",
            "erased customer c1",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
        assert_eq!(f.erased_still_readable, 1);
        assert!(!f.chains[0].valid);
    }
}
