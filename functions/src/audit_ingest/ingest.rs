//! Ingest: a batch of door entries checked against the stored chain and appended once.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::{
    chain_hash, parse_door_entry, valid_door_id, AuditLog, Link, Stream, GENESIS, MAX_BATCH,
    MAX_CANONICAL_LEN, MAX_EVENT_ID_LEN,
};

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
