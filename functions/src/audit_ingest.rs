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

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::http::{bearer_token, read_json, respond};
use crate::ports::Clock;

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

// ---------------------------------------------------------------------------------------------
// Ingest
// ---------------------------------------------------------------------------------------------

/// `POST /v1/audit/batches` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub event_id: String,
    pub entries: Vec<BatchEntry>,
    /// The worker's signature over the last entry (see `crate::audit_heads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<BatchHead>,
}

/// A signed batch head.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchHead {
    pub seq: u64,
    pub hash: String,
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    pub seq: u64,
    pub hash: String,
    pub canonical: String,
}

/// What an accepted batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestOutcome {
    pub event_id: String,
    /// Entries written now.
    pub stored: usize,
    /// Entries of the batch that were already stored (a retry).
    pub already_stored: usize,
    /// The stored head after the batch.
    pub head_seq: u64,
    pub head_hash: String,
}

fn tamper(seq: u64, what: &str) -> Error {
    Error::Invalid {
        field: "entries",
        reason: format!("seq {seq}: {what}; nothing was stored"),
    }
}

/// Checks a batch on its own (pure): ids, positions, hashes, canonical entries and the links
/// between its entries. Returns the links in order.
pub fn check_batch(batch: &Batch) -> Result<Vec<Link>> {
    if !valid_door_id(&batch.event_id, MAX_EVENT_ID_LEN) {
        return Err(Error::invalid(
            "event_id",
            "1-64 characters of [A-Za-z0-9._:@-]",
        ));
    }
    if batch.entries.is_empty() || batch.entries.len() > MAX_BATCH {
        return Err(Error::invalid("entries", "1-100 entries"));
    }
    let mut links: Vec<Link> = Vec::with_capacity(batch.entries.len());
    for e in &batch.entries {
        if e.seq == 0 {
            return Err(Error::invalid("entries.seq", "sequence numbers start at 1"));
        }
        if let Some(prev) = links.last() {
            if e.seq != prev.seq + 1 {
                return Err(Error::invalid(
                    "entries.seq",
                    format!(
                        "entries must be consecutive: seq {} follows {}",
                        e.seq, prev.seq
                    ),
                ));
            }
        }
        if e.hash.len() != 64
            || !e
                .hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(Error::invalid("entries.hash", "64 lowercase hex digits"));
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&e.hash, &mut hash)
            .map_err(|_| Error::invalid("entries.hash", "64 lowercase hex digits"))?;
        if e.canonical.len() > MAX_CANONICAL_LEN
            || parse_door_entry(&e.canonical, &batch.event_id, e.seq).is_none()
        {
            return Err(tamper(
                e.seq,
                "not a canonical door entry of this event at this position",
            ));
        }
        if let Some(prev) = links.last() {
            if chain_hash(&prev.hash, e.canonical.as_bytes()) != hash {
                return Err(tamper(
                    e.seq,
                    "hash does not match SHA-256(previous hash || canonical)",
                ));
            }
        }
        links.push(Link {
            seq: e.seq,
            hash,
            canonical: e.canonical.clone(),
        });
    }
    Ok(links)
}

/// Verifies a batch against the stored chain and stores its new entries (see the module doc).
pub async fn ingest(log: &dyn AuditLog, batch: &Batch, now: u64) -> Result<IngestOutcome> {
    let links = check_batch(batch)?;
    let stream = Stream::Door(batch.event_id.clone());
    let first = links[0].seq;
    let last_seq = links[links.len() - 1].seq;
    // Bounded: a lost race re-reads and re-decides (a concurrent redelivery ends as a retry).
    for _ in 0..4 {
        let previous = if first == 1 {
            GENESIS
        } else if let Some(p) = log.get(&stream, first - 1).await? {
            p.hash
        } else {
            let head = log.last(&stream).await?.map_or(0, |l| l.seq);
            return Err(Error::Conflict(format!(
                "audit gap: the stored chain of this event ends at seq {head}, the batch starts at seq {first}; nothing was stored"
            )));
        };
        if chain_hash(&previous, links[0].canonical.as_bytes()) != links[0].hash {
            return Err(tamper(
                first,
                "does not continue the stored chain (hash mismatch)",
            ));
        }
        let stored = log
            .range(
                &stream,
                first - 1,
                u32::try_from(links.len()).unwrap_or(100),
            )
            .await?;
        for s in &stored {
            let Some(mine) = links.iter().find(|l| l.seq == s.seq) else {
                continue;
            };
            if mine.hash != s.hash || mine.canonical != s.canonical {
                return Err(Error::Conflict(format!(
                    "audit fork: seq {} differs from the stored entry; nothing was stored",
                    s.seq
                )));
            }
        }
        let stored_up_to = stored
            .iter()
            .filter(|s| s.seq <= last_seq)
            .map(|s| s.seq)
            .max()
            .unwrap_or(first - 1);
        let new: Vec<Link> = links
            .iter()
            .filter(|l| l.seq > stored_up_to)
            .cloned()
            .collect();
        if !new.is_empty() && !log.append(&stream, &new, now).await? {
            continue;
        }
        let head = log
            .last(&stream)
            .await?
            .ok_or_else(|| Error::internal("audit chain empty after append"))?;
        // The forged-or-stale QR alarm sums `forged_or_stale` (operations::qr_alarm).
        let refused = crate::operations::qr_alarm::door_refusals(&new);
        tracing::info!(
            event_id = %batch.event_id,
            first,
            last = last_seq,
            stored = new.len(),
            forged_qr = refused.forged,
            stale_qr = refused.stale,
            forged_or_stale = refused.forged + refused.stale,
            "audit batch accepted"
        );
        return Ok(IngestOutcome {
            event_id: batch.event_id.clone(),
            stored: new.len(),
            already_stored: links.len() - new.len(),
            head_seq: head.seq,
            head_hash: hex::encode(head.hash),
        });
    }
    Err(Error::unavailable("audit chain contended; retry"))
}

