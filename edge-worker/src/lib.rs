//! karcis edge worker: ticket verification at the door, compiled to WebAssembly for
//! Cloudflare Workers (workerd).
//!
//! Routes (see README.md): `POST /v1/scan`, `GET /v1/audit`, `POST /v1/revocations`,
//! `GET /v1/offline-bundle`, `POST /v1/sync`, `POST /v1/staff-revocations`, `POST /v1/devices`, `GET /v1/health`, the waiting room's `/v1/queue/{event_id}/...`; test-only routes exist when
//! `ALLOW_TEST_ROUTES = "true"` (never in `wrangler.toml`).
//!
//! All ticket logic is the `ticket` crate's ([`ticket::open`] + [`ticket::Opened::decide`]);
//! this crate authenticates staff, routes each scan to the event's [`door::EventDoor`] (the one
//! place admissions are decided) and checks signatures with WebCrypto or `p256`.

pub mod api;
pub mod audit;
pub mod audit_forward;
pub mod auth;
pub mod config;
pub mod devices;
pub mod door;
pub mod dpop;
pub mod forwarding;
mod http;
pub mod line;
pub mod offline;
mod proofs;
pub mod queue_room;
pub mod queue_token;
pub mod revocations;
pub mod revoker;
mod routes;
pub mod sig;
pub mod turnstile;
pub mod waiting_room;

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    routes::handle(req, env).await
}
