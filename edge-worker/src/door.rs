//! `EventDoor`: the Durable Object that owns one event's admissions and audit trail.
//!
//! Every scan of the event goes through it. It runs one request at a time and each request's
//! check-and-record is synchronous SQL with no `await` in between, committed as one implicit
//! transaction: two scans of one ticket can never both be admitted (invariant 2), whatever the
//! concurrency, and a retry with the same scan id gets the first answer back.

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::time::Duration;

use worker::{
    durable_object, DurableObject, Env, Fetch, Headers, Method, Request, RequestInit, Response,
    Result, SqlStorage, SqlStorageValue, State,
};

use crate::api::{hhmm_utc, Gps, GpsOutput, Problem, ScanResult};
use crate::audit::{chain_hash, verify_chain_from, AuditEntry, ChainReport, StoredLink, GENESIS};
use crate::http::{json, json_text, problem};

/// What the worker decided about the code, for the door to apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// The ticket checked: admit it unless it was admitted already (or revoked here).
    Admit,
    /// Refused before admission; recorded only.
    Refuse {
        result: ScanResult,
        detail: Option<String>,
    },
}

/// One scan attempt, sent by the worker to the event's door.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    pub event_id: String,
    pub staff_id: Option<String>,
    pub role: Option<String>,
    pub scan_id: String,
    /// SHA-256 of what was scanned: a retry must carry the same.
    pub fingerprint: String,
    pub gate_id: String,
    pub gps: Option<Gps>,
    pub at_ms: i64,
    pub ticket_id: Option<String>,
    /// The credential's signed `issued_at`, for an `Admit` decision.
    #[serde(default)]
    pub issued_at: Option<u64>,
    pub decision: Decision,
    pub offline: bool,
    /// Record in the audit trail without an idempotency record (a staff member's request
    /// refused before admission: wrong event, gate or role).
    #[serde(default)]
    pub record_only: bool,
    /// A synced scan that reached the edge late (see `offline::is_late`): flagged in the audit.
    #[serde(default)]
    pub late: bool,
}

/// The first admission of a ticket, shown when it is scanned again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Admission {
    pub at_ms: i64,
    pub gate_id: String,
    pub staff_id: String,
    pub gps: Option<GpsOutput>,
    pub offline: bool,
}

/// The answer to a scan, as the scanner receives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScanOutcome {
    pub result: ScanResult,
    pub message: String,
    pub event_id: String,
    pub gate_id: String,
    pub scan_id: String,
    pub ticket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    pub at_ms: i64,
    pub audit_seq: u64,
    /// True when this is the stored answer to an earlier request with the same scan id.
    pub replayed: bool,
    /// For `already_admitted`: when, where and by whom the ticket was admitted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub admitted: Option<Admission>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS admissions (
    ticket_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    gate_id TEXT NOT NULL,
    staff_id TEXT NOT NULL,
    gps TEXT,
    scan_id TEXT NOT NULL,
    offline INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scans (
    staff_id TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (staff_id, scan_id)
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    entry TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked (
    ticket_id TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS retired (
    ticket_id TEXT PRIMARY KEY,
    not_issued_before INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bundles (
    staff_id TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (staff_id, issued_at)
);
";

/// An offline bundle handed to a staff member: synced scans must fall in one of these windows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct BundleWindow {
    pub issued_at: u64,
    pub expires_at: u64,
}

/// `POST /bundle-issued`: the worker records each bundle it hands out.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleIssued {
    pub staff_id: String,
    pub issued_at: u64,
    pub expires_at: u64,
}

/// Windows are kept this long after they end (a sync accepts scans up to 24 h old).
const BUNDLE_KEEP_SECS: u64 = 25 * 3600;

#[durable_object]
pub struct EventDoor {
    sql: SqlStorage,
    state: State,
    env: Env,
    /// An alarm to forward audit entries is set (per instance; re-checked against storage).
    forward_pending: Cell<bool>,
    /// The event id is in `meta` (written once per instance, not once per scan).
    event_recorded: Cell<bool>,
}

impl std::fmt::Debug for EventDoor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventDoor")
    }
}

#[derive(Deserialize)]
struct AdmissionRow {
    at_ms: i64,
    gate_id: String,
    staff_id: String,
    gps: Option<String>,
    offline: i64,
}

