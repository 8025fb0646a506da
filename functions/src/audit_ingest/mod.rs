//! audit-ingest: the back end of the door's hash-chained audit trail (invariant 7), and the
//! backend's own chained log of staff actions.
//!
//! The edge worker's `EventDoor` forwards its entries in order, in batches of at most 100:
//! `POST /v1/audit/batches` with `Authorization: Bearer <AUDIT_INGEST_TOKEN>`,
//! `Idempotency-Key: audit:<event>:<first seq>` and the body
//! `{"event_id": "...", "entries": [{"seq": n, "hash": "<64 hex>", "canonical": "<json>"}]}`
//! (see `edge-worker/src/door.rs`). The chain rule is the worker's:
//! `hash(n) = SHA-256(hash(n-1) || canonical(n))`, `hash(0)` = 32 zero bytes.
//!
//! A batch is accepted only if it continues the chain stored for its event: its first entry
//! links to the stored entry before it (or to the genesis hash), every entry links to the one
//! before, every canonical text is a well-formed door entry of that event whose `seq` is its
//! position, and entries already stored are identical. A gap (the batch starts after the stored
//! head + 1) is `409 audit-gap`; a broken link or a malformed entry is `400`; a stored entry that
//! differs is `409`. Nothing is written in any of these cases: the new entries of a batch go in
//! one `TransactWriteItems`, each conditional on its absence, so a retried (or concurrently
//! redelivered) batch writes nothing twice and answers `200` again.
//!
//! Items: `AUDIT#<event_id>` / `SEQ#<seq, 20 digits>` with `seq` (N), `hash` (S, hex),
//! `canonical` (S, exactly the text that was hashed), `received_at` (N); the staff log
//! ([`Stream::Staff`], written by `crate::staff`) is `STAFFAUDIT` / `SEQ#...` with the same
//! attributes. See `functions/DATA.md`.
//!
//! The worker authenticates with a random bearer token; this function stores only its SHA-256
//! (`AUDIT_INGEST_TOKEN_SHA256`, hex, comma-separated to allow a rotation) and compares in
//! constant time. `audit-ingest new-token` prints a fresh token and its hash. With
//! `AUDIT_HEAD_PUBLIC_KEY` set, per-event tokens and a signed head per batch are required
//! instead ([`crate::audit_heads`]).
//!
//! Reports (finance/admin): [`page`] lists a stream's entries after a sequence number and checks
//! each link, [`verify_stream`] walks a whole stream; `GET /v1/audit/events/{event_id}/entries`
//! serves [`page`] to a console token (role `admin` or `finance` of that event, see
//! `crate::staff`).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;

mod ingest;
mod reports;
mod routes;
mod tokens;

pub use ingest::*;
pub use reports::*;
pub use routes::*;
pub use tokens::*;

pub(crate) use crate::store::audit_log::transact;
pub use crate::store::audit_log::DynamoAuditLog;

/// The hash before the first entry of every chain.
pub const GENESIS: [u8; 32] = [0; 32];
/// Most entries per batch (the worker sends 100; DynamoDB transactions hold 100 items).
pub const MAX_BATCH: usize = 100;
/// Longest canonical entry accepted.
pub const MAX_CANONICAL_LEN: usize = 4096;
/// Largest batch body read.
pub const MAX_BATCH_BODY: usize = 512 * 1024;
/// Longest event id (the worker's and the ticket format's limit).
pub const MAX_EVENT_ID_LEN: usize = ticket::MAX_ID_LEN;
/// Most entries one report page returns.
pub const MAX_PAGE: u32 = 500;
/// Env var: hex SHA-256 of the worker's `AUDIT_INGEST_TOKEN` (comma-separated for rotation).
pub const TOKEN_HASH_ENV: &str = "AUDIT_INGEST_TOKEN_SHA256";

/// The next link of a chain.
pub fn chain_hash(previous: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(canonical);
    h.finalize().into()
}

