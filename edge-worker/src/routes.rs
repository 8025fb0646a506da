//! HTTP routes of the worker.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures_util::future::join;
use futures_util::StreamExt as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use ticket::{
    KeyRing, Opened, Policy, Rejection, SignatureCheck, TicketId, DEFAULT_FRESHNESS_SECS,
};
use wasm_bindgen::JsValue;
use worker::{Date, Env, Method, Request, RequestInit, Response, Result};
use zeroize::Zeroizing;

use crate::api::{
    parse_scan, result_for, valid_id, InputError, Problem, ScanResult, ValidScan, MAX_BODY_BYTES,
    MAX_ID_LEN,
};
use crate::auth::{self, AuthError, Role, Staff, LEEWAY_SECS};
use crate::config::Config;
use crate::door::{Attempt, AuditQuery, Decision, Revoke, Tamper};
use crate::http::{json, problem};
use crate::offline;
use crate::revocations;
use crate::sig::{self, Backend};

/// Verified staff tokens kept per isolate (by SHA-256 of the token), up to this many.
const TOKEN_CACHE_LIMIT: usize = 1024;

/// The parsed configuration and the two secret bindings it came from.
struct CachedConfig {
    event_keys: JsValue,
    jwks: JsValue,
    cfg: Rc<Config>,
}

thread_local! {
    /// Re-parsed only when a binding changes. The bindings are compared as JS values (`===`),
    /// so a scan copies no key material into WASM memory.
    static CONFIG: RefCell<Option<CachedConfig>> = const { RefCell::new(None) };
    static TOKENS: RefCell<HashMap<[u8; 32], Staff>> = RefCell::new(HashMap::new());
    /// Scans refused for want of a valid staff token, in this isolate. Counted here, not in
    /// storage: an unauthenticated request must cost no Durable Object call or write.
    static UNAUTHENTICATED: Cell<u64> = const { Cell::new(0) };
}

/// Counts an unauthenticated scan; logs at 1, 2, 4, 8... so a flood costs a few log lines.
fn count_unauthenticated(reason: &str) {
    let n = UNAUTHENTICATED.with(|c| {
        let n = c.get().saturating_add(1);
        c.set(n);
        n
    });
    if n.is_power_of_two() {
        worker::console_warn!(
            "unauthenticated scans refused in this isolate: {n} (latest: {reason})"
        );
    }
}

/// What every handler needs.
pub(crate) struct Ctx {
    pub env: Env,
    pub cfg: Rc<Config>,
    pub backend: Backend,
    pub now_ms: i64,
}

impl Ctx {
    pub fn now(&self) -> u64 {
        u64::try_from(self.now_ms / 1000).unwrap_or(0)
    }

    pub fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|v| v.to_string())
    }

    fn flag(&self, name: &str) -> bool {
        self.var(name).as_deref() == Some("true")
    }

    fn audience(&self) -> String {
        self.var("STAFF_TOKEN_AUDIENCE")
            .unwrap_or_else(|| "karcis-door".into())
    }

    /// The `iss` staff tokens must carry (the back end's `STAFF_TOKEN_ISSUER`).
    fn issuer(&self) -> String {
        self.var("STAFF_TOKEN_ISSUER")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "karcis".into())
    }

    pub fn policy(&self, event_id: &str, gate_id: Option<&str>) -> Policy {
        let mut policy = Policy::new(event_id);
        policy.gate = gate_id.map(str::to_owned);
        policy.accept_static = self.flag("ACCEPT_STATIC");
        policy.freshness_secs = self
            .var("FRESHNESS_SECS")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_FRESHNESS_SECS);
        policy
    }
}

fn load_config(env: &Env) -> std::result::Result<Rc<Config>, String> {
    let event_keys: JsValue = env
        .secret("EVENT_KEYS")
        .map_err(|_| "EVENT_KEYS is not bound".to_owned())?
        .into();
    let jwks: JsValue = env
        .secret("STAFF_JWKS")
        .map_err(|_| "STAFF_JWKS is not bound".to_owned())?
        .into();
    if let Some(cfg) = CONFIG.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|cached| cached.event_keys == event_keys && cached.jwks == jwks)
            .map(|cached| Rc::clone(&cached.cfg))
    }) {
        return Ok(cfg);
    }
    let text = |value: &JsValue| Zeroizing::new(value.as_string().unwrap_or_default());
    let cfg = Rc::new(Config::parse(&text(&event_keys), &text(&jwks))?);
    CONFIG.with(|c| {
        *c.borrow_mut() = Some(CachedConfig {
            event_keys,
            jwks,
            cfg: Rc::clone(&cfg),
        });
    });
    // New staff keys: forget the tokens verified with the old ones.
    TOKENS.with(|t| t.borrow_mut().clear());
    Ok(cfg)
}

