//! Offline scanning: the signed bundle a scanner takes with it, and the sync of what it
//! scanned while offline.
//!
//! An offline scanner must decrypt codes, so the bundle carries the event's QR key (AES-256-GCM)
//! with the issuer's *public* key; never the issuer's private key, so a stolen scanner can read
//! ticket metadata (no personal data: invariant 6) but cannot mint a ticket. The bundle is
//! short-lived and signed by the worker's own bundle key (`BUNDLE_SIGNING_KEY`), so a scanner
//! detects an altered bundle (a revocation list edited on the device, say). Besides revoked
//! ticket ids it carries each re-issued ticket's `not_issued_before`, so an offline scanner
//! refuses a credential older than the ticket's re-issue (the printed code of a ticket since
//! bound to a phone) as the door does online (`revoked`, detail `superseded`). Admission offline is
//! provisional: `/v1/sync` replays each scan through the event's door, and every one that the
//! door refuses (admitted elsewhere meanwhile, revoked...) comes back as a conflict. The code
//! is judged at the scan's claimed time, which must fall inside an offline bundle the edge handed
//! to the same staff member for the same event (recorded in the event's door when handed out;
//! 60 s of clock leeway): a scan claimed at any other time (backdated) is refused with
//! `no_offline_bundle_at_scan_time`, recorded in the audit trail as such and reported. The batch
//! itself must be signed by the scanner's registered device key (`devices.rs`), and a scan synced
//! late (more than `SYNC_LATENESS_SECS` after its claimed time, or after its bundle expired) is
//! decided as any other but flagged `late: true` in its audit entry.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use ticket::p256::ecdsa::{signature::Signer, Signature, SigningKey};
use ticket::Policy;
use worker::{Method, Request, Response, Result};
use zeroize::Zeroizing;

use crate::api::{parse_scan, valid_id, InputError, Problem, ScanResult, ValidScan, MAX_ID_LEN};
use crate::auth::Staff;
use crate::devices::UnsignedSync;
use crate::door::{Attempt, BundleIssued, BundleWindow, Decision, ScanOutcome};
use crate::http::{json, problem};
use crate::routes::{
    auth_problem, authenticate, body, check_ticket, door_attempt, door_request, fingerprint,
    revocation_key, scan_permission, Ctx,
};

/// Default and longest bundle lifetime.
const DEFAULT_TTL_SECS: u64 = 4 * 3600;
const MAX_TTL_SECS: u64 = 24 * 3600;
/// Most scans in one sync request, and the largest sync body.
pub const MAX_SYNC_SCANS: usize = 200;
const MAX_SYNC_BODY: usize = 512 * 1024;
/// How old an offline scan may be when it is synced.
const MAX_OFFLINE_AGE_MS: i64 = 24 * 3600 * 1000;
/// Clock difference tolerated between a scanner and the edge on a scan's claimed time.
const SCAN_CLOCK_LEEWAY_SECS: u64 = 60;
/// The refusal of a synced scan claimed at a time none of its staff member's bundles covers.
pub const NO_BUNDLE_DETAIL: &str = "no_offline_bundle_at_scan_time";
/// A refusal the scanner made offline, synced for the audit trail.
pub const REFUSED_OFFLINE_DETAIL: &str = "refused_offline";

/// True when `at` (unix seconds) falls in one of the windows, give or take the clock leeway.
pub fn covered(windows: &[BundleWindow], at: u64) -> bool {
    windows.iter().any(|w| {
        w.issued_at.saturating_sub(SCAN_CLOCK_LEEWAY_SECS) <= at
            && at <= w.expires_at.saturating_add(SCAN_CLOCK_LEEWAY_SECS)
    })
}

/// Default `SYNC_LATENESS_SECS`: a scan synced more than this after its claimed time is late.
const DEFAULT_LATENESS_SECS: u64 = 3600;

