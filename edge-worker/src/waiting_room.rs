//! The waiting room of an on-sale (public routes, no staff token), one SQLite Durable Object
//! ([`crate::queue_room::WaitingRoom`]) per event; the arithmetic is [`crate::line`]'s, the tokens
//! [`crate::queue_token`]'s.
//!
//! - `PUT /v1/queue/{event_id}/config` (an admin token for the event) `{"rate_per_sec",
//!   "abandon_after_secs"?}` opens the line and sets the rate checkout can take. A line that
//!   was never configured refuses joins (`404 queue_not_open`): no Durable Object per guessed id.
//! - `POST /v1/queue/{event_id}/join` `{"turnstile_token", "device_id"}` (optional
//!   `Idempotency-Key`: a retry gets the same place): the Turnstile token is verified with
//!   siteverify (single use, host name and action `queue` checked, fail closed), then the
//!   Durable Object checks the client's join limits (per address, and per address and device,
//!   a minute's window) and takes the next position in one synchronous step. Answers the place
//!   token, the position and an estimate.
//! - `GET /v1/queue/{event_id}/status` (`Authorization: Bearer <place>`): the position, places
//!   ahead, estimated wait; once the counter reached the place, the admission (ES256 JWS, valid
//!   `QUEUE_ADMISSION_TTL_SECS`, default 600, from the moment of admission). Polling keeps the
//!   place: one not polled for `abandon_after_secs` when its turn comes is skipped (`410
//!   place_abandoned`).
//! - `GET /v1/queue/{event_id}/stats`: arrivals, admitted, abandoned, max wait, rate.
//!
//! Configuration: `WAITING_ROOM_SIGNING_KEY` (secret, hex P-256 scalar), `TURNSTILE_SECRET`
//! (secret), `TURNSTILE_HOSTNAMES` (comma-separated), `TURNSTILE_SITEVERIFY_URL` (a loopback
//! stub in tests), `QUEUE_JOINS_PER_DEVICE_PER_MIN` (5), `QUEUE_JOINS_PER_IP_PER_MIN` (60: mobile
//! carriers put many buyers behind one address), `QUEUE_ALLOWED_ORIGINS` (the site's origins,
//! for CORS). Without the key or the Turnstile settings the routes answer `503
//! queue_unconfigured`: never a line without its bot check.

use serde::Deserialize;
use worker::{Method, Request, RequestInit, Response, Result};

use crate::api::{valid_id, Problem, MAX_ID_LEN};
use crate::http::{json, problem};
use crate::queue_room::PlaceView;
use crate::queue_token::{open_place, place_token, Admission, Place, QueueKeys};
use crate::routes::{body, require_admin, Ctx};

/// The Turnstile action the site renders the widget with.
pub const ACTION: &str = "queue";
const MAX_JOIN_BODY: usize = 4 * 1024;