/// Appends one backend record to `stream` (the staff log): computes its seq and hash from the
/// stored head and retries a lost race a few times. `make` builds the canonical text for a seq.
pub async fn append_record(
    log: &dyn AuditLog,
    stream: &Stream,
    now: u64,
    make: impl Fn(u64) -> Result<String> + Send + Sync,
) -> Result<Link> {
    for _ in 0..8 {
        let (seq, previous) = match log.last(stream).await? {
            Some(l) => (l.seq + 1, l.hash),
            None => (1, GENESIS),
        };
        let link = next_link(seq, &previous, make(seq)?);
        if log.append(stream, std::slice::from_ref(&link), now).await? {
            return Ok(link);
        }
    }
    Err(Error::unavailable("audit log contended; retry"))
}

/// The link for `canonical` at `seq` after a link hashed `previous`.
pub fn next_link(seq: u64, previous: &[u8; 32], canonical: String) -> Link {
    Link {
        seq,
        hash: chain_hash(previous, canonical.as_bytes()),
        canonical,
    }
}

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

/// The result of checking links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub valid: bool,
    pub checked: u64,
    /// Hash of the last link checked, hex.
    pub head: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_bad_seq: Option<u64>,
}

/// Checks `links` (ascending, starting right after a link hashed `previous` at `previous_seq`).
pub fn check_links(previous_seq: u64, previous: [u8; 32], links: &[Link]) -> ChainCheck {
    let mut prev = previous;
    let mut checked = 0;
    for (expected, l) in (previous_seq + 1..).zip(links) {
        if l.seq != expected || chain_hash(&prev, l.canonical.as_bytes()) != l.hash {
            return ChainCheck {
                valid: false,
                checked,
                head: hex::encode(prev),
                first_bad_seq: Some(l.seq),
            };
        }
        prev = l.hash;
        checked += 1;
    }
    ChainCheck {
        valid: true,
        checked,
        head: hex::encode(prev),
        first_bad_seq: None,
    }
}

/// One entry of a report page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    pub seq: u64,
    pub hash: String,
    pub canonical: String,
}

/// A page of a stream with the verification of its links (anchored on the entry before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub stream: String,
    pub entries: Vec<ReportEntry>,
    pub chain: ChainCheck,
    /// Door streams: attempts on this page by `result` (admitted, already_admitted, ...).
    pub results: BTreeMap<String, u64>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_after: Option<u64>,
}

/// Entries of `stream` with `seq > after` (at most `limit`), each link checked.
pub async fn page(
    log: &dyn AuditLog,
    stream: &Stream,
    after: u64,
    limit: u32,
) -> Result<AuditPage> {
    let limit = limit.clamp(1, MAX_PAGE);
    let previous = if after == 0 {
        GENESIS
    } else {
        log.get(stream, after).await?.ok_or(Error::NotFound)?.hash
    };
    let links = log.range(stream, after, limit).await?;
    let chain = check_links(after, previous, &links);
    let mut results = BTreeMap::new();
    if let Stream::Door(event) = stream {
        for l in &links {
            if let Some(e) = parse_door_entry(&l.canonical, event, l.seq) {
                *results.entry(e.result).or_insert(0) += 1;
            }
        }
    }
    let next_after = (links.len() == limit as usize)
        .then(|| links.last().map(|l| l.seq))
        .flatten();
    Ok(AuditPage {
        stream: stream.partition(),
        entries: links
            .iter()
            .map(|l| ReportEntry {
                seq: l.seq,
                hash: hex::encode(l.hash),
                canonical: l.canonical.clone(),
            })
            .collect(),
        chain,
        results,
        next_after,
    })
}