fn lateness_secs(ctx: &Ctx) -> u64 {
    ctx.var("SYNC_LATENESS_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LATENESS_SECS)
}

/// A synced scan is late (flagged `late: true` in its audit entry, decided as any other) when it
/// reaches the edge more than `lateness` seconds after its claimed time, or after every bundle
/// that covered that time had expired (plus the clock leeway): the scanner sat on it.
pub fn is_late(windows: &[BundleWindow], at: u64, now: u64, lateness: u64) -> bool {
    let held_until = windows
        .iter()
        .filter(|w| covered(std::slice::from_ref(w), at))
        .map(|w| w.expires_at)
        .max();
    now > at.saturating_add(lateness)
        || held_until.is_some_and(|end| now > end.saturating_add(SCAN_CLOCK_LEEWAY_SECS))
}

/// Records a bundle in the event's door; false when the door did not take it.
async fn record_bundle(ctx: &Ctx, event_id: &str, issued: &BundleIssued) -> Result<bool> {
    let recorded = door_request(
        &ctx.env,
        event_id,
        "https://door/bundle-issued",
        Method::Post,
        Some(serde_json::to_string(issued)?),
        None,
    )
    .await?;
    Ok(recorded.status_code() == 200)
}

/// The windows of the bundles handed to `staff_id` for `event_id`.
async fn bundle_windows(ctx: &Ctx, event_id: &str, staff_id: &str) -> Result<Vec<BundleWindow>> {
    let mut answer = door_request(
        &ctx.env,
        event_id,
        "https://door/bundle-windows",
        Method::Get,
        None,
        Some(("x-karcis-staff", staff_id)),
    )
    .await?;
    answer.json().await
}

#[derive(Debug, Serialize)]
struct BundleKey {
    kid: u32,
    issuer_public_key: String,
    qr_key: String,
}

/// The signed content. Field order is fixed; the signature covers `bundle` exactly as sent.
#[derive(Debug, Serialize)]
struct Bundle<'a> {
    version: u32,
    event_id: &'a str,
    staff_id: &'a str,
    gates: &'a [String],
    issued_at: u64,
    expires_at: u64,
    accept_static: bool,
    freshness_secs: u64,
    keys: Vec<BundleKey>,
    revoked: Vec<String>,
    /// Ticket id -> unix seconds: the ticket's credentials issued before then are retired (it
    /// was re-issued, e.g. bound to a phone): an offline scanner refuses them as `superseded`.
    not_issued_before: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
struct BundleParams {
    event_id: String,
}

#[derive(Deserialize)]
struct RevokedRow {
    ticket_id: String,
}

fn signing_key(ctx: &Ctx) -> Option<SigningKey> {
    let secret = ctx.env.secret("BUNDLE_SIGNING_KEY").ok()?.to_string();
    let bytes = Zeroizing::new(hex::decode(secret.trim()).ok()?);
    SigningKey::from_slice(&bytes).ok()
}

/// `GET /v1/offline-bundle?event_id=...` for a staff member who may scan that event.
pub(crate) async fn bundle(ctx: &Ctx, req: &Request) -> Result<Response> {
    let Ok(params) = req.query::<BundleParams>() else {
        return problem(&Problem::bad_input(InputError::EventId));
    };
    if !valid_id(&params.event_id, MAX_ID_LEN) {
        return problem(&Problem::bad_input(InputError::EventId));
    }
    let staff = match authenticate(ctx, req).await {
        Ok(staff) => staff,
        Err(e) => return problem(&auth_problem(e)),
    };
    if !staff.role.may_scan() || !staff.may_act_for(&params.event_id) {
        return problem(&Problem::forbidden(
            "this token may not scan for this event",
        ));
    }
    let Some(key) = signing_key(ctx) else {
        return problem(&Problem::new(
            503,
            "offline_disabled",
            "Offline mode disabled",
            "no bundle signing key is configured",
        ));
    };
    let keys: Vec<BundleKey> = ctx
        .cfg
        .key_sets
        .values()
        .filter(|s| s.event_id == params.event_id && !ctx.cfg.kid_retired(s.kid, ctx.now()))
        .filter_map(|s| {
            ctx.cfg.ring_qr_key_hex(s.kid).map(|qr| BundleKey {
                kid: s.kid,
                issuer_public_key: hex::encode(&s.issuer_public_sec1),
                qr_key: qr.to_string(),
            })
        })
        .collect();
    if keys.is_empty() {
        return problem(&Problem::new(
            404,
            "unknown_event",
            "Unknown event",
            "no keys are configured for this event",
        ));
    }
    let mut revoked = revoked_for(ctx, &params.event_id).await?;
    revoked.sort();
    revoked.dedup();
    let not_issued_before = retired_for(ctx, &params.event_id).await?;
    let policy = ctx.policy(&params.event_id, None);
    let ttl = ctx
        .var("OFFLINE_BUNDLE_TTL_SECS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_TTL_SECS)
        .min(MAX_TTL_SECS);
    let now = ctx.now();
    let bundle = Bundle {
        version: 1,
        event_id: &params.event_id,
        staff_id: &staff.id,
        gates: &staff.gates,
        issued_at: now,
        // An unbound token's bundle never outlives the token. A device-bound token lives
        // minutes and is refreshed online only; its bundle keeps the shift's length
        // (OFFLINE_BUNDLE_TTL_SECS) so a scanner that goes offline keeps working.
        expires_at: if staff.jkt.is_some() {
            now + ttl
        } else {
            (now + ttl).min(staff.expires_at)
        },
        accept_static: policy.accept_static,
        freshness_secs: policy.freshness_secs,
        keys,
        revoked,
        not_issued_before,
    };
    // Recorded before it is handed out: a synced scan must fall in a bundle of its staff member.
    let issued = BundleIssued {
        staff_id: staff.id.clone(),
        issued_at: bundle.issued_at,
        expires_at: bundle.expires_at,
    };
    if !record_bundle(ctx, &params.event_id, &issued).await? {
        return problem(&Problem::new(
            503,
            "offline_unavailable",
            "Offline bundle unavailable",
            "the bundle could not be recorded; retry",
        ));
    }
    let text = Zeroizing::new(serde_json::to_string(&bundle)?);
    let signature: Signature = key.sign(text.as_bytes());
    let public = key.verifying_key().to_encoded_point(false);
    json(
        200,
        &serde_json::json!({
            "bundle": text.as_str(),
            "signature": URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            "alg": "ES256",
            "signing_public_key": hex::encode(public.as_bytes()),
        }),
    )
}

/// Revoked ticket ids for an event: its KV keys (`EVENT_ID/TICKET_HEX`) and the door's own list.
async fn revoked_for(ctx: &Ctx, event_id: &str) -> Result<Vec<String>> {
    let kv = ctx.env.kv("REVOKED")?;
    let prefix = revocation_key(event_id, "");
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut list = kv.list().prefix(prefix.clone()).limit(1000);
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        for key in page.keys {
            if let Some(id) = key.name.strip_prefix(&prefix) {
                ids.push(id.to_owned());
            }
        }
        if page.list_complete {
            break;
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    let mut door = door_request(
        &ctx.env,
        event_id,
        "https://door/revoked",
        Method::Get,
        None,
        None,
    )
    .await?;
    let rows: Vec<RevokedRow> = door.json().await?;
    ids.extend(rows.into_iter().map(|r| r.ticket_id));
    Ok(ids)
}

/// The event door's re-issue lines (ticket id -> not issued before).
async fn retired_for(ctx: &Ctx, event_id: &str) -> Result<BTreeMap<String, u64>> {
    let mut door = door_request(
        &ctx.env,
        event_id,
        "https://door/retired",
        Method::Get,
        None,
        None,
    )
    .await?;
    if door.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "door retired list: status {}",
            door.status_code()
        )));
    }
    door.json().await
}

