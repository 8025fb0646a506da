//! The admin routes of the fraud defences, served by the checkout function when console tokens
//! can be verified (`STAFF_SIGNING_KEY_ID` set). Console token of an admin (`Authorization:
//! Bearer`):
//!
//! - `GET /v1/fraud/blacklist?limit=N` (admin of every event): `{"entries": [Entry]}`, newest
//!   first; an entry shows its id (the blind index), kind, provider, reason, who added it and
//!   when, its expiry: never the value.
//! - `POST /v1/fraud/blacklist` (admin of every event) `{"kind", "value", "provider"?, "reason",
//!   "ttl_secs"?}`: `201 {"entry", "audit_seq"}`; the staff log records `blacklist_added`.
//! - `DELETE /v1/fraud/blacklist/{id}` (admin of every event): `200 {"removed", "audit_seq"}`,
//!   `404` if there is no such entry; the staff log records `blacklist_removed`.
//! - `GET /v1/fraud/flagged?limit=N` (an admin): `{"decisions": [Decision]}` of the caller's
//!   events, newest first: step-ups, holds and blocks with their reasons; a hold's decision
//!   carries `hold` (its resolution, who and when, once a reviewer decided).
//! - `POST /v1/fraud/holds/{order_id}/release|cancel` (an admin of the order's event): see
//!   [`super::holds`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use serde::{Deserialize, Serialize};

use super::blacklist::{check_request, Entry, EntryRequest, MAC_PURPOSE};
use super::ports::{Decision, Hold};
use super::risk::Outcome;
use crate::audit_ingest::{append_record, AuditLog, Stream};
use crate::deps::Deps;
use crate::error::{Error, Result};
use crate::http::{bearer_token, read_json, respond};
use crate::staff_identity::{covers, Caller, Console, Role};

/// The admin side: the console verifier and the staff log.
#[derive(Clone)]
pub struct FraudAdmin {
    pub deps: Deps,
    pub console: Arc<Console>,
    pub log: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for FraudAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FraudAdmin").finish_non_exhaustive()
    }
}

/// `?limit=` of the list routes (1-500, default 100).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    100
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryList {
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    pub entry: Entry,
    pub audit_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub removed: Entry,
    pub audit_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flagged {
    pub decisions: Vec<FlaggedDecision>,
}

/// A flagged decision, with the hold it placed on its order (held, released or cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggedDecision {
    #[serde(flatten)]
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<Hold>,
}

impl FraudAdmin {
    pub(super) async fn caller(&self, headers: &HeaderMap) -> Result<Caller> {
        let caller = self
            .console
            .authenticate(bearer_token(headers)?, self.deps.clock.now())
            .await?;
        if caller.role != Role::Admin {
            return Err(Error::Forbidden("admins only".into()));
        }
        Ok(caller)
    }

    /// The blacklist is global: only an admin of every event manages it.
    async fn global_admin(&self, headers: &HeaderMap) -> Result<Caller> {
        let caller = self.caller(headers).await?;
        caller.require_admin_for(&["*".to_owned()])?;
        Ok(caller)
    }

    async fn record(&self, action: &str, actor: &str, entry: &Entry) -> Result<u64> {
        let detail = serde_json::json!({
            "expires_at": entry.expires_at,
            "kind": entry.kind.as_str(),
            "provider": entry.provider,
            "reason": entry.reason,
        });
        self.record_action(action, actor, &entry.id, detail).await
    }

    /// Appends one record to the staff log: its sequence number.
    pub(super) async fn record_action(
        &self,
        action: &str,
        actor: &str,
        subject: &str,
        detail: serde_json::Value,
    ) -> Result<u64> {
        let now = self.deps.clock.now();
        let link = append_record(self.log.as_ref(), &Stream::Staff, now, |seq| {
            // Keys alphabetical (serde_json's map is ordered), as every staff log record.
            serde_json::to_string(&serde_json::json!({
                "action": action,
                "actor": actor,
                "at": now,
                "detail": detail,
                "seq": seq,
                "subject": subject,
            }))
            .map_err(Error::internal)
        })
        .await?;
        Ok(link.seq)
    }