/// The edge worker's id rule (`edge-worker/src/api.rs::valid_id`): `[A-Za-z0-9._:@-]`.
pub fn valid_door_id(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

/// A chain: one event's door entries, or the backend's staff actions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    Door(String),
    Staff,
}

impl Stream {
    /// The partition key of the stream's items.
    pub fn partition(&self) -> String {
        match self {
            Self::Door(event) => format!("AUDIT#{event}"),
            Self::Staff => "STAFFAUDIT".to_owned(),
        }
    }
}

/// A stored link of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub seq: u64,
    pub hash: [u8; 32],
    /// The canonical text exactly as hashed.
    pub canonical: String,
}

/// Storage of chains. Appends are all-or-nothing and conditional on each entry's absence.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// The last stored link (highest seq).
    async fn last(&self, stream: &Stream) -> Result<Option<Link>>;
    async fn get(&self, stream: &Stream, seq: u64) -> Result<Option<Link>>;
    /// Links with `seq > after`, ascending, at most `limit`.
    async fn range(&self, stream: &Stream, after: u64, limit: u32) -> Result<Vec<Link>>;
    /// Writes every link or none; `Ok(false)` when one already existed (a concurrent writer).
    async fn append(&self, stream: &Stream, links: &[Link], now: u64) -> Result<bool>;
}

// ---------------------------------------------------------------------------------------------
// The door entry: a mirror of `edge-worker/src/audit.rs::AuditEntry` (field order = canonical
// order, alphabetical). The ingest re-serialises each entry and requires the same bytes.
// ---------------------------------------------------------------------------------------------

/// The worker's `result` values (`edge-worker/src/api.rs::ScanResult`).
pub const DOOR_RESULTS: [&str; 12] = [
    "admitted",
    "already_admitted",
    "invalid",
    "stale",
    "revoked",
    "wrong_event",
    "not_yet_valid",
    "expired",
    "wrong_gate",
    "static_not_allowed",
    "unauthorised",
    "forbidden",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorGps {
    pub acc_m: Option<u32>,
    pub lat_e6: i64,
    pub lon_e6: i64,
}

/// One scan attempt as the door chained it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoorEntry {
    pub at_ms: i64,
    pub detail: Option<String>,
    pub event_id: String,
    pub gate_id: String,
    pub gps: Option<DoorGps>,
    /// A synced scan that reached the edge late; absent from the text when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    pub offline: bool,
    pub result: String,
    pub role: Option<String>,
    pub scan_id: String,
    pub seq: u64,
    pub staff_id: Option<String>,
    pub ticket_id: Option<String>,
}