/// Walks a whole stream from seq 1 (bounded by `max_entries`).
pub async fn verify_stream(
    log: &dyn AuditLog,
    stream: &Stream,
    max_entries: u64,
) -> Result<ChainCheck> {
    let mut previous = GENESIS;
    let mut after = 0;
    let mut checked = 0;
    while checked < max_entries {
        let links = log.range(stream, after, MAX_PAGE).await?;
        if links.is_empty() {
            break;
        }
        let c = check_links(after, previous, &links);
        if !c.valid {
            return Ok(ChainCheck {
                checked: checked + c.checked,
                ..c
            });
        }
        checked += c.checked;
        let last = &links[links.len() - 1];
        previous = last.hash;
        after = last.seq;
    }
    Ok(ChainCheck {
        valid: true,
        checked,
        head: hex::encode(previous),
        first_bad_seq: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Worker authentication
// ---------------------------------------------------------------------------------------------

/// SHA-256 hashes of the accepted worker tokens.
#[derive(Clone, Default)]
pub struct IngestTokens {
    hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for IngestTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestTokens")
            .field("count", &self.hashes.len())
            .finish()
    }
}

impl IngestTokens {
    /// Parses `AUDIT_INGEST_TOKEN_SHA256` (hex SHA-256, comma-separated).
    pub fn from_hex_list(text: &str) -> Result<Self> {
        let mut hashes = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut h = [0u8; 32];
            hex::decode_to_slice(part, &mut h)
                .map_err(|_| Error::internal(format!("{TOKEN_HASH_ENV}: not hex SHA-256")))?;
            hashes.push(h);
        }
        if hashes.is_empty() {
            return Err(Error::internal(format!("{TOKEN_HASH_ENV} is not set")));
        }
        Ok(Self { hashes })
    }

    pub fn from_env() -> Result<Self> {
        Self::from_hex_list(&std::env::var(TOKEN_HASH_ENV).unwrap_or_default())
    }

    /// The hash to configure for `token`.
    pub fn hash_hex(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    /// Constant-time check of a presented token (every configured hash is compared).
    pub fn accepts(&self, token: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut ok = subtle::Choice::from(0);
        for h in &self.hashes {
            ok |= presented.ct_eq(h);
        }
        bool::from(ok)
    }
}

/// A fresh worker token (43 characters of base64url, 256 bits) and its hash.
pub fn new_ingest_token(rng: &dyn crate::ports::Rng) -> (zeroize::Zeroizing<String>, String) {
    use base64::Engine as _;
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill(bytes.as_mut());
    let token = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    );
    let hash = IngestTokens::hash_hex(&token);
    (token, hash)
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// The audit-ingest service.
#[derive(Clone)]
pub struct IngestService {
    pub log: Arc<dyn AuditLog>,
    pub tokens: IngestTokens,
    /// When set, per-event tokens and signed heads are required instead of `tokens`.
    pub heads: Option<crate::audit_heads::HeadKey>,
    pub clock: Arc<dyn Clock>,
    /// Verifies console tokens for the report route; `None` = reports off.
    pub console: Option<Arc<crate::staff_identity::Console>>,
}

impl std::fmt::Debug for IngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestService")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

async fn post_batch(
    State(s): State<Arc<IngestService>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let token = bearer_token(&headers)?.to_owned();
        if s.heads.is_none() && !s.tokens.accepts(&token) {
            return Err(Error::Unauthorized);
        }
        let batch: Batch = read_json(&headers, body, MAX_BATCH_BODY).await?;
        // Per-event token and signed head: checked once the batch names its event.
        if s.heads.as_ref().is_some_and(|k| !k.accepts(&token, &batch)) {
            return Err(Error::Unauthorized);
        }
        if let Some(key) = headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or(""))
        {
            let first = batch.entries.first().map_or(0, |e| e.seq);
            if key != format!("audit:{}:{first}", batch.event_id) {
                return Err(Error::Header("idempotency-key"));
            }
        }
        ingest(s.log.as_ref(), &batch, s.clock.now()).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// `GET /v1/audit/events/{event_id}/entries` query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

async fn get_entries(
    State(s): State<Arc<IngestService>>,
    Path(event_id): Path<String>,
    query: std::result::Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let console = s.console.as_ref().ok_or(Error::NotFound)?;
        let caller = console
            .authenticate(bearer_token(&headers)?, s.clock.now())
            .await?;
        if !valid_door_id(&event_id, MAX_EVENT_ID_LEN) {
            return Err(Error::NotFound);
        }
        caller.require_reports_for(&event_id)?;
        let Query(q) = query.map_err(|_| Error::Malformed("query: after, limit".into()))?;
        page(s.log.as_ref(), &Stream::Door(event_id), q.after, q.limit).await
    }
    .await;
    respond(StatusCode::OK, result)
}

/// The audit-ingest routes.
pub fn router(service: IngestService) -> Router {
    Router::new()
        .route("/v1/audit/batches", post(post_batch))
        .route("/v1/audit/events/{event_id}/entries", get(get_entries))
        .fallback(crate::http::not_found)
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .with_state(Arc::new(service))
}

// ---------------------------------------------------------------------------------------------
// DynamoDB adapter
// ---------------------------------------------------------------------------------------------

pub use dynamo::DynamoAuditLog;

mod dynamo {
    use std::collections::HashMap;

    use async_trait::async_trait;
    use aws_sdk_dynamodb::error::SdkError;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

    use super::{AuditLog, Link, Stream};
    use crate::aws::describe;
    use crate::error::{Error, Result};

    type Item = HashMap<String, AttributeValue>;

    /// Chains in the single table.
    #[derive(Debug, Clone)]
    pub struct DynamoAuditLog {
        client: aws_sdk_dynamodb::Client,
        table: String,
    }

    pub(crate) fn sort_key(seq: u64) -> String {
        format!("SEQ#{seq:020}")
    }

    fn s(v: impl Into<String>) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn from_item(item: &Item) -> Result<Link> {
        let bad = || Error::internal("stored audit item is malformed");
        let seq = match item.get("seq") {
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let mut hash = [0u8; 32];
        match item.get("hash") {
            Some(AttributeValue::S(h)) => hex::decode_to_slice(h, &mut hash).map_err(|_| bad())?,
            _ => return Err(bad()),
        }
        let canonical = match item.get("canonical") {
            Some(AttributeValue::S(c)) => c.clone(),
            _ => return Err(bad()),
        };
        Ok(Link {
            seq,
            hash,
            canonical,
        })
    }

    impl DynamoAuditLog {
        pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
            Self {
                client,
                table: table.into(),
            }
        }

        /// The conditional put of one link (also used inside the staff transactions).
        pub(crate) fn put(&self, stream: &Stream, link: &Link, now: u64) -> Result<Put> {
            Put::builder()
                .table_name(&self.table)
                .item("pk", s(stream.partition()))
                .item("sk", s(sort_key(link.seq)))
                .item("type", s("audit"))
                .item("seq", AttributeValue::N(link.seq.to_string()))
                .item("hash", s(hex::encode(link.hash)))
                .item("canonical", s(link.canonical.clone()))
                .item("received_at", AttributeValue::N(now.to_string()))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(Error::internal)
        }

        pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
            &self.client
        }

        pub(crate) fn table(&self) -> &str {
            &self.table
        }
    }

    /// Runs a transaction: `Ok(false)` when a condition failed.
    pub(crate) async fn transact(
        client: &aws_sdk_dynamodb::Client,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool> {
        match client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e))
                if matches!(
                    e.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::unavailable(describe(&e))),
        }
    }

    #[async_trait]
    impl AuditLog for DynamoAuditLog {
        async fn last(&self, stream: &Stream) -> Result<Option<Link>> {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(stream.partition()))
                .scan_index_forward(false)
                .limit(1)
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| Error::unavailable(describe(&e)))?;
            out.items().first().map(from_item).transpose()
        }

        async fn get(&self, stream: &Stream, seq: u64) -> Result<Option<Link>> {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(stream.partition()))
                .key("sk", s(sort_key(seq)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| Error::unavailable(describe(&e)))?;
            out.item().map(from_item).transpose()
        }

        async fn range(&self, stream: &Stream, after: u64, limit: u32) -> Result<Vec<Link>> {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk > :after")
                .expression_attribute_values(":pk", s(stream.partition()))
                .expression_attribute_values(":after", s(sort_key(after)))
                .scan_index_forward(true)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| Error::unavailable(describe(&e)))?;
            out.items().iter().map(from_item).collect()
        }

        async fn append(&self, stream: &Stream, links: &[Link], now: u64) -> Result<bool> {
            if links.is_empty() {
                return Ok(true);
            }
            if links.len() > super::MAX_BATCH {
                return Err(Error::internal("audit append over 100 items"));
            }
            let items = links
                .iter()
                .map(|l| {
                    Ok(TransactWriteItem::builder()
                        .put(self.put(stream, l, now)?)
                        .build())
                })
                .collect::<Result<Vec<_>>>()?;
            transact(&self.client, items).await
        }
    }
}

pub(crate) use dynamo::transact;

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