#[derive(Deserialize)]
struct ScanRow {
    fingerprint: String,
    response: String,
}

#[derive(Deserialize)]
struct LinkRow {
    seq: i64,
    entry: String,
    hash: String,
}

#[derive(Deserialize)]
struct RetiredRow {
    ticket_id: String,
    not_issued_before: i64,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

/// `GET /audit` query, forwarded by the worker.
#[derive(Debug, Serialize, Deserialize)]
pub struct AuditQuery {
    pub after: u64,
    pub limit: u64,
}

/// One listed entry.
#[derive(Debug, Serialize)]
pub struct ListedEntry {
    pub seq: u64,
    pub hash: String,
    /// The canonical text exactly as hashed.
    pub canonical: String,
    pub entry: Option<AuditEntry>,
}

#[derive(Debug, Serialize)]
pub struct AuditListing {
    pub event_id: String,
    pub entries: Vec<ListedEntry>,
    /// Verification of this page, from the stored hash of the entry before it (`after`):
    /// a client walking the pages verifies the whole chain, one page in memory at a time.
    pub chain: ChainReport,
    pub next_after: Option<u64>,
}

/// A test-only edit of a stored entry (without re-hashing), to show tampering is detected.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tamper {
    pub seq: u64,
    pub result: ScanResult,
}

/// A revocation applied at this event's door at once (KV may take a while to propagate), or
/// with `not_issued_before`, the retirement of the ticket's credentials issued before then.
#[derive(Debug, Serialize, Deserialize)]
pub struct Revoke {
    pub ticket_id: String,
    pub reason: String,
    pub at_ms: i64,
    #[serde(default)]
    pub not_issued_before: Option<u64>,
}