fn cfg_u64(ctx: &Ctx, name: &str, default: u64) -> u64 {
    ctx.var(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

pub(crate) fn unconfigured(what: &str) -> Problem {
    worker::console_error!("waiting room: {what}");
    Problem::new(
        503,
        "queue_unconfigured",
        "Waiting room not configured",
        "the waiting room cannot run without its signing key and bot check",
    )
}

fn keys(ctx: &Ctx) -> std::result::Result<QueueKeys, Problem> {
    let secret = ctx
        .env
        .secret("WAITING_ROOM_SIGNING_KEY")
        .map_err(|_| unconfigured("WAITING_ROOM_SIGNING_KEY is not bound"))?;
    QueueKeys::from_hex(&secret.to_string())
        .ok_or_else(|| unconfigured("WAITING_ROOM_SIGNING_KEY is not a P-256 scalar"))
}

/// The clock: the request's time, or in test runs (`ALLOW_TEST_ROUTES`) `x-test-now-ms`.
fn now_ms(ctx: &Ctx, req: &Request) -> u64 {
    let test = (ctx.var("ALLOW_TEST_ROUTES").as_deref() == Some("true"))
        .then(|| req.headers().get("x-test-now-ms").ok().flatten())
        .flatten()
        .and_then(|v| v.parse().ok());
    test.unwrap_or_else(|| u64::try_from(ctx.now_ms).unwrap_or(0))
}

/// Adds the CORS headers for an allowed origin.
fn cors(ctx: &Ctx, origin: &str, mut response: Response) -> Result<Response> {
    let allowed = ctx.var("QUEUE_ALLOWED_ORIGINS").unwrap_or_default();
    if !origin.is_empty() && allowed.split(',').any(|o| o.trim() == origin) {
        let h = response.headers_mut();
        h.set("access-control-allow-origin", origin)?;
        h.set("vary", "origin")?;
        h.set(
            "access-control-allow-headers",
            "authorization, content-type, idempotency-key",
        )?;
        h.set("access-control-allow-methods", "GET, POST, OPTIONS")?;
        h.set("access-control-max-age", "600")?;
    }
    Ok(response)
}

/// `/v1/queue/...`.
pub(crate) async fn route(ctx: &Ctx, req: Request, path: &str) -> Result<Response> {
    let Some((event_id, action)) = path
        .strip_prefix("/v1/queue/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return problem(&Problem::new(
            404,
            "not_found",
            "Not found",
            "no such route",
        ));
    };
    if !valid_id(event_id, MAX_ID_LEN) {
        return problem(&Problem::new(
            400,
            "invalid_request",
            "Invalid request",
            "event_id is an id",
        ));
    }
    let event_id = event_id.to_owned();
    let origin = req.headers().get("origin")?.unwrap_or_default();
    let answer = match (req.method(), action) {
        (Method::Options, "join" | "status" | "stats") => Response::empty()?.with_status(204),
        (Method::Post, "join") => join(ctx, req, &event_id).await?,
        (Method::Get, "status") => status(ctx, &req, &event_id).await?,
        (Method::Get, "stats") => {
            let mut a = room(ctx, &event_id, "stats", Method::Get, None).await?;
            let status = a.status_code();
            crate::http::json_text(status, a.text().await?)?
        }
        (Method::Put, "config") => config(ctx, req, &event_id).await?,
        (_, "join" | "status" | "stats" | "config") => problem(&Problem::new(
            405,
            "method_not_allowed",
            "Method not allowed",
            "wrong method for this route",
        ))?,
        _ => problem(&Problem::new(
            404,
            "not_found",
            "Not found",
            "no such route",
        ))?,
    };
    cors(ctx, &origin, answer)
}

async fn room(
    ctx: &Ctx,
    event_id: &str,
    what: &str,
    method: Method,
    body: Option<serde_json::Value>,
) -> Result<Response> {
    let stub = ctx
        .env
        .durable_object("WAITING_ROOM")?
        .id_from_name(event_id)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(wasm_bindgen::JsValue::from_str(&body.to_string())));
    }
    stub.fetch_with_request(Request::new_with_init(
        &format!("https://waiting-room/{what}"),
        &init,
    )?)
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    rate_per_sec: u64,
    #[serde(default)]
    abandon_after_secs: Option<u64>,
}

async fn config(ctx: &Ctx, req: Request, event_id: &str) -> Result<Response> {
    if let Err(p) = require_admin(ctx, &req, event_id).await {
        return problem(&p);
    }
    let now = now_ms(ctx, &req);
    let raw = match body(req, MAX_JOIN_BODY).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(c) = serde_json::from_slice::<ConfigRequest>(&raw) else {
        return problem(&invalid("rate_per_sec is a number of admissions a second"));
    };
    let abandon = c.abandon_after_secs.unwrap_or(30);
    if !(1..=100_000).contains(&c.rate_per_sec) || !(1..=3_600).contains(&abandon) {
        return problem(&invalid(
            "rate_per_sec is 1-100000; abandon_after_secs is 1-3600",
        ));
    }
    let mut a = room(
        ctx,
        event_id,
        "config",
        Method::Post,
        Some(serde_json::json!({"rate": c.rate_per_sec, "abandon_ms": abandon * 1000, "now_ms": now})),
    )
    .await?;
    let status = a.status_code();
    crate::http::json_text(status, a.text().await?)
}

fn invalid(detail: &str) -> Problem {
    Problem::new(400, "invalid_request", "Invalid request", detail)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    turnstile_token: String,
    device_id: String,
}