    /// Adds (or replaces) an entry.
    pub async fn add(&self, actor: &str, req: &EntryRequest) -> Result<Added> {
        let checked = check_request(req)?;
        let now = self.deps.clock.now();
        let entry = Entry {
            id: self.deps.pii.mac(MAC_PURPOSE, &checked.canonical).await?,
            kind: req.kind,
            provider: req.provider.clone(),
            reason: checked.reason,
            added_by: actor.to_owned(),
            added_at: now,
            expires_at: now + checked.ttl_secs,
        };
        self.deps.fraud.put_entry(&entry).await?;
        let audit_seq = self.record("blacklist_added", actor, &entry).await?;
        tracing::info!(entry = %entry.id, kind = entry.kind.as_str(), actor, "blacklist entry added");
        Ok(Added { entry, audit_seq })
    }

    /// Removes the entry `id`.
    pub async fn remove(&self, actor: &str, id: &str) -> Result<Removed> {
        if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::NotFound);
        }
        let removed = self
            .deps
            .fraud
            .remove_entry(id)
            .await?
            .ok_or(Error::NotFound)?;
        let audit_seq = self.record("blacklist_removed", actor, &removed).await?;
        tracing::info!(entry = %id, actor, "blacklist entry removed");
        Ok(Removed { removed, audit_seq })
    }
}

fn limit(
    query: std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<u32> {
    let Query(q) = query.map_err(|_| Error::Malformed("query: limit".into()))?;
    if !(1..=500).contains(&q.limit) {
        return Err(Error::invalid("limit", "1-500"));
    }
    Ok(q.limit)
}

type ListQueryResult =
    std::result::Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

async fn get_blacklist(
    State(a): State<Arc<FraudAdmin>>,
    headers: HeaderMap,
    query: ListQueryResult,
) -> Response {
    let result = async {
        a.global_admin(&headers).await?;
        let n = limit(query)?;
        let now = a.deps.clock.now();
        let entries = a.deps.fraud.list_entries(n).await?;
        Ok(EntryList {
            entries: entries.into_iter().filter(|e| e.is_live(now)).collect(),
        })
    };
    respond(StatusCode::OK, result.await)
}

async fn post_blacklist(
    State(a): State<Arc<FraudAdmin>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let caller = a.global_admin(&headers).await?;
        let req: EntryRequest = read_json(&headers, body, 4 * 1024).await?;
        a.add(&caller.staff_id, &req).await
    };
    respond(StatusCode::CREATED, result.await)
}

async fn delete_blacklist(
    State(a): State<Arc<FraudAdmin>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let caller = a.global_admin(&headers).await?;
        a.remove(&caller.staff_id, &id).await
    };
    respond(StatusCode::OK, result.await)
}

async fn get_flagged(
    State(a): State<Arc<FraudAdmin>>,
    headers: HeaderMap,
    query: ListQueryResult,
) -> Response {
    let result = async {
        let caller = a.caller(&headers).await?;
        let n = limit(query)?;
        let mut decisions = Vec::new();
        for decision in a.deps.fraud.flagged(n).await? {
            if !covers(&caller.events, &decision.event_id) {
                continue;
            }
            let hold = match (&decision.order_id, decision.outcome) {
                (Some(order_id), Outcome::Hold) => a.deps.fraud.get_hold(order_id).await?,
                _ => None,
            };
            decisions.push(FlaggedDecision { decision, hold });
        }
        Ok(Flagged { decisions })
    };
    respond(StatusCode::OK, result.await)
}

/// The admin routes.
pub fn router(admin: FraudAdmin) -> Router {
    Router::new()
        .route(
            "/v1/fraud/blacklist",
            get(get_blacklist).post(post_blacklist),
        )
        .route("/v1/fraud/blacklist/{id}", delete(delete_blacklist))
        .route("/v1/fraud/flagged", get(get_flagged))
        .route(
            "/v1/fraud/holds/{order_id}/{action}",
            axum::routing::post(super::holds::post_hold),
        )
        .with_state(Arc::new(admin))
}
