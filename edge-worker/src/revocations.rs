//! Revoked staff tokens: a deny-list of token ids (`jti`) and of staff ids (`sub`, with the line
//! before which their tokens are revoked), kept in one small SQLite Durable Object,
//! [`StaffRevocations`] (named `global`), and cached per isolate for at most
//! [`MAX_CACHE_MS`].
//!
//! Why not KV: KV is eventually consistent (up to about 60 s on Cloudflare); a Durable Object
//! answers every isolate with what was last written. The window this gives: a revocation is
//! enforced at once by the isolate that wrote it, and by every other isolate at its next
//! deny-list refresh, at most `STAFF_REVOCATION_CACHE_MS` (default and ceiling 5 s) later. A
//! validly signed token costs its isolate one Durable Object read per window, whatever the
//! number of requests; an unauthenticated request (no valid signature) costs none.
//!
//! Written by `POST /v1/staff-revocations`, for an admin token of every event (`events: ["*"]`):
//! the back end calls it when a member is deactivated or an admin revokes a token
//! (`functions/src/staff.rs`, `EdgeRevocations`). If the list cannot be read, authenticated
//! routes answer 503: a revoked token is never waved through.
//!
//! Entries are dropped once no token they could match is still valid: a `jti` 12 h + 60 s
//! after its revocation, a staff id's line 12 h + 60 s after the line.

use crate::door::int;
use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use worker::{
    durable_object, Date, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    SqlStorage, State,
};

use crate::api::{valid_id, InputError, Problem, MAX_BODY_BYTES, MAX_ID_LEN, MAX_SCAN_ID_LEN};
use crate::auth::{AuthError, DenyList, Role, Staff, LEEWAY_SECS, MAX_LIFETIME_SECS};
use crate::http::{json, problem};
use crate::routes::{auth_problem, authenticate, body, Ctx};

/// The longest a per-isolate copy of the deny-list is used (the guaranteed window).
pub const MAX_CACHE_MS: i64 = 5000;
/// How long an entry can still match a valid token (a token lives at most 12 h, plus leeway).
const KEEP_SECS: u64 = MAX_LIFETIME_SECS + 2 * LEEWAY_SECS;

thread_local! {
    /// The deny-list and when this isolate read it (ms).
    static DENY: RefCell<Option<(i64, Rc<DenyList>)>> = const { RefCell::new(None) };
}

/// The window of this deployment: `STAFF_REVOCATION_CACHE_MS`, at most [`MAX_CACHE_MS`].
fn cache_ms(ctx: &Ctx) -> i64 {
    ctx.var("STAFF_REVOCATION_CACHE_MS")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(MAX_CACHE_MS)
        .clamp(0, MAX_CACHE_MS)
}

async fn staff_request(
    env: &Env,
    url: &str,
    method: Method,
    body: Option<String>,
) -> Result<Response> {
    let stub = env
        .durable_object("STAFF_REVOCATIONS")?
        .id_from_name("global")?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
    }
    stub.fetch_with_request(Request::new_with_init(url, &init)?)
        .await
}

async fn deny_list(ctx: &Ctx) -> Result<Rc<DenyList>> {
    let window = cache_ms(ctx);
    let cached = DENY.with(|d| {
        d.borrow().as_ref().and_then(|(at, list)| {
            let age = ctx.now_ms - at;
            (0..window).contains(&age).then(|| Rc::clone(list))
        })
    });
    if let Some(list) = cached {
        return Ok(list);
    }
    let mut answer = staff_request(&ctx.env, "https://staff/list", Method::Get, None).await?;
    if answer.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "staff deny-list: status {}",
            answer.status_code()
        )));
    }
    let list: Rc<DenyList> = Rc::new(answer.json().await?);
    DENY.with(|d| *d.borrow_mut() = Some((ctx.now_ms, Rc::clone(&list))));
    Ok(list)
}

/// Refuses a verified token that is on the deny-list (or when the list cannot be read).
pub(crate) async fn check(ctx: &Ctx, staff: &Staff) -> std::result::Result<(), AuthError> {
    let list = deny_list(ctx).await.map_err(|e| {
        worker::console_error!("staff deny-list unavailable: {e}");
        AuthError::RevocationsUnavailable
    })?;
    if list.denies(staff) {
        return Err(AuthError::Revoked);
    }
    Ok(())
}