async fn join(ctx: &Ctx, req: Request, event_id: &str) -> Result<Response> {
    let keys = match keys(ctx) {
        Ok(k) => k,
        Err(p) => return problem(&p),
    };
    let now = now_ms(ctx, &req);
    let ip = req
        .headers()
        .get("cf-connecting-ip")?
        .unwrap_or_else(|| "unknown".into());
    let idempotency = req.headers().get("idempotency-key")?;
    if idempotency
        .as_deref()
        .is_some_and(|k| k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_graphic()))
    {
        return problem(&invalid("Idempotency-Key is 1-64 printable characters"));
    }
    let raw = match body(req, MAX_JOIN_BODY).await {
        Ok(b) => b,
        Err(p) => return problem(&p),
    };
    let Ok(j) = serde_json::from_slice::<JoinRequest>(&raw) else {
        return problem(&invalid("the body is {\"turnstile_token\", \"device_id\"}"));
    };
    if !valid_id(&j.device_id, MAX_ID_LEN) {
        return problem(&invalid("device_id is an id"));
    }
    // A retry's siteverify call repeats the first one's idempotency key (same answer).
    let join_key = idempotency
        .as_deref()
        .map(|k| keys.client_key(&["join", event_id, k]));
    if let Err(p) = crate::turnstile::verify_turnstile(
        ctx,
        &j.turnstile_token,
        ACTION,
        &ip,
        join_key.as_deref(),
    )
    .await
    {
        return problem(&p);
    }
    let limits = serde_json::json!([
        [
            keys.client_key(&["ip", &ip]),
            cfg_u64(ctx, "QUEUE_JOINS_PER_IP_PER_MIN", 60)
        ],
        [
            keys.client_key(&["device", &ip, &j.device_id]),
            cfg_u64(ctx, "QUEUE_JOINS_PER_DEVICE_PER_MIN", 5)
        ],
    ]);
    let mut a = room(
        ctx,
        event_id,
        "join",
        Method::Post,
        Some(serde_json::json!({"now_ms": now, "limits": limits, "join_key": join_key})),
    )
    .await?;
    match a.status_code() {
        200 => {
            let view: PlaceView = a.json().await?;
            let token = place_token(
                &keys,
                &Place {
                    event_id: event_id.to_owned(),
                    position: view.position,
                    joined_ms: view.joined_ms,
                },
            );
            json(
                200,
                &serde_json::json!({
                    "place": token, "position": view.position, "ahead": view.ahead,
                    "estimated_wait_secs": view.wait_secs,
                }),
            )
        }
        404 => problem(&not_open()),
        429 => problem(&Problem::new(
            429,
            "queue_join_limited",
            "Too many joins",
            "too many joins from this client: wait a minute",
        )),
        status => Err(worker::Error::RustError(format!("waiting room: {status}"))),
    }
}

fn not_open() -> Problem {
    Problem::new(
        404,
        "queue_not_open",
        "No waiting room",
        "this event has no open waiting room",
    )
}

async fn status(ctx: &Ctx, req: &Request, event_id: &str) -> Result<Response> {
    let keys = match keys(ctx) {
        Ok(k) => k,
        Err(p) => return problem(&p),
    };
    let now = now_ms(ctx, req);
    let header = req.headers().get("authorization")?;
    let token = crate::auth::bearer(header.as_deref()).unwrap_or_default();
    let Some(place) = open_place(&keys, event_id, token) else {
        return problem(&Problem::new(
            401,
            "invalid_place",
            "Invalid place",
            "this is not a place in this event's line: join it",
        ));
    };
    let mut a = room(
        ctx,
        event_id,
        "status",
        Method::Post,
        Some(serde_json::json!({"now_ms": now, "position": place.position, "joined_ms": place.joined_ms})),
    )
    .await?;
    if a.status_code() != 200 {
        return problem(&not_open());
    }
    let view: PlaceView = a.json().await?;
    match view.state.as_str() {
        "waiting" => json(
            200,
            &serde_json::json!({
                "state": "waiting", "position": view.position, "ahead": view.ahead,
                "estimated_wait_secs": view.wait_secs,
            }),
        ),
        "admitted" => {
            let ttl = cfg_u64(ctx, "QUEUE_ADMISSION_TTL_SECS", 600);
            let admission = Admission::of(&keys, &place, view.admitted_ms / 1000, ttl);
            if now / 1000 >= admission.exp {
                return problem(&Problem::new(
                    410,
                    "admission_expired",
                    "Admission expired",
                    "this place's admission expired: join the line again",
                ));
            }
            json(
                200,
                &serde_json::json!({
                    "state": "admitted", "position": view.position, "ahead": 0,
                    "estimated_wait_secs": 0, "admission": admission.sign(&keys),
                    "expires_at": admission.exp,
                }),
            )
        }
        _ => problem(&Problem::new(
            410,
            "place_abandoned",
            "Place given up",
            "this place was skipped when its turn came (no polling): join the line again",
        )),
    }
}
