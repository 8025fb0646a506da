//! Incident command: pause (and resume) sales, for one event (`on_sale`) or every event (the
//! kill switch `CONFIG`/`SALES_PAUSE`). Checkout reads the event on every order and the kill
//! switch at most every [`crate::checkout::PAUSE_CACHE_SECS`] per instance, so a pause holds
//! within seconds. Each use is a record in the staff audit chain (who, when, why).

use std::collections::BTreeMap;

use crate::audit_ingest::{append_record, AuditLog, Link, Stream};
use crate::error::{Error, Result};
use crate::store::DynamoStore;

/// What a pause covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Event(String),
}

/// The canonical text of an operator's action in the staff chain (keys sorted, compact, as the
/// staff records are).
pub fn action_record(
    action: &str,
    actor: &str,
    at: u64,
    subject: &str,
    detail: &str,
    seq: u64,
) -> Result<String> {
    let mut m = BTreeMap::new();
    m.insert("action", serde_json::Value::from(action));
    m.insert("actor", actor.into());
    m.insert("at", at.into());
    m.insert("detail", detail.into());
    m.insert("seq", seq.into());
    m.insert("subject", subject.into());
    serde_json::to_string(&m).map_err(Error::internal)
}

/// An operator's name or a reason: short printable text (no personal data is asked for).
pub fn check_text(field: &'static str, text: &str) -> Result<()> {
    if text.trim().is_empty() || text.len() > 200 || text.chars().any(char::is_control) {
        return Err(Error::invalid(field, "1-200 printable characters"));
    }
    Ok(())
}

/// Pauses (`paused`) or resumes sales of `scope`, and records it in the staff chain.
///
/// # Errors
/// `NotFound` for an unknown event; `Invalid` for a bad actor or reason; storage failures.
pub async fn set_sales(
    store: &DynamoStore,
    audit: &dyn AuditLog,
    scope: &Scope,
    paused: bool,
    actor: &str,
    reason: &str,
    now: u64,
) -> Result<Link> {
    check_text("actor", actor)?;
    check_text("reason", reason)?;
    let subject = match scope {
        Scope::All => {
            store.set_sales_pause(paused, reason, now).await?;
            "*".to_owned()
        }
        Scope::Event(event_id) => {
            store.set_on_sale(event_id, !paused).await?;
            event_id.clone()
        }
    };
    let action = if paused {
        "sales_paused"
    } else {
        "sales_resumed"
    };
    append_record(audit, &Stream::Staff, now, |seq| {
        action_record(action, actor, now, &subject, reason, seq)
    })
    .await
}