/// The most of a request body read after its answer (the largest route's limit, sync's).
const MAX_DRAIN_BYTES: usize = 512 * 1024;
/// How long the answer waits for the rest of a body.
const MAX_DRAIN_MS: u64 = 2_000;

pub async fn handle(req: Request, env: Env) -> Result<Response> {
    // A refusal made before the body is read (401, 403, 404, 503) leaves it unread, and workerd
    // then closes the connection under a client that reuses it: its next request fails with
    // "other side closed". So a request with a body has it read to its end (bounded) before the
    // answer goes: from a tee, which holds at most what the handler itself did not read.
    let rest = if matches!(req.method(), Method::Post | Method::Put | Method::Patch) {
        Some(req.clone()?)
    } else {
        None
    };
    let response = dispatch(req, env).await?;
    // Not after a 413 (too large: closing is the point), and never longer than
    // `MAX_DRAIN_MS` (a body that never ends is given up on, as before).
    if let (Some(rest), false) = (rest, response.status_code() == 413) {
        // Its content was judged by the handler (or refused unread): only the reading matters.
        let read = Box::pin(body(rest, MAX_DRAIN_BYTES));
        let limit = Box::pin(worker::Delay::from(std::time::Duration::from_millis(
            MAX_DRAIN_MS,
        )));
        let _ = futures_util::future::select(read, limit).await;
    }
    Ok(response)
}

async fn dispatch(req: Request, env: Env) -> Result<Response> {
    let cfg = match load_config(&env) {
        Ok(cfg) => cfg,
        Err(e) => {
            worker::console_error!("configuration: {e}");
            return problem(&Problem::new(
                500,
                "misconfigured",
                "Misconfigured",
                "the worker's key bindings are missing or invalid",
            ));
        }
    };
    let backend = Backend::from_setting(
        env.var("SIG_BACKEND")
            .ok()
            .map(|v| v.to_string())
            .as_deref(),
    );
    let now_ms = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
    let ctx = Ctx {
        env,
        cfg,
        backend,
        now_ms,
    };
    let path = req.path();
    let forwarding = crate::door::forwarding(&ctx.env);
    if let (Err(e), false) = (forwarding.as_ref(), path == "/v1/health") {
        worker::console_error!("configuration: {}", e.detail());
        return problem(&Problem::new(
            503,
            "audit_forwarding_unconfigured",
            "Audit forwarding not configured",
            "this door must forward its audit and cannot: see AUDIT_FORWARDING in wrangler.toml",
        ));
    }
    match (req.method(), path.as_str()) {
        (Method::Post, "/v1/scan") => scan(&ctx, req).await,
        (Method::Get, "/v1/audit") => audit(&ctx, &req).await,
        (Method::Post, "/v1/revocations") => revoke(&ctx, req).await,
        (Method::Get, "/v1/offline-bundle") => offline::bundle(&ctx, &req).await,
        (Method::Post, "/v1/sync") => offline::sync(&ctx, req).await,
        (Method::Post, "/v1/staff-revocations") => revocations::revoke_staff(&ctx, req).await,
        (Method::Post, "/v1/devices") => crate::devices::register(&ctx, req).await,
        (Method::Get, "/v1/health") => json(
            200,
            &serde_json::json!({
                "ok": true,
                "sig_backend": ctx.backend.name(),
                "audit_forwarding": match forwarding {
                    Ok(crate::forwarding::Forwarding::On(_)) => "on",
                    Ok(crate::forwarding::Forwarding::Off) => "off",
                    Err(_) => "unconfigured",
                },
                "unauthenticated_refusals": UNAUTHENTICATED.with(Cell::get),
            }),
        ),
        (Method::Post, "/v1/_test/tamper") if ctx.flag("ALLOW_TEST_ROUTES") => {
            tamper(&ctx, req).await
        }
        (Method::Post, "/v1/_bench/verify") if ctx.flag("ALLOW_TEST_ROUTES") => {
            bench_verify(&ctx, req).await
        }
        (_, p) if p.starts_with("/v1/queue/") => crate::waiting_room::route(&ctx, req, p).await,
        (
            _,
            "/v1/scan"
            | "/v1/audit"
            | "/v1/revocations"
            | "/v1/staff-revocations"
            | "/v1/devices"
            | "/v1/sync"
            | "/v1/offline-bundle"
            | "/v1/health",
        ) => problem(&Problem::new(
            405,
            "method_not_allowed",
            "Method not allowed",
            "wrong method for this route",
        )),
        _ => problem(&Problem::new(
            404,
            "not_found",
            "Not found",
            "no such route",
        )),
    }
}

