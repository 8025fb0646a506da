//! Reports: pages of a stream with each link checked, and a whole stream verified.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::{chain_hash, parse_door_entry, AuditLog, Link, Stream, GENESIS, MAX_PAGE};

/// The result of checking links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub valid: bool,
    pub checked: u64,
    /// Hash of the last link checked, hex.
    pub head: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_bad_seq: Option<u64>,
}

/// Checks `links` (ascending, starting right after a link hashed `previous` at `previous_seq`).
pub fn check_links(previous_seq: u64, previous: [u8; 32], links: &[Link]) -> ChainCheck {
    let mut prev = previous;
    let mut checked = 0;
    for (expected, l) in (previous_seq + 1..).zip(links) {
        if l.seq != expected || chain_hash(&prev, l.canonical.as_bytes()) != l.hash {
            return ChainCheck {
                valid: false,
                checked,
                head: hex::encode(prev),
                first_bad_seq: Some(l.seq),
            };
        }
        prev = l.hash;
        checked += 1;
    }
    ChainCheck {
        valid: true,
        checked,
        head: hex::encode(prev),
        first_bad_seq: None,
    }
}

/// One entry of a report page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    pub seq: u64,
    pub hash: String,
    pub canonical: String,
}

/// A page of a stream with the verification of its links (anchored on the entry before it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub stream: String,
    pub entries: Vec<ReportEntry>,
    pub chain: ChainCheck,
    /// Door streams: attempts on this page by `result` (admitted, already_admitted, ...).
    pub results: BTreeMap<String, u64>,
    /// Pass as `after` for the next page; `None` at the end.
    pub next_after: Option<u64>,
}

/// Entries of `stream` with `seq > after` (at most `limit`), each link checked.
pub async fn page(
    log: &dyn AuditLog,
    stream: &Stream,
    after: u64,
    limit: u32,
) -> Result<AuditPage> {
    let limit = limit.clamp(1, MAX_PAGE);
    let previous = if after == 0 {
        GENESIS
    } else {
        log.get(stream, after).await?.ok_or(Error::NotFound)?.hash
    };
    let links = log.range(stream, after, limit).await?;
    let chain = check_links(after, previous, &links);
    let mut results = BTreeMap::new();
    if let Stream::Door(event) = stream {
        for l in &links {
            if let Some(e) = parse_door_entry(&l.canonical, event, l.seq) {
                *results.entry(e.result).or_insert(0) += 1;
            }
        }
    }
    let next_after = (links.len() == limit as usize)
        .then(|| links.last().map(|l| l.seq))
        .flatten();
    Ok(AuditPage {
        stream: stream.partition(),
        entries: links
            .iter()
            .map(|l| ReportEntry {
                seq: l.seq,
                hash: hex::encode(l.hash),
                canonical: l.canonical.clone(),
            })
            .collect(),
        chain,
        results,
        next_after,
    })
}

/// Walks a whole stream from seq 1 (bounded by `max_entries`).
pub async fn verify_stream(
    log: &dyn AuditLog,
    stream: &Stream,
    max_entries: u64,
) -> Result<ChainCheck> {
    let mut previous = GENESIS;
    let mut after = 0;
    let mut checked = 0;
    while checked < max_entries {
        let links = log.range(stream, after, MAX_PAGE).await?;
        if links.is_empty() {
            break;
        }
        let c = check_links(after, previous, &links);
        if !c.valid {
            return Ok(ChainCheck {
                checked: checked + c.checked,
                ..c
            });
        }
        checked += c.checked;
        let last = &links[links.len() - 1];
        previous = last.hash;
        after = last.seq;
    }
    Ok(ChainCheck {
        valid: true,
        checked,
        head: hex::encode(previous),
        first_bad_seq: None,
    })
}