impl DurableObject for EventDoor {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            worker::console_error!("door schema: {e}");
        }
        Self {
            sql,
            state,
            env,
            forward_pending: Cell::new(false),
            event_recorded: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/attempt") => {
                let attempt: Attempt = req.json().await?;
                // From here to the answer: synchronous, one transaction.
                let answer = self.attempt(&attempt)?;
                self.schedule_forwarding(&attempt.event_id).await?;
                match answer {
                    Ok(outcome_json) => json_text(200, outcome_json),
                    Err(p) => problem(&p),
                }
            }
            (Method::Get, "/audit") => {
                let query: AuditQuery = req.query()?;
                let event_id = req.headers().get("x-karcis-event")?.unwrap_or_default();
                json(200, &self.audit(event_id, &query)?)
            }
            (Method::Post, "/revoke") => {
                let revoke: Revoke = req.json().await?;
                if let Some(line) = revoke.not_issued_before {
                    // Only ever moves forward: a late, older re-issue does not revive anything.
                    self.sql.exec(
                        "INSERT INTO retired (ticket_id, not_issued_before) VALUES (?, ?) \
                         ON CONFLICT (ticket_id) DO UPDATE SET not_issued_before = \
                         MAX(not_issued_before, excluded.not_issued_before)",
                        vec![revoke.ticket_id.into(), int(line)],
                    )?;
                    return json(200, &serde_json::json!({"retired": true}));
                }
                self.sql.exec(
                    "INSERT OR IGNORE INTO revoked (ticket_id, at_ms, reason) VALUES (?, ?, ?)",
                    vec![
                        revoke.ticket_id.into(),
                        revoke.at_ms.into(),
                        revoke.reason.into(),
                    ],
                )?;
                json(200, &serde_json::json!({"revoked": true}))
            }
            (Method::Post, "/bundle-issued") => {
                let b: BundleIssued = req.json().await?;
                self.sql.exec(
                    "DELETE FROM bundles WHERE expires_at < ?",
                    vec![int(b.issued_at.saturating_sub(BUNDLE_KEEP_SECS))],
                )?;
                self.sql.exec(
                    "INSERT INTO bundles (staff_id, issued_at, expires_at) VALUES (?, ?, ?) \
                     ON CONFLICT (staff_id, issued_at) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
                    vec![b.staff_id.into(), int(b.issued_at), int(b.expires_at)],
                )?;
                json(200, &serde_json::json!({"recorded": true}))
            }
            (Method::Get, "/bundle-windows") => {
                #[derive(Deserialize)]
                struct Row {
                    issued_at: i64,
                    expires_at: i64,
                }
                let staff_id = req.headers().get("x-karcis-staff")?.unwrap_or_default();
                let rows: Vec<Row> = self
                    .sql
                    .exec(
                        "SELECT issued_at, expires_at FROM bundles WHERE staff_id = ? ORDER BY issued_at",
                        vec![staff_id.into()],
                    )?
                    .to_array()?;
                let windows: Vec<BundleWindow> = rows
                    .into_iter()
                    .map(|r| BundleWindow {
                        issued_at: u64::try_from(r.issued_at).unwrap_or(0),
                        expires_at: u64::try_from(r.expires_at).unwrap_or(0),
                    })
                    .collect();
                json(200, &windows)
            }
            (Method::Get, "/retired") => json(200, &self.retired()?),
            (Method::Get, "/revoked") => {
                let rows: Vec<serde_json::Value> = self
                    .sql
                    .exec("SELECT ticket_id FROM revoked", None)?
                    .to_array()?;
                json(200, &rows)
            }
            (Method::Post, "/tamper") => {
                let tamper: Tamper = req.json().await?;
                json(200, &serde_json::json!({"tampered": self.tamper(&tamper)?}))
            }
            _ => problem(&Problem::new(
                404,
                "not_found",
                "Not found",
                "no such door route",
            )),
        }
    }

    /// Forwards audit entries not yet forwarded, in batches, to `AUDIT_INGEST_URL`.
    async fn alarm(&self) -> Result<Response> {
        self.forward_pending.set(false);
        let Some(url) = self.ingest_url() else {
            return Response::ok("forwarding off");
        };
        let event_id = self.meta("event_id")?.unwrap_or_default();
        // Bounded: at most 20 batches per alarm, then the next alarm goes on.
        for _ in 0..20 {
            let done: u64 = self
                .meta("forwarded")?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let rows: Vec<LinkRow> = self
                .sql
                .exec(
                    "SELECT seq, entry, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                    vec![int(done), int(FORWARD_BATCH)],
                )?
                .to_array()?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                return Response::ok("forwarded");
            };
            let entries: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| serde_json::json!({"seq": r.seq, "hash": r.hash, "canonical": r.entry}))
                .collect();
            let mut batch = serde_json::json!({ "event_id": event_id, "entries": entries });
            let key = audit_signing_key(&self.env);
            if let (Some(key), Some(row)) = (&key, rows.last()) {
                let seq = u64::try_from(row.seq).unwrap_or(0);
                batch["head"] = crate::audit_forward::head(key, &event_id, seq, &row.hash);
            }
            let token = match &key {
                Some(key) => Some(crate::audit_forward::event_token(key, &event_id)),
                None => self
                    .env
                    .secret("AUDIT_INGEST_TOKEN")
                    .ok()
                    .map(|t| t.to_string()),
            };
            if !post_batch(&url, token.as_deref(), &event_id, done + 1, &batch).await {
                // The ingest is down: try later; nothing is lost, the cursor did not move.
                self.state
                    .storage()
                    .set_alarm(Duration::from_secs(self.retry_secs()))
                    .await?;
                self.forward_pending.set(true);
                return Response::ok("retry later");
            }
            self.sql.exec(
                "INSERT INTO meta (k, v) VALUES ('forwarded', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                vec![last.to_string().into()],
            )?;
        }
        self.state
            .storage()
            .set_alarm(Duration::from_millis(10))
            .await?;
        self.forward_pending.set(true);
        Response::ok("more to forward")
    }
}

/// The forwarding key, when `AUDIT_SIGNING_KEY` is bound and valid (see `audit_forward.rs`).
fn audit_signing_key(env: &Env) -> Option<ticket::p256::ecdsa::SigningKey> {
    let secret = env.secret("AUDIT_SIGNING_KEY").ok()?.to_string();
    let bytes = zeroize::Zeroizing::new(hex::decode(secret.trim()).ok()?);
    ticket::p256::ecdsa::SigningKey::from_slice(&bytes).ok()
}

/// The forwarding configuration (`crate::forwarding`) from the worker's bindings.
pub(crate) fn forwarding(
    env: &Env,
) -> std::result::Result<crate::forwarding::Forwarding, crate::forwarding::Unconfigured> {
    let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
    let has_token = env
        .secret("AUDIT_INGEST_TOKEN")
        .is_ok_and(|t| !t.to_string().trim().is_empty());
    crate::forwarding::decide(
        var("AUDIT_FORWARDING").as_deref(),
        var("AUDIT_INGEST_URL").as_deref(),
        has_token || audit_signing_key(env).is_some(),
    )
}