#[derive(Deserialize)]
struct OfflineFields {
    scanned_at_ms: i64,
    /// What the scanner showed offline: `admitted` (provisional) or a refusal.
    local_result: ScanResult,
}

#[derive(Debug, Serialize)]
struct Conflict {
    scan_id: String,
    ticket_id: Option<String>,
    local_result: ScanResult,
    result: ScanResult,
    message: String,
}

/// Validates every queued scan before any is applied.
fn validate_sync(
    ctx: &Ctx,
    staff: &Staff,
    sync: UnsignedSync,
) -> std::result::Result<Vec<(ValidScan, OfflineFields)>, Problem> {
    if sync.scans.len() > MAX_SYNC_SCANS || !valid_id(&sync.event_id, MAX_ID_LEN) {
        return Err(Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "event_id and at most 200 scans are required",
        ));
    }
    if !ctx.cfg.is_known_event(&sync.event_id) {
        return Err(Problem::new(
            404,
            "unknown_event",
            "Unknown event",
            "no keys are configured for this event",
        ));
    }
    let mut scans: Vec<(ValidScan, OfflineFields)> = Vec::with_capacity(sync.scans.len());
    for value in sync.scans {
        let Some(obj) = value.as_object() else {
            return Err(Problem::bad_input(InputError::Body));
        };
        let mut online = obj.clone();
        let offline_fields = serde_json::json!({
            "scanned_at_ms": online.remove("scanned_at_ms"),
            "local_result": online.remove("local_result"),
        });
        let Ok(fields) = serde_json::from_value::<OfflineFields>(offline_fields) else {
            return Err(Problem::new(
                400,
                "invalid_request",
                "Invalid request",
                "each scan needs scanned_at_ms and local_result",
            ));
        };
        let scan = match serde_json::to_vec(&online)
            .map_err(|_| InputError::Body)
            .and_then(|b| parse_scan(&b))
        {
            Ok(scan) => scan,
            Err(e) => return Err(Problem::bad_input(e)),
        };
        if scan.event_id.as_deref().is_some_and(|e| e != sync.event_id)
            || fields.scanned_at_ms > ctx.now_ms + 60_000
            || fields.scanned_at_ms < ctx.now_ms - MAX_OFFLINE_AGE_MS
        {
            return Err(Problem::new(
                400,
                "invalid_request",
                "Invalid request",
                "a scan is for another event, or too old, or in the future",
            ));
        }
        if let Err(reason) = scan_permission(staff, &sync.event_id, &scan.gate_id) {
            return Err(Problem::forbidden(reason));
        }
        scans.push((scan, fields));
    }
    Ok(scans)
}

