//! Console actions in the staff audit trail: every console request of an authenticated member
//! (allowed or refused) becomes one link of the hash-chained staff log
//! ([`crate::audit_ingest`], stream `STAFFAUDIT`), next to the staff service's own records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit_ingest::{self, AuditLog, Stream};
use crate::error::{Error, Result};

/// One console record. Its canonical text is this, compact, keys alphabetical (the `detail`
/// map is sorted), the same shape as the staff service's records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleRecord {
    /// `console_<what>`: `console_report_read`, `console_event_created`,
    /// `console_on_sale_changed`, `console_revocation_sent`, `console_audit_read`,
    /// `console_session`, `console_refused`.
    pub action: String,
    /// The member's staff id.
    pub actor: String,
    pub at: u64,
    /// Route, event, report kind... never personal data nor a token.
    pub detail: BTreeMap<String, String>,
    pub seq: u64,
    /// The event concerned (`*` for none).
    pub subject: String,
}

/// Appends one record; its seq.
pub async fn record(
    log: &dyn AuditLog,
    now: u64,
    action: &str,
    actor: &str,
    subject: &str,
    detail: &[(&str, &str)],
) -> Result<u64> {
    let detail: BTreeMap<String, String> = detail
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let link = audit_ingest::append_record(log, &Stream::Staff, now, |seq| {
        serde_json::to_string(&ConsoleRecord {
            action: format!("console_{action}"),
            actor: actor.to_owned(),
            at: now,
            detail: detail.clone(),
            seq,
            subject: subject.to_owned(),
        })
        .map_err(Error::internal)
    })
    .await?;
    Ok(link.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys_are_alphabetical() {
        let r = ConsoleRecord {
            action: "console_report_read".into(),
            actor: "fin-1".into(),
            at: 5,
            detail: BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
            seq: 3,
            subject: "fest".into(),
        };
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some(
                r#"{"action":"console_report_read","actor":"fin-1","at":5,"detail":{"a":"2","z":"1"},"seq":3,"subject":"fest"}"#
            )
        );
    }
}