/// Entries per forwarded batch, and the default wait after a failed delivery.
const FORWARD_BATCH: u64 = 100;
const FORWARD_RETRY_SECS: u64 = 30;

/// A `u64` as a SQLite integer (saturating): every Durable Object of the worker stores times and
/// counters through it.
pub(crate) fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

impl EventDoor {
    /// Each re-issued ticket's line: its credentials issued before it are refused.
    fn retired(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let rows: Vec<RetiredRow> = self
            .sql
            .exec("SELECT ticket_id, not_issued_before FROM retired", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| (r.ticket_id, u64::try_from(r.not_issued_before).unwrap_or(0)))
            .collect())
    }

    fn ingest_url(&self) -> Option<String> {
        match forwarding(&self.env) {
            Ok(crate::forwarding::Forwarding::On(url)) => Some(url),
            _ => None,
        }
    }

    fn retry_secs(&self) -> u64 {
        self.env
            .var("AUDIT_FORWARD_RETRY_SECS")
            .ok()
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(FORWARD_RETRY_SECS)
            .clamp(1, 3600)
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        let rows: Vec<Row> = self
            .sql
            .exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.v))
    }

    /// Remembers the event and, when forwarding is on, makes sure an alarm will run.
    async fn schedule_forwarding(&self, event_id: &str) -> Result<()> {
        if !self.event_recorded.get() {
            self.sql.exec(
                "INSERT OR IGNORE INTO meta (k, v) VALUES ('event_id', ?)",
                vec![event_id.into()],
            )?;
            self.event_recorded.set(true);
        }
        if self.ingest_url().is_none() || self.forward_pending.get() {
            return Ok(());
        }
        if self.state.storage().get_alarm().await?.is_none() {
            self.state
                .storage()
                .set_alarm(Duration::from_secs(1))
                .await?;
        }
        self.forward_pending.set(true);
        Ok(())
    }
}

/// One batch to the ingest, authenticated with `token` (the event's token under
/// `AUDIT_SIGNING_KEY`, else `AUDIT_INGEST_TOKEN`); the `idempotency-key` names the batch so a
/// redelivery is recognisable. True when accepted.
async fn post_batch(
    url: &str,
    token: Option<&str>,
    event_id: &str,
    first: u64,
    batch: &serde_json::Value,
) -> bool {
    {
        let headers = Headers::new();
        if headers.set("content-type", "application/json").is_err() {
            return false;
        }
        if let Some(token) = token {
            if headers
                .set("authorization", &format!("Bearer {token}"))
                .is_err()
            {
                return false;
            }
        }
        if headers
            .set("idempotency-key", &format!("audit:{event_id}:{first}"))
            .is_err()
        {
            return false;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&batch.to_string())));
        let Ok(request) = Request::new_with_init(url, &init) else {
            return false;
        };
        match Fetch::Request(request).send().await {
            Ok(response) => (200..300).contains(&response.status_code()),
            Err(e) => {
                worker::console_error!("audit forwarding: {e}");
                false
            }
        }
    }
}