/// What the worker asks the Durable Object to store.
#[derive(Debug, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffRevoke {
    pub jti: Option<String>,
    pub sub: Option<String>,
    /// For `sub`: tokens issued before this (unix seconds) are revoked.
    pub not_before: Option<u64>,
    pub reason: String,
    pub by: String,
    pub at_ms: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeStaffRequest {
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    not_before: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /v1/staff-revocations` `{"jti"}` or `{"sub", "not_before"?}` (+ `reason`): an admin
/// token of every event only.
pub(crate) async fn revoke_staff(ctx: &Ctx, req: Request) -> Result<Response> {
    let admin = match authenticate(ctx, &req).await {
        Ok(staff) => staff,
        Err(e) => return problem(&auth_problem(e)),
    };
    if admin.role != Role::Admin || !admin.events.iter().any(|e| e == "*") {
        return problem(&Problem::forbidden(
            "an admin token of every event is required",
        ));
    }
    let body = match body(req, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(r) = serde_json::from_slice::<RevokeStaffRequest>(&body) else {
        return problem(&Problem::bad_input(InputError::Body));
    };
    let now = ctx.now();
    let reason = r.reason.unwrap_or_else(|| "revoked".into());
    let valid = match (&r.jti, &r.sub) {
        (Some(jti), None) => valid_id(jti, MAX_SCAN_ID_LEN) && r.not_before.is_none(),
        (None, Some(sub)) => {
            valid_id(sub, MAX_SCAN_ID_LEN)
                && r.not_before
                    .is_none_or(|line| line <= now.saturating_add(LEEWAY_SECS))
        }
        _ => false,
    };
    if !valid || !valid_id(&reason, MAX_ID_LEN) {
        return problem(&Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "either jti, or sub with an optional not_before (unix seconds, not in the future); reason is an id",
        ));
    }
    let not_before = r.sub.as_ref().map(|_| r.not_before.unwrap_or(now));
    let record = StaffRevoke {
        jti: r.jti,
        sub: r.sub,
        not_before,
        reason,
        by: admin.id,
        at_ms: ctx.now_ms,
    };
    let answer = staff_request(
        &ctx.env,
        "https://staff/revoke",
        Method::Post,
        Some(serde_json::to_string(&record)?),
    )
    .await?;
    if answer.status_code() != 200 {
        return problem(&Problem::new(
            503,
            "revocations_unavailable",
            "Revocations unavailable",
            "the revocation was not stored; retry",
        ));
    }
    // This isolate enforces it at once; the others at their next refresh.
    DENY.with(|d| *d.borrow_mut() = None);
    json(
        200,
        &serde_json::json!({
            "revoked": true,
            "jti": record.jti,
            "sub": record.sub,
            "not_before": record.not_before,
            "window_ms": cache_ms(ctx),
        }),
    )
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS revoked_jti (
    jti TEXT PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked_sub (
    sub TEXT PRIMARY KEY,
    not_before INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    by TEXT NOT NULL
);
";

/// The staff deny-list (one instance, `global`).
#[durable_object]
pub struct StaffRevocations {
    sql: SqlStorage,
}

impl std::fmt::Debug for StaffRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffRevocations")
    }
}

#[derive(Deserialize)]
struct JtiRow {
    jti: String,
}

#[derive(Deserialize)]
struct SubRow {
    sub: String,
    not_before: i64,
}

impl DurableObject for StaffRevocations {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        if let Err(e) = sql.exec(SCHEMA, None) {
            worker::console_error!("staff revocations schema: {e}");
        }
        Self { sql }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/revoke") => {
                let r: StaffRevoke = req.json().await?;
                if let Some(jti) = r.jti {
                    self.sql.exec(
                        "INSERT OR IGNORE INTO revoked_jti (jti, at_ms, reason, by) VALUES (?, ?, ?, ?)",
                        vec![jti.into(), r.at_ms.into(), r.reason.clone().into(), r.by.clone().into()],
                    )?;
                }
                if let (Some(sub), Some(line)) = (r.sub, r.not_before) {
                    // The line only moves forward: a late, older revocation revives nothing.
                    self.sql.exec(
                        "INSERT INTO revoked_sub (sub, not_before, at_ms, reason, by) VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (sub) DO UPDATE SET not_before = MAX(not_before, excluded.not_before), \
                         at_ms = excluded.at_ms, reason = excluded.reason, by = excluded.by",
                        vec![sub.into(), int(line), r.at_ms.into(), r.reason.into(), r.by.into()],
                    )?;
                }
                json(200, &serde_json::json!({"stored": true}))
            }
            (Method::Get, "/list") => json(200, &self.list()?),
            _ => problem(&Problem::new(
                404,
                "not_found",
                "Not found",
                "no such staff route",
            )),
        }
    }
}

impl StaffRevocations {
    /// Drops the entries no valid token can match any more, then lists the rest.
    fn list(&self) -> Result<DenyList> {
        let now_ms = i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX);
        let keep_ms = i64::try_from(KEEP_SECS * 1000).unwrap_or(i64::MAX);
        self.sql.exec(
            "DELETE FROM revoked_jti WHERE at_ms < ?",
            vec![(now_ms - keep_ms).into()],
        )?;
        self.sql.exec(
            "DELETE FROM revoked_sub WHERE not_before < ?",
            vec![(now_ms / 1000 - keep_ms / 1000).into()],
        )?;
        let jtis: Vec<JtiRow> = self
            .sql
            .exec("SELECT jti FROM revoked_jti", None)?
            .to_array()?;
        let subs: Vec<SubRow> = self
            .sql
            .exec("SELECT sub, not_before FROM revoked_sub", None)?
            .to_array()?;
        Ok(DenyList {
            jti: jtis.into_iter().map(|r| r.jti).collect(),
            sub: subs
                .into_iter()
                .map(|r| (r.sub, u64::try_from(r.not_before).unwrap_or(0)))
                .collect(),
        })
    }
}