/// Parses a canonical door entry of `event_id` at position `seq`; `None` unless it is exactly
/// the worker's canonical form.
pub fn parse_door_entry(canonical: &str, event_id: &str, seq: u64) -> Option<DoorEntry> {
    let entry: DoorEntry = serde_json::from_str(canonical).ok()?;
    let same_bytes = serde_json::to_string(&entry).ok()? == canonical;
    (same_bytes
        && entry.seq == seq
        && entry.event_id == event_id
        && DOOR_RESULTS.contains(&entry.result.as_str()))
    .then_some(entry)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(seq: u64, result: &str) -> String {
        let e = DoorEntry {
            at_ms: 1_800_000_000_000,
            detail: None,
            event_id: "evt-1".into(),
            gate_id: "A".into(),
            gps: Some(DoorGps {
                acc_m: Some(5),
                lat_e6: -6_175_392,
                lon_e6: 106_827_153,
            }),
            late: false,
            offline: false,
            result: result.into(),
            role: Some("staff".into()),
            scan_id: format!("s-{seq}"),
            seq,
            staff_id: Some("staff-7".into()),
            ticket_id: None,
        };
        serde_json::to_string(&e).unwrap()
    }

    fn batch(from: u64, to: u64) -> Batch {
        let mut prev = GENESIS;
        let mut entries = Vec::new();
        for seq in 1..=to {
            let c = entry(seq, "admitted");
            prev = chain_hash(&prev, c.as_bytes());
            if seq >= from {
                entries.push(BatchEntry {
                    seq,
                    hash: hex::encode(prev),
                    canonical: c,
                });
            }
        }
        Batch {
            event_id: "evt-1".into(),
            entries,
            head: None,
        }
    }

    #[test]
    fn canonical_form_is_the_workers() {
        // The worker's own test vector (edge-worker/src/audit.rs::canonical_text_is_fixed).
        let text = r#"{"at_ms":1700000000001,"detail":null,"event_id":"evt-1","gate_id":"A","gps":{"acc_m":5,"lat_e6":-6175392,"lon_e6":106827153},"offline":false,"result":"already_admitted","role":"staff","scan_id":"s-1","seq":1,"staff_id":"staff-7","ticket_id":"00000000000000000000000000000000"}"#;
        assert!(parse_door_entry(text, "evt-1", 1).is_some());
        assert!(parse_door_entry(text, "evt-2", 1).is_none());
        assert!(parse_door_entry(text, "evt-1", 2).is_none());
        let spaced = text.replace(",\"gate_id\"", ", \"gate_id\"");
        assert!(parse_door_entry(&spaced, "evt-1", 1).is_none());
        let unknown = text.replace("already_admitted", "waved_through");
        assert!(parse_door_entry(&unknown, "evt-1", 1).is_none());
        // A late synced scan carries `"late":true` after gps; `"late":false` is never the
        // worker's text (it leaves the flag out).
        let late = text.replace("\"offline\":false", "\"late\":true,\"offline\":false");
        assert!(parse_door_entry(&late, "evt-1", 1).is_some_and(|e| e.late));
        let not_late = text.replace("\"offline\":false", "\"late\":false,\"offline\":false");
        assert!(parse_door_entry(&not_late, "evt-1", 1).is_none());
    }

    #[test]
    fn batches_are_checked_on_their_own() {
        assert_eq!(check_batch(&batch(1, 5)).unwrap().len(), 5);
        let mut b = batch(1, 3);
        b.entries[1].canonical = b.entries[1].canonical.replace("admitted", "invalid");
        let e = check_batch(&b).unwrap_err();
        assert!(e.to_string().contains("seq 2"), "{e}");
        let mut b = batch(1, 3);
        b.entries.remove(1);
        assert!(check_batch(&b).is_err());
        let mut b = batch(1, 3);
        b.event_id = "evt 1".into();
        assert!(check_batch(&b).is_err());
        let mut b = batch(1, 3);
        b.entries[2].hash = b.entries[2].hash.to_uppercase();
        assert!(check_batch(&b).is_err());
        assert!(check_batch(&Batch {
            event_id: "evt-1".into(),
            entries: vec![],
            head: None,
        })
        .is_err());
    }

    #[test]
    fn links_are_checked() {
        let links = check_batch(&batch(1, 4)).unwrap();
        assert!(check_links(0, GENESIS, &links).valid);
        assert_eq!(check_links(0, GENESIS, &links[1..]).first_bad_seq, Some(2));
        let mut bad = links.clone();
        bad[2].canonical.push(' ');
        assert_eq!(check_links(0, GENESIS, &bad).first_bad_seq, Some(3));
    }

    #[test]
    fn tokens_compare_by_hash() {
        let t = IngestTokens::from_hex_list(&format!(
            "{}, {}",
            IngestTokens::hash_hex("old-token"),
            IngestTokens::hash_hex("new-token")
        ))
        .unwrap();
        assert!(t.accepts("old-token") && t.accepts("new-token"));
        assert!(!t.accepts("other") && !t.accepts(""));
        assert!(IngestTokens::from_hex_list("").is_err());
        assert!(IngestTokens::from_hex_list("zz").is_err());
        let (token, hash) = new_ingest_token(&crate::ports::OsRng);
        assert_eq!(token.len(), 43);
        assert!(IngestTokens::from_hex_list(&hash).unwrap().accepts(&token));
    }
}