/// `POST /v1/sync`: scans queued offline, replayed through the door (idempotent by scan id).
pub(crate) async fn sync(ctx: &Ctx, req: Request) -> Result<Response> {
    let auth = authenticate(ctx, &req).await;
    let body = match body(req, MAX_SYNC_BODY).await {
        Ok(body) => body,
        Err(p) => return problem(&p),
    };
    let staff = match auth {
        Ok(staff) => staff,
        Err(e) => return problem(&auth_problem(e)),
    };
    // The device's signature, device and sequence (devices.rs), before anything is applied.
    let sync = match crate::devices::open_sync(ctx, &staff, &body).await? {
        Ok(sync) => sync,
        Err(p) => return problem(&p),
    };
    // Validate everything before applying anything.
    let event_id = sync.event_id.clone();
    let scans = match validate_sync(ctx, &staff, sync) {
        Ok(scans) => scans,
        Err(p) => return problem(&p),
    };
    let mut results: Vec<ScanOutcome> = Vec::with_capacity(scans.len());
    let mut conflicts = Vec::new();
    let event_policy = ctx.policy(&event_id, None);
    let windows = bundle_windows(ctx, &event_id, &staff.id).await?;
    let lateness = lateness_secs(ctx);
    for (scan, fields) in scans {
        let policy = Policy {
            gate: Some(scan.gate_id.clone()),
            ..event_policy.clone()
        };
        // The code is judged at the time it was scanned (its device proof was fresh then).
        let scanned_at = u64::try_from(fields.scanned_at_ms / 1000).unwrap_or(0);
        let mut checked = check_ticket(ctx, &scan.qr, &policy, scanned_at, true).await?;
        // ... but only at a time when this staff member held a bundle of this event: a claimed
        // time outside every bundle (a backdated scan) is refused and audited as such.
        if !covered(&windows, scanned_at) {
            checked.issued_at = None;
            checked.decision = Decision::Refuse {
                result: ScanResult::Invalid,
                detail: Some(NO_BUNDLE_DETAIL.to_owned()),
            };
        } else if fields.local_result != ScanResult::Admitted {
            // The scanner turned this code away: recorded as it happened, never admitted here.
            checked.issued_at = None;
            checked.decision = Decision::Refuse {
                result: fields.local_result,
                detail: Some(REFUSED_OFFLINE_DETAIL.to_owned()),
            };
        }
        let attempt = Attempt {
            fingerprint: fingerprint(&scan, &event_id),
            event_id: event_id.clone(),
            staff_id: Some(staff.id.clone()),
            role: Some(staff.role.as_str().to_owned()),
            scan_id: scan.scan_id.clone(),
            gate_id: scan.gate_id.clone(),
            gps: scan.gps,
            at_ms: fields.scanned_at_ms,
            ticket_id: checked.ticket_id,
            issued_at: checked.issued_at,
            decision: checked.decision,
            offline: true,
            record_only: false,
            late: is_late(&windows, scanned_at, ctx.now(), lateness),
        };
        let mut answer = door_attempt(&ctx.env, &attempt).await?;
        if answer.status_code() != 200 {
            // A reused scan id: report it as a conflict, keep going.
            conflicts.push(Conflict {
                scan_id: scan.scan_id,
                ticket_id: None,
                local_result: fields.local_result,
                result: ScanResult::Invalid,
                message: "scan_id reused for a different scan".into(),
            });
            continue;
        }
        let outcome: ScanOutcome = answer.json().await?;
        if fields.local_result == ScanResult::Admitted && outcome.result != ScanResult::Admitted {
            conflicts.push(Conflict {
                scan_id: outcome.scan_id.clone(),
                ticket_id: outcome.ticket_id.clone(),
                local_result: fields.local_result,
                result: outcome.result,
                message: outcome.message.clone(),
            });
        }
        results.push(outcome);
    }
    json(
        200,
        &serde_json::json!({"event_id": event_id, "results": results, "conflicts": conflicts}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_time_must_fall_in_a_bundle_window() {
        let windows = [
            BundleWindow {
                issued_at: 1000,
                expires_at: 2000,
            },
            BundleWindow {
                issued_at: 5000,
                expires_at: 6000,
            },
        ];
        assert!(!covered(&[], 1500));
        assert!(covered(&windows, 1500) && covered(&windows, 5500));
        // 60 s of clock leeway either side, no more.
        assert!(covered(&windows, 940) && covered(&windows, 2060));
        assert!(!covered(&windows, 939) && !covered(&windows, 2061));
        assert!(!covered(&windows, 3000), "between two bundles");
    }

    #[test]
    fn a_scan_synced_after_the_lateness_or_its_bundle_is_late() {
        let windows = [BundleWindow {
            issued_at: 1000,
            expires_at: 9000,
        }];
        assert!(!is_late(&windows, 1500, 1500 + 3600, 3600));
        assert!(is_late(&windows, 1500, 1500 + 3601, 3600));
        // Synced after the bundle that covered the scan expired (60 s leeway).
        assert!(!is_late(&windows, 8900, 9060, 3600));
        assert!(is_late(&windows, 8900, 9061, 3600));
        // No covering bundle: only the lateness counts (the scan is refused anyway).
        assert!(!is_late(&[], 1500, 1600, 3600));
    }
}