/// Reads a body of at most `max` bytes, else 413: refused on a larger `Content-Length` before
/// anything is read, and otherwise read as it streams in and cut as soon as it passes `max`
/// (a chunked body with no length is never held whole, nor waited for to its end).
pub(crate) async fn body(mut req: Request, max: usize) -> std::result::Result<Vec<u8>, Problem> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        Problem::new(
            413,
            "body_too_large",
            "Body too large",
            format!("at most {max} bytes"),
        )
    };
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let mut stream = req
        .stream()
        .map_err(|_| Problem::bad_input(InputError::Body))?;
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(max));
    // Bounded: at most `max + 1` chunks (a body of more, empty ones included, is too large).
    for _ in 0..=max {
        let Some(chunk) = stream.next().await else {
            return Ok(bytes);
        };
        let chunk = chunk.map_err(|_| Problem::bad_input(InputError::Body))?;
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Err(too_large())
}

/// Verifies the bearer token (cached per isolate once verified), then checks it against the
/// staff deny-list (see `revocations.rs`): every authenticated route goes through here.
pub(crate) async fn authenticate(
    ctx: &Ctx,
    req: &Request,
) -> std::result::Result<Staff, AuthError> {
    let staff = verified_token(ctx, req).await?;
    revocations::check(ctx, &staff).await?;
    crate::proofs::require(ctx, req, &staff).await?;
    Ok(staff)
}

/// The bearer token's claims once its signature and claims check (no deny-list).
async fn verified_token(ctx: &Ctx, req: &Request) -> std::result::Result<Staff, AuthError> {
    let header = req.headers().get("authorization").ok().flatten();
    let token = auth::bearer(header.as_deref())?;
    let now = ctx.now();
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    if let Some(staff) = TOKENS.with(|t| t.borrow().get(&digest).cloned()) {
        return if now > staff.expires_at.saturating_add(LEEWAY_SECS) {
            Err(AuthError::Expired)
        } else {
            Ok(staff)
        };
    }
    let unverified = auth::parse(token, &ctx.cfg.staff_keys)?;
    let valid = sig::verify_all(ctx.backend, &[&unverified.check])
        .await
        .map_err(|_| AuthError::BadSignature)?
        .first()
        .copied()
        .unwrap_or(false);
    let staff = unverified.decide(valid, now, &ctx.audience(), &ctx.issuer())?;
    TOKENS.with(|t| {
        let mut cache = t.borrow_mut();
        if cache.len() >= TOKEN_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(digest, staff.clone());
    });
    Ok(staff)
}

pub(crate) fn auth_problem(e: AuthError) -> Problem {
    if e == AuthError::RevocationsUnavailable {
        return Problem::new(
            503,
            "revocations_unavailable",
            "Revocations unavailable",
            "the staff deny-list cannot be read; retry",
        );
    }
    if let Some(p) = crate::proofs::problem(e) {
        return p;
    }
    Problem::unauthorised(format!("staff token refused: {}", e.code()))
}

/// The result of the ticket checks, before admission.
pub(crate) struct TicketCheck {
    /// Hex id, only once the issuer's signature has checked.
    pub ticket_id: Option<String>,
    /// The credential's `issued_at`, when it passed every check.
    pub issued_at: Option<u64>,
    pub decision: Decision,
}

fn refuse(rejection: Rejection) -> Decision {
    Decision::Refuse {
        result: result_for(rejection),
        detail: Some(rejection.code().to_owned()),
    }
}