impl EventDoor {
    /// Applies an attempt; the answer is the [`ScanOutcome`] as JSON, serialised once for both
    /// the reply and the idempotency record.
    fn attempt(&self, a: &Attempt) -> Result<std::result::Result<String, Problem>> {
        let staff_key = a.staff_id.clone().unwrap_or_default();
        if !a.record_only {
            let previous: Vec<ScanRow> = self
                .sql
                .exec(
                    "SELECT fingerprint, response FROM scans WHERE staff_id = ? AND scan_id = ?",
                    vec![staff_key.clone().into(), a.scan_id.clone().into()],
                )?
                .to_array()?;
            if let Some(row) = previous.into_iter().next() {
                if row.fingerprint != a.fingerprint {
                    return Ok(Err(Problem::new(
                        409,
                        "scan_id_reused",
                        "Scan id reused",
                        "this scan_id was already used for a different scan",
                    )));
                }
                let mut outcome: ScanOutcome = serde_json::from_str(&row.response)?;
                outcome.replayed = true;
                return Ok(Ok(serde_json::to_string(&outcome)?));
            }
        }

        let (result, detail, admitted) = match &a.decision {
            Decision::Refuse { result, detail } => (*result, detail.clone(), None),
            Decision::Admit => self.admit(a)?,
        };

        let seq = self.append_audit(a, result, detail.clone())?;
        let message = match &admitted {
            Some(first) if result == ScanResult::AlreadyAdmitted => format!(
                "Already admitted at {}, gate {}, by {}",
                hhmm_utc(first.at_ms),
                first.gate_id,
                first.staff_id
            ),
            _ => result.message().to_owned(),
        };
        let outcome = ScanOutcome {
            result,
            message,
            event_id: a.event_id.clone(),
            gate_id: a.gate_id.clone(),
            scan_id: a.scan_id.clone(),
            ticket_id: a.ticket_id.clone(),
            detail,
            at_ms: a.at_ms,
            audit_seq: seq,
            replayed: false,
            admitted,
        };
        let outcome_json = serde_json::to_string(&outcome)?;
        if !a.record_only {
            self.sql.exec(
                "INSERT INTO scans (staff_id, scan_id, fingerprint, response) VALUES (?, ?, ?, ?)",
                vec![
                    staff_key.into(),
                    a.scan_id.as_str().into(),
                    a.fingerprint.as_str().into(),
                    outcome_json.as_str().into(),
                ],
            )?;
        }
        Ok(Ok(outcome_json))
    }