/// Checks a code at time `now` with the ticket crate; `revocation` looks the ticket up.
pub(crate) async fn check_ticket(
    ctx: &Ctx,
    qr: &str,
    policy: &Policy,
    now: u64,
    use_kv: bool,
) -> Result<TicketCheck> {
    let opened = match ctx.cfg.open_at(qr, now) {
        Ok(opened) => opened,
        Err(rejection) => {
            return Ok(TicketCheck {
                ticket_id: None,
                issued_at: None,
                decision: refuse(rejection),
            })
        }
    };
    let id = opened.claims().ticket_id;
    let checks: Vec<&SignatureCheck> = std::iter::once(&opened.issuer_check)
        .chain(opened.device_check.as_ref())
        .collect();
    let (signatures, revoked) = join(sig::verify_all(ctx.backend, &checks), async {
        if use_kv {
            is_revoked_in_kv(&ctx.env, &policy.event_id, &id).await
        } else {
            Ok(false)
        }
    })
    .await;
    let signatures =
        signatures.map_err(|e| worker::Error::RustError(format!("signature check: {e:?}")))?;
    Ok(decide(
        opened,
        &signatures,
        revoked?,
        &ctx.cfg.ring,
        policy,
        now,
    ))
}

fn decide(
    opened: Opened,
    signatures: &[bool],
    revoked: bool,
    ring: &KeyRing,
    policy: &Policy,
    now: u64,
) -> TicketCheck {
    let id = opened.claims().ticket_id;
    let issuer_valid = signatures.first().copied().unwrap_or(false);
    let device_valid = opened
        .device_check
        .is_some()
        .then(|| signatures.get(1).copied().unwrap_or(false));
    let outcome = if revoked {
        let mut ring = ring.clone();
        ring.revoke(id);
        opened.decide(issuer_valid, device_valid, now, &ring, policy)
    } else {
        opened.decide(issuer_valid, device_valid, now, ring, policy)
    };
    // Name the ticket only once its content is known to be the issuer's.
    let ticket_id = issuer_valid.then(|| id.to_hex());
    match outcome {
        Ok(verified) => TicketCheck {
            ticket_id,
            issued_at: Some(verified.claims.issued_at),
            decision: Decision::Admit,
        },
        Err(rejection) => TicketCheck {
            ticket_id,
            issued_at: None,
            decision: refuse(rejection),
        },
    }
}

/// The `REVOKED` KV key of a ticket of an event: `EVENT_ID/TICKET_HEX`. A revocation is an
/// event's (ticket ids are chosen by each event's issuer), and `/` is never in an event id.
pub(crate) fn revocation_key(event_id: &str, ticket_hex: &str) -> String {
    format!("{event_id}/{ticket_hex}")
}

async fn is_revoked_in_kv(env: &Env, event_id: &str, id: &TicketId) -> Result<bool> {
    let kv = env.kv("REVOKED")?;
    Ok(kv
        .get(&revocation_key(event_id, &id.to_hex()))
        .text()
        .await?
        .is_some())
}

/// Sends an attempt to the event's door; its answer is the scanner's answer.
pub(crate) async fn door_attempt(env: &Env, attempt: &Attempt) -> Result<Response> {
    door_request(
        env,
        &attempt.event_id,
        "https://door/attempt",
        Method::Post,
        Some(serde_json::to_string(attempt)?),
        None,
    )
    .await
}

pub(crate) async fn door_request(
    env: &Env,
    event_id: &str,
    url: &str,
    method: Method,
    body: Option<String>,
    header: Option<(&str, &str)>,
) -> Result<Response> {
    let stub = env
        .durable_object("EVENT_DOOR")?
        .id_from_name(event_id)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(JsValue::from_str(&body)));
    }
    let mut request = Request::new_with_init(url, &init)?;
    if let Some((name, value)) = header {
        request.headers_mut()?.set(name, value)?;
    }
    stub.fetch_with_request(request).await
}

pub(crate) fn fingerprint(scan: &ValidScan, event_id: &str) -> String {
    let mut h = Sha256::new();
    for part in [scan.qr.as_str(), scan.gate_id.as_str(), event_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// The event a refused request of an authenticated staff member is recorded under: one the
/// staff member named or holds, else the one whose key sealed the code (by configuration,
/// never by the code's unverified content).
fn audit_event(ctx: &Ctx, scan: &ValidScan, staff: &Staff) -> Option<String> {
    let named = scan.event_id.as_deref().or_else(|| staff.only_event());
    if let Some(event) = named.filter(|e| ctx.cfg.is_known_event(e)) {
        return Some(event.to_owned());
    }
    let opened = ticket::open(&scan.qr, &ctx.cfg.ring).ok()?;
    ctx.cfg.event_of_kid(opened.claims().kid).map(str::to_owned)
}

/// Records a refused request of an authenticated staff member in the audit trail (best
/// effort: the refusal stands regardless). Never called without a verified token: an
/// unauthenticated request writes nothing (see [`count_unauthenticated`]).
async fn record_refusal(
    ctx: &Ctx,
    scan: &ValidScan,
    staff: &Staff,
    result: ScanResult,
    detail: &str,
) {
    let Some(event_id) = audit_event(ctx, scan, staff) else {
        return;
    };
    let attempt = Attempt {
        fingerprint: fingerprint(scan, &event_id),
        event_id,
        staff_id: Some(staff.id.clone()),
        role: Some(staff.role.as_str().to_owned()),
        scan_id: scan.scan_id.clone(),
        gate_id: scan.gate_id.clone(),
        gps: scan.gps,
        at_ms: ctx.now_ms,
        ticket_id: None,
        issued_at: None,
        decision: Decision::Refuse {
            result,
            detail: Some(detail.to_owned()),
        },
        offline: false,
        record_only: true,
        late: false,
    };
    if let Err(e) = door_attempt(&ctx.env, &attempt).await {
        worker::console_error!("audit of a refused request failed: {e}");
    }
}

/// The staff member may scan for `event_id` at `gate_id`, or the reason not.
pub(crate) fn scan_permission(
    staff: &Staff,
    event_id: &str,
    gate_id: &str,
) -> std::result::Result<(), &'static str> {
    if !staff.role.may_scan() {
        return Err("role_may_not_scan");
    }
    if !staff.may_act_for(event_id) {
        return Err("event_not_in_token");
    }
    if !staff.may_scan_at(gate_id) {
        return Err("gate_not_in_token");
    }
    Ok(())
}

async fn scan(ctx: &Ctx, req: Request) -> Result<Response> {
    // No valid staff token: refused before the body is read, the code opened or the door
    // called; counted in the isolate only.
    let staff = match authenticate(ctx, &req).await {
        Ok(staff) => staff,
        Err(e) => {
            count_unauthenticated(e.code());
            return problem(&auth_problem(e));
        }
    };
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let scan = match parse_scan(&body) {
        Ok(scan) => scan,
        Err(e) => return problem(&Problem::bad_input(e)),
    };
    let Some(event_id) = scan
        .event_id
        .clone()
        .or_else(|| staff.only_event().map(str::to_owned))
    else {
        return problem(&Problem::new(
            400,
            "event_required",
            "Event required",
            "name event_id: the token covers several events",
        ));
    };
    if !ctx.cfg.is_known_event(&event_id) {
        return problem(&Problem::new(
            404,
            "unknown_event",
            "Unknown event",
            "no keys are configured for this event",
        ));
    }
    if let Err(reason) = scan_permission(&staff, &event_id, &scan.gate_id) {
        record_refusal(ctx, &scan, &staff, ScanResult::Forbidden, reason).await;
        return problem(&Problem::forbidden(reason));
    }
    let policy = ctx.policy(&event_id, Some(&scan.gate_id));
    let checked = check_ticket(ctx, &scan.qr, &policy, ctx.now(), true).await?;
    let attempt = Attempt {
        fingerprint: fingerprint(&scan, &event_id),
        event_id,
        staff_id: Some(staff.id.clone()),
        role: Some(staff.role.as_str().to_owned()),
        scan_id: scan.scan_id,
        gate_id: scan.gate_id,
        gps: scan.gps,
        at_ms: ctx.now_ms,
        ticket_id: checked.ticket_id,
        issued_at: checked.issued_at,
        decision: checked.decision,
        offline: false,
        record_only: false,
        late: false,
    };
    door_attempt(&ctx.env, &attempt).await
}

/// An admin token allowed to act for `event_id`, or the problem to answer.
pub(crate) async fn require_admin(
    ctx: &Ctx,
    req: &Request,
    event_id: &str,
) -> std::result::Result<Staff, Problem> {
    let staff = authenticate(ctx, req).await.map_err(auth_problem)?;
    if staff.role != Role::Admin || !staff.may_act_for(event_id) {
        return Err(Problem::forbidden(
            "an admin token for this event is required",
        ));
    }
    Ok(staff)
}

#[derive(Deserialize)]
struct AuditParams {
    event_id: String,
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
}

async fn audit(ctx: &Ctx, req: &Request) -> Result<Response> {
    let Ok(params) = req.query::<AuditParams>() else {
        return problem(&Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "event_id is required; after and limit are integers",
        ));
    };
    if !valid_id(&params.event_id, MAX_ID_LEN) {
        return problem(&Problem::bad_input(InputError::EventId));
    }
    if let Err(p) = require_admin(ctx, req, &params.event_id).await {
        return problem(&p);
    }
    let query = AuditQuery {
        after: params.after.unwrap_or(0),
        limit: params.limit.unwrap_or(1000).clamp(1, 1000),
    };
    let url = format!(
        "https://door/audit?after={}&limit={}",
        query.after, query.limit
    );
    door_request(
        &ctx.env,
        &params.event_id,
        &url,
        Method::Get,
        None,
        Some(("x-karcis-event", &params.event_id)),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    event_id: String,
    ticket_id: String,
    #[serde(default)]
    reason: Option<String>,
    /// Retire only the ticket's credentials issued before this time (unix seconds): a
    /// re-issue. Without it the ticket itself is revoked.
    #[serde(default)]
    not_issued_before: Option<u64>,
}

/// Who may revoke: an admin of the event (staff JWT), or the back end's revoke function
/// (`KarcisRevoker`, [`crate::revoker`]), which revokes whole tickets and retires re-issued
/// tickets' older credentials, and does nothing else.
enum Revoker {
    Admin(std::result::Result<Staff, AuthError>),
    Machine(std::result::Result<(), crate::revoker::RevokerError>),
}

async fn revoke(ctx: &Ctx, req: Request) -> Result<Response> {
    let header = req.headers().get("authorization").ok().flatten();
    let machine = crate::revoker::is_revoker(header.as_deref());
    let admin = if machine {
        None
    } else {
        Some(authenticate(ctx, &req).await)
    };
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let caller = match (admin, header) {
        (Some(admin), _) => Revoker::Admin(admin),
        (None, header) => {
            let key = ctx.env.secret("REVOKER_KEY").ok().map(|s| s.to_string());
            Revoker::Machine(crate::revoker::verify(
                header.as_deref().unwrap_or(""),
                key.as_deref(),
                &body,
                ctx.now(),
            ))
        }
    };
    let Ok(r) = serde_json::from_slice::<RevokeRequest>(&body) else {
        return problem(&Problem::bad_input(InputError::Body));
    };
    let reason = r.reason.unwrap_or_else(|| "revoked".into());
    let future_line = r
        .not_issued_before
        .is_some_and(|line| line > ctx.now().saturating_add(LEEWAY_SECS));
    if !valid_id(&r.event_id, MAX_ID_LEN)
        || TicketId::from_hex(&r.ticket_id).is_err()
        || !valid_id(&reason, MAX_ID_LEN)
        || future_line
    {
        return problem(&Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "event_id, ticket_id (32 hex) and reason (an id) are required; not_issued_before is never in the future",
        ));
    }
    let by = match caller {
        Revoker::Admin(Ok(staff))
            if staff.role == Role::Admin && staff.may_act_for(&r.event_id) =>
        {
            staff.id
        }
        Revoker::Admin(Ok(_)) => {
            return problem(&Problem::forbidden(
                "an admin token for this event is required",
            ))
        }
        Revoker::Admin(Err(e)) => return problem(&auth_problem(e)),
        // The machine credential revokes whole tickets (refunds, disputes) and retires the
        // credentials of re-issued ones (device binding): a retirement never refuses more than
        // revoking the ticket would.
        Revoker::Machine(Ok(())) => "revoker".to_owned(),
        Revoker::Machine(Err(e)) => {
            worker::console_warn!("revoker credential refused: {e:?}");
            return problem(&auth_problem(AuthError::BadSignature));
        }
    };
    let ticket_hex = r.ticket_id.to_ascii_lowercase();
    // A retirement of older credentials lives at the door only (KV says "revoked" or nothing).
    if r.not_issued_before.is_none() {
        let record = serde_json::json!({"event_id": r.event_id, "reason": reason, "at_ms": ctx.now_ms, "by": by});
        ctx.env
            .kv("REVOKED")?
            .put(
                &revocation_key(&r.event_id, &ticket_hex),
                record.to_string(),
            )?
            .execute()
            .await?;
    }
    let revoke = Revoke {
        ticket_id: ticket_hex.clone(),
        reason,
        at_ms: ctx.now_ms,
        not_issued_before: r.not_issued_before,
    };
    door_request(
        &ctx.env,
        &r.event_id,
        "https://door/revoke",
        Method::Post,
        Some(serde_json::to_string(&revoke)?),
        None,
    )
    .await?;
    json(
        200,
        &serde_json::json!({
            "revoked": r.not_issued_before.is_none(),
            "not_issued_before": r.not_issued_before,
            "ticket_id": ticket_hex,
            "event_id": r.event_id,
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TamperRequest {
    event_id: String,
    seq: u64,
    result: ScanResult,
}

/// Test-only: edit one stored audit entry without re-hashing it.
async fn tamper(ctx: &Ctx, req: Request) -> Result<Response> {
    let admin = authenticate(ctx, &req).await;
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(t) = serde_json::from_slice::<TamperRequest>(&body) else {
        return problem(&Problem::bad_input(InputError::Body));
    };
    match admin {
        Ok(staff) if staff.role == Role::Admin && staff.may_act_for(&t.event_id) => {}
        Ok(_) => return problem(&Problem::forbidden("admin only")),
        Err(e) => return problem(&auth_problem(e)),
    }
    let edit = Tamper {
        seq: t.seq,
        result: t.result,
    };
    door_request(
        &ctx.env,
        &t.event_id,
        "https://door/tamper",
        Method::Post,
        Some(serde_json::to_string(&edit)?),
        None,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchRequest {
    qr: String,
    event_id: String,
    gate_id: String,
    iterations: u32,
    /// `p256`, `webcrypto`, or `none` (decrypt and decide only, for the baseline).
    backend: String,
    /// Optional staff token to verify (uncached) on each iteration too.
    #[serde(default)]
    token: Option<String>,
}

/// Test-only: the whole verification of one code, `iterations` times, inside workerd.
/// The benchmark divides the request's time by the count (workerd's clock does not advance
/// during computation, so the timing is taken outside).
async fn bench_verify(ctx: &Ctx, req: Request) -> Result<Response> {
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(b) = serde_json::from_slice::<BenchRequest>(&body) else {
        return problem(&Problem::bad_input(InputError::Body));
    };
    let backend = match b.backend.as_str() {
        "p256" => Some(Backend::P256),
        "webcrypto" => Some(Backend::WebCrypto),
        _ => None,
    };
    let policy = ctx.policy(&b.event_id, Some(&b.gate_id));
    let now = ctx.now();
    let mut admitted = 0u32;
    for _ in 0..b.iterations.min(10_000) {
        if let Some(token) = &b.token {
            let unverified = auth::parse(token, &ctx.cfg.staff_keys)
                .map_err(|e| worker::Error::RustError(e.code().into()))?;
            let valid = match backend {
                Some(backend) => sig::verify_all(backend, &[&unverified.check])
                    .await?
                    .first()
                    .copied()
                    .unwrap_or(false),
                None => true,
            };
            unverified
                .decide(valid, now, &ctx.audience(), &ctx.issuer())
                .map_err(|e| worker::Error::RustError(e.code().into()))?;
        }
        let Ok(opened) = ticket::open(&b.qr, &ctx.cfg.ring) else {
            return problem(&Problem::new(
                400,
                "invalid_request",
                "Invalid request",
                "the code does not open",
            ));
        };
        let checks: Vec<&SignatureCheck> = std::iter::once(&opened.issuer_check)
            .chain(opened.device_check.as_ref())
            .collect();
        let signatures = match backend {
            Some(backend) => sig::verify_all(backend, &checks).await?,
            None => vec![true; checks.len()],
        };
        if matches!(
            decide(opened, &signatures, false, &ctx.cfg.ring, &policy, now).decision,
            Decision::Admit
        ) {
            admitted += 1;
        }
    }
    json(
        200,
        &serde_json::json!({"iterations": b.iterations.min(10_000), "admitted": admitted, "backend": b.backend}),
    )
}