    /// The check and the record: admitted now, or the first admission.
    fn admit(&self, a: &Attempt) -> Result<(ScanResult, Option<String>, Option<Admission>)> {
        let Some(ticket_id) = a.ticket_id.clone() else {
            return Ok((ScanResult::Invalid, Some("no_ticket_id".into()), None));
        };
        let revoked: Vec<CountRow> = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n FROM revoked WHERE ticket_id = ?",
                vec![ticket_id.clone().into()],
            )?
            .to_array()?;
        if revoked.first().is_some_and(|r| r.n > 0) {
            return Ok((ScanResult::Revoked, Some("revoked".into()), None));
        }
        let retired: Vec<CountRow> = self
            .sql
            .exec(
                "SELECT COUNT(*) AS n FROM retired WHERE ticket_id = ? AND not_issued_before > ?",
                vec![ticket_id.clone().into(), int(a.issued_at.unwrap_or(0))],
            )?
            .to_array()?;
        if retired.first().is_some_and(|r| r.n > 0) {
            // A credential older than the ticket's re-issue (the old phone's).
            return Ok((ScanResult::Revoked, Some("superseded".into()), None));
        }
        let existing: Vec<AdmissionRow> = self
            .sql
            .exec(
                "SELECT at_ms, gate_id, staff_id, gps, offline FROM admissions WHERE ticket_id = ?",
                vec![ticket_id.clone().into()],
            )?
            .to_array()?;
        if let Some(first) = existing.into_iter().next() {
            let gps = first
                .gps
                .as_deref()
                .and_then(|g| serde_json::from_str::<Gps>(g).ok())
                .map(Gps::to_output);
            let admission = Admission {
                at_ms: first.at_ms,
                gate_id: first.gate_id,
                staff_id: first.staff_id,
                gps,
                offline: first.offline != 0,
            };
            return Ok((ScanResult::AlreadyAdmitted, None, Some(admission)));
        }
        let gps = a.gps.map(|g| serde_json::to_string(&g)).transpose()?;
        self.sql.exec(
            "INSERT INTO admissions (ticket_id, at_ms, gate_id, staff_id, gps, scan_id, offline) VALUES (?, ?, ?, ?, ?, ?, ?)",
            vec![
                ticket_id.into(),
                a.at_ms.into(),
                a.gate_id.clone().into(),
                a.staff_id.clone().unwrap_or_default().into(),
                gps.into(),
                a.scan_id.clone().into(),
                i64::from(a.offline).into(),
            ],
        )?;
        Ok((ScanResult::Admitted, None, None))
    }

    fn last_link(&self) -> Result<(u64, [u8; 32])> {
        let rows: Vec<LinkRow> = self
            .sql
            .exec(
                "SELECT seq, entry, hash FROM audit ORDER BY seq DESC LIMIT 1",
                None,
            )?
            .to_array()?;
        match rows.into_iter().next() {
            None => Ok((0, GENESIS)),
            Some(row) => {
                let mut hash = [0u8; 32];
                hex::decode_to_slice(&row.hash, &mut hash)
                    .map_err(|e| worker::Error::RustError(format!("audit hash: {e}")))?;
                Ok((u64::try_from(row.seq).unwrap_or(0), hash))
            }
        }
    }

    fn append_audit(&self, a: &Attempt, result: ScanResult, detail: Option<String>) -> Result<u64> {
        let (last, previous) = self.last_link()?;
        let seq = last + 1;
        let entry = AuditEntry {
            at_ms: a.at_ms,
            detail,
            event_id: a.event_id.clone(),
            gate_id: a.gate_id.clone(),
            gps: a.gps,
            late: a.late,
            offline: a.offline,
            result,
            role: a.role.clone(),
            scan_id: a.scan_id.clone(),
            seq,
            staff_id: a.staff_id.clone(),
            ticket_id: a.ticket_id.clone(),
        };
        let canonical = entry.canonical();
        let hash = chain_hash(&previous, &canonical);
        self.sql.exec(
            "INSERT INTO audit (seq, entry, hash) VALUES (?, ?, ?)",
            vec![
                int(seq),
                String::from_utf8(canonical).unwrap_or_default().into(),
                hex::encode(hash).into(),
            ],
        )?;
        Ok(seq)
    }

    /// At most `limit` links after `after`, in order.
    fn links_page(&self, after: u64, limit: u64) -> Result<Vec<StoredLink>> {
        let rows: Vec<LinkRow> = self
            .sql
            .exec(
                "SELECT seq, entry, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![int(after), int(limit)],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| StoredLink {
                seq: u64::try_from(r.seq).unwrap_or(0),
                entry: r.entry,
                hash_hex: r.hash,
            })
            .collect())
    }

    /// The stored hash of entry `seq` (the genesis for 0); `None` when there is no such entry
    /// or its hash is not 32 bytes of hex.
    fn stored_hash(&self, seq: u64) -> Result<Option<[u8; 32]>> {
        if seq == 0 {
            return Ok(Some(GENESIS));
        }
        let rows: Vec<LinkRow> = self
            .sql
            .exec(
                "SELECT seq, entry, hash FROM audit WHERE seq = ?",
                vec![int(seq)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().and_then(|row| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&row.hash, &mut hash).ok()?;
            Some(hash)
        }))
    }

    /// One page of the audit trail and its verification: O(limit) rows read and held.
    fn audit(&self, event_id: String, q: &AuditQuery) -> Result<AuditListing> {
        let limit = q.limit.clamp(1, 1000);
        let links = self.links_page(q.after, limit)?;
        let chain = match self.stored_hash(q.after)? {
            Some(previous) => verify_chain_from(previous, q.after + 1, &links),
            // No entry `after` to chain from: nothing after it may exist either.
            None => ChainReport {
                valid: links.is_empty(),
                previous: String::new(),
                checked: 0,
                head: String::new(),
                first_bad_seq: links.first().map(|_| q.after),
            },
        };
        let page: Vec<ListedEntry> = links
            .into_iter()
            .map(|l| ListedEntry {
                seq: l.seq,
                hash: l.hash_hex,
                entry: serde_json::from_str(&l.entry).ok(),
                canonical: l.entry,
            })
            .collect();
        let next_after =
            (page.len() as u64 == limit).then(|| page.last().map_or(q.after, |e| e.seq));
        Ok(AuditListing {
            event_id,
            entries: page,
            chain,
            next_after,
        })
    }

    fn tamper(&self, t: &Tamper) -> Result<bool> {
        let rows: Vec<LinkRow> = self
            .sql
            .exec(
                "SELECT seq, entry, hash FROM audit WHERE seq = ?",
                vec![int(t.seq)],
            )?
            .to_array()?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(false);
        };
        let mut entry: AuditEntry = serde_json::from_str(&row.entry)?;
        entry.result = t.result;
        let text = String::from_utf8(entry.canonical()).unwrap_or_default();
        self.sql.exec(
            "UPDATE audit SET entry = ? WHERE seq = ?",
            vec![text.into(), int(t.seq)],
        )?;
        Ok(true)
    }
}
